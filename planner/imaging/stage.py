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

from planner.artefacts import TissueMesh
from planner.errors import InputError
from planner.imaging.config import ImagingPlan, ImagingSection, SegmentationSection, parse_imaging, parse_segmentation
from planner.imaging.dicom import read_dicom_series
from planner.imaging.label_mesh import MeshReport, mesh_labels
from planner.imaging.nifti import read_nifti, read_nifti_labels
from planner.imaging.rtstruct import StructureSet, read_rtstruct
from planner.imaging.segmentation import LabelVolume, SegmentationInputs, check_tissues, segment
from planner.imaging.volume import ImageVolume

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
    structures: StructureSet | None = None
    timings_s: dict = field(default_factory=dict)
    plan_dir: Path | None = None

    def summary_block(self) -> dict:
        """JSON-serialisable block (the pipeline stores it as ``summary["imaging"]``): ``series``
        (source, modality, series UID, shape, spacing, geometry), ``rtstruct``, ``segmentation``
        (label table with voxel counts/volumes), ``label_mesh`` (quality, per-region mesh vs voxel
        volumes, sizes, crop) and ``timings_s``."""
        series = self.image.summary_block() if self.image is not None else {"source": self.imaging.labels, "modality": None}
        return {
            "series": series,
            "rtstruct": self.structures.summary_block() if self.structures is not None else None,
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
            files["imaging.rtstruct"] = Path(self.structures.path)
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
        for key in ("ct", "mr", "nifti", "labels", "rtstruct", "target_mask"):
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


def patient_model(cfg: ImagingPlan, lib=None) -> PatientModel:
    """Read → segment → mesh for a plan with an ``[imaging]`` section (see module docstring)."""
    img_sec = parse_imaging(cfg.imaging)
    seg_sec = parse_segmentation(cfg.segmentation, img_sec)
    if img_sec.phantom is not None:
        from planner.imaging.phantoms import ensure_phantom_inputs

        ensure_phantom_inputs(cfg)
    timings: dict[str, float] = {}
    t = time.perf_counter()
    image: ImageVolume | None = None
    src = img_sec.image_source
    if src in ("ct", "mr"):
        folder = _existing(cfg, src, getattr(img_sec, src))
        image = read_dicom_series(folder, series_uid=img_sec.series_uid, modality=src.upper(), field=f"imaging.{src}")
    elif src == "nifti":
        image = read_nifti(_existing(cfg, "nifti", img_sec.nifti), modality=img_sec.nifti_modality)  # type: ignore[arg-type]
    label_map = None
    grid = image.grid if image is not None else None
    if img_sec.labels is not None:
        lp = _existing(cfg, "labels", img_sec.labels)
        label_map, lgrid = read_nifti_labels(lp)
        if grid is not None and not lgrid.same_as(grid):
            raise InputError(f"imaging.labels = {img_sec.labels!r}: label map grid {lgrid.shape} differs from the image grid "
                             f"{grid.shape}; expected the same voxels")
        grid = lgrid
    timings["read"] = time.perf_counter() - t
    t = time.perf_counter()
    structures = None
    organs: tuple = ()
    implants: tuple = ()
    target = None
    if img_sec.rtstruct is not None:
        if image is None:
            raise InputError(f"imaging.rtstruct = {img_sec.rtstruct!r}: needs the DICOM image series it references (imaging.ct or "
                             "imaging.mr)")
        names = ([img_sec.target] if img_sec.target else []) + list(img_sec.organs) + list(img_sec.implants)
        structures = read_rtstruct(_existing(cfg, "rtstruct", img_sec.rtstruct), image, names)
        organs = tuple((n, structures.masks[n]) for n in img_sec.organs)
        implants = tuple((n, structures.masks[n]) for n in img_sec.implants)
        if img_sec.target:
            target = (img_sec.target, structures.masks[img_sec.target])
    if img_sec.target_mask is not None:
        tm, tgrid = read_nifti_labels(_existing(cfg, "target_mask", img_sec.target_mask))
        if grid is None or not tgrid.same_as(grid):
            raise InputError(f"imaging.target_mask = {img_sec.target_mask!r}: mask grid differs from the image grid; expected the same "
                             "voxels")
        if not tm.any():
            raise InputError(f"imaging.target_mask = {img_sec.target_mask!r}: mask is empty; expected the target voxels set to non-zero")
        target = ("target", tm > 0)
    timings["rtstruct"] = time.perf_counter() - t
    t = time.perf_counter()
    source = str(image.source) if image is not None else str(img_sec.labels)
    inp = SegmentationInputs(grid=grid, image=image, organs=organs, target=target, label_map=label_map, source=source,  # type: ignore[arg-type]
                             implants=implants)
    lv = segment(inp, seg_sec)
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
    return PatientModel(mesh, lv, report, img_sec, seg_sec, image, structures, timings, cfg.base_dir)


def patient_mesh(cfg: ImagingPlan, lib=None) -> TissueMesh:
    """TissueMesh of the patient from the plan's ``[imaging]``/``[segmentation]`` (thin wrapper)."""
    return patient_model(cfg, lib).mesh


__all__ = ["ImagingPlan", "PatientModel", "check_sections", "patient_model", "patient_mesh"]
