"""Patient images: DICOM series (single- and enhanced multi-frame), NIfTI and NRRD readers, segmentations,
RTSTRUCT, and the imaging pipeline stage.

Public API::

    read_dicom_series(folder, series_uid=None, modality=None) -> ImageVolume   (LPS, metres)
    read_nifti(path) -> ImageVolume ; read_nifti_labels(path) -> (labels, Grid)
    read_nrrd(path) -> ImageVolume ; read_nrrd_labels(path) -> (labels, Grid) ; write_nrrd(path, array, grid)
    read_segments(path) -> SegmentSet   (3D Slicer .seg.nrrd or DICOM SEG: segment name → mask)
    place_on_grid(values, src_grid, dst_grid, what=...) -> Placed   (nearest-neighbour resampling, overlap check)
    read_rtstruct(path, image, names) -> StructureSet ; write_rtstruct(path, image, rois)
    patient_model(ImagingPlan.of(plan), lib) -> PatientModel   (.mesh, .summary_block())
    patient_mesh(ImagingPlan.of(plan), lib) -> TissueMesh
    check_sections(ImagingPlan.of(plan), lib) -> (ImagingSection, SegmentationSection)   (validation only)
"""
from __future__ import annotations

from planner.imaging.dicom import read_dicom_file, read_dicom_series
from planner.imaging.dicom_seg import read_dicom_seg
from planner.imaging.nifti import read_nifti, read_nifti_labels, write_nifti
from planner.imaging.nrrd import SegmentSet, read_nrrd, read_nrrd_labels, read_seg_nrrd, write_nrrd
from planner.imaging.resample import place_on_grid
from planner.imaging.rtstruct import StructureSet, read_rtstruct, write_rtstruct
from planner.imaging.stage import ImagingPlan, PatientModel, check_sections, patient_mesh, patient_model, read_label_file, read_segments
from planner.imaging.volume import Grid, ImageVolume

__all__ = [
    "Grid",
    "ImagingPlan",
    "ImageVolume",
    "PatientModel",
    "SegmentSet",
    "StructureSet",
    "check_sections",
    "patient_mesh",
    "patient_model",
    "place_on_grid",
    "read_dicom_seg",
    "read_label_file",
    "read_nrrd",
    "read_nrrd_labels",
    "read_seg_nrrd",
    "read_segments",
    "read_dicom_file",
    "read_dicom_series",
    "read_nifti",
    "read_nifti_labels",
    "read_rtstruct",
    "write_nifti",
    "write_nrrd",
    "write_rtstruct",
]

