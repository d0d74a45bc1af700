"""Patient images: DICOM series and NIfTI readers, RTSTRUCT, and the imaging pipeline stage.

Public API::

    read_dicom_series(folder, series_uid=None, modality=None) -> ImageVolume   (LPS, metres)
    read_nifti(path) -> ImageVolume ; read_nifti_labels(path) -> (labels, Grid)
    read_rtstruct(path, image, names) -> StructureSet ; write_rtstruct(path, image, rois)
    patient_model(ImagingPlan.of(plan), lib) -> PatientModel   (.mesh, .summary_block())
    patient_mesh(ImagingPlan.of(plan), lib) -> TissueMesh
    check_sections(ImagingPlan.of(plan), lib) -> (ImagingSection, SegmentationSection)   (validation only)
"""
from __future__ import annotations

from planner.imaging.dicom import read_dicom_file, read_dicom_series
from planner.imaging.nifti import read_nifti, read_nifti_labels, write_nifti
from planner.imaging.rtstruct import StructureSet, read_rtstruct, write_rtstruct
from planner.imaging.stage import ImagingPlan, PatientModel, check_sections, patient_mesh, patient_model
from planner.imaging.volume import Grid, ImageVolume

__all__ = [
    "Grid",
    "ImagingPlan",
    "ImageVolume",
    "PatientModel",
    "StructureSet",
    "check_sections",
    "patient_mesh",
    "patient_model",
    "read_dicom_file",
    "read_dicom_series",
    "read_nifti",
    "read_nifti_labels",
    "read_rtstruct",
    "write_nifti",
    "write_rtstruct",
]

