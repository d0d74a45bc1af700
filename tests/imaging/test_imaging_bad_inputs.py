"""Broken-input corpus: every failure mode of the DICOM / RTSTRUCT / NIfTI readers must be a one-line
InputError that names the offending file (or folder) and the problem — never a traceback from deep
inside pydicom/nibabel. The cases are built by the tests from a valid tiny series.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.errors import InputError
from planner.imaging import ImagingPlan, read_dicom_series, read_nifti, read_nifti_labels, read_rtstruct, write_nifti, write_rtstruct
from planner.imaging.dicom import parse_slice_header
from planner.imaging.dicom_write import make_uid
from tests.imaging._imaging_util import axial_grid, plan_cfg, rotation, write_ct


def _good(tmp: Path, name="ct", **kw):
    folder = tmp / name
    uid, files, values, grid = write_ct(folder, **kw)
    return folder, files, grid


def _edit(path: Path, fn) -> None:
    ds = pydicom.dcmread(path)
    fn(ds)
    ds.save_as(path, enforce_file_format=True)


def _rtstruct(tmp: Path):
    folder, files, grid = _good(tmp)
    vol = read_dicom_series(folder)
    kk, jj, ii = np.indices(grid.shape)
    m = ((ii - 6) ** 2 + (jj - 5) ** 2 < 10) & (kk >= 1) & (kk <= 4)
    rs = write_rtstruct(tmp / "rs.dcm", vol, [("GTV", m, "GTV"), ("Organ", ~m & (kk == 2), "ORGAN")], seed="rs")
    return vol, rs


def _edit_contours(path: Path, fn) -> None:
    ds = pydicom.dcmread(path)
    for rc in ds.ROIContourSequence:
        for c in rc.ContourSequence:
            pts = np.array([float(v) for v in c.ContourData]).reshape(-1, 3)
            new = fn(pts)
            c.ContourData = [f"{v:.4f}" for v in np.ravel(new)]
            c.NumberOfContourPoints = len(np.ravel(new)) // 3
    ds.save_as(path, enforce_file_format=True)


# Each case: (tmp) -> (callable, file or folder name expected in the message, phrase expected)
def case_missing_slice(tmp):
    folder, files, _ = _good(tmp)
    files[2].unlink()
    return lambda: read_dicom_series(folder), files[3].name, "missing slice"


def case_duplicate_position(tmp):
    folder, files, _ = _good(tmp)
    dup = folder / "DUP.dcm"
    shutil.copy(files[1], dup)
    _edit(dup, lambda ds: setattr(ds, "SOPInstanceUID", make_uid()))
    return lambda: read_dicom_series(folder), ".dcm", "duplicate slice position"


def case_nonuniform_spacing(tmp):
    folder, files, _ = _good(tmp)
    _edit(files[-1], lambda ds: setattr(ds, "ImagePositionPatient", [ds.ImagePositionPatient[0], ds.ImagePositionPatient[1],
                                                                       float(ds.ImagePositionPatient[2]) + 1.0]))
    return lambda: read_dicom_series(folder), files[-1].name, "slice spacing"


def case_gantry_tilt(tmp):
    folder, files, _ = _good(tmp)
    for k, f in enumerate(files):
        shift = 3.0 * k * np.tan(np.radians(12))
        _edit(f, lambda ds, s=shift: setattr(ds, "ImagePositionPatient", [ds.ImagePositionPatient[0],
                                                                           float(ds.ImagePositionPatient[1]) + s,
                                                                           ds.ImagePositionPatient[2]]))
    return lambda: read_dicom_series(folder), files[-1].name, "gantry tilt"


def case_mixed_sizes(tmp):
    folder, files, _ = _good(tmp)

    def f(ds):
        ds.Rows = 8
        ds.PixelData = np.zeros((8, 12), np.uint16).tobytes()

    _edit(files[3], f)
    return lambda: read_dicom_series(folder), "IMG0004", "mixed sizes"


def case_compressed_undecodable(tmp):
    folder, files, _ = _good(tmp)
    from pydicom.encaps import encapsulate

    def f(ds):
        ds.file_meta.TransferSyntaxUID = pydicom.uid.JPEG2000
        ds.PixelData = encapsulate([b"\xff\x4f\xff\x51" + b"\x00" * 60])
        ds["PixelData"].VR = "OB"

    _edit(files[0], f)
    return lambda: read_dicom_series(folder), files[0].name, "cannot be decoded"


def case_truncated_pixel_data(tmp):
    folder, files, _ = _good(tmp)
    raw = files[2].read_bytes()
    files[2].write_bytes(raw[:-100])
    return lambda: read_dicom_series(folder), files[2].name, "truncated"


def case_truncated_header(tmp):
    folder, files, _ = _good(tmp)
    raw = files[1].read_bytes()
    files[1].write_bytes(raw[:300])
    return lambda: read_dicom_series(folder), files[1].name, "DICOM"


def case_wrong_modality(tmp):
    folder, files, _ = _good(tmp, modality="MR")
    return lambda: read_dicom_series(folder, modality="CT", field="imaging.ct"), files[0].name, "Modality = 'MR'"


def case_zero_pixel_spacing(tmp):
    folder, files, _ = _good(tmp)
    _edit(files[0], lambda ds: setattr(ds, "PixelSpacing", [0, 2]))
    return lambda: read_dicom_series(folder), files[0].name, "PixelSpacing"


def case_zero_slice_thickness(tmp):
    folder, files, _ = _good(tmp)
    for f in files[1:]:
        f.unlink()

    def f(ds):
        ds.SliceThickness = 0
        del ds.SpacingBetweenSlices

    _edit(files[0], f)
    return lambda: read_dicom_series(folder), files[0].name, "slice thickness"


def case_nan_pixels(tmp):
    folder, files, _ = _good(tmp)

    def f(ds):
        arr = np.zeros((ds.Rows, ds.Columns), np.float32)
        arr[2, 3] = np.nan
        del ds.PixelData
        ds.BitsAllocated = 32
        ds.BitsStored = 32
        ds.HighBit = 31
        del ds.PixelRepresentation
        ds.FloatPixelData = arr.tobytes()

    _edit(files[4], f)
    return lambda: read_dicom_series(folder), files[4].name, "NaN"


def case_missing_position(tmp):
    folder, files, _ = _good(tmp)
    _edit(files[2], lambda ds: delattr(ds, "ImagePositionPatient"))
    return lambda: read_dicom_series(folder), files[2].name, "missing ImagePositionPatient"


def case_missing_pixel_spacing(tmp):
    folder, files, _ = _good(tmp)
    _edit(files[0], lambda ds: delattr(ds, "PixelSpacing"))
    return lambda: read_dicom_series(folder), files[0].name, "missing PixelSpacing"


def case_non_orthonormal_orientation(tmp):
    folder, files, _ = _good(tmp)
    _edit(files[0], lambda ds: setattr(ds, "ImageOrientationPatient", [1, 0, 0, 0.5, 0.5, 0]))
    return lambda: read_dicom_series(folder), files[0].name, "orthogonal unit vectors"


def case_mixed_orientation(tmp):
    folder, files, _ = _good(tmp)
    R = rotation((0, 0, 1), 10)
    iop = list(np.round(np.concatenate([R[:, 0], R[:, 1]]), 8))
    _edit(files[3], lambda ds: setattr(ds, "ImageOrientationPatient", iop))
    return lambda: read_dicom_series(folder), "IMG", "one orientation"


def case_mixed_pixel_spacing(tmp):
    folder, files, _ = _good(tmp)
    _edit(files[4], lambda ds: setattr(ds, "PixelSpacing", [2.5, 2.5]))
    return lambda: read_dicom_series(folder), "IMG", "one pixel spacing"


def case_two_series_without_uid(tmp):
    folder, files, _ = _good(tmp)
    write_ct(folder / "second", seed="other", series_number=2)
    return lambda: read_dicom_series(folder), folder.name, "2 image series found"


def case_unknown_series_uid(tmp):
    folder, files, _ = _good(tmp)
    return lambda: read_dicom_series(folder, series_uid="1.2.3.4"), folder.name, "not found"


def case_empty_folder(tmp):
    folder = tmp / "empty"
    folder.mkdir()
    (folder / "README.txt").write_text("not dicom")
    return lambda: read_dicom_series(folder), folder.name, "no DICOM image series"


def case_missing_folder(tmp):
    return lambda: read_dicom_series(tmp / "nope"), "nope", "does not exist"


def case_colour_image(tmp):
    folder, files, _ = _good(tmp)

    def f(ds):
        ds.SamplesPerPixel = 3
        ds.PhotometricInterpretation = "RGB"
        ds.PlanarConfiguration = 0
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
        ds.PixelData = np.zeros((ds.Rows, ds.Columns, 3), np.uint8).tobytes()

    _edit(files[1], f)
    return lambda: read_dicom_series(folder), files[1].name, "SamplesPerPixel"


def case_rows_inconsistent(tmp):
    folder, files, _ = _good(tmp)
    for f in files:
        _edit(f, lambda ds: setattr(ds, "Rows", 40))  # consistent headers, too little pixel data
    return lambda: read_dicom_series(folder), files[0].name, "pixel data"


def case_multiframe(tmp):
    folder, files, _ = _good(tmp)
    _edit(files[0], lambda ds: setattr(ds, "NumberOfFrames", 2))
    return lambda: read_dicom_series(folder), files[0].name, "NumberOfFrames"


def case_zero_rescale_slope(tmp):
    folder, files, _ = _good(tmp)
    _edit(files[0], lambda ds: setattr(ds, "RescaleSlope", 0))
    return lambda: read_dicom_series(folder), files[0].name, "RescaleSlope"


def case_not_dicom_with_dcm_suffix(tmp):
    folder, files, _ = _good(tmp)
    (folder / "junk.dcm").write_bytes(b"\x00" * 128 + b"DICM" + b"\x02\x00\x10\x00garbage")
    return lambda: read_dicom_series(folder), "junk.dcm", "DICOM"


# --- RTSTRUCT -------------------------------------------------------------------------------------
def case_rtstruct_unknown_roi(tmp):
    vol, rs = _rtstruct(tmp)
    return lambda: read_rtstruct(rs, vol, ["PTV"]), rs.name, "ROIs present: 'GTV', 'Organ'"


def case_rtstruct_other_series(tmp):
    vol, rs = _rtstruct(tmp)
    _, files, _, _ = write_ct(tmp / "other", seed="other")
    other = read_dicom_series(tmp / "other")
    return lambda: read_rtstruct(rs, other, ["GTV"]), rs.name, "references series"


def case_rtstruct_wrong_modality(tmp):
    folder, files, _ = _good(tmp)
    vol = read_dicom_series(folder)
    return lambda: read_rtstruct(files[0], vol, ["GTV"]), files[0].name, "expected 'RTSTRUCT'"


def case_rtstruct_off_slice(tmp):
    vol, rs = _rtstruct(tmp)
    _edit_contours(rs, lambda p: p + np.array([0, 0, 1.4]))  # 3 mm slices: 0.47 slice off
    return lambda: read_rtstruct(rs, vol, ["GTV"]), rs.name, "does not lie on an image slice"


def case_rtstruct_outside_image(tmp):
    vol, rs = _rtstruct(tmp)
    _edit_contours(rs, lambda p: p + np.array([0, 0, 300.0]))
    return lambda: read_rtstruct(rs, vol, ["GTV"]), rs.name, "outside the image"


def case_rtstruct_bad_coordinates(tmp):
    vol, rs = _rtstruct(tmp)
    _edit_contours(rs, lambda p: p.ravel()[:-1])
    return lambda: read_rtstruct(rs, vol, ["GTV"]), rs.name, "3 per point"


def case_rtstruct_truncated(tmp):
    vol, rs = _rtstruct(tmp)
    rs.write_bytes(rs.read_bytes()[:400])
    return lambda: read_rtstruct(rs, vol, ["GTV"]), rs.name, "RTSTRUCT"


def case_rtstruct_missing(tmp):
    folder, files, _ = _good(tmp)
    vol = read_dicom_series(folder)
    return lambda: read_rtstruct(tmp / "none.dcm", vol, ["GTV"]), "none.dcm", "does not exist"


def case_rtstruct_other_frame(tmp):
    vol, rs = _rtstruct(tmp)

    def f(ds):
        ds.ReferencedFrameOfReferenceSequence[0].FrameOfReferenceUID = "1.2.3.999"

    _edit(rs, f)
    return lambda: read_rtstruct(rs, vol, ["GTV"]), rs.name, "FrameOfReferenceUID"


def case_rtstruct_roi_other_frame(tmp):
    """The structure set references the images' frame, but the ROI itself says another one."""
    vol, rs = _rtstruct(tmp)

    def f(ds):
        ds.StructureSetROISequence[0].ReferencedFrameOfReferenceUID = "1.2.3.998"

    _edit(rs, f)
    expected = f"ROI 'GTV': FrameOfReferenceUID '1.2.3.998' differs from the images' {vol.frame_of_reference_uid!r}"
    return lambda: read_rtstruct(rs, vol, ["GTV"]), rs.name, expected


def case_rtstruct_without_frame(tmp):
    vol, rs = _rtstruct(tmp)

    def f(ds):
        del ds.ReferencedFrameOfReferenceSequence[0].FrameOfReferenceUID
        for item in ds.StructureSetROISequence:
            del item.ReferencedFrameOfReferenceUID

    _edit(rs, f)
    return lambda: read_rtstruct(rs, vol, ["GTV"]), rs.name, "no FrameOfReferenceUID; expected the images'"


def case_ct_of_another_frame(tmp):
    """The CT was re-exported in another frame (e.g. a second scan): both UIDs named."""
    vol, rs = _rtstruct(tmp)
    for f in sorted((tmp / "ct").iterdir()):
        _edit(f, lambda ds: setattr(ds, "FrameOfReferenceUID", "1.2.3.777"))
    other = read_dicom_series(tmp / "ct")
    return lambda: read_rtstruct(rs, other, ["GTV"]), rs.name, "differs from the images' '1.2.3.777'"


def case_series_mixed_frames(tmp):
    folder, files, _ = _good(tmp)
    _edit(files[3], lambda ds: setattr(ds, "FrameOfReferenceUID", "1.2.3.666"))
    return lambda: read_dicom_series(folder), files[3].name, "FrameOfReferenceUID '1.2.3.666' differs from"


def case_mixed_rescale_intercepts_ambiguous(tmp):
    folder, files, _ = _good(tmp)
    _edit(files[1], lambda ds: setattr(ds, "RescaleIntercept", -1000))
    for f in files[3:5]:
        _edit(f, lambda ds: delattr(ds, "RescaleIntercept"))
    return lambda: read_dicom_series(folder), files[3].name, "no RescaleIntercept while other slices"


# --- NIfTI ----------------------------------------------------------------------------------------
def _nifti(tmp, data=None, name="img.nii"):
    grid = axial_grid()
    arr = np.ones(grid.shape, np.float32) if data is None else data
    return write_nifti(tmp / name, arr, grid)


def case_nifti_truncated(tmp):
    p = _nifti(tmp)
    p.write_bytes(p.read_bytes()[:400])
    return lambda: read_nifti(p), p.name, "truncated"


def case_nifti_4d(tmp):
    import nibabel as nib

    p = tmp / "four.nii"
    nib.save(nib.Nifti1Image(np.zeros((4, 5, 6, 3), np.float32), np.eye(4)), str(p))
    return lambda: read_nifti(p), p.name, "3-D volume"


def case_nifti_nan(tmp):
    arr = np.ones(axial_grid().shape, np.float32)
    arr[1, 2, 3] = np.nan
    p = _nifti(tmp, arr)
    return lambda: read_nifti(p), p.name, "NaN"


def case_nifti_zero_spacing(tmp):
    import nibabel as nib

    p = tmp / "zero.nii"
    img = nib.Nifti1Image(np.zeros((4, 5, 6), np.float32), np.eye(4))
    hdr = img.header
    hdr["srow_y"] = [0.0, 0.0, 0.0, 0.0]  # zero voxel size along j
    hdr["pixdim"][2] = 0.0
    hdr["sform_code"], hdr["qform_code"] = 1, 0
    nib.save(nib.Nifti1Image(img.dataobj, None, hdr), str(p))
    return lambda: read_nifti(p), p.name, "voxel size"


def case_nifti_not_nifti(tmp):
    p = tmp / "text.nii"
    p.write_text("hello, not an image\n" * 30)
    return lambda: read_nifti(p), p.name, "NIfTI"


def case_nifti_labels_non_integer(tmp):
    arr = np.zeros(axial_grid().shape, np.float32)
    arr[2, 3, 4] = 1.5
    p = _nifti(tmp, arr, "lab.nii")
    return lambda: read_nifti_labels(p), p.name, "non-integer"


def case_labels_not_in_table(tmp):
    from planner.imaging import patient_model

    arr = np.zeros(axial_grid().shape, np.int16)
    arr[1:5, 2:8, 2:9] = 1
    arr[2:4, 4:6, 4:6] = 7
    _nifti(tmp, arr, "lab.nii")
    cfg = plan_cfg(tmp, {"labels": "lab.nii"}, {"method": "labels", "labels": [{"value": 1, "name": "b", "tissue": "muscle"}]})
    return lambda: patient_model(ImagingPlan.of(cfg)), "lab.nii", "label values [7]"


def case_nifti_missing(tmp):
    return lambda: read_nifti(tmp / "gone.nii.gz"), "gone.nii.gz", "does not exist"


def case_plan_unknown_imaging_key(tmp):
    # rejected when the plan is loaded (planner.config.registry.STAGE_SECTIONS), before any stage runs
    return lambda: plan_cfg(tmp, {"ct_dir": "ct"}), "imaging.ct_dir", "unknown key"


def case_plan_ct_folder_missing(tmp):
    from planner.imaging import patient_model

    cfg = plan_cfg(tmp, {"ct": "nowhere"})
    return lambda: patient_model(ImagingPlan.of(cfg)), "nowhere", "does not exist"


def case_single_slice_volume(tmp):
    from planner.imaging import patient_model

    folder, files, _ = _good(tmp)
    for f in files[1:]:
        f.unlink()
    cfg = plan_cfg(tmp, {"ct": "ct"})
    return lambda: patient_model(ImagingPlan.of(cfg)), "ct", "single slice cannot be meshed"


CASES = {name[5:]: fn for name, fn in sorted(globals().items()) if name.startswith("case_")}


def test_corpus_is_big_enough():
    assert len(CASES) >= 25


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_gives_one_line_error(name, tmp_path):
    call, where, phrase = CASES[name](tmp_path)
    with pytest.raises(InputError) as exc:
        call()
    msg = str(exc.value)
    assert "\n" not in msg, msg
    assert where in msg, f"{where!r} not named in: {msg}"
    assert phrase in msg, f"{phrase!r} not in: {msg}"
    assert len(msg) < 700
    assert not (tmp_path / "results").exists()


# --- fuzzing --------------------------------------------------------------------------------------
class _Elem:
    def __init__(self, value):
        self.value = value


class FakeDataset(dict):
    """Just enough of pydicom.Dataset for parse_slice_header: `in`, [] → .value, .get()."""

    def __getitem__(self, k):
        return _Elem(dict.__getitem__(self, k))

    def get(self, k, default=None):
        return dict.get(self, k, default)


_num = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.integers(-5, 5),
    st.text(max_size=4),
    st.none(),
)
_vec = st.one_of(st.lists(_num, min_size=0, max_size=7), _num)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ipp=_vec,
    iop=st.one_of(_vec, st.sampled_from([[1, 0, 0, 0, 1, 0], [0, 1, 0, 0, 0, -1], [1, 0, 0, 1, 0, 0]])),
    ps=st.one_of(_vec, st.just([0.7, 0.7])),
    rows=st.one_of(st.integers(-3, 600), st.text(max_size=3), st.none()),
    cols=st.one_of(st.integers(-3, 600), st.just(64)),
    slope=_num,
    spp=st.one_of(st.integers(0, 4), st.text(max_size=2)),
    frames=st.one_of(st.integers(0, 3), st.none(), st.text(max_size=2)),
    drop=st.sets(st.sampled_from(["ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "Rows", "SeriesInstanceUID"])),
)
def test_fuzz_header_parsing(ipp, iop, ps, rows, cols, slope, spp, frames, drop):
    ds = FakeDataset(
        SeriesInstanceUID="1.2.3", Modality="CT", ImagePositionPatient=ipp, ImageOrientationPatient=iop,
        PixelSpacing=ps, Rows=rows, Columns=cols, RescaleSlope=slope, SamplesPerPixel=spp, NumberOfFrames=frames,
    )
    for k in drop:
        dict.pop(ds, k, None)
    try:
        h = parse_slice_header(ds, "fuzz.dcm")
    except InputError as exc:
        msg = str(exc)
        assert msg.startswith("fuzz.dcm: ") and "\n" not in msg
        return
    # accepted headers must be geometrically sound
    assert h.rows > 0 and h.columns > 0
    assert min(h.spacing_ij_mm) > 0
    assert abs(np.linalg.norm(h.row_cosine) - 1) < 1e-6 and abs(h.row_cosine @ h.col_cosine) < 2e-3
    assert np.all(np.isfinite(h.position_mm)) and np.isfinite(h.slope) and h.slope != 0


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_corrupted_file_bytes(tmp_path_factory, data):
    """Random byte corruption of a real file's header: success or InputError, nothing else."""
    tmp = tmp_path_factory.mktemp("fz")
    folder, files, _ = _good(tmp)
    raw = bytearray(files[2].read_bytes())
    header_end = len(raw) - 2 * 12 * 10  # pixel data is the tail
    n = data.draw(st.integers(1, 8))
    for _ in range(n):
        pos = data.draw(st.integers(132, header_end - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        raw = raw[: data.draw(st.integers(132, len(raw)))]
    files[2].write_bytes(bytes(raw))
    try:
        vol = read_dicom_series(folder)
    except InputError as exc:
        assert "\n" not in str(exc)
    else:
        assert np.all(np.isfinite(vol.array))


def test_planner_run_on_broken_series_is_one_line_and_writes_nothing(tmp_path):
    """End to end through the command line: broken DICOM → exit code ≠ 0, one 'planner: error:'
    line naming the file, no traceback, no results folder."""
    import subprocess
    import sys

    from planner.imaging.phantoms import write_phantom

    root = Path(__file__).resolve().parents[2]
    plan = write_phantom("abdomen", tmp_path)
    (tmp_path / "dicom" / "ct" / "CT0010.dcm").unlink()
    r = subprocess.run([sys.executable, "-m", "planner", "run", str(plan)], cwd=root, capture_output=True, text=True, timeout=300)
    assert r.returncode != 0
    err = [line for line in r.stderr.splitlines() if line.strip()]
    assert any(line.startswith("planner: error:") and "CT0011.dcm" in line and "missing slice" in line for line in err), r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "results").exists()


def test_slices_lacking_rescale_intercept_take_the_series_value_and_are_warned(tmp_path, caplog):
    folder, files, _ = _good(tmp_path)
    good = read_dicom_series(folder).array.copy()
    for f in files[2:4]:
        _edit(f, lambda ds: delattr(ds, "RescaleIntercept"))
    with caplog.at_level("WARNING"):
        vol = read_dicom_series(folder)
    np.testing.assert_array_equal(vol.array, good)  # not shifted by +1024 HU
    assert any("2 of 6 slices lack RescaleIntercept" in n and "-1024" in n for n in vol.notes), vol.notes
    assert any("lack RescaleIntercept" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)


def test_contours_beyond_the_image_are_warned_with_the_roi_named(tmp_path, caplog):
    vol, rs = _rtstruct(tmp_path)
    inside = read_rtstruct(rs, vol, ["GTV", "Organ"])
    assert inside.warnings == ()
    # the organ contours reach 40 mm beyond the left edge of the image (in plane)
    ds = pydicom.dcmread(rs)
    for c in ds.ROIContourSequence[1].ContourSequence:
        pts = np.array([float(v) for v in c.ContourData]).reshape(-1, 3)
        pts[np.argmax(pts[:, 0]), 0] += 40.0
        c.ContourData = [f"{v:.4f}" for v in pts.ravel()]
    ds.save_as(rs, enforce_file_format=True)
    with caplog.at_level("WARNING"):
        ss = read_rtstruct(rs, vol, ["GTV", "Organ"])
    assert len(ss.warnings) == 1 and "ROI 'Organ'" in ss.warnings[0] and "outside the image volume" in ss.warnings[0]
    assert "mm beyond its edge" in ss.warnings[0] and ss.summary_block()["warnings"] == list(ss.warnings)
    assert any("ROI 'Organ'" in r.getMessage() for r in caplog.records)


# --- `planner check` reads headers and references without decoding pixels or meshing -------------
def _check_plan(tmp, imaging, thermal=None, mesh=None):
    from planner.config.plan import parse_plan
    from tests.imaging._imaging_util import FakeLibrary

    data = {"plan": {"name": "t", "output_dir": "results"}, "imaging": imaging,
            "mesh": mesh or {"max_size_mm": 12.0, "target_size_mm": 4.0}}
    if thermal:
        data["thermal"] = thermal
    cfg = parse_plan(data, plan_file=tmp / "plan.toml")
    from planner.pipeline import check_plan

    return lambda: check_plan(cfg, FakeLibrary())


def test_check_refuses_an_rtstruct_of_another_frame_without_meshing(tmp_path):
    vol, rs = _rtstruct(tmp_path)
    _edit(rs, lambda ds: setattr(ds.ReferencedFrameOfReferenceSequence[0], "FrameOfReferenceUID", "1.2.3.999"))
    check = _check_plan(tmp_path, {"ct": "ct", "rtstruct": "rs.dcm", "target": "GTV"})
    with pytest.raises(InputError, match="rs.dcm: ROI 'GTV': FrameOfReferenceUID '1.2.3.999' differs from the images' "
                                         f"{vol.frame_of_reference_uid!r}"):
        check()


def test_check_passes_a_good_series_and_refuses_positions_outside_the_images(tmp_path):
    vol, rs = _rtstruct(tmp_path)
    _check_plan(tmp_path, {"ct": "ct", "rtstruct": "rs.dcm", "target": "GTV"})()  # consistent inputs: no error
    probes = {"probes": [{"name": "in", "position_mm": [0.0, -2.0, 12.0]}, {"name": "out", "position_mm": [0.0, 0.0, 500.0]}]}
    check = _check_plan(tmp_path, {"ct": "ct", "rtstruct": "rs.dcm", "target": "GTV"}, thermal=probes)
    with pytest.raises(InputError, match=r"thermal.probes\[1\].position_mm = \[0.0, 0.0, 500.0\]: outside the image volume \(LPS mm "
                                         r"\[-11.0, -13.0, 3.5\] \.\. \[13.0, 7.0, 21.5\]\)"):
        check()


def test_check_refuses_a_mesh_size_that_would_not_fit_on_the_image(tmp_path):
    _good(tmp_path)
    check = _check_plan(tmp_path, {"ct": "ct"}, mesh={"max_size_mm": 0.001})
    with pytest.raises(InputError, match=r"mesh.max_size_mm = 0.001: the mesh would have about .* cells"):
        check()


def test_check_refuses_a_target_mask_off_the_image_grid(tmp_path):
    folder, files, grid = _good(tmp_path)
    vol = read_dicom_series(folder)
    mask = np.zeros(grid.shape, np.uint8)
    mask[2:4, 3:6, 3:6] = 1
    write_nifti(tmp_path / "mask.nii.gz", mask, vol.grid)
    _check_plan(tmp_path, {"ct": "ct", "target_mask": "mask.nii.gz"})()  # same voxels: accepted
    from planner.imaging.volume import Grid

    shifted = Grid(vol.grid.shape, vol.grid.origin_m + np.array([0.0, 0.0, 0.03]), vol.grid.spacing_m, vol.grid.direction)
    write_nifti(tmp_path / "mask.nii.gz", mask, shifted)  # 30 mm off: another frame or series
    with pytest.raises(InputError, match=r"imaging.target_mask = 'mask.nii.gz': does not overlap the planning image \(labels span LPS "
                                         r".* mm, image spans LPS .* mm\); expected a label map of the same patient"):
        _check_plan(tmp_path, {"ct": "ct", "target_mask": "mask.nii.gz"})()
