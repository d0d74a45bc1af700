"""Iron from CT (kind = "ct-hu-map"): a post-injection CT with a gaussian deposit reproduces its mass,
calibration and baseline handling, and one-line errors for bad input."""
from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from planner.config.plan import DistributionSection, parse_section
from planner.errors import InputError
from planner.nanoparticles._testing import Library, box_mesh
from planner.nanoparticles.distributions import distribute

KEY = "nanoparticles.distribution"
K_HU = 30.0  # HU per mg Fe/mL (the plan states its scanner's)
PEAK, SIGMA_MM = 80.0, 6.0  # mg Fe/mL, mm
MASS_MG = PEAK * (2 * math.pi) ** 1.5 * (SIGMA_MM / 10.0) ** 3  # ∫ c dV, mL


def dist(d: dict):
    return parse_section(DistributionSection, d, KEY)


def _nifti(path: Path, data: np.ndarray) -> Path:
    import nibabel as nib

    A = np.diag([1.0, 1.0, 1.0, 1.0])
    A[:3, 3] = [-50.0, -50.0, -50.0]
    nib.save(nib.Nifti1Image(data.astype(np.float32), A), str(path))
    return path


@pytest.fixture(scope="module")
def mesh():
    return box_mesh(10, half_size_m=0.05, target_radius_m=0.02)


@pytest.fixture(scope="module")
def cts(tmp_path_factory):
    d = tmp_path_factory.mktemp("ct")
    ras = np.indices((101, 101, 101)).transpose(1, 2, 3, 0) * 1.0 - 50.0
    c = PEAK * np.exp(-np.sum(ras**2, axis=-1) / (2 * SIGMA_MM**2))
    rng = np.random.default_rng(1)
    pre = 40.0 + rng.normal(0.0, 5.0, c.shape)  # soft tissue with CT noise
    post = pre + K_HU * c + rng.normal(0.0, 5.0, c.shape)
    return _nifti(d / "pre.nii.gz", pre), _nifti(d / "post.nii.gz", post), d


def test_post_minus_pre_reproduces_the_deposited_mass_within_5_percent(mesh, cts):
    pre, post, _ = cts
    d = distribute(mesh, dist({"kind": "ct-hu-map", "pre_file": str(pre), "post_file": str(post),
                               "hu_per_mg_Fe_per_mL": K_HU, "total_mass_mg": MASS_MG}), lib=Library())
    m = d.details["map"]
    assert m["kind"] == "ct-hu-map" and m["saturated_fraction"] == 0.0
    assert m["declared_mass_mg"] == pytest.approx(MASS_MG)
    assert m["mass_on_mesh_mg"] == pytest.approx(MASS_MG, rel=0.05)  # the 20 HU noise floor drops ≈ 2 % of the tail
    assert d.mapped_mass_mg == m["mass_on_mesh_mg"]
    assert d.concentration_mg_per_mL.max() > 20.0  # therapeutic concentrations, no saturation


def test_post_alone_with_tissue_baseline_and_calibration_scaling(mesh, cts):
    pre, post, _ = cts
    d = distribute(mesh, dist({"kind": "ct-hu-map", "post_file": str(post), "tissue_baseline_HU": 40.0,
                               "hu_per_mg_Fe_per_mL": K_HU}), lib=Library())
    assert d.details["map"]["mass_on_mesh_mg"] == pytest.approx(MASS_MG, rel=0.05)
    d2 = distribute(mesh, dist({"kind": "ct-hu-map", "post_file": str(post), "tissue_baseline_HU": 40.0,
                                "hu_per_mg_Fe_per_mL": 2 * K_HU}), lib=Library())
    assert d2.mapped_mass_mg == pytest.approx(d.mapped_mass_mg / 2, rel=1e-9)  # mass ∝ 1/calibration


@pytest.mark.parametrize("extra,match", [
    ({"hu_per_mg_Fe_per_mL": "thirty"}, "hu_per_mg_Fe_per_mL"),
    ({"hu_per_mg_Fe_per_mL": -3.0}, "hu_per_mg_Fe_per_mL"),
    ({}, "hu_per_mg_Fe_per_mL: missing required key for kind = .ct-hu-map."),
    ({"hu_per_mg_Fe_per_mL": 30.0, "tissue_baseline_HU": 40.0}, "expected exactly one"),
    ({"hu_per_mg_Fe_per_mL": 30.0, "relaxivity_per_s_per_mM": 55.7}, "not used by kind = 'ct-hu-map'"),
])
def test_bad_ct_hu_map_keys_are_one_line_errors(cts, extra, match):
    pre, post, _ = cts
    with pytest.raises(InputError, match=match) as exc:
        dist({"kind": "ct-hu-map", "pre_file": str(pre), "post_file": str(post), **extra})
    assert "\n" not in str(exc.value)


def test_ct_not_overlapping_the_body_and_mismatched_grids_are_errors(tmp_path, mesh, cts):
    import nibabel as nib

    pre, post, _ = cts
    far = np.diag([1.0, 1.0, 1.0, 1.0])
    far[:3, 3] = [500.0, 500.0, 500.0]
    p_far = tmp_path / "far.nii.gz"
    nib.save(nib.Nifti1Image(np.full((5, 5, 5), 500.0, np.float32), far), str(p_far))
    with pytest.raises(InputError, match="does not overlap the body"):
        distribute(mesh, dist({"kind": "ct-hu-map", "post_file": str(p_far), "tissue_baseline_HU": 40.0,
                               "hu_per_mg_Fe_per_mL": K_HU}), lib=Library())
    with pytest.raises(InputError, match="grids differ"):
        distribute(mesh, dist({"kind": "ct-hu-map", "pre_file": str(p_far), "post_file": str(post),
                               "hu_per_mg_Fe_per_mL": K_HU}), lib=Library())


def test_every_map_kind_reports_the_map_block(tmp_path, mesh, cts):
    """summary nanoparticles.map {kind, saturated_fraction, mass_on_mesh_mg, declared_mass_mg} for the
    R2* and concentration maps too (R2*: the mass share of voxels at the saturation R2*, a lower bound)."""
    import nibabel as nib

    A = np.diag([2.0, 2.0, 2.0, 1.0])
    A[:3, 3] = [-60.0, -60.0, -60.0]
    ras = np.indices((61, 61, 61)).transpose(1, 2, 3, 0) * 2.0 - 60.0
    delta = 300.0 * np.exp(-np.sum(ras**2, axis=-1) / (2 * 10.0**2))
    p = tmp_path / "dr2.nii.gz"
    nib.save(nib.Nifti1Image(delta.astype(np.float32), A), str(p))
    d = distribute(mesh, dist({"kind": "r2star-map", "file": str(p), "relaxivity_per_s_per_mM": 55.7,
                               "r2star_saturation_per_s": 250.0, "total_mass_mg": 5.0}), lib=Library())
    m = d.details["map"]
    core = delta >= 250.0
    assert m["kind"] == "r2star-map" and m["declared_mass_mg"] == 5.0 and m["mass_on_mesh_mg"] == pytest.approx(5.0)
    assert m["saturated_fraction"] == pytest.approx(float(delta[core].sum() / delta.sum()), rel=1e-5)
    assert 0.0 < m["saturated_fraction"] < 0.5
    c = distribute(mesh, dist({"kind": "concentration-map", "file": str(p)}), lib=Library()).details["map"]
    assert c["kind"] == "concentration-map" and c["saturated_fraction"] == 0.0 and c["declared_mass_mg"] is None


# --- a small generated variant of the pelvis post-injection CT, as DICOM series ----------------------
FOR_PLAN = "1.2.826.0.1.3680043.8.498.1001"
FOR_OTHER = "1.2.826.0.1.3680043.8.498.2002"


@pytest.fixture(scope="module")
def pelvis_small(tmp_path_factory):
    """Pre/post CT of the pelvis phantom on a 24×24×16 grid of 2.5 mm voxels around its deposit, written as
    DICOM in frame FOR_PLAN, and a box mesh (planning frame FOR_PLAN) around the deposit."""
    import dataclasses

    from planner.imaging.dicom_write import StudyInfo, write_dicom_series
    from planner.imaging.phantoms import phantom_images, post_injection_ct
    from planner.imaging.volume import Grid

    d = tmp_path_factory.mktemp("pelvis_small")
    sp = np.full(3, 2.5e-3)
    grid = Grid((16, 24, 24), np.array([0.007, 0.010, -0.020]) - 0.5 * np.array([23, 23, 15]) * sp, sp, np.eye(3))
    _, pre = phantom_images("pelvis", "CT", grid)
    _, post, dep = post_injection_ct("pelvis", grid)
    for sub, hu, frame in (("pre", pre.hu, FOR_PLAN), ("post", post, FOR_PLAN), ("post_other", post, FOR_OTHER)):
        study = StudyInfo(frame_of_reference_uid=frame).filled(f"t-{sub}")
        write_dicom_series(d / sub, hu, grid, modality="CT", study=study, seed=f"t-{sub}", file_prefix="CT")
    m = box_mesh(8, half_size_m=0.025, target_radius_m=0.012)
    m = dataclasses.replace(m, points_m=m.points_m + np.array([0.007, 0.010, -0.020]), frame_of_reference_uid=FOR_PLAN,
                            _cache={})
    return d, m, dep


def _ct_map(d: Path, post: str = "post", **extra):
    return dist({"kind": "ct-hu-map", "pre_file": str(d / "pre"), "post_file": str(d / post),
                 "hu_per_mg_Fe_per_mL": 5.9, **extra})


def test_small_pelvis_variant_reproduces_the_deposit_from_dicom(pelvis_small):
    d, m, dep = pelvis_small
    out = distribute(m, _ct_map(d), lib=Library())
    assert out.details["map"]["mass_on_mesh_mg"] == pytest.approx(dep.mass_mg, rel=0.05)
    assert out.details["map"]["mass_on_mesh_mg"] == pytest.approx(dep.mass_mg, rel=0.02), out.details["map"]


def test_ct_frame_of_reference_differing_from_the_planning_ct_is_a_one_line_error(pelvis_small):
    d, m, _ = pelvis_small
    with pytest.raises(InputError) as exc:
        distribute(m, _ct_map(d, "post_other"), lib=Library())
    msg = str(exc.value)
    assert "\n" not in msg and f"{KEY}.post_file" in msg and FOR_OTHER in msg and FOR_PLAN in msg


def test_unreadable_dicom_file_in_a_map_series_is_an_error_not_skipped(pelvis_small, tmp_path):
    d, m, _ = pelvis_small
    broken = tmp_path / "post"
    shutil.copytree(d / "post", broken)
    f = broken / "CT0005.dcm"
    f.write_bytes(f.read_bytes()[:400])  # truncated: the DICM marker is there, the header is not
    with pytest.raises(InputError) as exc:
        distribute(m, dist({"kind": "ct-hu-map", "pre_file": str(d / "pre"), "post_file": str(broken),
                            "hu_per_mg_Fe_per_mL": 5.9}), lib=Library())
    assert "\n" not in str(exc.value) and "CT0005.dcm" in str(exc.value)


def test_r2star_dicom_map_in_another_frame_is_a_one_line_error(pelvis_small, tmp_path):
    from planner.imaging.dicom_write import StudyInfo, write_dicom_series
    from planner.imaging.volume import Grid

    _, m, _ = pelvis_small
    g = Grid((6, 8, 8), np.array([-0.01, -0.01, -0.03]), np.full(3, 4e-3), np.eye(3))
    r2 = np.full(g.shape, 40.0)
    for sub, frame in (("same", FOR_PLAN), ("other", FOR_OTHER)):
        write_dicom_series(tmp_path / sub, r2, g, modality="MR", study=StudyInfo(frame_of_reference_uid=frame).filled(sub),
                           seed=sub, file_prefix="MR")
    sec = {"kind": "r2star-map", "relaxivity_preset": "ferumoxytol-3T"}
    ok = distribute(m, dist({**sec, "file": str(tmp_path / "same")}), lib=Library())
    assert ok.details["map"]["kind"] == "r2star-map"
    with pytest.raises(InputError) as exc:
        distribute(m, dist({**sec, "file": str(tmp_path / "other")}), lib=Library())
    msg = str(exc.value)
    assert "\n" not in msg and f"{KEY}.file" in msg and FOR_OTHER in msg and FOR_PLAN in msg


def test_r2star_residual_weighted_by_a_post_injection_ct(tmp_path):
    """r2star-map with residual_ct_file: the saturated core's residual goes where the CT rises (here only
    in its x > 0 half, LPS), the declared total is kept and the unsaturated rim is untouched."""
    import nibabel as nib

    A = np.diag([2.0, 2.0, 2.0, 1.0])
    A[:3, 3] = [-60.0, -60.0, -60.0]
    ras = np.indices((61, 61, 61)).transpose(1, 2, 3, 0) * 2.0 - 60.0
    delta = 300.0 * np.exp(-np.sum(ras**2, axis=-1) / (2 * 10.0**2))
    p = tmp_path / "dr2.nii.gz"
    nib.save(nib.Nifti1Image(delta.astype(np.float32), A), str(p))
    ct_ras = np.indices((101, 101, 101)).transpose(1, 2, 3, 0) * 1.0 - 50.0
    ct = 40.0 + np.where(ct_ras[..., 0] < 0, 300.0, 0.0)  # RAS x < 0 is LPS x > 0
    ct_file = _nifti(tmp_path / "ct.nii.gz", ct)
    sec = {"kind": "r2star-map", "file": str(p), "relaxivity_per_s_per_mM": 55.7, "r2star_saturation_per_s": 250.0,
           "total_mass_mg": 5.0}
    mesh = box_mesh(12, half_size_m=0.02, target_radius_m=None)  # 3.3 mm cells: the 6 mm core is resolved
    uni = distribute(mesh, dist(sec), lib=Library())
    ctw = distribute(mesh, dist({**sec, "residual_ct_file": str(ct_file)}), lib=Library())
    assert ctw.mapped_mass_mg == pytest.approx(5.0, rel=1e-9)
    assert ctw.details["saturation_handling"].endswith("weighted by the CT HU rise")
    X = mesh.cell_centroids_m()
    core = np.linalg.norm(X, axis=1) < 0.007
    left, right = core & (X[:, 0] > 0.001), core & (X[:, 0] < -0.001)
    c_u, c_w = uni.concentration_mg_per_mL, ctw.concentration_mg_per_mL
    assert c_w[left].mean() > 1.3 * c_u[left].mean() and c_w[right].mean() < 0.7 * c_u[right].mean()
    with pytest.raises(InputError, match="residual_ct_file: needs total_mass_mg"):
        dist({**sec, "total_mass_mg": None, "residual_ct_file": str(ct_file)} | {})
