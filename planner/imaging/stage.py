"""Images → segmentation → label mesh: the imaging stage of the pipeline.

``patient_model(ImagingPlan.of(plan), lib)`` reads the image series (DICOM folder or NIfTI) and the RTSTRUCT,
segments with the ``[segmentation] method`` from the registry, meshes the label volume with
pygalmesh and returns a :class:`PatientModel` holding every intermediate artefact, its summary
(``summary_block``); its figures and label map are written by planner.reporting.fields. ``patient_mesh(imaging_plan, lib)`` is the
thin wrapper the pipeline calls when it only needs the :class:`~planner.artefacts.TissueMesh`.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from planner.artefacts import TissueMesh
from planner.errors import InputError
from planner.imaging.config import ImagingPlan, ImagingSection, SegmentationSection, parse_imaging, parse_segmentation
from planner.imaging.dicom import read_dicom_series
from planner.imaging.label_mesh import MeshReport, mesh_labels
from planner.imaging.nifti import read_nifti, read_nifti_labels
from planner.imaging.nrrd import SegmentSet, read_nrrd, read_nrrd_labels, read_seg_nrrd
from planner.imaging.resample import MIN_INSIDE_LABELS, MIN_INSIDE_MASK, place_on_grid
from planner.imaging.rtstruct import StructureSet, read_rtstruct
from planner.imaging.segmentation import LabelVolume, SegmentationInputs, check_tissues, segment
from planner.imaging.volume import Grid, ImageVolume

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PatientModel:
    """Everything the imaging stage made, for the mesh, the summary and the report."""

    mesh: TissueMesh
    labels: LabelVolume
    mesh_report: MeshReport
    imaging: ImagingSection
    segmentation: SegmentationSection
    image: ImageVolume | None = None
    structures: StructureSet | SegmentSet | None = None
    timings_s: dict = field(default_factory=dict)
    plan_dir: Path | None = None
    #: inputs placed on the planning grid by nearest-neighbour resampling (one sentence each)
    resampled: tuple[str, ...] = ()

    def summary_block(self) -> dict:
        """JSON-serialisable block (the pipeline stores it as ``summary["imaging"]``): ``series``
        (source, modality, series UID, shape, spacing, geometry), ``rtstruct``, ``segmentation``
        (label table with voxel counts/volumes), ``label_mesh`` (quality, per-region mesh vs voxel
        volumes, sizes, crop) and ``timings_s``."""
        series = self.image.summary_block() if self.image is not None else {"source": self.imaging.labels, "modality": None}
        return {
            "series": series,
            "rtstruct": self.structures.summary_block() if isinstance(self.structures, StructureSet) else None,
            "segments": self.structures.summary_block() if isinstance(self.structures, SegmentSet) else None,
            "resampled": list(self.resampled),
            "segmentation": self.labels.summary_block(),
            "label_mesh": self.mesh_report.summary_block(),
            "timings_s": {k: round(v, 3) for k, v in self.timings_s.items()},
        }

    def input_files(self) -> dict[str, Path]:
        """Every file the imaging stage read, for provenance hashes (``imaging.ct[3]``, ``imaging.rtstruct``, ...)."""
        files: dict[str, Path] = {}
        if self.image is not None:
            key = self.imaging.image_source or "image"
            for n, f in enumerate(self.image.files):
                files[f"imaging.{key}[{n}]"] = Path(f)
        if self.structures is not None:
            files["imaging.rtstruct" if isinstance(self.structures, StructureSet) else "imaging.segments"] = Path(self.structures.path)
        for key in ("labels", "target_mask"):
            if getattr(self.imaging, key) is not None and self.plan_dir is not None:
                files[f"imaging.{key}"] = (self.plan_dir / getattr(self.imaging, key)).resolve()
        return files

def _existing(cfg: ImagingPlan, key: str, value: str) -> Path:
    p = cfg.resolve(value)
    if not p.exists():
        raise InputError(f"imaging.{key} = {value!r}: {p} does not exist; expected a path relative to the plan file")
    return p


def check_sections(cfg: ImagingPlan, lib=None) -> tuple[ImagingSection, SegmentationSection]:
    """Validate ``[imaging]``/``[segmentation]`` without reading images (for ``planner check``).

    Checks keys and values, that the input paths exist (unless ``[imaging] phantom`` will generate
    them) and, given a tissue library, that every tissue name the segmenter may use is in it.
    """
    img_sec = parse_imaging(cfg.imaging)
    seg_sec = parse_segmentation(cfg.segmentation, img_sec)
    if img_sec.phantom is not None:
        from planner.imaging.phantoms import PHANTOMS

        if img_sec.phantom not in PHANTOMS:
            raise InputError(f"imaging.phantom = {img_sec.phantom!r}: expected one of {', '.join(sorted(PHANTOMS))}")
    else:
        for key in ("ct", "mr", "nifti", "nrrd", "labels", "rtstruct", "segments", "target_mask"):
            value = getattr(img_sec, key)
            if value is not None:
                _existing(cfg, key, value)
    if lib is not None and hasattr(lib, "__contains__"):
        used: list[tuple[str, str]] = []
        if seg_sec.method == "ct-hu":
            keys = ("soft_tissue", "fat_tissue", "bone_tissue", "air_tissue", "lung_tissue", "metal_tissue")
            used += [(k, getattr(seg_sec, k)) for k in keys]
        elif seg_sec.method == "mr-intensity":
            used += [(f"mr_classes[{i}]", t) for i, t in enumerate(seg_sec.mr_classes)]
        else:
            used += [(f"labels[{i}].tissue", row.tissue) for i, row in enumerate(seg_sec.labels)]
        if img_sec.target is not None or img_sec.target_mask is not None:
            used.append(("target_tissue", seg_sec.target_tissue))
        used += [(f"organ_tissues.{k}", v) for k, v in seg_sec.organ_tissues.items()]
        if img_sec.implants and seg_sec.method != "ct-hu":
            used.append(("metal_tissue", seg_sec.metal_tissue))
        if img_sec.organs and any(o not in seg_sec.organ_tissues for o in img_sec.organs):
            used.append(("soft_tissue", seg_sec.soft_tissue))
        for key, tissue in used:
            if tissue not in lib:
                names = lib.names() if hasattr(lib, "names") else []
                raise InputError(f"segmentation.{key} = {tissue!r}: expected a tissue of the library ({', '.join(names)}) or "
                                 f"[tissues.{tissue}]")
    return img_sec, seg_sec


def read_label_file(path: Path) -> tuple[np.ndarray, Grid]:
    """A label map or mask from NIfTI (.nii, .nii.gz) or NRRD (.nrrd, .nhdr), by file name."""
    if path.name.lower().endswith((".nrrd", ".nhdr")):
        return read_nrrd_labels(path)
    return read_nifti_labels(path)


def read_segments(path: Path) -> SegmentSet:
    """Named segments of a 3D Slicer .seg.nrrd / NRRD file or a DICOM SEG (by content)."""
    if path.name.lower().endswith((".nrrd", ".nhdr")):
        return read_seg_nrrd(path)
    from planner.imaging.dicom_seg import read_dicom_seg

    return read_dicom_seg(path)


def _read_image(cfg: ImagingPlan, img_sec: ImagingSection) -> ImageVolume | None:
    src = img_sec.image_source
    if src in ("ct", "mr"):
        folder = _existing(cfg, src, getattr(img_sec, src))
        return read_dicom_series(folder, series_uid=img_sec.series_uid, modality=src.upper(), field=f"imaging.{src}")
    if src == "nifti":
        return read_nifti(_existing(cfg, "nifti", img_sec.nifti), modality=img_sec.nifti_modality)  # type: ignore[arg-type]
    if src == "nrrd":
        return read_nrrd(_existing(cfg, "nrrd", img_sec.nrrd), modality=img_sec.nifti_modality)  # type: ignore[arg-type]
    return None


def _placed(values: np.ndarray, src: Grid, dst: Grid | None, what: str, notes: list[str], min_inside: float) -> np.ndarray:
    if dst is None:
        return values
    placed = place_on_grid(values, src, dst, what=what, min_inside=min_inside)
    if placed.note:
        notes.append(placed.note)
    return placed.array


def _segments_on_grid(cfg: ImagingPlan, img_sec: ImagingSection, image: ImageVolume | None, grid: Grid | None,
                      names: list[str], notes: list[str]) -> SegmentSet:
    """The named segments of ``imaging.segments``, checked (names, frame of reference) and placed on ``grid``."""
    seg = read_segments(_existing(cfg, "segments", img_sec.segments))  # type: ignore[arg-type]
    missing = [n for n in names if n not in seg.masks]
    if missing:
        raise InputError(f"imaging.segments = {img_sec.segments!r}: segment(s) {missing} not found; the file has {seg.names()}")
    frame = image.frame_of_reference_uid if image is not None else ""
    if seg.frame_of_reference_uid and frame and seg.frame_of_reference_uid != frame:
        raise InputError(f"imaging.segments = {img_sec.segments!r}: FrameOfReferenceUID {seg.frame_of_reference_uid!r} differs "
                         f"from the image's {frame!r}; expected a segmentation of this image")
    masks = {}
    for n in names:
        what = f"imaging.segments = {img_sec.segments!r} segment {n!r}"
        frac = MIN_INSIDE_MASK if n == img_sec.target else MIN_INSIDE_LABELS
        masks[n] = _placed(seg.masks[n].astype(np.uint8), seg.grid, grid, what, notes, frac) > 0
    return dataclasses.replace(seg, masks=masks, grid=grid or seg.grid)


def _named_structures(cfg: ImagingPlan, img_sec: ImagingSection, image: ImageVolume | None, grid: Grid | None,
                      notes: list[str]):
    """(structures, target, organs, implants) from the RTSTRUCT or the segmentation file, on ``grid``."""
    names = ([img_sec.target] if img_sec.target else []) + list(img_sec.organs) + list(img_sec.implants)
    structures: StructureSet | SegmentSet
    if img_sec.rtstruct is not None:
        if image is None:
            raise InputError(f"imaging.rtstruct = {img_sec.rtstruct!r}: needs the DICOM image series it references (imaging.ct or "
                             "imaging.mr)")
        structures = read_rtstruct(_existing(cfg, "rtstruct", img_sec.rtstruct), image, names)
        masks = dict(structures.masks)
    elif img_sec.segments is not None:
        structures = _segments_on_grid(cfg, img_sec, image, grid, names, notes)
        masks = structures.masks
    else:
        return None, None, (), ()
    organs = tuple((n, masks[n]) for n in img_sec.organs)
    implants = tuple((n, masks[n]) for n in img_sec.implants)
    target = (img_sec.target, masks[img_sec.target]) if img_sec.target else None
    return structures, target, organs, implants


def _target_mask(cfg: ImagingPlan, img_sec: ImagingSection, grid: Grid | None, notes: list[str]):
    tm, tgrid = read_label_file(_existing(cfg, "target_mask", img_sec.target_mask))  # type: ignore[arg-type]
    if not tm.any():
        raise InputError(f"imaging.target_mask = {img_sec.target_mask!r}: mask is empty; expected the target voxels set to non-zero")
    tm = _placed((tm > 0).astype(np.uint8), tgrid, grid, f"imaging.target_mask = {img_sec.target_mask!r}", notes, MIN_INSIDE_MASK)
    return ("target", tm > 0)


def patient_model(cfg: ImagingPlan, lib=None) -> PatientModel:
    """Read → segment → mesh for a plan with an ``[imaging]`` section (see module docstring)."""
    img_sec = parse_imaging(cfg.imaging)
    seg_sec = parse_segmentation(cfg.segmentation, img_sec)
    if img_sec.phantom is not None:
        from planner.imaging.phantoms import ensure_phantom_inputs

        ensure_phantom_inputs(cfg)
    timings: dict[str, float] = {}
    t = time.perf_counter()
    image = _read_image(cfg, img_sec)
    notes: list[str] = []  # what was resampled onto the planning grid
    label_map = None
    grid = image.grid if image is not None else None
    if img_sec.labels is not None:
        label_map, lgrid = read_label_file(_existing(cfg, "labels", img_sec.labels))
        label_map = _placed(label_map, lgrid, grid, f"imaging.labels = {img_sec.labels!r}", notes, MIN_INSIDE_LABELS)
        grid = grid or lgrid
    timings["read"] = time.perf_counter() - t
    t = time.perf_counter()
    structures, target, organs, implants = _named_structures(cfg, img_sec, image, grid, notes)
    if img_sec.target_mask is not None:
        target = _target_mask(cfg, img_sec, grid, notes)
    timings["rtstruct"] = time.perf_counter() - t
    t = time.perf_counter()
    source = str(image.source) if image is not None else str(img_sec.labels)
    inp = SegmentationInputs(grid=grid, image=image, organs=organs, target=target, label_map=label_map, source=source,  # type: ignore[arg-type]
                             implants=implants)
    lv = segment(inp, seg_sec)
    if notes:
        lv = dataclasses.replace(lv, notes=tuple(notes) + lv.notes)
    if lib is not None:
        check_tissues(lv, lib)
    timings["segment"] = time.perf_counter() - t
    t = time.perf_counter()
    mesh, report = mesh_labels(
        lv,
        cfg.mesh,
        crop_margin_mm=img_sec.crop_margin_mm,
        min_dihedral_deg=img_sec.min_dihedral_deg,
        min_radius_ratio=img_sec.min_radius_ratio,
        max_volume_difference=img_sec.max_volume_difference,
        seed=cfg.mesh.seed,
    )
    timings["mesh"] = time.perf_counter() - t
    if image is not None and image.frame_of_reference_uid:  # particle maps are checked against it
        mesh = dataclasses.replace(mesh, frame_of_reference_uid=image.frame_of_reference_uid)
    log.info("imaging stage: %s", {k: round(v, 2) for k, v in timings.items()})
    return PatientModel(mesh, lv, report, img_sec, seg_sec, image, structures, timings, cfg.base_dir, tuple(notes))


def patient_mesh(cfg: ImagingPlan, lib=None) -> TissueMesh:
    """TissueMesh of the patient from the plan's ``[imaging]``/``[segmentation]`` (thin wrapper)."""
    return patient_model(cfg, lib).mesh


__all__ = ["ImagingPlan", "PatientModel", "check_sections", "patient_model", "patient_mesh"]
