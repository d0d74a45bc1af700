"""Per-structure tables: the cumulative histogram against hand counts, structures kept apart by name
and pooled by tissue, the hottest-0.5-mL temperature, and when the end-of-heating field exists."""

from types import SimpleNamespace

import numpy as np
import pytest

from planner.artefacts import Region, Role
from planner.reporting.exports import end_of_heating
from planner.reporting.structure_metrics import POOLED, cumulative_fraction, structure_metrics, structures
from tests.reporting.test_image_grid import box_mesh


def test_cumulative_fraction_counts_weights_at_or_above_each_edge():
    v = np.array([40.0, 38.0, 42.0, 38.0, 45.0])
    w = np.array([1.0, 2.0, 3.0, 4.0, 0.0])  # the 45 °C point has no volume
    f = cumulative_fraction(v, w, np.array([37.0, 38.0, 38.5, 40.0, 42.0, 42.1, 45.0]))
    np.testing.assert_allclose(f, [1.0, 1.0, 0.4, 0.4, 0.3, 0.0, 0.0])


def test_structures_by_name_and_pooled_by_tissue():
    mesh = box_mesh((-0.03, -0.03, -0.03), (0.03, 0.03, 0.03), n=6)
    regions = (Region(1, "Bladder", "muscle", Role.ORGAN), Region(2, "Rectum", "muscle", Role.ORGAN))
    mesh = type(mesh)(mesh.points_m, mesh.cells, mesh.cell_region, regions, mesh.skin_facets)
    names = [(s.name, s.tissue) for s in structures(mesh)]
    assert names == [("Bladder", "muscle"), ("Rectum", "muscle"), (POOLED, "muscle")]
    x = mesh.points_m[:, 0]
    T = 37.0 + 100.0 * (x + 0.03)  # 37 °C at x = −30 mm … 43 °C at +30 mm: Rectum (x > 0) is hotter
    th = SimpleNamespace(T_max_C=T, T_final_C=T - 1.0, CEM43_min=np.exp(T - 43.0), T_baseline_C=np.full_like(T, 37.0))
    f = SimpleNamespace(SAR_W_per_kg=np.where(mesh.cell_region == 2, 3.0, 1.0), E_peak_V_per_m=np.ones(mesh.num_cells))
    rows = {r["structure"]: r for r in structure_metrics(mesh, th, f)}
    assert (
        rows["Rectum"]["T_max_C"] == pytest.approx(43.0) and rows["Bladder"]["T_max_C"] < 41.5
    )  # cells with centroid x < 0 reach x ≈ +h
    assert rows[POOLED]["T_max_C"] == rows["Rectum"]["T_max_C"]
    assert rows[POOLED]["volume_mL"] == pytest.approx(rows["Bladder"]["volume_mL"] + rows["Rectum"]["volume_mL"])
    assert rows[POOLED]["volume_mL"] == pytest.approx(216.0)  # the 60 mm cube
    assert rows["Rectum"]["SAR_max_W_per_kg"] == 3.0 and rows["Bladder"]["SAR_max_W_per_kg"] == 1.0
    assert rows["Rectum"]["dT_max_K"] == pytest.approx(6.0)
    # T(x) linear in a 60 mm cube: the hottest 0.5 mL is a slab 0.5/36 cm = 0.139 mm thick (lumped: a few mm)
    r = rows[POOLED]
    assert r["T90_C"] < r["T50_C"] < r["T10_C"] < r["T_hot0.5mL_C"] <= r["T_max_C"]
    assert r["T50_C"] == pytest.approx(40.0, abs=0.3)


def test_end_of_heating_field():
    T_final, snaps = np.array([1.0, 2.0]), np.array([[0.0, 0.0], [5.0, 6.0], [1.0, 2.0]])
    on = SimpleNamespace(
        times_s=np.array([0.0, 60, 120]),
        field_fraction=np.array([0.0, 1, 1]),
        T_final_C=T_final,
        snapshot_times_s=np.array([0.0, 60, 120]),
        T_snapshots_C=snaps,
    )
    assert end_of_heating(on)[0] is T_final
    off = SimpleNamespace(**{**on.__dict__, "field_fraction": np.array([0.0, 1, 0])})
    np.testing.assert_array_equal(end_of_heating(off)[0], [5.0, 6.0])
    no_snap = SimpleNamespace(**{**off.__dict__, "snapshot_times_s": np.array([0.0, 120])})
    T, note = end_of_heating(no_snap)
    assert T is None and "60 s" in note


def test_roi_row_only_for_an_roi_that_lost_voxels_to_another_region():
    from planner.imaging.volume import Grid
    from planner.reporting.structure_metrics import roi_structures

    mesh = box_mesh((-0.03, -0.03, -0.03), (0.03, 0.03, 0.03), n=6)
    regions = (Region(1, "CTV", "muscle", Role.ORGAN), Region(2, "GTV", "tumour", Role.TARGET))
    mesh = type(mesh)(mesh.points_m, mesh.cells, mesh.cell_region, regions, mesh.skin_facets)
    grid = Grid((12, 12, 12), np.full(3, -0.0275), np.full(3, 0.005), np.eye(3))
    kk, jj, ii = np.indices(grid.shape)
    x = grid.index_to_lps_m(np.column_stack([ii.ravel(), jj.ravel(), kk.ravel()]))[:, 0].reshape(grid.shape)
    labels = np.where(x > 0, 2, 1)  # the segmentation: GTV (x > 0) won over the CTV drawn everywhere
    masks = {"CTV": np.ones(grid.shape, bool), "GTV": x > 0}
    rows = roi_structures(mesh, masks, grid, labels)
    assert [(s.name, s.tissue, s.role) for s in rows] == [("CTV", "muscle+tumour", "roi")]
    assert rows[0].cells.all()  # every cell centroid lies in the CTV as drawn
    assert roi_structures(mesh, {"CTV": x <= 0, "GTV": x > 0}, grid, labels) == []
