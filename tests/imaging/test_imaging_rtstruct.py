"""RTSTRUCT: even-odd rasterisation (holes, islands), exact mask round trip, ROI selection."""
from __future__ import annotations

import numpy as np
import pydicom
import pytest

from planner.imaging import read_dicom_series, read_rtstruct, write_rtstruct
from planner.imaging.rtstruct import parse_rtstruct, rasterise_contours
from planner.imaging.volume import Grid
from tests.imaging._imaging_util import axial_grid, rotation, write_ct


def _square(grid, k, i0, i1, j0, j1):
    """Closed square contour (LPS mm) with corners at continuous indices on slice k."""
    ijk = np.array([[i0, j0, k], [i1, j0, k], [i1, j1, k], [i0, j1, k]], dtype=float)
    return grid.index_to_lps_m(ijk) * 1e3


def test_even_odd_rule_holes_and_islands(tmp_path):
    grid = axial_grid(shape=(3, 20, 20))
    write_ct(tmp_path / "ct", grid=grid)
    vol = read_dicom_series(tmp_path / "ct")
    outer = _square(grid, 1, 1.5, 11.5, 1.5, 11.5)  # centres 2..11 → 10 × 10
    hole = _square(grid, 1, 4.5, 8.5, 4.5, 8.5)  # 4 × 4 removed
    island_in_hole = _square(grid, 1, 5.5, 6.5, 5.5, 6.5)  # 1 × 1 added back
    separate = _square(grid, 1, 13.5, 16.5, 14.5, 16.5)  # 3 × 2 more
    other_slice = _square(grid, 2, 0.5, 2.5, 0.5, 1.5)  # 2 × 1 on slice 2
    m = rasterise_contours([outer, hole, island_in_hole, separate, other_slice], vol, "test")
    assert m[1].sum() == 100 - 16 + 1 + 6
    assert m[2].sum() == 2 and m[0].sum() == 0
    assert not m[1, 5, 5] and m[1, 6, 6] and m[1, 2, 2] and not m[1, 12, 12]
    # contour order does not matter
    m2 = rasterise_contours([separate, island_in_hole, hole, other_slice, outer], vol, "test")
    np.testing.assert_array_equal(m, m2)


def test_write_read_roundtrip_exact_on_oblique_grid(tmp_path):
    R = rotation((1, 0, 0), 20)
    grid = Grid((6, 30, 40), np.array([0.01, -0.02, 0.03]), np.array([0.001, 0.0015, 0.003]), R)
    write_ct(tmp_path / "ct", grid=grid)
    vol = read_dicom_series(tmp_path / "ct")
    kk, jj, ii = np.indices(grid.shape)
    r2 = (ii - 20) ** 2 + (jj - 15) ** 2
    ring = (r2 < 100) & (r2 >= 16) & (kk > 0)
    two = ((ii - 5) ** 2 + (jj - 5) ** 2 < 9) | ((ii - 30) ** 2 + (jj - 25) ** 2 < 9)
    edge = (ii < 3) & (kk == 2)  # touches the image border
    p = write_rtstruct(tmp_path / "rs.dcm", vol, [("ring", ring, "GTV"), ("two", two, "ORGAN"), ("edge", edge, "ORGAN")])
    ss = read_rtstruct(p, vol, ["ring", "two", "edge"])
    for name, m in [("ring", ring), ("two", two), ("edge", edge)]:
        np.testing.assert_array_equal(ss.masks[name], m)
    assert ss.names() == ["ring", "two", "edge"]
    assert [r.interpreted_type for r in ss.rois] == ["GTV", "ORGAN", "ORGAN"]
    assert ss.referenced_series_uids == (vol.series_uid,)


def test_rtstruct_is_valid_dicom_with_references(tmp_path):
    write_ct(tmp_path / "ct")
    vol = read_dicom_series(tmp_path / "ct")
    m = np.zeros(vol.shape, bool)
    m[2, 3:6, 4:8] = True
    p = write_rtstruct(tmp_path / "rs.dcm", vol, [("GTV", m, "GTV")])
    ds = pydicom.dcmread(p)
    assert ds.Modality == "RTSTRUCT" and ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.481.3"
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    c = ds.ROIContourSequence[0].ContourSequence[0]
    assert c.ContourGeometricType == "CLOSED_PLANAR"
    assert c.ContourImageSequence[0].ReferencedSOPInstanceUID == vol.sop_instance_uids[2]
    assert len(c.ContourData) == 3 * int(c.NumberOfContourPoints)
    assert parse_rtstruct(p).frame_of_reference_uid == vol.frame_of_reference_uid


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis.extra.numpy import arrays  # noqa: E402


@pytest.fixture(scope="module")
def small_series(tmp_path_factory):
    d = tmp_path_factory.mktemp("rs")
    grid = Grid((3, 9, 11), np.array([0.004, -0.003, 0.02]), np.array([0.0012, 0.0009, 0.002]), rotation((1, 2, 3), 15))
    write_ct(d / "ct", grid=grid)
    return d, read_dicom_series(d / "ct")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mask=arrays(bool, (3, 9, 11)))
def test_random_masks_roundtrip_exactly(small_series, mask):
    """Any mask (checkerboards, saddles, holes, border pixels) survives contours → rasterisation."""
    d, vol = small_series
    p = write_rtstruct(d / "fuzz.dcm", vol, [("M", mask, "ORGAN")])
    if not mask.any():
        return
    ss = read_rtstruct(p, vol, ["M"])
    np.testing.assert_array_equal(ss.masks["M"], mask)


def test_contour_data_read_from_the_raw_bytes_equals_pydicom_values(tmp_path):
    """The fast ContourData path (ASCII bytes → floats) gives the values pydicom's DS conversion gives,
    including padded, signed and exponent forms; a converted element takes pydicom's path."""
    from pydicom.dataset import Dataset

    from planner.imaging.rtstruct import _contour_data

    grid = axial_grid(shape=(4, 16, 16))
    write_ct(tmp_path / "ct", grid=grid)
    vol = read_dicom_series(tmp_path / "ct")
    mask = np.zeros(vol.shape, bool)
    mask[1:3, 3:9, 4:12] = True
    path = tmp_path / "rs.dcm"
    write_rtstruct(path, vol, [("box", mask, "ORGAN")])
    ds = pydicom.dcmread(path)
    ds.ROIContourSequence[0].ContourSequence[0].ContourData = ["+1.5", "-2.25e+01", "3 ", "0.1", "0.2", "0.3",
                                                               "1e-3", "4", "5"]
    ds.save_as(tmp_path / "edited.dcm")
    fast = pydicom.dcmread(tmp_path / "edited.dcm")
    slow = pydicom.dcmread(tmp_path / "edited.dcm")
    n = 0
    for rc_f, rc_s in zip(fast.ROIContourSequence, slow.ROIContourSequence):
        for c_f, c_s in zip(rc_f.ContourSequence, rc_s.ContourSequence):
            assert isinstance(c_f.get_item(0x30060050).value, bytes)  # not converted yet: the fast path
            got = _contour_data(c_f)
            want = np.array([float(v) for v in c_s.ContourData])
            assert got.dtype == float and np.array_equal(got, want)
            n += 1
    assert n >= 2
    item = Dataset()
    item.ContourData = [1.25, 2.0, 3.0]
    assert np.array_equal(_contour_data(item), [1.25, 2.0, 3.0])
    assert parse_rtstruct(tmp_path / "edited.dcm").rois[0].contours[0][0].tolist() == [1.5, -22.5, 3.0]


def test_contour_data_written_as_raw_bytes_is_the_file_pydicom_writes(tmp_path):
    """write_rtstruct stores ContourData as ready-made DS bytes: the same file, byte for byte, as the
    list-of-strings assignment pydicom converts value by value; implicit VR too."""
    from pydicom.dataset import Dataset

    from planner.imaging.rtstruct import _CONTOUR_DATA, _ds_element

    rng = np.random.default_rng(7)
    for n in (3, 4, 301):  # odd and even byte lengths
        vals = rng.uniform(-400.0, 400.0, 3 * n)
        fast, slow = Dataset(), Dataset()
        fast[_CONTOUR_DATA] = _ds_element(_CONTOUR_DATA, vals)
        slow.ContourData = [f"{v:.4f}" for v in vals]
        for implicit in (False, True):
            a, b = tmp_path / f"a{n}{implicit}.dcm", tmp_path / f"b{n}{implicit}.dcm"
            for ds, path in ((fast, a), (slow, b)):
                ds.save_as(path, implicit_vr=implicit, little_endian=True)
            assert a.read_bytes() == b.read_bytes()
        assert [float(v) for v in fast.ContourData] == [float(f"{v:.4f}") for v in vals]
