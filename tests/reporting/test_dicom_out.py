"""DICOM results: Parametric Maps and the isotherm RTSTRUCT read back with pydicom/highdicom and the
planner's own RTSTRUCT reader, on the planning CT's frame of reference and slice positions."""

import highdicom as hd
import numpy as np
import pydicom
import pytest

from planner.imaging.dicom import read_dicom_series
from planner.imaging.rtstruct import read_rtstruct
from planner.imaging.volume import Grid
from planner.reporting.dicom_out import CEM43_THRESHOLD_MIN, isotherm_rois, write_dicom_results
from tests.imaging._imaging_util import rotation, write_ct


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    d = tmp_path_factory.mktemp("dicom_out")
    grid = Grid((5, 14, 16), np.array([0.01, -0.02, 0.03]), np.array([0.002, 0.0025, 0.003]), rotation((1, 0, 0), 15))
    write_ct(d / "ct", grid=grid)
    vol = read_dicom_series(d / "ct")
    kk, jj, ii = np.indices(vol.shape)
    T = (37.0 + 7.0 * np.exp(-((ii - 8) ** 2 + (jj - 7) ** 2) / 20.0) * (kk > 0)).astype(np.float32)
    cem = (np.exp(2.0 * (T - 37.0)) - 1.0).astype(np.float32)
    paths, block = write_dicom_results(d / "dicom", vol, T, cem, software_version="test")
    return vol, T, cem, paths, block


def _k_of_frames(ds, vol):
    pos = np.array(
        [f.PlanePositionSequence[0].ImagePositionPatient for f in ds.PerFrameFunctionalGroupsSequence], float
    )
    k = vol.grid.lps_m_to_index(pos * 1e-3)
    np.testing.assert_allclose(k[:, :2], 0.0, atol=1e-4)  # every frame starts at a slice origin of the CT
    np.testing.assert_allclose(k[:, 2], np.round(k[:, 2]), atol=1e-4)
    return np.round(k[:, 2]).astype(int)


def test_parametric_maps_roundtrip_on_the_ct_slices(written):
    vol, T, cem, paths, _ = written
    assert [p.name for p in paths] == ["T_max_C_pm.dcm", "CEM43_min_pm.dcm", "isotherms_rtstruct.dcm"]
    ct0 = pydicom.dcmread(vol.files[0])
    for p, ref, unit in ((paths[0], T, "Cel"), (paths[1], cem, "min")):
        ds = pydicom.dcmread(p)
        assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.30"
        assert ds.FrameOfReferenceUID == vol.frame_of_reference_uid
        assert ds.StudyInstanceUID == vol.study_uid and ds.PatientID == ct0.PatientID
        assert ds.SeriesInstanceUID != vol.series_uid
        k = _k_of_frames(ds, vol)
        assert sorted(k.tolist()) == list(range(vol.shape[0]))
        np.testing.assert_array_equal(ds.pixel_array, ref[k])  # float32 values stored as they are
        rw = ds.SharedFunctionalGroupsSequence[0].RealWorldValueMappingSequence[0]
        assert rw.MeasurementUnitsCodeSequence[0].CodeValue == unit
        assert float(rw.RealWorldValueSlope) == 1.0 and float(rw.RealWorldValueIntercept) == 0.0
        pm = hd.pm.ParametricMap.from_dataset(ds)
        assert pm.FrameOfReferenceUID == vol.frame_of_reference_uid
        srcs = {r.ReferencedSOPInstanceUID for r in ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence}
        assert srcs == set(vol.sop_instance_uids)


def test_isotherm_rtstruct_references_the_ct_and_rasterises_back(written):
    vol, T, cem, paths, block = written
    rs = pydicom.dcmread(paths[2])
    assert rs.ReferencedFrameOfReferenceSequence[0].FrameOfReferenceUID == vol.frame_of_reference_uid
    assert all(r.ReferencedFrameOfReferenceUID == vol.frame_of_reference_uid for r in rs.StructureSetROISequence)
    names = [n for n, _, _ in isotherm_rois(T, cem)]
    assert names == ["T_max >= 40 C", "T_max >= 42 C", "T_max >= 43 C", f"CEM43 >= {CEM43_THRESHOLD_MIN:g} min"]
    ss = read_rtstruct(paths[2], vol, names)
    for name, mask, _ in isotherm_rois(T, cem):
        assert mask.any() and not mask.all()
        np.testing.assert_array_equal(ss.masks[name], mask)
        assert block["isotherm_voxels"][name] == int(mask.sum())
        assert block["isotherm_volume_mL"][name] == pytest.approx(mask.sum() * 2.0 * 2.5 * 3.0 * 1e-3)  # 2×2.5×3 mm³
    assert block["isotherm_voxels"]["T_max >= 40 C"] > block["isotherm_voxels"]["T_max >= 43 C"]


def test_a_failing_dicom_export_leaves_no_folder_and_says_why(written, tmp_path, monkeypatch):
    import planner.reporting.dicom_out as dicom_out
    from planner.reporting.exports import dicom_outputs

    vol, T, cem, _, _ = written

    def refuse(*args, **kwargs):
        raise ValueError("Source image has no  PatientOrientation")

    monkeypatch.setattr(dicom_out, "write_rtstruct", refuse)  # fails after the maps were written
    paths, block = dicom_outputs(tmp_path / "dicom", vol, T, cem)
    assert paths == [] and not (tmp_path / "dicom").exists()
    assert block == {"written": False, "reason": "ValueError: Source image has no PatientOrientation"}
    monkeypatch.undo()
    paths, block = dicom_outputs(tmp_path / "dicom", vol, T, cem)
    assert block["written"] is True and len(paths) == 3 and all(p.is_file() for p in paths)
