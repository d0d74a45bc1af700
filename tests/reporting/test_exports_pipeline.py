"""End to end on a small DICOM CT + RTSTRUCT plan: the results folder holds the image-grid NIfTI (affine
= the CT's), the DICOM maps and isotherms on the CT's frame of reference, and per-structure tables in
which two organs of the same tissue keep separate rows; a primitive plan writes the tables only."""

import csv
import json

import nibabel as nib
import numpy as np
import pydicom
import pytest

from planner.config.plan import load_plan
from planner.imaging.dicom import read_dicom_series
from planner.imaging.nifti import read_nifti, read_nifti_labels
from planner.imaging.rtstruct import write_rtstruct
from planner.imaging.volume import Grid
from planner.pipeline import run_plan
from planner.reporting.image_grid import sampler_for
from planner.thermal.metrics import exceeded_by_fraction, target_cell_mask, vertex_volumes_m3
from tests.imaging._imaging_util import body_phantom_hu, write_ct
from tests.test_pipeline import PLAN as PRIMITIVE_PLAN

PLAN = """
[plan]
name = "exports"
output_dir = "results"

[imaging]
ct = "ct"
rtstruct = "rtstruct.dcm"
target = "GTV"
organs = ["Bladder", "Rectum", "CTV"]

[segmentation]
method = "ct-hu"
soft_tissue = "muscle"
fat_tissue = "fat"
bone_tissue = "bone_cortical"
air_tissue = "air"
target_tissue = "tumour"
organ_tissues = { Bladder = "muscle", Rectum = "muscle", CTV = "muscle" }

[mesh]
max_size_mm = 14.0
target_size_mm = 5.0

[applicator]
type = "uniform"
frequency_kHz = 100.0
field_kA_per_m = 8.0
amplitude = "peak"

[nanoparticles]
slp_model = "constant"

[nanoparticles.constant]
slp_W_per_g = 100.0
mass_basis = "per_g_Fe"

[nanoparticles.distribution]
kind = "uniform-in-target"
total_mass_mg = 4.0

[thermal]
mode = "transient"
duration_min = 20.0
time_step_s = 120.0

[[thermal.schedule]]
kind = "hold"
duration_min = 16.0

[[thermal.schedule]]
kind = "off"
duration_min = 4.0

[[thermal.probes]]
name = "gtv"
position_mm = PROBE
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("exports")
    grid = Grid((10, 34, 34), np.array([-0.045, -0.044, -0.02]), np.array([0.0027, 0.0027, 0.0045]), np.eye(3))
    hu, masks = body_phantom_hu(grid, metal=False)
    write_ct(d / "ct", values=hu, grid=grid)
    vol = read_dicom_series(d / "ct")
    kk, jj, ii = np.indices(grid.shape)
    bladder = masks["muscle"] & (ii < 12) & (jj > 20)
    rectum = masks["muscle"] & (ii < 12) & (jj < 12)
    from scipy.ndimage import binary_dilation

    ctv = binary_dilation(masks["target"], iterations=2) & masks["muscle"]  # contains the GTV
    rois = [
        ("GTV", masks["target"], "GTV"),
        ("Bladder", bladder, "ORGAN"),
        ("Rectum", rectum, "ORGAN"),
        ("CTV", ctv, "CTV"),
    ]
    write_rtstruct(d / "rtstruct.dcm", vol, rois)
    centre = grid.index_to_lps_m(np.argwhere(masks["target"]).mean(axis=0)[::-1])[0] * 1e3
    (d / "plan.toml").write_text(PLAN.replace("PROBE", str([round(float(v), 2) for v in centre])))
    res = run_plan(load_plan(d / "plan.toml"))
    return res, d / "results", vol, masks["target"]


def test_image_outputs_share_the_ct_affine_and_sample_the_fe_fields(run):
    res, out, vol, _ = run
    ct_affine = nib.load(str(out / "image" / "labels.nii.gz")).affine
    ref = np.diag([-1.0, -1.0, 1.0, 1.0]) @ (vol.grid.affine_m() * np.array([[1e3], [1e3], [1e3], [1.0]]))
    for name in (
        "T_max_C",
        "T_final_C",
        "T_end_of_heating_C",
        "CEM43_min",
        "dT_max_K",
        "SAR_W_per_kg",
        "E_peak_V_per_m",
        "Q_W_per_m3",
    ):
        img = nib.load(str(out / "image" / f"{name}.nii.gz"))
        assert img.shape == vol.shape[::-1]
        np.testing.assert_allclose(img.affine, ref, atol=1e-6)
        np.testing.assert_allclose(img.affine, ct_affine, atol=1e-9)
    labels, lgrid = read_nifti_labels(out / "image" / "labels.nii.gz")
    assert lgrid.same_as(vol.grid)
    np.testing.assert_array_equal(labels, res.artefacts["patient"].labels.labels_on_source_grid(vol.shape))
    T = read_nifti(out / "image" / "T_max_C.nii.gz").array
    th = res.artefacts["temperatures"]
    inside = T != 0
    assert inside.sum() > 0.5 * (labels > 0).sum()
    assert th.T_max_C.min() - 1e-4 <= T[inside].min() and T[inside].max() <= th.T_max_C.max() + 1e-4
    s = json.loads((out / "summary.json").read_text())
    assert s["image_outputs"]["voxels_inside_mesh"] == int(inside.sum())
    # the hot spot lies on the CT where the target ball is (the overlay is at the right place)
    gtv = run[3]
    hot = np.unravel_index(np.argmax(T), T.shape)
    assert gtv[hot] and T[gtv].mean() > T[(labels > 0) & ~gtv & inside].mean() + 1.0
    # heating ends at 16 min, then 4 min of cool-down: the field snapshot at 960 s, hotter than the end
    i = int(np.flatnonzero(np.isclose(th.snapshot_times_s, 960.0))[0])
    s_heat = read_nifti(out / "image" / "T_end_of_heating_C.nii.gz").array
    np.testing.assert_allclose(s_heat, sampler_for(res.artefacts["mesh"], vol.grid).sample_vertex(th.T_snapshots_C[i]))
    T_end = read_nifti(out / "image" / "T_final_C.nii.gz").array
    assert (s_heat - T_end)[inside].max() > 0.5 and "snapshot at t = 960 s" in s["image_outputs"]["T_end_of_heating"]
    ctbl = (out / "image" / "labels.ctbl").read_text()
    assert "GTV" in ctbl and "Bladder" in ctbl and "Rectum" in ctbl
    for f in (
        "image/T_max_C.nii.gz",
        "image/CEM43_min.nii.gz",
        "image/SAR_W_per_kg.nii.gz",
        "image/labels.nii.gz",
        "dicom/isotherms_rtstruct.dcm",
        "dvh.csv",
        "metrics.csv",
        "probes.csv",
    ):
        assert f in s["files"] and (out / f).is_file()


def test_dicom_outputs_reference_the_ct_frame(run):
    _, out, vol, _ = run
    rs = pydicom.dcmread(out / "dicom" / "isotherms_rtstruct.dcm")
    assert rs.ReferencedFrameOfReferenceSequence[0].FrameOfReferenceUID == vol.frame_of_reference_uid
    assert (
        rs.ReferencedFrameOfReferenceSequence[0]
        .RTReferencedStudySequence[0]
        .RTReferencedSeriesSequence[0]
        .SeriesInstanceUID
        == vol.series_uid
    )
    T = read_nifti(out / "image" / "T_max_C.nii.gz").array
    for name in ("T_max_C_pm.dcm", "CEM43_min_pm.dcm"):
        ds = pydicom.dcmread(out / "dicom" / name)
        assert ds.FrameOfReferenceUID == vol.frame_of_reference_uid and int(ds.NumberOfFrames) == vol.shape[0]
    ds = pydicom.dcmread(out / "dicom" / "T_max_C_pm.dcm")
    z = np.array(
        [f.PlanePositionSequence[0].ImagePositionPatient[2] for f in ds.PerFrameFunctionalGroupsSequence], float
    )
    k = np.rint((z * 1e-3 - vol.grid.origin_m[2]) / vol.grid.spacing_m[2]).astype(int)
    np.testing.assert_array_equal(ds.pixel_array, T[k])


def _csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_tables_per_structure_and_tissue(run):
    res, out, _, _ = run
    rows = _csv(out / "metrics.csv")
    by = {(r["structure"], r["tissue"]): r for r in rows}
    assert ("Bladder", "muscle") in by and ("Rectum", "muscle") in by and ("*", "muscle") in by
    assert by[("Bladder", "muscle")]["T_max_C"] != by[("Rectum", "muscle")]["T_max_C"]
    mesh, th = res.artefacts["mesh"], res.artefacts["temperatures"]
    w = vertex_volumes_m3(mesh, target_cell_mask(mesh))
    gtv = by[("GTV", "tumour")]
    assert float(gtv["T90_C"]) == pytest.approx(exceeded_by_fraction(th.T_max_C, w, 0.9), rel=1e-5)
    assert float(gtv["T90_C"]) == pytest.approx(res.summary["thermal"]["target"]["T90_C"], rel=1e-5)
    for r in rows:
        t90, t50, t10, hot, tmax = (float(r[k]) for k in ("T90_C", "T50_C", "T10_C", "T_hot0.5mL_C", "T_max_C"))
        assert t90 <= t50 <= t10 <= tmax and hot <= tmax
    assert float(gtv["dT_max_K"]) > 2.0 and float(gtv["CEM43_max_min"]) > 0  # heated
    dvh = _csv(out / "dvh.csv")
    assert list(dvh[0]) == ["structure", "tissue", "T_C", "volume_fraction"]
    g = [(float(r["T_C"]), float(r["volume_fraction"])) for r in dvh if r["structure"] == "GTV"]
    f = np.array([v for _, v in g])
    assert f[0] == pytest.approx(1.0) and np.all(np.diff(f) <= 1e-12) and f[-1] < 0.5
    probes = _csv(out / "probes.csv")
    assert [float(p["T_C"]) for p in probes] == pytest.approx(th.probe_T_C[0].tolist(), rel=1e-8)
    assert res.summary["structures"][0]["structure"] == mesh.regions[0].name
    # the CTV ROI contains the GTV: its region row is the shell, its ROI row the whole ROI as drawn
    ctv_region, ctv_roi = by[("CTV", "muscle")], by[("CTV", "muscle+tumour")]
    assert ctv_roi["role"] == "roi" and ("GTV", "tumour+muscle") not in by and ("GTV", "muscle+tumour") not in by
    v_sum = float(ctv_region["volume_mL"]) + float(gtv["volume_mL"])
    assert float(ctv_roi["volume_mL"]) == pytest.approx(v_sum, rel=0.1)
    assert float(ctv_roi["T_max_C"]) == pytest.approx(
        max(float(gtv["T_max_C"]), float(ctv_region["T_max_C"])), abs=1e-6
    )
    assert {r["tissue"] for r in dvh if r["structure"] == "CTV"} == {"muscle", "muscle+tumour"}


def test_primitive_plan_writes_tables_but_no_image_outputs(tmp_path):
    (tmp_path / "plan.toml").write_text(PRIMITIVE_PLAN.format(field=5.0).replace("[search]", "[x]").split("[x]")[0])
    res = run_plan(load_plan(tmp_path / "plan.toml"))
    out = tmp_path / "out"
    assert not (out / "image").exists() and not (out / "dicom").exists()
    assert res.summary["image_outputs"]["written"] is False
    s = json.loads((out / "summary.json").read_text())
    assert s["schema_version"] and s["provenance"]["mpi_ranks"] == 1 and s["provenance"]["plan_sha256"]
    assert s["structures"] == res.summary["structures"]
    rows = _csv(out / "metrics.csv")
    assert {r["structure"] for r in rows} == {"body", "tumour", "*"}
    assert len(_csv(out / "probes.csv")) == res.artefacts["temperatures"].times_s.size


NIFTI_PLAN = """
[plan]
name = "nifti exports"
output_dir = "results"

[imaging]
nifti = "ct.nii.gz"
nifti_modality = "CT"
target_mask = "gtv.nii.gz"

[segmentation]
method = "ct-hu"
soft_tissue = "muscle"
fat_tissue = "fat"
bone_tissue = "bone_cortical"
air_tissue = "air"
target_tissue = "tumour"

[mesh]
max_size_mm = 14.0
target_size_mm = 5.0

[applicator]
type = "uniform"
frequency_kHz = 100.0
field_kA_per_m = 8.0
amplitude = "peak"
"""


def test_nifti_plan_writes_image_outputs_on_the_nifti_grid_and_no_dicom(tmp_path):
    from planner.imaging.nifti import write_nifti
    from tests.imaging._imaging_util import rotation

    grid = Grid((9, 30, 30), np.array([-0.04, -0.045, -0.02]), np.array([0.003, 0.003, 0.005]), rotation((0, 0, 1), 10))
    hu, masks = body_phantom_hu(grid, metal=False)
    write_nifti(tmp_path / "ct.nii.gz", hu.astype(np.float32), grid)
    write_nifti(tmp_path / "gtv.nii.gz", masks["target"].astype(np.uint8), grid)
    (tmp_path / "plan.toml").write_text(NIFTI_PLAN)
    res = run_plan(load_plan(tmp_path / "plan.toml"))
    out = tmp_path / "results"
    ref = nib.load(str(tmp_path / "ct.nii.gz")).affine
    for name in ("SAR_W_per_kg", "E_peak_V_per_m", "labels"):
        np.testing.assert_allclose(nib.load(str(out / "image" / f"{name}.nii.gz")).affine, ref, atol=1e-6)
    assert not (out / "image" / "T_max_C.nii.gz").exists()  # no [thermal] section: EM fields only
    assert not (out / "dicom").exists() and "not a DICOM series" in res.summary["dicom_outputs"]["reason"]
    sar = read_nifti(out / "image" / "SAR_W_per_kg.nii.gz").array
    cell_sar = res.artefacts["fields"].SAR_W_per_kg.astype(np.float32)
    assert (sar > 0).sum() > 1000 and np.isin(sar[sar > 0], cell_sar).all()  # every voxel holds its cell's value
    rows = _csv(out / "metrics.csv")
    assert rows and all(r["T90_C"] == "" and r["SAR_max_W_per_kg"] != "" for r in rows)
    assert len(_csv(out / "dvh.csv")) == 0


def test_mesh_results_in_mm_and_one_temperature_time_series(run):
    import meshio

    res, out, _, _ = run
    mesh, th = res.artefacts["mesh"], res.artefacts["temperatures"]
    m = meshio.read(out / "fields" / "results_mm.vtu")
    np.testing.assert_allclose(m.points, mesh.points_m * 1e3, rtol=1e-12)
    np.testing.assert_allclose(m.point_data["T_max_C"], th.T_max_C)
    np.testing.assert_allclose(m.point_data["dT_max_K"], th.T_max_C - th.T_baseline_C)
    np.testing.assert_allclose(m.cell_data["SAR_W_per_kg"][0], res.artefacts["fields"].SAR_W_per_kg)
    with meshio.xdmf.TimeSeriesReader(str(out / "fields" / "temperature_mm.xdmf")) as r:
        points, cells = r.read_points_cells()
        np.testing.assert_allclose(points, mesh.points_m * 1e3, rtol=1e-12)
        assert r.num_steps == len(th.snapshot_times_s)
        t, pd, _ = r.read_data(r.num_steps - 1)
        assert t == pytest.approx(th.snapshot_times_s[-1])
        np.testing.assert_allclose(pd["T_C"], th.T_snapshots_C[-1])
    files = json.loads((out / "summary.json").read_text())["files"]
    assert {"fields/results_mm.vtu", "fields/temperature_mm.xdmf", "fields/temperature_mm.h5"} <= set(files)


def test_image_plan_figures_show_the_exported_fields_on_the_ct_and_the_report_embeds_them(run):
    """(figures, issue 15 §4) The overlays of an image plan are the exported image-grid fields over the CT —
    read back, not re-sampled — with the RTSTRUCT outlines; report.html embeds every figure listed."""
    import base64
    import re

    from planner.reporting.figures import overlay_slice_sets

    res, out, vol, gtv = run
    s = json.loads((out / "summary.json").read_text())
    figs = sorted(f for f in s["files"] if f.startswith("figures/"))
    assert {"figures/overlay_T_max.png", "figures/overlay_CEM43.png", "figures/overlay_SAR.png"} <= set(figs)
    at_target, _ = overlay_slice_sets(out, res.artefacts["mesh"], res.artefacts)
    assert at_target.underlay_kind == "CT" and at_target.underlay_window == (-160.0, 240.0)
    T = read_nifti(out / "image" / "T_max_C.nii.gz").array
    axial = at_target.planes[0]
    k = int(round(np.argwhere(gtv).mean(axis=0)[0]))
    np.testing.assert_array_equal(axial.fields["T_max_C"], T[k])  # identity grid: the CT's own voxels
    np.testing.assert_array_equal(axial.underlay, vol.array[k])
    assert {"GTV", "Bladder", "Rectum", "CTV"} <= set(axial.structures)
    np.testing.assert_array_equal(axial.structures["GTV"], res.artefacts["patient"].structures.masks["GTV"][k])
    page = (out / "report.html").read_text()
    imgs = re.findall(r'<img src="([^"]*)"', page)
    assert len(imgs) == len(figs) and all(u.startswith("data:image/png;base64,") for u in imgs)
    embedded = {base64.b64decode(u.split(",", 1)[1]) for u in imgs}
    assert all((out / f).read_bytes() in embedded for f in figs)
    assert re.search(r'<p class="verdict \w+" id="verdict"><b>Verdict.</b> The target', page)
