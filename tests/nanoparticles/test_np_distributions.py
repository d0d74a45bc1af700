"""Particle distributions: mass conservation, deposits, NIfTI/DICOM map geometry (RAS vs LPS), R2*."""
from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pytest

from planner.config.plan import DistributionSection, parse_section
from planner.errors import InputError
from planner.nanoparticles._testing import Library, box_mesh
from planner.nanoparticles.distributions import (
    FE_mg_per_mmol,
    distribute,
    read_dicom_map,
    read_nifti,
)

KEY = "nanoparticles.distribution"


def dist(d: dict):
    return parse_section(DistributionSection, d, KEY)


@pytest.fixture(scope="module")
def mesh():
    return box_mesh(10, half_size_m=0.05, target_radius_m=0.02,
                    implant_box_m=((0.025, 0.025, 0.025), (0.05, 0.05, 0.05)))


def test_uniform_in_target_conserves_mass(mesh):
    d = distribute(mesh, dist({"kind": "uniform-in-target", "total_mass_mg": 12.5}))
    V = mesh.cell_volumes_m3()
    tgt = mesh.cell_region == 2
    assert np.all(d.concentration_mg_per_mL[~tgt] == 0)
    assert np.ptp(d.concentration_mg_per_mL[tgt]) == 0
    assert d.mapped_mass_mg == pytest.approx(12.5, rel=1e-12)
    assert d.mass_conservation_rel_error < 1e-12
    assert d.concentration_mg_per_mL[tgt][0] == pytest.approx(12.5 / (V[tgt].sum() * 1e6), rel=1e-12)


def test_uniform_without_target_is_an_error():
    m = box_mesh(4, target_radius_m=None)
    with pytest.raises(InputError, match="no target region"):
        distribute(m, dist({"kind": "uniform-in-target", "total_mass_mg": 1.0}))


def test_deposits_conserve_each_mass_and_avoid_implants(mesh):
    d = distribute(mesh, dist({"kind": "deposit", "deposits": [
        {"center_mm": [0, 0, 0], "semi_axes_mm": [15, 10, 10], "mass_mg": 20.0},
        {"shape": "gaussian", "center_mm": [30, 30, 30], "sigma_mm": [8, 8, 8], "mass_mg": 5.0},
    ]}), lib=Library())
    assert d.mapped_mass_mg == pytest.approx(25.0, rel=1e-12)
    assert d.total_mass_mg == 25.0
    implant = mesh.cell_region == 3
    assert implant.any() and np.all(d.concentration_mg_per_mL[implant] == 0)
    # the gaussian is centred inside the implant box: part of its mass is pushed into tissue
    assert d.details["deposits"][1]["sampling_correction_factor"] > 1.5
    # ellipsoid: uniform concentration inside
    X = mesh.cell_centroids_m()
    inside = np.sum((X / np.array([0.015, 0.01, 0.01])) ** 2, axis=1) <= 1
    assert np.ptp(d.concentration_mg_per_mL[inside]) < 1e-6 * d.concentration_mg_per_mL.max()  # + gaussian tail


def test_gaussian_deposit_sampling_converges_with_mesh():
    """Σ w(x_i) V_i → (2π)^{3/2} σ³ · (fraction inside the box): the correction factor converges to
    1/erf(L/(σ√2))³ (centroid sums of a smooth, decaying profile on a uniform grid converge fast)."""
    from scipy.special import erf

    expected = 1.0 / erf(50.0 / (9.0 * math.sqrt(2.0))) ** 3
    errs = []
    for n in (6, 12, 24):
        m = box_mesh(n, half_size_m=0.05, target_radius_m=None)
        d = distribute(m, dist({"kind": "deposit", "deposits": [
            {"shape": "gaussian", "center_mm": [0, 0, 0], "sigma_mm": [9, 9, 9], "mass_mg": 1.0}]}))
        errs.append(abs(d.sampling_correction - expected))
        assert d.mass_conservation_rel_error < 1e-12
    # the remaining ~1e-8 is the midpoint error of the profile's truncation at the box faces
    assert errs[1] < errs[0] / 1e3 and errs[2] < errs[1] and errs[2] < 2e-8, errs


def test_deposit_outside_body_is_an_error(mesh):
    with pytest.raises(InputError, match=r"deposits\[0\].*contains no centroid"):
        distribute(mesh, dist({"kind": "deposit", "deposits": [
            {"center_mm": [200, 0, 0], "semi_axes_mm": [5, 5, 5], "mass_mg": 1.0}]}))


def test_unknown_region_is_an_error(mesh):
    with pytest.raises(InputError, match=r"regions\[0\] = 'liver'"):
        distribute(mesh, dist({"kind": "uniform-in-target", "total_mass_mg": 1.0, "regions": ["liver"]}))


# --- maps ------------------------------------------------------------------------------------------
def _linear(ras_mm: np.ndarray) -> np.ndarray:
    return 5.0 + 0.03 * ras_mm[..., 0] - 0.02 * ras_mm[..., 1] + 0.01 * ras_mm[..., 2]


def _nifti(tmp_path: Path, data: np.ndarray, affine: np.ndarray, name="map.nii.gz") -> Path:
    import nibabel as nib

    p = tmp_path / name
    nib.save(nib.Nifti1Image(data.astype(np.float32), affine), str(p))
    return p


def _ras_affine() -> np.ndarray:
    # 2.5 mm voxels, the first axis flipped (x decreasing with i), a small rotation about z
    th = math.radians(10)
    R = np.array([[math.cos(th), -math.sin(th), 0], [math.sin(th), math.cos(th), 0], [0, 0, 1]])
    A = np.eye(4)
    A[:3, :3] = R @ np.diag([-2.5, 2.5, 2.5])
    A[:3, 3] = [80.0, -80.0, -80.0]
    return A


def test_nifti_geometry_is_ras_converted_to_lps(tmp_path, mesh):
    A = _ras_affine()
    ijk = np.stack(np.meshgrid(*[np.arange(64)] * 3, indexing="ij"), axis=-1).astype(float)
    ras = ijk @ A[:3, :3].T + A[:3, 3]
    vol = read_nifti(_nifti(tmp_path, _linear(ras), A))
    X = mesh.cell_centroids_m()
    vals, inside = vol.sample(X)
    assert inside.all()
    ras_of_X = np.c_[-X[:, 0], -X[:, 1], X[:, 2]] * 1e3  # LPS m → RAS mm
    np.testing.assert_allclose(vals, _linear(ras_of_X), rtol=2e-6)  # float32 storage


def test_nifti_blob_on_patient_right_lands_at_negative_lps_x(tmp_path):
    A = np.diag([2.0, 2.0, 2.0, 1.0])
    A[:3, 3] = [-60.0, -60.0, -60.0]
    data = np.zeros((61, 61, 61))
    ijk = np.indices(data.shape).transpose(1, 2, 3, 0)
    ras = ijk * 2.0 - 60.0
    data[np.linalg.norm(ras - np.array([25.0, 10.0, 0.0]), axis=-1) < 8] = 2.0  # patient right, anterior
    m = box_mesh(16, half_size_m=0.05, target_radius_m=None)
    d = distribute(m, dist({"kind": "concentration-map", "file": str(_nifti(tmp_path, data, A))}))
    X = m.cell_centroids_m()
    w = d.concentration_mg_per_mL * m.cell_volumes_m3()
    com = (X * w[:, None]).sum(0) / w.sum()
    np.testing.assert_allclose(com * 1e3, [-25.0, -10.0, 0.0], atol=1.5)
    assert d.mass_conservation_rel_error < 1e-12
    assert d.total_mass_mg == pytest.approx(d.details["map_integral_mg"], rel=1e-12)
    assert abs(d.sampling_correction - 1) < 0.15


def test_map_not_overlapping_the_body_is_an_error(tmp_path, mesh):
    A = np.diag([2.0, 2.0, 2.0, 1.0])
    A[:3, 3] = [500.0, 500.0, 500.0]
    p = _nifti(tmp_path, np.ones((10, 10, 10)), A)
    with pytest.raises(InputError, match="does not overlap the body"):
        distribute(mesh, dist({"kind": "concentration-map", "file": str(p)}))


def test_declared_total_and_mM_units(tmp_path, mesh):
    A = np.diag([4.0, 4.0, 4.0, 1.0])
    A[:3, 3] = [-70.0, -70.0, -70.0]
    data = np.full((36, 36, 36), 3.0)
    p = _nifti(tmp_path, data, A)
    d = distribute(mesh, dist({"kind": "concentration-map", "file": str(p), "units": "mM_Fe", "total_mass_mg": 7.0}),
                   lib=Library())
    assert d.mapped_mass_mg == pytest.approx(7.0, rel=1e-12)
    d2 = distribute(mesh, dist({"kind": "concentration-map", "file": str(p), "units": "mM_Fe"}), lib=Library())
    assert d2.details["map_integral_mg"] == pytest.approx(3.0 * FE_mg_per_mmol * 1e-3 * 36**3 * 64e-3, rel=1e-6)


def _write_dicom_series(folder: Path, data_kji: np.ndarray, ipp0, row, col, ps, dz, slope=0.001):
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    folder.mkdir()
    series = generate_uid()
    normal = np.cross(row, col)
    order = list(range(data_kji.shape[0]))[::-1]  # write in reverse to test sorting
    for n, k in enumerate(order):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(str(folder / f"s{n}.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = meta.MediaStorageSOPClassUID
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.SeriesInstanceUID = series
        ds.Modality = "MR"
        ds.ImagePositionPatient = [float(v) for v in np.asarray(ipp0) + k * dz * normal]
        ds.ImageOrientationPatient = [float(v) for v in np.r_[row, col]]
        ds.PixelSpacing = [float(ps[0]), float(ps[1])]
        ds.SliceThickness = float(dz)
        ds.Rows, ds.Columns = data_kji.shape[1], data_kji.shape[2]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 0
        ds.RescaleSlope = slope
        ds.RescaleIntercept = 0.0
        ds.PixelData = np.round(data_kji[k] / slope).astype(np.uint16).tobytes()
        ds.save_as(str(folder / f"s{n}.dcm"), enforce_file_format=True)


def test_dicom_series_geometry_in_lps(tmp_path, mesh):
    row, col = np.array([0.0, 1.0, 0.0]), np.array([1.0, 0.0, 0.0])  # oblique-ish: normal = −z
    ipp0, ps, dz = np.array([-64.0, -62.0, 70.0]), (3.0, 2.5), 4.0
    nk, nr, nc = 40, 45, 55
    k, r, c = np.meshgrid(np.arange(nk), np.arange(nr), np.arange(nc), indexing="ij")
    lps = ipp0 + c[..., None] * ps[1] * row + r[..., None] * ps[0] * col + k[..., None] * dz * np.cross(row, col)

    def f(p):
        return 10.0 + 0.02 * p[..., 0] + 0.03 * p[..., 1] - 0.04 * p[..., 2]

    _write_dicom_series(tmp_path / "series", f(lps), ipp0, row, col, ps, dz)
    vol = read_dicom_map(tmp_path / "series")
    assert vol.data.shape == (nc, nr, nk)
    X = mesh.cell_centroids_m()
    vals, inside = vol.sample(X)
    assert inside.all()
    np.testing.assert_allclose(vals, f(X * 1e3), atol=1e-3)  # 0.001 quantisation of the stored values
    d = distribute(mesh, dist({"kind": "concentration-map", "file": str(tmp_path / "series")}), lib=Library())
    assert d.mass_conservation_rel_error < 1e-12


def test_r2star_conversion_matches_concentration_map(tmp_path, mesh, caplog):
    A = np.diag([2.0, 2.0, 2.0, 1.0])
    A[:3, 3] = [-60.0, -60.0, -60.0]
    ras = np.indices((61, 61, 61)).transpose(1, 2, 3, 0) * 2.0 - 60.0
    delta = 300.0 * np.exp(-np.sum(ras**2, axis=-1) / (2 * 10.0**2))
    pre = np.full(delta.shape, 30.0)
    post = pre + delta
    p_pre, p_post = _nifti(tmp_path, pre, A, "pre.nii.gz"), _nifti(tmp_path, post, A, "post.nii.gz")
    p_delta = _nifti(tmp_path, post - pre, A, "delta.nii.gz")
    with caplog.at_level(logging.WARNING):
        d = distribute(mesh, dist({"kind": "r2star-map", "pre_file": str(p_pre), "post_file": str(p_post),
                                   "relaxivity_preset": "ferumoxytol-3T", "r2star_saturation_per_s": 250.0}), lib=Library())
    assert d.details["r2star_saturated_voxels"] > 0 and d.details["r2star_saturation_warning"]
    assert "saturation" in caplog.text
    mM = _nifti(tmp_path, (post - pre) / 55.7, A, "mM.nii.gz")
    ref = distribute(mesh, dist({"kind": "concentration-map", "file": str(mM), "units": "mM_Fe"}), lib=Library())
    tol = 1e-5 * ref.concentration_mg_per_mL.max()  # float32 storage: post − pre loses the far tails
    np.testing.assert_allclose(d.concentration_mg_per_mL, ref.concentration_mg_per_mL, rtol=1e-5, atol=tol)
    d2 = distribute(mesh, dist({"kind": "r2star-map", "file": str(p_delta), "relaxivity_per_s_per_mM": 55.7}), lib=Library())
    np.testing.assert_allclose(d2.concentration_mg_per_mL, d.concentration_mg_per_mL, rtol=1e-5, atol=tol)
    assert d.details["map_integral_mg"] == pytest.approx(
        float(delta.astype(np.float32).sum()) / 55.7 * FE_mg_per_mmol * 1e-3 * 8e-3, rel=1e-4)


@pytest.mark.parametrize("extra,match", [
    ({"relaxivity_per_s_per_mM": 0.0}, "relaxivity_per_s_per_mM = 0.0"),
    ({"relaxivity_per_s_per_mM": -3.0}, "relaxivity_per_s_per_mM = -3.0"),
    ({"relaxivity_preset": "ferumoxytol-7T"}, "relaxivity_preset = 'ferumoxytol-7T'"),
    ({}, "expected exactly one of the two"),
])
def test_bad_relaxivity(extra, match):
    with pytest.raises(InputError, match=match):
        dist({"kind": "r2star-map", "file": "x.nii", **extra})


def test_missing_map_file_is_an_error(mesh, tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        distribute(mesh, dist({"kind": "concentration-map", "file": "nope.nii"}), base_dir=tmp_path)


def test_real_tissue_library_metal_regions_hold_no_particles():
    """With the project's tissue library, a region of a metal tissue (even if not role=implant)
    holds no particles; unknown tissue names do not break the distribution."""
    import dataclasses

    from planner.artefacts import Region, Role
    from planner.tissues.library import load_library

    m = box_mesh(8, half_size_m=0.05, target_radius_m=0.02)
    regions = (Region(1, "body", "ti6al4v", Role.BODY), Region(2, "tumour", "not-a-tissue", Role.TARGET))
    m = dataclasses.replace(m, regions=regions, _cache={})
    d = distribute(m, dist({"kind": "deposit", "deposits": [
        {"shape": "gaussian", "center_mm": [0, 0, 0], "sigma_mm": [10, 10, 10], "mass_mg": 1.0}]}), lib=load_library(None))
    assert np.all(d.concentration_mg_per_mL[m.cell_region == 1] == 0)
    assert d.mapped_mass_mg == pytest.approx(1.0, rel=1e-12)


def test_concentration_above_stock_warns(caplog):
    m = box_mesh(6, half_size_m=0.05, target_radius_m=0.02)
    with caplog.at_level(logging.WARNING):
        d = distribute(m, dist({"kind": "uniform-in-target", "total_mass_mg": 5e6}))
    assert d.details["concentration_above_stock_warning"] is True and "stock" in caplog.text
    assert "concentration_above_stock_warning" not in distribute(
        m, dist({"kind": "uniform-in-target", "total_mass_mg": 5.0})).details


def test_keys_of_other_kinds_are_rejected():
    with pytest.raises(InputError, match=r"r2star_saturation_per_s = 300\.0: not used by kind = 'deposit'"):
        dist({"kind": "deposit", "deposits": [{"center_mm": [0, 0, 0], "semi_axes_mm": [1, 1, 1], "mass_mg": 1.0}],
              "r2star_saturation_per_s": 300.0})
