"""Write image series as real DICOM files (CT Image Storage / MR Image Storage).

Used by the phantom generator and by tests that build (good and broken) series. Each slice is a
standalone Part-10 file (preamble, ``DICM``, file meta group, Explicit VR Little Endian) with the
Patient, Study, Series, Frame of Reference, Image Plane and Image Pixel modules filled in; UIDs come
from :func:`pydicom.uid.generate_uid` (or deterministic ones from a seed text, so phantoms are
reproducible).
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from planner.imaging.volume import Grid

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
RT_STRUCTURE_SET_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"


def make_uid(seed: str | None = None) -> str:
    """A DICOM UID; deterministic when ``seed`` is given (pydicom's hash-based generator)."""
    from pydicom.uid import generate_uid

    return str(generate_uid(entropy_srcs=[seed] if seed is not None else None))


@dataclass(frozen=True)
class StudyInfo:
    """Patient/study identity shared by the series and structure sets of one phantom."""

    patient_name: str = "PHANTOM^PLANNER"
    patient_id: str = "PHANTOM"
    study_uid: str = ""
    frame_of_reference_uid: str = ""
    study_description: str = "planner digital phantom"
    date: str = "20260101"

    def filled(self, seed: str | None = None) -> StudyInfo:
        return StudyInfo(
            self.patient_name,
            self.patient_id,
            self.study_uid or make_uid(None if seed is None else seed + "/study"),
            self.frame_of_reference_uid or make_uid(None if seed is None else seed + "/for"),
            self.study_description,
            self.date,
        )


def file_dataset(sop_class_uid: str, sop_instance_uid: str, study: StudyInfo, modality: str):
    """A FileDataset with file meta and the patient/study/general-equipment modules filled in."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, ExplicitVRLittleEndian

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class_uid)
    meta.MediaStorageSOPInstanceUID = UID(sop_instance_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = FileDataset("", {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = sop_class_uid
    ds.SOPInstanceUID = sop_instance_uid
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName = study.patient_name
    ds.PatientID = study.patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.StudyInstanceUID = study.study_uid
    ds.StudyDate = study.date
    ds.StudyTime = "120000"
    ds.StudyID = "1"
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = study.study_description[:64]
    ds.Modality = modality
    ds.Manufacturer = "planner"
    ds.InstanceCreationDate = datetime.date.today().strftime("%Y%m%d")
    return ds


def write_dicom_series(
    out_dir: str | Path,
    values: np.ndarray,
    grid: Grid,
    *,
    modality: str = "CT",
    study: StudyInfo | None = None,
    series_uid: str | None = None,
    series_number: int = 1,
    description: str = "",
    seed: str | None = None,
    file_prefix: str = "IMG",
) -> tuple[str, list[Path]]:
    """Write ``values`` (nk, nj, ni) on ``grid`` as one file per slice into ``out_dir``.

    CT values are Hounsfield units, stored as uint16 = HU + 1024 with RescaleIntercept = −1024,
    RescaleSlope = 1 (clipped to −1024 … 64511). MR values are stored as uint16 (rounded, clipped
    to 0 … 65535) without rescaling. Returns (SeriesInstanceUID, files in slice order).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    study = (study or StudyInfo()).filled(seed)
    series_uid = series_uid or make_uid(None if seed is None else f"{seed}/series/{modality}/{series_number}")
    sop_class = CT_IMAGE_STORAGE if modality == "CT" else MR_IMAGE_STORAGE
    nk, nj, ni = values.shape
    d = grid.direction
    iop = [float(v) for v in np.concatenate([d[:, 0], d[:, 1]])]
    di, dj, dk = (float(s) * 1e3 for s in grid.spacing_m)
    files = []
    for k in range(nk):
        sop = make_uid(None if seed is None else f"{seed}/sop/{modality}/{series_number}/{k}")
        ds = file_dataset(sop_class, sop, study, modality)
        ds.SeriesInstanceUID = series_uid
        ds.SeriesNumber = series_number
        ds.SeriesDescription = description[:64]
        ds.FrameOfReferenceUID = study.frame_of_reference_uid
        ds.PositionReferenceIndicator = ""
        ds.InstanceNumber = k + 1
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        pos = grid.index_to_lps_m(np.array([[0.0, 0.0, float(k)]]))[0] * 1e3
        ds.ImagePositionPatient = [round(float(v), 6) for v in pos]
        ds.ImageOrientationPatient = [round(v, 8) for v in iop]
        ds.PixelSpacing = [round(dj, 6), round(di, 6)]
        ds.SliceThickness = round(dk, 6)
        ds.SpacingBetweenSlices = round(dk, 6)
        ds.SliceLocation = round(float(pos @ d[:, 2]), 6)
        ds.Rows, ds.Columns = nj, ni
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 0
        if modality == "CT":
            stored = np.clip(np.rint(values[k] + 1024.0), 0, 65535).astype(np.uint16)
            ds.RescaleIntercept = -1024
            ds.RescaleSlope = 1
            ds.RescaleType = "HU"
            ds.KVP = 120
            ds.WindowCenter, ds.WindowWidth = 40, 400
        else:
            stored = np.clip(np.rint(values[k]), 0, 65535).astype(np.uint16)
            ds.ScanningSequence = "SE"
            ds.SequenceVariant = "NONE"
            ds.ScanOptions = ""
            ds.MRAcquisitionType = "2D"
            ds.EchoTime = 15
            ds.RepetitionTime = 500
            ds.MagneticFieldStrength = 1.5
        ds.PixelData = stored.tobytes()
        f = out / f"{file_prefix}{k + 1:04d}.dcm"
        ds.save_as(f, enforce_file_format=True)
        files.append(f)
    return series_uid, files
