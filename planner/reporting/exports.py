"""Results where physicists look: CSV tables, image-grid NIfTI and DICOM, from the stage artefacts.

:func:`write_result_exports` is the one call the pipeline makes (in ``_write_outputs``). It writes

* always: ``metrics.csv``, ``dvh.csv``, ``probes.csv`` (:mod:`planner.reporting.structure_metrics`),
  ``fields/results_mm.vtu`` and ``fields/temperature_mm.xdmf`` (:mod:`planner.reporting.mesh_out`);
* for plans made from images (``[imaging]``): ``image/*.nii.gz`` on the planning image grid and
  ``image/labels.*`` (:mod:`planner.reporting.image_grid`);
* when that image is a DICOM series and a thermal result exists: ``dicom/T_max_C_pm.dcm``,
  ``dicom/CEM43_min_pm.dcm`` and ``dicom/isotherms_rtstruct.dcm`` (:mod:`planner.reporting.dicom_out`).

It adds the summary.json blocks ``structures`` (the metrics rows), ``image_outputs`` and
``dicom_outputs`` (each saying what was written, or why not) and the record-keeping keys of
:mod:`planner.reporting.record` (``schema_version``; versions, git commit, MPI ranks and command line
in ``provenance``); no existing key changes.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

import planner
from planner.artefacts import TissueMesh
from planner.imaging.stage import PatientModel
from planner.imaging.volume import ImageVolume
from planner.reporting.dicom_out import is_dicom_series, write_dicom_results
from planner.reporting.image_grid import LabelEntry, sampler_for, write_image_fields, write_labels
from planner.reporting.mesh_out import HeatLike, write_results_mm
from planner.reporting.record import add_record
from planner.reporting.structure_metrics import CellFieldsLike, TemperaturesLike, roi_structures, write_tables

log = logging.getLogger(__name__)


def write_result_exports(
    folder: Path, mesh: TissueMesh, artefacts: dict[str, object], summary: dict[str, object]
) -> list[Path]:
    """Write the tables, image and DICOM results into ``folder``; return their paths relative to it."""
    t0 = time.perf_counter()
    temperatures: TemperaturesLike | None = artefacts.get("temperatures")  # type: ignore[assignment]
    fields: CellFieldsLike | None = artefacts.get("fields")  # type: ignore[assignment]
    heat: HeatLike | None = artefacts.get("heat")  # type: ignore[assignment]
    patient = artefacts.get("patient")
    add_record(
        summary,
        tissue_names=[r.tissue for r in mesh.regions],
        library=artefacts.get("library"),
        frequency_Hz=getattr(fields, "frequency_Hz", None),
    )
    extra = []
    if isinstance(patient, PatientModel) and patient.structures is not None and patient.image is not None:
        labels = patient.labels.labels_on_source_grid(patient.image.shape)
        extra = roi_structures(mesh, dict(patient.structures.masks), patient.image.grid, labels)
    paths, metrics = write_tables(folder, mesh, temperatures, fields, extra)
    paths += write_results_mm(folder / "fields", mesh, temperatures, fields, heat)
    summary["structures"] = metrics
    if not isinstance(patient, PatientModel):
        summary["image_outputs"] = {"written": False, "reason": "plan has no [imaging] section: no planning image grid"}
        summary["dicom_outputs"] = {
            "written": False,
            "reason": "plan has no [imaging] section: no DICOM series to reference",
        }
        return [p.relative_to(folder) for p in paths]
    img_paths, images, block = _image_outputs(folder / "image", mesh, patient, temperatures, fields, heat)
    paths += img_paths
    summary["image_outputs"] = block
    image = patient.image
    if image is None or not is_dicom_series(image):
        summary["dicom_outputs"] = {
            "written": False,
            "reason": "the planning image is not a DICOM series (NIfTI or labels only)",
        }
    elif temperatures is None:
        summary["dicom_outputs"] = {"written": False, "reason": "no thermal result (plan has no [thermal] section)"}
    else:
        dpaths, summary["dicom_outputs"] = dicom_outputs(
            folder / "dicom", image, images["T_max_C"], images["CEM43_min"]
        )
        paths += dpaths
    log.info("result exports written in %.2f s", time.perf_counter() - t0)
    return [p.relative_to(folder) for p in paths]


@runtime_checkable
class HeatingHistoryLike(Protocol):
    """What :func:`end_of_heating` reads of the thermal artefact."""

    @property
    def times_s(self) -> np.ndarray: ...
    @property
    def field_fraction(self) -> np.ndarray: ...
    @property
    def T_final_C(self) -> np.ndarray: ...
    @property
    def snapshot_times_s(self) -> np.ndarray: ...
    @property
    def T_snapshots_C(self) -> np.ndarray: ...


def dicom_outputs(
    folder: Path, image: ImageVolume, T_max_kji: np.ndarray, CEM43_kji: np.ndarray
) -> tuple[list[Path], dict]:
    """:func:`write_dicom_results` into ``folder``, or — when the planning series cannot be turned into
    DICOM results (a header highdicom refuses, files moved) — no ``folder`` at all, a logged warning and
    the reason in the summary block: the FE results and every other output are kept."""
    try:
        paths, block = write_dicom_results(
            folder, image, T_max_kji, CEM43_kji, software_version=str(planner.__version__)
        )
    except Exception as exc:  # an optional export must not discard a finished run
        shutil.rmtree(folder, ignore_errors=True)
        reason = f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
        log.warning("DICOM results not written (%s); NIfTI and CSV results are", reason)
        return [], {"written": False, "reason": reason}
    return paths, {"written": True, "folder": folder.name, **block}


def end_of_heating(temperatures: HeatingHistoryLike) -> tuple[np.ndarray | None, str]:
    """Per-vertex temperature when the field goes off for the last time, and how it was found.

    ``field_fraction[i]`` is the fraction at the end of step i (left limit), so heating ends at the
    last time with a non-zero fraction: ``T_final_C`` when that is the end of the session, else the
    field snapshot at that time if one was recorded (``thermal.field_output_interval_s``), else None.
    """
    times = np.asarray(temperatures.times_s, dtype=float)
    frac = np.asarray(temperatures.field_fraction, dtype=float)
    if times.size == 0 or frac.shape != times.shape or not np.any(frac > 0):
        return None, "not written: the thermal result has no heating interval"
    t_h = float(times[np.flatnonzero(frac > 0)[-1]])
    if t_h >= times[-1] - 1e-6:
        return np.asarray(temperatures.T_final_C), f"= T_final_C (heating lasts to the end, t = {t_h:g} s)"
    snaps = np.asarray(temperatures.snapshot_times_s, dtype=float)
    hit = np.flatnonzero(np.abs(snaps - t_h) <= 1e-6)
    if hit.size:
        return np.asarray(temperatures.T_snapshots_C)[hit[0]], f"snapshot at t = {t_h:g} s (field off after)"
    return None, (
        f"not written: heating ends at t = {t_h:g} s, between field snapshots; "
        "set thermal.field_output_interval_s to a divisor of that time"
    )


def _image_outputs(
    folder: Path,
    mesh: TissueMesh,
    patient: PatientModel,
    temperatures: TemperaturesLike | None,
    fields: CellFieldsLike | None,
    heat: HeatLike | None,
) -> tuple[list[Path], dict[str, np.ndarray], dict]:
    """NIfTI fields and labels on the planning image grid; returns (files, sampled T_max/CEM43, block)."""
    lv = patient.labels
    if patient.image is not None:
        grid, labels = patient.image.grid, lv.labels_on_source_grid(patient.image.shape)
    else:  # labels-only plan: the label grid (the crop box of the label map when segmentation cropped)
        grid, labels = lv.grid, lv.labels
    sampler = sampler_for(mesh, grid)
    vertex: dict[str, np.ndarray] = {}
    cell: dict[str, np.ndarray] = {}
    heating_note = "no thermal result"
    if temperatures is not None:
        vertex = {
            "T_max_C": temperatures.T_max_C,
            "T_final_C": temperatures.T_final_C,
            "CEM43_min": temperatures.CEM43_min,
            "dT_max_K": np.asarray(temperatures.T_max_C) - np.asarray(temperatures.T_baseline_C),
        }
        T_heat, heating_note = (
            end_of_heating(temperatures)
            if isinstance(temperatures, HeatingHistoryLike)
            else (None, "not written: the thermal result has no time history")
        )
        if T_heat is not None:
            vertex["T_end_of_heating_C"] = T_heat
    if fields is not None:
        cell = {"SAR_W_per_kg": fields.SAR_W_per_kg, "E_peak_V_per_m": fields.E_peak_V_per_m}
    if heat is not None:
        cell["Q_W_per_m3"] = heat.Q_W_per_m3(1.0)
    paths = write_image_fields(folder, sampler, vertex, cell)
    entries = [LabelEntry(t.value, t.name, t.tissue, t.role.value) for t in lv.table]
    paths += write_labels(folder, labels, grid, entries)
    sampled = {k: sampler.sample_vertex(v) for k, v in vertex.items() if k in ("T_max_C", "CEM43_min")}
    inside = sampler.inside
    block = {
        "written": True,
        "folder": "image",
        "grid": grid.summary_block(),
        "fields": sorted([*vertex, *cell]),
        "voxels_inside_mesh": int(inside.sum()),
        "labelled_voxels_outside_mesh": int(np.count_nonzero((labels > 0) & ~inside)),
        "value_outside_mesh": 0.0,
        "interpolation": "vertex fields: barycentric (P1) in the containing tetrahedron; cell fields: the cell value",
        "orientation": "NIfTI RAS mm, sform = qform = the planning image's affine (voxel order unchanged)",
        "label_table": ["labels.ctbl", "labels.csv", "labels.seg.nrrd"],
        "T_end_of_heating": heating_note,
    }
    return paths, sampled, block
