"""DICOM series / NIfTI readers: geometry against the DICOM definitions, sorting, rescaling."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

from planner.imaging import read_dicom_file, read_dicom_series, read_nifti, write_nifti
from planner.imaging.volume import Grid
from tests.imaging._imaging_util import rotation, write_ct


def test_roundtrip_sorted_by_position_not_name_or_instance_number(tmp_path):
    uid, files, values, grid = write_ct(tmp_path / "ct")
    rng = np.random.default_rng(3)
    names = [f"z{n:03d}.dcm" for n in rng.permutation(len(files))]
    for f, new in zip(files, names):
        ds = pydicom.dcmread(f)
        ds.InstanceNumber = int(rng.integers(1, 100))
        ds.save_as(tmp_path / "ct" / new, enforce_file_format=True)
        f.unlink()
    vol = read_dicom_series(tmp_path / "ct", modality="CT")
    np.testing.assert_array_equal(vol.array, values)
    assert vol.grid.same_as(grid)
    assert vol.series_uid == uid and vol.modality == "CT" and vol.units == "HU"


def test_geometry_follows_dicom_image_plane_definition(tmp_path):
    """Voxel (i, j, k) centre = IPP_k + i Δi · row cosine + j Δj · column cosine (PS3.3 C.7.6.2.1.1),
    checked against the raw tags of each file, with anisotropic pixels and an oblique orientation."""
    R = rotation((1.0, 2.0, 0.5), 27.0)
    grid = Grid((5, 7, 9), np.array([0.011, -0.023, 0.101]), np.array([0.0008, 0.0013, 0.0025]), R)
    write_ct(tmp_path / "ct", grid=grid)
    vol = read_dicom_series(tmp_path / "ct")
    assert any("oblique" in n for n in vol.notes)
    for k, f in enumerate(vol.files):
        ds = pydicom.dcmread(f)
        ipp = np.array([float(v) for v in ds.ImagePositionPatient])
        iop = np.array([float(v) for v in ds.ImageOrientationPatient])
        row_sp, col_sp = (float(v) for v in ds.PixelSpacing)  # [Δ between rows, Δ between columns]
        for i, j in [(0, 0), (3, 0), (0, 5), (8, 6)]:
            expect = ipp + i * col_sp * iop[:3] + j * row_sp * iop[3:]
            got = vol.grid.index_to_lps_m(np.array([[i, j, k]]))[0] * 1e3
            np.testing.assert_allclose(got, expect, atol=1e-4)
    # slice normal = row × column cosine, slices ascending along it
    np.testing.assert_allclose(vol.grid.direction[:, 2], np.cross(R[:, 0], R[:, 1]), atol=1e-7)
    ijk = vol.grid.lps_m_to_index(vol.grid.index_to_lps_m(np.array([[1.5, 2.5, 3.5]])))
    np.testing.assert_allclose(ijk, [[1.5, 2.5, 3.5]], atol=1e-9)


def test_descending_slices_are_sorted_along_normal(tmp_path):
    """A series whose normal points inferior (z flipped) is still sorted along its own normal."""
    R = np.diag([1.0, -1.0, -1.0])  # rows → +x, columns → −y, normal → −z
    grid = Grid((4, 5, 6), np.array([0.0, 0.0, 0.05]), np.array([0.001, 0.001, 0.002]), R)
    uid, files, values, _ = write_ct(tmp_path / "ct", grid=grid)
    vol = read_dicom_series(tmp_path / "ct")
    np.testing.assert_array_equal(vol.array, values)
    z = [float(pydicom.dcmread(f).ImagePositionPatient[2]) for f in vol.files]
    assert z == sorted(z, reverse=True)


def test_rescale_slope_intercept(tmp_path):
    uid, files, values, grid = write_ct(tmp_path / "ct")
    ds = pydicom.dcmread(files[0])
    stored = ds.pixel_array.astype(float)
    ds.RescaleSlope, ds.RescaleIntercept = 2, -50
    ds.save_as(files[0], enforce_file_format=True)
    vol = read_dicom_series(tmp_path / "ct")
    np.testing.assert_allclose(vol.array[0], 2 * stored - 50)
    np.testing.assert_allclose(vol.array[1:], values[1:])


def test_non_images_and_other_files_ignored_series_chosen_by_uid(tmp_path):
    from planner.imaging import write_rtstruct

    folder = tmp_path / "mixed"
    uid1, _, v1, g = write_ct(folder / "a", seed="one", series_number=1)
    uid2, _, v2, _ = write_ct(folder / "b", seed="two", series_number=2)
    (folder / "notes.txt").write_text("scan notes")
    scout = pydicom.dcmread(sorted((folder / "b").glob("*.dcm"))[0])  # a localizer in series b, other orientation
    scout.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
    scout.ImageOrientationPatient = [1, 0, 0, 0, 0, -1]
    scout.SOPInstanceUID = scout.file_meta.MediaStorageSOPInstanceUID = "1.2.3.4.5"
    scout.save_as(folder / "b" / "scout.dcm", enforce_file_format=True)
    vol1 = read_dicom_series(folder / "a")
    write_rtstruct(folder / "rs.dcm", vol1, [("X", vol1.array > 0, "ORGAN")])
    vol = read_dicom_series(folder, series_uid=uid2)
    np.testing.assert_array_equal(vol.array, v2)
    assert vol.series_uid == uid2


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm"])
def test_real_single_slice_files(tmp_path, name):
    """pydicom's real CT/MR slices: 1-slice volume, values = stored × slope + intercept, IPP origin."""
    src = pydicom.data.get_testdata_file(name)
    ds = pydicom.dcmread(src)
    expect = ds.pixel_array.astype(float) * float(ds.get("RescaleSlope", 1)) + float(ds.get("RescaleIntercept", 0))
    vol = read_dicom_file(src)
    assert vol.shape == (1, ds.Rows, ds.Columns)
    np.testing.assert_allclose(vol.array[0], expect)
    np.testing.assert_allclose(vol.grid.origin_m * 1e3, [float(v) for v in ds.ImagePositionPatient])
    np.testing.assert_allclose(vol.grid.spacing_m[:2] * 1e3, [float(ds.PixelSpacing[1]), float(ds.PixelSpacing[0])])
    assert vol.grid.spacing_m[2] * 1e3 == pytest.approx(float(ds.get("SpacingBetweenSlices", ds.SliceThickness)))
    shutil.copy(src, tmp_path / name)
    vol2 = read_dicom_series(tmp_path)
    np.testing.assert_allclose(vol2.array, vol.array)
    assert vol2.modality == ds.Modality


def test_nifti_ras_to_lps_on_real_anatomical():
    import nibabel

    p = Path(nibabel.__file__).parent / "tests" / "data" / "anatomical.nii"
    img = nibabel.load(str(p))
    vol = read_nifti(p)
    assert vol.shape == tuple(reversed(img.shape))
    # RAS affine diag(-2, 2, 2), origin (32, -40, -16) mm → LPS: x and y negated
    np.testing.assert_allclose(vol.grid.origin_m * 1e3, [-32.0, 40.0, -16.0])
    np.testing.assert_allclose(vol.grid.spacing_m * 1e3, [2.0, 2.0, 2.0])
    np.testing.assert_allclose(vol.grid.direction, np.diag([1.0, -1.0, 1.0]), atol=1e-12)
    data = np.asarray(img.dataobj)
    assert vol.array[3, 5, 7] == data[7, 5, 3]
    # a voxel's LPS position equals the RAS position with x, y negated
    ras = img.affine @ np.array([7, 5, 3, 1.0])
    np.testing.assert_allclose(vol.grid.index_to_lps_m(np.array([[7, 5, 3]]))[0] * 1e3, ras[:3] * [-1, -1, 1])


def test_nifti_roundtrip_oblique(tmp_path):
    grid = Grid((4, 6, 8), np.array([0.01, 0.02, -0.03]), np.array([0.001, 0.002, 0.003]), rotation((0, 1, 1), 33))
    arr = np.arange(np.prod(grid.shape), dtype=np.float32).reshape(grid.shape)
    p = write_nifti(tmp_path / "x.nii.gz", arr, grid)
    vol = read_nifti(p)
    np.testing.assert_array_equal(vol.array, arr)
    assert vol.grid.same_as(grid)


def test_decodable_compressed_series_is_read(tmp_path):
    """RLE Lossless (pydicom's own codec) decodes to the same HU as the uncompressed series."""
    from pydicom.uid import RLELossless

    uid, files, values, grid = write_ct(tmp_path / "ct")
    for f in files:
        ds = pydicom.dcmread(f)
        ds.compress(RLELossless)
        ds.save_as(f, enforce_file_format=True)
    assert pydicom.dcmread(files[0]).file_meta.TransferSyntaxUID == RLELossless
    vol = read_dicom_series(tmp_path / "ct")
    np.testing.assert_array_equal(vol.array, values)


def test_dicom_without_part10_preamble_is_read(tmp_path):
    """Old exports without preamble/file meta (raw implicit-VR stream) are still recognised."""
    from pydicom.dataset import Dataset

    uid, files, values, grid = write_ct(tmp_path / "ct")
    (tmp_path / "raw").mkdir()
    for f in files:
        plain = Dataset()
        plain.update(pydicom.dcmread(f))  # elements only: no preamble, no file meta
        raw = tmp_path / "raw" / f.stem  # no .dcm suffix either
        plain.save_as(raw, implicit_vr=True, little_endian=True)
        assert raw.read_bytes()[:2] == b"\x08\x00"
    vol = read_dicom_series(tmp_path / "raw")
    np.testing.assert_array_equal(vol.array, values)


def test_small_spacing_jitter_is_accepted_and_stated(tmp_path):
    uid, files, values, grid = write_ct(tmp_path / "ct")
    ds = pydicom.dcmread(files[2])
    ds.ImagePositionPatient = [ds.ImagePositionPatient[0], ds.ImagePositionPatient[1], float(ds.ImagePositionPatient[2]) + 0.02]
    ds.save_as(files[2], enforce_file_format=True)
    vol = read_dicom_series(tmp_path / "ct")
    assert vol.grid.spacing_m[2] == pytest.approx(0.003)
    assert any("slice spacing varies by up to 0.02 mm" in n for n in vol.notes)
