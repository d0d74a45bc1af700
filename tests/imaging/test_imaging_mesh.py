"""Label volume → TissueMesh (pygalmesh): geometry in LPS, conformity, skin, sizes, quality, crop."""
from __future__ import annotations

import json

import numpy as np
import pytest

from planner.artefacts import Role
from planner.config.plan import MeshSection
from planner.errors import MeshError
from planner.imaging.label_mesh import boundary_facets, mesh_labels, tet_quality
from planner.imaging.segmentation import LabelInfo, LabelVolume
from planner.imaging.volume import Grid
from tests.imaging._imaging_util import rotation

R_OUT, R_TGT = 14.0, 6.0  # voxels


def _spheres(grid):
    nk, nj, ni = grid.shape
    k, j, i = np.indices(grid.shape)
    c = (np.array(grid.shape) - 1) / 2.0
    r = np.sqrt((k - c[0]) ** 2 + (j - c[1]) ** 2 + (i - c[2] - 3) ** 2)
    lab = np.zeros(grid.shape, np.uint16)
    lab[r <= R_OUT] = 1
    lab[(r <= R_OUT) & (i > c[2] + 3 + 6)] = 2  # a second body tissue touching the first
    rt = np.sqrt((k - c[0]) ** 2 + (j - c[1]) ** 2 + (i - c[2] + 2) ** 2)
    lab[rt <= R_TGT] = 50
    table = (LabelInfo(1, "muscle", "muscle", Role.BODY), LabelInfo(2, "fat", "fat", Role.BODY),
             LabelInfo(50, "GTV", "tumour", Role.TARGET))
    return LabelVolume(lab, grid, table, "test")


@pytest.fixture(scope="module")
def oblique_case():
    grid = Grid((34, 34, 40), np.array([0.05, -0.02, 0.11]), np.array([0.002, 0.0022, 0.0025]), rotation((1, 1, 0), 35))
    lv = _spheres(grid)
    mesh, rep = mesh_labels(lv, MeshSection(max_size_mm=10.0, target_size_mm=3.0))
    return lv, mesh, rep


def test_regular_and_sliver_quality():
    p = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1.0]])
    dih, rho = tet_quality(p, np.array([[0, 1, 2, 3]]))
    assert dih[0] == pytest.approx(np.degrees(np.arccos(1 / 3)), abs=1e-9)
    assert rho[0] == pytest.approx(1.0, abs=1e-12)
    sliver = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 1e-3]])
    dih, rho = tet_quality(sliver, np.array([[0, 1, 2, 3]]))
    assert dih[0] < 1.0 and rho[0] < 0.01


def test_boundary_facets_and_nonconforming_detection():
    cells = np.array([[0, 1, 2, 3], [1, 2, 3, 4]])
    assert len(boundary_facets(cells)) == 6
    with pytest.raises(MeshError, match="not conforming"):
        boundary_facets(np.array([[0, 1, 2, 3], [1, 2, 3, 4], [1, 2, 3, 5]]))


def test_mesh_in_patient_lps_and_volumes(oblique_case):
    lv, mesh, rep = oblique_case
    g = lv.grid
    # voxel centroid of the target in LPS vs the mesh target centroid (oblique, anisotropic grid)
    ijk = np.argwhere(lv.labels == 50)[:, ::-1].mean(axis=0)
    expect = g.index_to_lps_m(ijk[None])[0]
    np.testing.assert_allclose(mesh.target_centroid_m(), expect, atol=0.3 * g.spacing_m.min())
    # every vertex lies inside the labelled region's index box (± 1 voxel)
    idx = g.lps_m_to_index(mesh.points_m)
    occ = np.argwhere(lv.labels > 0)[:, ::-1]
    assert np.all(idx >= occ.min(axis=0) - 1.01) and np.all(idx <= occ.max(axis=0) + 1.01)
    # volumes per region vs voxel volumes
    vols = {r["name"]: r for r in rep.volumes}
    for name in ("muscle", "fat", "GTV"):
        assert abs(vols[name]["rel_diff"]) < 0.1, vols[name]
    total = sum(v["voxel_volume_cm3"] for v in rep.volumes)
    assert mesh.cell_volumes_m3().sum() * 1e6 == pytest.approx(total, rel=0.03)
    assert {r.name: (r.tissue, r.role) for r in mesh.regions} == {
        "muscle": ("muscle", Role.BODY), "fat": ("fat", Role.BODY), "GTV": ("tumour", Role.TARGET)}
    assert all(r.exact_volume_m3 is None for r in mesh.regions)
    json.dumps(rep.summary_block())


def test_conforming_skin_is_outer_boundary(oblique_case):
    lv, mesh, rep = oblique_case
    skin = mesh.skin_facets
    bf = np.sort(boundary_facets(mesh.cells), axis=1)
    np.testing.assert_array_equal(bf[np.lexsort(bf.T[::-1])],
                                  np.sort(skin, axis=1)[np.lexsort(np.sort(skin, axis=1).T[::-1])])
    # skin vertices lie on the outer sphere, never on the target interface
    g = lv.grid
    c = g.index_to_lps_m(np.array([[(40 - 1) / 2 + 3, (34 - 1) / 2, (34 - 1) / 2]]))[0]
    idx = (g.lps_m_to_index(mesh.points_m[np.unique(skin)]) - g.lps_m_to_index(c[None])) * g.spacing_m
    r_mm = np.linalg.norm(g.direction @ idx.T, axis=0) * 1e3
    mean_sp = g.spacing_m.mean() * 1e3
    assert np.all(np.abs(r_mm - R_OUT * mean_sp) < 2.5 * mean_sp)
    # skin is a closed surface: every edge shared by exactly two skin triangles
    e = np.sort(np.concatenate([skin[:, [0, 1]], skin[:, [1, 2]], skin[:, [2, 0]]]), axis=1)
    _, cnt = np.unique(e, axis=0, return_counts=True)
    assert np.all(cnt == 2)
    # unused vertices were dropped
    assert len(np.unique(mesh.cells)) == mesh.num_vertices


def test_sizes_per_role(oblique_case):
    lv, mesh, rep = oblique_case
    v = mesh.cell_volumes_m3()
    edge = (6 * np.sqrt(2) * v) ** (1 / 3) * 1e3
    assert np.median(edge[mesh.cell_region == 50]) < 0.7 * np.median(edge[mesh.cell_region == 1])
    assert rep.sizes_mm == {"muscle": 10.0, "fat": 10.0, "GTV": 3.0}
    assert rep.quality.min_dihedral_deg > 2.0 and rep.quality.min_radius_ratio > 0.02


def test_dolfinx_conversion_tags_and_skin(oblique_case):
    pytest.importorskip("dolfinx")
    from planner.fem.mesh import region_volumes_m3, to_dolfinx

    lv, mesh, rep = oblique_case
    fm = to_dolfinx(mesh)
    assert fm.mesh.topology.index_map(3).size_global == mesh.num_cells
    vols = region_volumes_m3(fm)
    for r in mesh.regions:
        assert vols[r.tag] == pytest.approx(mesh.region_volume_m3(r.tag), rel=1e-10)
    n_skin = len(fm.facet_tags.find(1))
    assert n_skin == len(mesh.skin_facets)


def test_quality_threshold_and_crop():
    grid = Grid((24, 24, 24), np.zeros(3), np.full(3, 0.002), np.eye(3))
    k, j, i = np.indices(grid.shape)
    lab = np.zeros(grid.shape, np.uint16)
    lab[2:22, 2:22, 2:22] = 1
    lab[9:14, 9:14, 12:17] = 50
    lv = LabelVolume(lab, grid, (LabelInfo(1, "b", "muscle", Role.BODY), LabelInfo(50, "t", "tumour", Role.TARGET)), "t")
    ms = MeshSection(max_size_mm=8.0, target_size_mm=3.0)
    with pytest.raises(MeshError, match="min dihedral angle"):
        mesh_labels(lv, ms, min_dihedral_deg=45.0)
    mesh, rep = mesh_labels(lv, ms, crop_margin_mm=6.0)
    assert rep.crop_kji == ((6, 17), (6, 17), (9, 20))
    idx = grid.lps_m_to_index(mesh.points_m)
    assert idx.min() >= 6 - 0.51 - 1e-9 and idx[:, 0].max() <= 19 + 0.51 + 1e-9
    # cropped box: the body is cut at the box faces, the target is whole
    vols = {r["name"]: r for r in rep.volumes}
    assert vols["t"]["voxel_volume_cm3"] == pytest.approx(125 * 8e-3)
    assert vols["b"]["voxel_volume_cm3"] == pytest.approx((11 ** 3 - 125) * 8e-3)


def test_target_too_small_for_mesh_is_an_error():
    grid = Grid((16, 16, 16), np.zeros(3), np.full(3, 0.002), np.eye(3))
    lab = np.zeros(grid.shape, np.uint16)
    lab[2:14, 2:14, 2:14] = 1
    lab[7, 7, 7] = 50
    lv = LabelVolume(lab, grid, (LabelInfo(1, "b", "muscle", Role.BODY), LabelInfo(50, "t", "tumour", Role.TARGET)), "t")
    with pytest.raises(MeshError, match="'t'"):
        mesh_labels(lv, MeshSection(max_size_mm=10.0))


def test_thin_layer_labels_are_matched():
    """A one-voxel-thick layer between two blocks keeps its label (vote or CGAL's sorted order)."""
    grid = Grid((20, 20, 21), np.zeros(3), np.full(3, 0.002), np.eye(3))
    lab = np.zeros(grid.shape, np.uint16)
    lab[2:18, 2:18, 2:10] = 1
    lab[2:18, 2:18, 10] = 7  # 2 mm thick sheet
    lab[2:18, 2:18, 11:19] = 3
    table = (LabelInfo(1, "a", "muscle", Role.BODY), LabelInfo(3, "c", "fat", Role.BODY), LabelInfo(7, "sheet", "skin", Role.ORGAN))
    lv = LabelVolume(lab, grid, table, "t")
    mesh, rep = mesh_labels(lv, MeshSection(max_size_mm=6.0, organ_size_mm=2.0), max_volume_difference=0.6)
    cen = grid.lps_m_to_index(mesh.cell_centroids_m())
    for tag, lo, hi in [(1, 1.5, 9.5), (3, 10.5, 18.5), (7, 9.4, 10.6)]:
        i = cen[mesh.cell_region == tag, 0]
        assert i.size and np.median(i) > lo and np.median(i) < hi


def test_growth_distance_grades_sizes_around_target():
    grid = Grid((36, 36, 36), np.zeros(3), np.full(3, 0.002), np.eye(3))
    k, j, i = np.indices(grid.shape)
    r = np.sqrt((k - 17.5) ** 2 + (j - 17.5) ** 2 + (i - 17.5) ** 2)
    lab = np.zeros(grid.shape, np.uint16)
    lab[r < 17] = 1
    lab[r < 4] = 50
    lv = LabelVolume(lab, grid, (LabelInfo(1, "b", "muscle", Role.BODY), LabelInfo(50, "t", "tumour", Role.TARGET)), "t")

    def band_edges(mesh):
        v = mesh.cell_volumes_m3()
        e = (6 * np.sqrt(2) * v) ** (1 / 3) * 1e3
        d = np.linalg.norm(mesh.cell_centroids_m() - mesh.target_centroid_m(), axis=1) * 1e3
        return [float(np.median(e[(d >= a) & (d < b) & (mesh.cell_region == 1)])) for a, b in ((10, 16), (16, 22))]

    plain, rep0 = mesh_labels(lv, MeshSection(max_size_mm=12.0, target_size_mm=2.0))
    graded, rep1 = mesh_labels(lv, MeshSection(max_size_mm=12.0, target_size_mm=2.0, growth_distance_mm=24.0))
    assert [r.name for r in graded.regions] == ["b", "t"] and set(np.unique(graded.cell_region)) == {1, 50}
    e0, e1 = band_edges(plain), band_edges(graded)
    assert e1[0] < 0.85 * e0[0] and e1[1] < 0.85 * e0[1]
    assert e1[0] < e1[1]  # sizes grow with the distance from the target
    for a, b in zip(rep0.volumes, rep1.volumes):
        assert a["voxel_volume_cm3"] == b["voxel_volume_cm3"] and abs(b["rel_diff"]) < 0.1


def test_cut_facets_on_slab_ends_and_crop_faces():
    """A cylinder cut by the image's first and last slices: the two end discs are cut faces (not skin),
    their area ≈ 2 π R²; the lateral surface stays skin; skin ∪ cut is the whole boundary."""
    grid = Grid((12, 30, 30), np.array([0.0, 0.0, 0.0]), np.array([0.002, 0.002, 0.003]), np.eye(3))
    k, j, i = np.indices(grid.shape)
    lab = np.zeros(grid.shape, np.uint16)
    R = 11.0  # voxels (22 mm)
    lab[(j - 14.5) ** 2 + (i - 14.5) ** 2 <= R ** 2] = 1
    lv = LabelVolume(lab, grid, (LabelInfo(1, "muscle", "muscle", Role.BODY),), "slab")
    mesh, _ = mesh_labels(lv, MeshSection(max_size_mm=6.0))

    def area(f):
        x = mesh.points_m[f]
        return 0.5 * np.linalg.norm(np.cross(x[:, 1] - x[:, 0], x[:, 2] - x[:, 0]), axis=1).sum()

    assert mesh.cut_facets.shape[0] > 0
    n_all = len(boundary_facets(mesh.cells))
    assert mesh.cut_facets.shape[0] + mesh.skin_facets.shape[0] == n_all
    voxel_disc = (lab[0] > 0).sum() * 0.002 * 0.002
    assert area(mesh.cut_facets) == pytest.approx(2 * voxel_disc, rel=0.1)
    z = mesh.points_m[mesh.cut_facets][:, :, 2]  # slab ends at k = −0.5 and 11.5 (3 mm slices)
    assert np.all(np.minimum(np.abs(z + 0.0015), np.abs(z - 0.0345)) <= 0.003)  # within one slice of an end
    zs = mesh.points_m[mesh.skin_facets][:, :, 2].mean(axis=1)
    assert np.all((zs > -0.0015 + 1e-4) & (zs < 0.0345 - 1e-4))  # no skin triangle lies on an end plane
    # crop box: every face of a box inside the body is a cut
    lab2 = np.zeros(grid.shape, np.uint16)
    lab2[:, 3:27, 3:27] = 1
    lab2[4:8, 12:18, 12:18] = 50
    lv2 = LabelVolume(lab2, grid, (LabelInfo(1, "muscle", "muscle", Role.BODY),
                                   LabelInfo(50, "GTV", "tumour", Role.TARGET)), "crop")
    m2, rep2 = mesh_labels(lv2, MeshSection(max_size_mm=6.0), crop_margin_mm=12.0)
    assert rep2.crop_kji is not None and m2.skin_facets.shape[0] == 0 and m2.cut_facets.shape[0] > 0


def test_slab_from_labels_carries_current_through_its_cut_faces():
    """Image slab of a long cylinder, H across its axis: with the cut faces the tissue loss is the
    uncut body's (within the voxel staircase), with the ends as skin it would be far lower."""
    import dataclasses
    import math

    from benchmarks.em_common import library
    from planner.em import solve_eddy_currents
    from planner.em.applicators import AppliedField
    from planner.units import MU0_H_per_m

    grid = Grid((10, 30, 30), np.array([0.0, 0.0, 0.0]), np.array([0.002, 0.002, 0.004]), np.eye(3))
    k, j, i = np.indices(grid.shape)
    lab = np.zeros(grid.shape, np.uint16)
    lab[(j - 14.5) ** 2 + (i - 14.5) ** 2 <= 12.0 ** 2] = 1
    lv = LabelVolume(lab, grid, (LabelInfo(1, "muscle", "muscle", Role.BODY),), "slab")
    mesh, _ = mesh_labels(lv, MeshSection(max_size_mm=5.0))
    c = mesh.cell_centroids_m().mean(axis=0)
    app = AppliedField("uniform", 1e5, 4e3, None, "peak", 4e3, c, uniform_H_peak_A_per_m=np.array([4e3, 0.0, 0.0]))
    lib = library(muscle=0.5)
    fs = solve_eddy_currents(mesh, app, lib, None)
    # closed form over the voxel cross-section: E_z = ω μ0 H (y − ȳ), P = ½ σ ∫ E² dV
    disc = lab[0] > 0
    y = (np.indices(disc.shape)[0] * 0.002)[disc]
    L = 10 * 0.004
    P = 0.5 * 0.5 * (2 * math.pi * 1e5 * MU0_H_per_m * 4e3) ** 2 * ((y - y.mean()) ** 2).sum() * 0.002 ** 2 * L
    assert fs.tissue_loss_W == pytest.approx(P, rel=0.12)
    assert fs.solver["cut_planes"] == 2 and "cut facets on 2 plane(s)" in fs.truncation and "WARNING" in fs.truncation
    skin_only = dataclasses.replace(mesh, skin_facets=boundary_facets(mesh.cells), cut_facets=np.zeros((0, 3), np.int64),
                                    _cache={})
    assert solve_eddy_currents(skin_only, app, lib, None).tissue_loss_W < 0.5 * P
