"""Typed ``[imaging]`` and ``[segmentation]`` plan sections.

:mod:`planner.config.plan` keeps these two sections as raw tables; they are validated here with the same
machinery (:func:`planner.config.schema.parse_section`), so an unknown key is an
:class:`~planner.errors.InputError` naming e.g. ``imaging.ct_dir``. Paths are relative to the plan
file's folder (``cfg.resolve``).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from planner.config.plan import MeshSection, PlanConfig
from planner.config.registry import SEGMENTERS, STAGE_SECTIONS
from planner.config.schema import model_key, one_of, parse_section, positive, spec
from planner.errors import InputError

_ROLES = one_of("body", "target", "organ", "implant")
#: keys of [imaging] naming the planning image (at most one)
IMAGE_SOURCES = ("ct", "mr", "nifti", "nrrd")


def _nonempty(s: str) -> bool:
    return bool(s.strip())


@dataclass(frozen=True)
class ImagingSection:
    """Patient images (DICOM folder or NIfTI), RTSTRUCT ROIs, label-mesh checks; paths relative to the plan file."""

    PLAN_SECTION: ClassVar[str] = "[imaging]"

    ct: str | None = spec(None, check=_nonempty, expected="a folder of CT DICOM files (or one enhanced multi-frame CT file), "
                                                          "relative to the plan file; compressed (JPEG, JPEG-LS, JPEG 2000) pixels are "
                                                          "decoded")
    mr: str | None = spec(None, check=_nonempty, expected="a folder of MR DICOM files (or one enhanced multi-frame MR file), "
                                                          "relative to the plan file")
    nifti: str | None = spec(None, check=_nonempty, expected="a NIfTI image file (.nii/.nii.gz), relative to the plan file")
    nrrd: str | None = spec(None, check=_nonempty, expected="an NRRD image file (.nrrd/.nhdr, patient space LPS/RAS/LAS), relative to "
                                                            "the plan file")
    nifti_modality: str = spec("MR", check=one_of("MR", "CT")[0], expected="'MR' or 'CT' (what the NIfTI or NRRD image is)")
    labels: str | None = spec(None, check=_nonempty, expected="a NIfTI or NRRD label map, relative to the plan file; on another grid "
                                                              "than the image it is resampled (nearest neighbour) onto the image grid")
    series_uid: str | None = spec(None, check=_nonempty, expected="a SeriesInstanceUID present in the folder")
    rtstruct: str | None = spec(None, check=_nonempty, expected="an RTSTRUCT DICOM file, relative to the plan file")
    segments: str | None = spec(None, check=_nonempty, expected="a 3D Slicer segmentation (.seg.nrrd) or a DICOM SEG file, relative to "
                                                                "the plan file: its segment names are the names target/organs/implants "
                                                                "pick (like RTSTRUCT ROIs); resampled onto the image grid if needed")
    target: str | None = spec(None, check=_nonempty, expected="the RTSTRUCT ROI (or segment) name of the target (e.g. 'GTV')")
    organs: tuple[str, ...] = spec((), check=lambda v: all(_nonempty(x) for x in v), expected="a list of RTSTRUCT ROI (or segment) names")
    implants: tuple[str, ...] = spec((), check=lambda v: all(_nonempty(x) for x in v),
                                     expected="a list of RTSTRUCT ROI (or segment) names of metal implants (needed for MR: metal is a "
                                              "signal void)")
    target_mask: str | None = spec(None, check=_nonempty, expected="a NIfTI or NRRD binary mask of the target (another grid is resampled "
                                                                   "onto the image grid; ≥ 99 % of it must lie inside the image)")
    phantom: str | None = spec(None, check=_nonempty, expected="a phantom name (planner.imaging.phantoms.PHANTOMS); inputs are generated "
                                                               "if missing")
    crop_margin_mm: float | None = spec(None, check=positive, expected="a positive margin (mm) around the target to crop the model to")
    min_dihedral_deg: float = spec(2.0, check=lambda v: math.isfinite(v) and 0.0 <= v < 60.0, expected="an angle in 0..60 degrees")
    min_radius_ratio: float = spec(0.02, check=lambda v: math.isfinite(v) and 0.0 <= v < 1.0, expected="a number in 0..1 (3 r_in / R_circ)")
    max_volume_difference: float = spec(0.5, check=positive, expected="a positive relative volume difference (mesh vs voxels) per region")

    def validate(self, path: str) -> None:
        sources = [k for k in IMAGE_SOURCES if getattr(self, k) is not None]
        if len(sources) > 1:
            raise InputError(f"{path}: keys {sources} given together; expected at most one image source (ct, mr, nifti or nrrd)")
        if not sources and self.labels is None:
            raise InputError(f"{path}: no image source; expected one of ct, mr, nifti, nrrd or labels")
        if self.rtstruct is not None and self.segments is not None:
            raise InputError(f"{path}.segments = {self.segments!r}: given together with {path}.rtstruct; expected one source of named "
                             "structures")
        if (self.target is not None or self.organs or self.implants) and self.rtstruct is None and self.segments is None:
            key = "target" if self.target is not None else ("organs" if self.organs else "implants")
            raise InputError(f"{path}.{key} = {getattr(self, key)!r}: needs {path}.rtstruct or {path}.segments (the named structures "
                             "come from an RTSTRUCT, a .seg.nrrd or a DICOM SEG)")
        if self.rtstruct is not None and not sources:
            raise InputError(f"{path}.rtstruct = {self.rtstruct!r}: needs the image series it references (ct or mr)")
        if self.segments is not None and not sources and self.labels is None:
            raise InputError(f"{path}.segments = {self.segments!r}: needs the planning image (ct, mr, nifti, nrrd or labels)")
        if self.target is not None and self.target_mask is not None:
            raise InputError(f"{path}.target_mask = {self.target_mask!r}: given together with {path}.target; expected one target source")
        if self.target is not None and self.target in self.organs:
            raise InputError(f"{path}.organs = {list(self.organs)!r}: contains the target {self.target!r}; expected other ROIs")
        both = sorted(set(self.implants) & (set(self.organs) | {self.target}))
        if both:
            raise InputError(f"{path}.implants = {list(self.implants)!r}: {both} also listed as target/organ; expected each ROI once")

    @property
    def image_source(self) -> str | None:
        for k in IMAGE_SOURCES:
            if getattr(self, k) is not None:
                return k
        return None


@dataclass(frozen=True)
class LabelSpec:
    """One row of the ``labels`` method's label → tissue table."""

    PLAN_SECTION: ClassVar[str] = "[[segmentation.labels]]"

    value: int = spec(check=lambda v: 1 <= v <= 65535, expected="an integer label value 1..65535")
    name: str = spec(check=_nonempty, expected="a non-empty region name")
    tissue: str = spec(check=_nonempty, expected="a tissue name from the library")
    role: str = spec("body", check=_ROLES[0], expected=_ROLES[1])


@dataclass(frozen=True)
class SegmentationSection:
    """Segmenter choice and the tissue names every segmenter uses; the keys of each ``method`` (CT cut
    points, MR classes, label table) are declared by the segmenter (planner.imaging.segmentation):
    see ``[segmentation] method = ...``."""

    PLAN_SECTION: ClassVar[str] = "[segmentation]"

    method: str | None = spec(None, choice=SEGMENTERS, selects="keys",
                              help="default: ct-hu for CT, mr-intensity for MR, labels for a label map")
    soft_tissue: str = spec("muscle", check=_nonempty, expected="a tissue name for soft tissue")
    metal_tissue: str = spec("ti6al4v", check=_nonempty, expected="a tissue (material) name for metal implants")
    target_tissue: str = spec("tumour", check=_nonempty, expected="a tissue name for the target")
    organ_tissues: dict[str, Any] = spec(default_factory=dict,
                                         help="RTSTRUCT ROI name → tissue name (default: soft_tissue)")
    # per-method keys (declared by the segmenters' parameter sections)
    fat_tissue: str = model_key("fat")
    bone_tissue: str = model_key("bone_cortical")
    air_tissue: str = model_key("air")
    lung_tissue: str = model_key("lung")
    body_threshold_HU: float = model_key(-400.0)
    air_max_HU: float = model_key(-400.0)
    fat_max_HU: float = model_key(-30.0)
    bone_min_HU: float = model_key(250.0)
    metal_min_HU: float = model_key(2500.0)
    lung_min_volume_mm3: float = model_key(100000.0)
    lung_min_mean_HU: float = model_key(-950.0)
    metal_min_volume_mm3: float = model_key(100.0)
    min_component_mm3: float = model_key(20.0)
    streak_radius_mm: float = model_key(50.0)
    smoothing_voxels: int = model_key(1)
    max_implants: int = model_key(8)
    mr_classes: tuple[str, ...] = model_key(("muscle", "fat"))
    mr_body_threshold: float | None = model_key()
    labels: tuple[LabelSpec, ...] = model_key(())

    def validate(self, path: str) -> None:
        for k, v in self.organ_tissues.items():
            if not isinstance(v, str) or not v.strip():
                raise InputError(f"{path}.organ_tissues.{k} = {v!r}: expected a tissue name")


def parse_imaging(raw: Mapping[str, object] | None) -> ImagingSection:
    if raw is None:
        raise InputError("[imaging]: missing section; expected ct, mr, nifti or labels")
    return parse_section(ImagingSection, raw, "imaging")


def default_method(imaging: ImagingSection) -> str:
    """The segmenter of an image source when [segmentation] names none."""
    src = imaging.image_source
    if src == "ct" or (src in ("nifti", "nrrd") and imaging.nifti_modality == "CT"):
        return "ct-hu"
    return "labels" if src is None else "mr-intensity"


def parse_segmentation(raw: Mapping[str, object] | None, imaging: ImagingSection) -> SegmentationSection:
    raw = dict(raw or {})
    if raw.get("method") is None:  # the keys of a method are checked against the method actually used
        method = default_method(imaging)
        if method == "labels" and not raw.get("labels"):
            raise InputError("segmentation.labels: missing; a label map (imaging.labels) needs [[segmentation.labels]] rows")
        raw["method"] = method
    sec = parse_section(SegmentationSection, raw, "segmentation")
    if sec.method == "labels" and imaging.labels is None:
        raise InputError("segmentation.method = 'labels': needs imaging.labels (a NIfTI label map)")
    if sec.method == "ct-hu" and imaging.image_source not in ("ct", "nifti", "nrrd"):
        raise InputError(f"segmentation.method = 'ct-hu': expected a CT image (imaging.ct), got {imaging.image_source!r}")
    if sec.method == "mr-intensity" and imaging.image_source is None:
        raise InputError("segmentation.method = 'mr-intensity': expected an MR image (imaging.mr, imaging.nifti or imaging.nrrd)")
    return sec


def _validate_plan_sections(plan: dict) -> None:
    """[imaging] and [segmentation] of a raw plan, checked when the plan is loaded."""
    parse_segmentation(plan.get("segmentation"), parse_imaging(plan.get("imaging")))


def _checked_with_imaging(plan: dict) -> None:
    """[segmentation] is checked together with [imaging] (its default method depends on the images)."""


STAGE_SECTIONS.register("imaging", _validate_plan_sections, ImagingSection)
STAGE_SECTIONS.register("segmentation", _checked_with_imaging, SegmentationSection)


@dataclass(frozen=True)
class ImagingPlan:
    """What the imaging stage reads of a plan: its [imaging], [segmentation] and [mesh] sections and
    the plan file's folder (relative paths). Stage contract: sections, never the whole plan."""

    imaging: Mapping[str, object]
    segmentation: Mapping[str, object] | None
    mesh: MeshSection
    base_dir: Path

    @classmethod
    def of(cls, plan: PlanConfig) -> ImagingPlan:
        if plan.imaging is None:
            raise InputError("[imaging]: missing section; expected [imaging] (or [geometry] primitives)")
        return cls(plan.imaging, plan.segmentation, plan.mesh, plan.base_dir)

    def resolve(self, relative: str) -> Path:
        """A path from the plan, relative to the plan file's folder."""
        return (self.base_dir / relative).resolve()
