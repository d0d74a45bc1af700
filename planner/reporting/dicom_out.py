"""DICOM results that a TPS or PACS overlays on the planning CT/MR.

* Temperature and thermal dose as **Parametric Map** objects (highdicom; SOP class
  1.2.840.10008.5.1.4.1.1.30), one frame per source slice, 32-bit float pixels holding the value
  itself (Real World Value Mapping slope 1, intercept 0, UCUM unit ``Cel`` or ``min``), derived from
  the planning series: same FrameOfReferenceUID, patient and study, and per-frame plane positions
  copied from the source slices. A Parametric Map (not RT Dose) because RT Dose means absorbed dose
  in Gy/cGy (DoseUnits has no other defined terms), which a TPS would sum with radiotherapy dose.
* Isotherms and the thermal-dose region as an **RTSTRUCT** (:func:`planner.imaging.rtstruct.write_rtstruct`)
  referencing the planning series and its frame of reference; ROI type DOSE_REGION.

The maps are sampled on the image grid (:mod:`planner.reporting.image_grid`); voxels outside the
mesh are 0. New UIDs every run (a result is a new instance, never a copy of an earlier one).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from planner.errors import InputError
from planner.imaging.dicom_write import StudyInfo, make_uid
from planner.imaging.rtstruct import write_rtstruct
from planner.imaging.volume import ImageVolume

#: isotherms written to the RTSTRUCT (°C, on T_max) and the thermal-dose threshold (CEM43 minutes)
ISOTHERMS_C = (40.0, 42.0, 43.0)
CEM43_THRESHOLD_MIN = 60.0


@dataclass(frozen=True)
class MapSpec:
    """One parametric map: file stem, explanation, UCUM unit code and meaning, series number."""

    name: str
    explanation: str
    unit_code: str
    unit_meaning: str
    series_number: int


T_MAX_MAP = MapSpec("T_max_C", "maximum temperature over the session (FE interpolant)", "Cel", "degree Celsius", 901)
CEM43_MAP = MapSpec("CEM43_min", "cumulative equivalent minutes at 43 C (Sapareto-Dewey)", "min", "minute", 902)


def is_dicom_series(image: ImageVolume | None) -> bool:
    """True when ``image`` was read from DICOM files (SOP instances known, one file per slice)."""
    return image is not None and bool(image.sop_instance_uids) and len(image.files) == image.shape[0]


def _source_datasets(image: ImageVolume) -> list:
    import pydicom

    out = []
    for f in image.files:
        try:
            out.append(pydicom.dcmread(f, stop_before_pixels=True))
        except Exception as exc:  # the series was read minutes ago: it moved or changed
            raise InputError(
                f"{f}: planning image cannot be re-read for the DICOM outputs ({' '.join(str(exc).split())[:100]})"
            ) from None
    return out


def write_parametric_map(
    path: Path, image: ImageVolume, sources: list, array_kji: np.ndarray, spec: MapSpec, *, software_version: str
) -> Path:
    """Parametric Map of ``array_kji`` (on ``image``'s grid, k = slice order of ``image.files``)."""
    import highdicom as hd

    a = np.ascontiguousarray(array_kji, dtype=np.float32)
    lo, hi = float(a.min()), float(a.max())
    rwvm = hd.pm.RealWorldValueMapping(
        lut_label=spec.name[:16],
        lut_explanation=spec.explanation[:64],
        unit=hd.sr.CodedConcept(spec.unit_code, "UCUM", spec.unit_meaning),
        value_range=(lo, hi if hi > lo else lo + 1.0),
        slope=1.0,
        intercept=0.0,
    )
    pm = hd.pm.ParametricMap(
        source_images=sources,
        pixel_array=a,
        series_instance_uid=make_uid(),
        series_number=spec.series_number,
        sop_instance_uid=make_uid(),
        instance_number=1,
        manufacturer="planner",
        manufacturer_model_name="planner",
        software_versions=software_version,
        device_serial_number="0",
        contains_recognizable_visual_features=False,
        real_world_value_mappings=[rwvm],
        content_label=spec.name.upper()[:16],
        content_description=spec.explanation[:64],
        voi_lut_transformations=[hd.VOILUTTransformation(window_center=(lo + hi) / 2, window_width=max(hi - lo, 1.0))],
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    pm.save_as(path)
    return path


def isotherm_rois(T_max_kji: np.ndarray, CEM43_kji: np.ndarray) -> list[tuple[str, np.ndarray, str]]:
    """(name, mask, type) of the isotherms T_max ≥ 40/42/43 °C and CEM43 ≥ 60 min (may be empty)."""
    rois = [(f"T_max >= {t:g} C", T_max_kji >= t, "DOSE_REGION") for t in ISOTHERMS_C]
    rois.append((f"CEM43 >= {CEM43_THRESHOLD_MIN:g} min", CEM43_kji >= CEM43_THRESHOLD_MIN, "DOSE_REGION"))
    return rois


def write_dicom_results(
    folder: Path, image: ImageVolume, T_max_kji: np.ndarray, CEM43_kji: np.ndarray, *, software_version: str
) -> tuple[list[Path], dict]:
    """``T_max_C_pm.dcm``, ``CEM43_min_pm.dcm`` and ``isotherms_rtstruct.dcm`` in ``folder``; returns
    the files and a summary block (ROI voxel counts, referenced UIDs)."""
    sources = _source_datasets(image)
    paths = [
        write_parametric_map(
            folder / f"{spec.name}_pm.dcm", image, sources, arr, spec, software_version=software_version
        )
        for spec, arr in ((T_MAX_MAP, T_max_kji), (CEM43_MAP, CEM43_kji))
    ]
    first = sources[0]
    study = StudyInfo(
        patient_name=str(first.get("PatientName", "")),
        patient_id=str(first.get("PatientID", "")),
        study_uid=image.study_uid,
        frame_of_reference_uid=image.frame_of_reference_uid,
        study_description=str(first.get("StudyDescription", "")),
        date=str(first.get("StudyDate", "")) or "20260101",
    )
    rois = isotherm_rois(T_max_kji, CEM43_kji)
    paths.append(write_rtstruct(folder / "isotherms_rtstruct.dcm", image, rois, study=study, label="isotherms"))
    block = {
        "referenced_series_uid": image.series_uid,
        "frame_of_reference_uid": image.frame_of_reference_uid,
        "parametric_maps": {spec.name: f"{spec.name}_pm.dcm" for spec in (T_MAX_MAP, CEM43_MAP)},
        "isotherm_voxels": {name: int(np.count_nonzero(m)) for name, m, _ in rois},
        "isotherm_volume_mL": {name: np.count_nonzero(m) * image.grid.voxel_volume_m3 * 1e6 for name, m, _ in rois},
        "convention": "Parametric Map float pixels = value (slope 1, intercept 0), UCUM Cel / min; 0 outside the mesh",
    }
    return paths, block
