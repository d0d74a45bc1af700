"""Segmentation: images (+ RTSTRUCT ROIs) → :class:`LabelVolume` with a label → tissue table.

Segmenters sit in the registry :data:`planner.config.registry.SEGMENTERS` (``register_segmenter`` /
``get_segmenter`` / ``available_segmenters``), keyed by ``[segmentation] method``:

``ct-hu``
    Hounsfield-unit classes (cut points in :class:`~planner.imaging.config.SegmentationSection`):
    air/lung, fat, soft tissue, bone, metal. Large air-class components with parenchyma-like mean
    HU (≥ ``lung_min_volume_mm3``, mean ≥ ``lung_min_mean_HU``) are lung, the rest gas (``air_tissue``).
    The body outline is the largest connected component of
    HU > ``body_threshold_HU``, closed morphologically and hole-filled slice by slice (so lungs and
    bowel gas stay inside the body). Classes are cleaned by a 3-D majority (mode) filter of radius
    ``smoothing_voxels``; connected components of air and bone smaller than ``min_component_mm3`` are
    reassigned to soft tissue (dark/bright streaks); metal components smaller than
    ``metal_min_volume_mm3`` are dropped, the remaining ones become implant regions (largest first,
    at most ``max_implants``); air/fat/bone structures thinner than 3 voxels within
    ``streak_radius_mm`` of an implant are opened away (streak artefacts).
    CT numbers: Kalender, *Computed Tomography*, 3rd ed. (2011), ch. 1.
``mr-intensity``
    Body mask by Otsu's threshold (Otsu 1979, IEEE Trans. SMC 9:62) on the Gaussian-smoothed image
    (or ``mr_body_threshold``), largest component, closing, slice-wise hole filling; inside the body a
    1-D k-means (Lloyd) on intensity splits ``len(mr_classes)`` classes, darkest first
    (T1: muscle < fat). **Bone/air ambiguity:** cortical bone and air both give almost no signal in
    conventional MR sequences, so they cannot be told apart by intensity: air outside the body is
    background, while air and cortical bone inside the body outline fall into the darkest class
    (by default muscle). Plans that need bone or air in MR-only models must bring them as ROIs
    (RTSTRUCT organs) or use a label map (``labels``) from a dedicated method (e.g. UTE/ZTE or
    a CT registered to the MR).
``labels``
    A label map read from NIfTI with a ``[[segmentation.labels]]`` table (value, name, tissue, role).

RTSTRUCT organs (``[imaging] organs``, tissue from ``organ_tissues``) override the intensity classes
in the order listed, the target (``[imaging] target``) overrides organs, and implants stay on top:
detected metal (CT) and RTSTRUCT implant ROIs (``[imaging] implants``, tissue ``metal_tissue`` unless
in ``organ_tissues``; a detected component touching such an ROI is replaced by it). Metal is a signal
void in MR, so MR plans with implants must list them as ROIs. Masks are clipped to the body outline.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from planner.artefacts import Role
from planner.config.registry import SEGMENTERS
from planner.config.schema import spec
from planner.errors import InputError, SegmentationError
from planner.imaging.config import LabelSpec, SegmentationSection
from planner.imaging.volume import Grid, ImageVolume

log = logging.getLogger(__name__)

# fixed label values of the intensity classes (stable across plans, so label maps are comparable)
SOFT, FAT, BONE, AIR, LUNG = 1, 2, 3, 4, 5
ORGAN_BASE, TARGET_LABEL, IMPLANT_BASE = 10, 50, 100


@dataclass(frozen=True)
class LabelInfo:
    value: int
    name: str
    tissue: str
    role: Role


@dataclass(frozen=True)
class LabelVolume:
    """Tissue labels on an image grid (0 = outside the patient) and the label → tissue table."""

    labels: np.ndarray  # (nk, nj, ni) uint16
    grid: Grid
    table: tuple[LabelInfo, ...]
    method: str
    image: ImageVolume | None = field(default=None, compare=False, repr=False)
    notes: tuple[str, ...] = ()
    #: index box ((k0, k1), (j0, j1), (i0, i1)) of ``labels`` inside the source image grid (None = whole)
    box_kji: tuple[tuple[int, int], ...] | None = None

    def labels_on_source_grid(self, shape: tuple[int, int, int]) -> np.ndarray:
        """The labels placed back into the full source-image array of ``shape`` (0 outside the box)."""
        if self.box_kji is None:
            return self.labels
        out = np.zeros(shape, dtype=self.labels.dtype)
        out[tuple(slice(a, b) for a, b in self.box_kji)] = self.labels
        return out

    def info(self, value: int) -> LabelInfo:
        for t in self.table:
            if t.value == value:
                return t
        raise KeyError(value)

    def voxel_counts(self) -> dict[int, int]:
        counts = np.bincount(self.labels.ravel(), minlength=max([t.value for t in self.table] + [0]) + 1)
        return {t.value: int(counts[t.value]) for t in self.table}

    def volumes_m3(self) -> dict[int, float]:
        v = self.grid.voxel_volume_m3
        return {k: c * v for k, c in self.voxel_counts().items()}

    def summary_block(self) -> dict:
        counts = self.voxel_counts()
        v = self.grid.voxel_volume_m3
        return {
            "method": self.method,
            "shape_kji": [int(s) for s in self.labels.shape],
            "voxel_volume_mm3": v * 1e9,
            "labels": [
                {"value": t.value, "name": t.name, "tissue": t.tissue, "role": t.role.value,
                 "voxels": counts[t.value], "volume_cm3": counts[t.value] * v * 1e6}
                for t in self.table
            ],
            "notes": list(self.notes),
        }

    def focus_index(self) -> tuple[int, int, int]:
        """(k, j, i) of the target centroid voxel, else of the centre of the labelled volume."""
        tgt = [t.value for t in self.table if t.role == Role.TARGET]
        sel = np.isin(self.labels, tgt) if tgt else self.labels > 0
        if not sel.any():
            return tuple(s // 2 for s in self.labels.shape)  # type: ignore[return-value]
        idx = np.argwhere(sel).mean(axis=0)
        return tuple(int(round(x)) for x in idx)  # type: ignore[return-value]

@dataclass(frozen=True)
class SegmentationInputs:
    """What a segmenter may use. Masks are bool arrays on ``grid``."""

    grid: Grid
    image: ImageVolume | None = None
    organs: tuple[tuple[str, np.ndarray], ...] = ()  # (ROI name, mask) in override order
    target: tuple[str, np.ndarray] | None = None
    label_map: np.ndarray | None = None  # int (nk, nj, ni) for the labels method
    source: str = ""
    implants: tuple[tuple[str, np.ndarray], ...] = ()  # (ROI name, mask) of metal implants from RTSTRUCT


# --- morphology helpers ---------------------------------------------------------------------------

def _ball(r: int) -> np.ndarray:
    z, y, x = np.mgrid[-r:r + 1, -r:r + 1, -r:r + 1]
    return (x * x + y * y + z * z) <= r * r


def largest_component(mask: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    lab, n = ndimage.label(mask)
    if n == 0:
        return mask.copy()
    counts = np.bincount(lab.ravel())
    counts[0] = 0
    return lab == int(np.argmax(counts))


def body_outline(mask: np.ndarray, closing_voxels: int = 1) -> np.ndarray:
    """Largest component, morphological closing, holes filled in every slice k and in 3-D."""
    from scipy import ndimage

    body = largest_component(mask)
    if closing_voxels > 0 and body.any():
        r = closing_voxels
        padded = np.pad(body, r)
        padded = ndimage.binary_closing(padded, structure=_ball(r))
        body = padded[r:-r, r:-r, r:-r] | body
    for k in range(body.shape[0]):
        if body[k].any():
            body[k] = ndimage.binary_fill_holes(body[k])
    return ndimage.binary_fill_holes(body)


def mode_filter(classes: np.ndarray, n_classes: int, radius: int, where: np.ndarray | None = None) -> np.ndarray:
    """3-D majority filter over a (2r+1)³ box; ties keep the lowest class index. uint8 in/out.

    Counts are separable box sums in uint8 (at most 7³ = 343 → uint16 for r = 3) computed with
    ``correlate1d`` along each axis; voxels whose box holds one class only are left as they are.
    """
    from scipy import ndimage

    if radius <= 0:
        return classes
    size = 2 * radius + 1
    dtype = np.uint8 if size ** 3 < 256 else np.uint16
    w = np.ones(size, dtype=dtype)
    best = np.zeros(classes.shape, dtype=dtype)
    out = classes.copy()
    for c in range(n_classes):
        ind = classes == c
        if where is not None:
            ind &= where
        if not ind.any():
            continue
        cnt = ind.astype(dtype)
        for ax in range(3):
            cnt = ndimage.correlate1d(cnt, w, axis=ax, mode="constant", cval=0)
        upd = cnt > best
        best[upd] = cnt[upd]
        out[upd] = c
        del cnt, upd, ind
    return out


def _small_components(mask: np.ndarray, min_voxels: int) -> np.ndarray:
    """Voxels of ``mask`` in connected components (26-connected) smaller than ``min_voxels``."""
    from scipy import ndimage

    if min_voxels <= 1 or not mask.any():
        return np.zeros_like(mask)
    lab, n = ndimage.label(mask, structure=np.ones((3, 3, 3), bool))
    counts = np.bincount(lab.ravel())
    small = counts < min_voxels
    small[0] = False
    return small[lab]


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold maximising the between-class variance (Otsu 1979)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    lo, hi = float(v.min()), float(v.max())
    if hi <= lo:
        return lo
    hist, edges = np.histogram(v, bins=bins, range=(lo, hi))
    centres = 0.5 * (edges[1:] + edges[:-1])
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centres)
    mu0 = m0 / np.maximum(w0, 1)
    mu1 = (m0[-1] - m0) / np.maximum(w1, 1)
    between = (w0 * w1 * (mu0 - mu1) ** 2)[:-1]
    # well-separated modes give a plateau of equal between-class variance over the empty bins
    # between them: take the middle of the plateau, not its first bin
    best = np.flatnonzero(between >= between.max() * (1.0 - 1e-9))
    return float(0.5 * (edges[best[0] + 1] + edges[best[-1] + 1]))


def kmeans_1d(values: np.ndarray, k: int, iterations: int = 50) -> np.ndarray:
    """Sorted cluster centres of a 1-D k-means (Lloyd 1982), initialised at quantiles."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size > 2_000_000:
        v = v[:: v.size // 2_000_000 + 1]
    c = np.quantile(v, (np.arange(k) + 0.5) / k)
    for _ in range(iterations):
        cut = 0.5 * (c[1:] + c[:-1])
        idx = np.searchsorted(cut, v)
        new = np.array([v[idx == i].mean() if np.any(idx == i) else c[i] for i in range(k)])
        if np.allclose(new, c, rtol=1e-7, atol=1e-9):
            break
        c = new
    return np.sort(c)


# --- overrides and assembly ------------------------------------------------------------------------

ROI_IMPLANT_BASE = IMPLANT_BASE + 50  # implants given as RTSTRUCT ROIs


def _apply_rois(labels: np.ndarray, body: np.ndarray, inp: SegmentationInputs, sec: SegmentationSection,
                table: list[LabelInfo], notes: list[str], base: int = 0) -> None:
    """Organs (in order), then the target, then RTSTRUCT implants overwrite ``labels`` inside ``body``.
    Label values are ``base`` + ORGAN_BASE + n, + TARGET_LABEL, + ROI_IMPLANT_BASE + n."""
    for n, (name, mask) in enumerate(inp.organs):
        m = mask & body
        if not m.any():
            raise SegmentationError(f"imaging.organs: ROI {name!r} lies outside the body outline; expected an organ inside the patient")
        v = base + ORGAN_BASE + n
        labels[m] = v
        table.append(LabelInfo(v, name, str(sec.organ_tissues.get(name, sec.soft_tissue)), Role.ORGAN))
        if name not in sec.organ_tissues:
            notes.append(f"organ {name!r} uses segmentation.soft_tissue = {sec.soft_tissue!r} (not in organ_tissues)")
    if inp.target is not None:
        name, mask = inp.target
        m = mask & body
        if not m.any():
            raise SegmentationError(f"imaging.target: ROI {name!r} lies outside the body outline; expected a target inside the patient")
        if int(m.sum()) < int(mask.sum()):
            notes.append(f"target {name!r}: {int(mask.sum() - m.sum())} voxels outside the body outline dropped")
        labels[m] = base + TARGET_LABEL
        table.append(LabelInfo(base + TARGET_LABEL, name, sec.target_tissue, Role.TARGET))
    for n, (name, mask) in enumerate(inp.implants):
        m = mask & body
        if not m.any():
            raise SegmentationError(f"imaging.implants: ROI {name!r} lies outside the body outline; expected an implant inside the patient")
        v = base + ROI_IMPLANT_BASE + n
        labels[m] = v
        table.append(LabelInfo(v, name, str(sec.organ_tissues.get(name, sec.metal_tissue)), Role.IMPLANT))


def _finish(labels: np.ndarray, table: list[LabelInfo], inp: SegmentationInputs, method: str, notes: list[str]) -> LabelVolume:
    present = set(np.flatnonzero(np.bincount(labels.ravel())).tolist())
    table = [t for t in table if t.value in present]
    if not table:
        raise SegmentationError(f"{inp.source}: segmentation found no tissue (all voxels outside the body); check thresholds")
    return LabelVolume(labels.astype(np.uint16), inp.grid, tuple(sorted(table, key=lambda t: t.value)), method, inp.image, tuple(notes))


def _require_volume(inp: SegmentationInputs) -> None:
    shape = inp.grid.shape
    if min(shape) < 3:
        raise InputError(
            f"{inp.source}: image shape (slices, rows, columns) = {tuple(shape)}: expected at least 3 voxels along every axis "
            "to segment and mesh a volume (a single slice cannot be meshed)"
        )


# --- segmenters ------------------------------------------------------------------------------------

def _crop_to(inp: SegmentationInputs, rough: np.ndarray, margin: int = 3) -> tuple[SegmentationInputs, tuple | None]:
    """Restrict the inputs to the bounding box of ``rough`` (the body) grown by ``margin`` voxels.

    All later steps (filters, labelling, meshing) then run on the patient's box instead of the
    whole field of view (often 3× fewer voxels). Returns (cropped inputs, box in (k, j, i)).
    """
    if not rough.any():
        return inp, None
    box = []
    for ax in range(3):
        other = tuple(a for a in range(3) if a != ax)
        nz = np.flatnonzero(rough.any(axis=other))
        box.append((max(int(nz[0]) - margin, 0), min(int(nz[-1]) + 1 + margin, rough.shape[ax])))
    if all(b - a == n for (a, b), n in zip(box, rough.shape)):
        return inp, None
    sl = tuple(slice(a, b) for a, b in box)
    grid = inp.grid.cropped((box[0][0], box[1][0], box[2][0]), (box[0][1], box[1][1], box[2][1]))
    img = inp.image
    if img is not None:
        from dataclasses import replace

        img = replace(img, array=np.ascontiguousarray(img.array[sl]), grid=grid)
    organs = tuple((n, m[sl]) for n, m in inp.organs)
    target = (inp.target[0], inp.target[1][sl]) if inp.target is not None else None
    lm = inp.label_map[sl] if inp.label_map is not None else None
    implants = tuple((n, m[sl]) for n, m in inp.implants)
    return SegmentationInputs(grid, img, organs, target, lm, inp.source, implants), tuple(box)


def _with_box(lv: LabelVolume, box: tuple | None) -> LabelVolume:
    if box is None:
        return lv
    from dataclasses import replace

    return replace(lv, box_kji=box)


def _open_streak_zone(cls: np.ndarray, metal: np.ndarray, body: np.ndarray, grid: Grid, radius_mm: float) -> int:
    """Within ``radius_mm`` of metal, remove air/fat/bone structures thinner than 3 voxels.

    Metal streaks are thin bright/dark bands radiating from the implant (Barrett & Keat 2004,
    RadioGraphics 24:1679); after thresholding they become 1–2-voxel-thick sheets of "bone" or
    "fat/air" in muscle that the majority filter keeps where they are 2 voxels thick. A morphological
    opening (6-connected cross) of each of these classes inside the artefact zone removes them; real
    structures thinner than 3 voxels next to the implant (e.g. a thin cortex) are lost too — stated.
    Works on the bounding box of the zone only (the distance transform is the costly part).
    """
    from scipy import ndimage

    idx = np.argwhere(metal)
    sp_kji = grid.spacing_m[::-1] * 1e3
    pad = np.ceil(radius_mm / sp_kji).astype(int) + 1
    lo = np.maximum(idx.min(axis=0) - pad, 0)
    hi = np.minimum(idx.max(axis=0) + pad + 1, cls.shape)
    box = tuple(slice(a, b) for a, b in zip(lo, hi))
    dist = ndimage.distance_transform_edt(~metal[box], sampling=sp_kji)
    zone = (dist <= radius_mm) & body[box] & ~metal[box]
    sub = cls[box]
    cross = ndimage.generate_binary_structure(3, 1)
    fixed = 0
    for c in (0, 1, 3):  # air, fat, bone
        m = sub == c
        thin = m & ~ndimage.binary_opening(m, structure=cross) & zone
        sub[thin] = 2
        fixed += int(thin.sum())
    cls[box] = sub
    return fixed


def _split_lungs(labels: np.ndarray, hu: np.ndarray, vox_mm3: float, sec: SegmentationSection) -> int:
    """Relabel large air-class components with parenchyma-like mean HU as lung (in place).

    Inflated lung averages about −850 HU (−950 … −600), gas in bowel, sinuses or airways about
    −1000 HU (Kalender 2011); lungs are also far larger than gas pockets. A connected air-class
    component becomes lung when its volume is ≥ ``lung_min_volume_mm3`` and its mean HU ≥
    ``lung_min_mean_HU``. Returns the number of lung components.
    """
    from scipy import ndimage

    air = labels == AIR
    if not air.any() or sec.lung_min_volume_mm3 <= 0:
        return 0
    lab, n = ndimage.label(air, structure=np.ones((3, 3, 3), bool))
    counts = np.bincount(lab.ravel())
    sums = np.bincount(lab.ravel(), weights=hu.ravel().astype(np.float64))
    ids = [c for c in range(1, n + 1)
           if counts[c] * vox_mm3 >= sec.lung_min_volume_mm3 and sums[c] / counts[c] >= sec.lung_min_mean_HU]
    if ids:
        labels[np.isin(lab, ids)] = LUNG
    return len(ids)


def segment_ct_hu(inp: SegmentationInputs, sec: SegmentationSection) -> LabelVolume:
    """CT Hounsfield-unit classes + body outline + RTSTRUCT overrides (see module docstring)."""
    if inp.image is None:
        raise InputError("segmentation.method = 'ct-hu': expected a CT image")
    _require_volume(inp)
    inp, box = _crop_to(inp, inp.image.array > sec.body_threshold_HU)
    return _with_box(_segment_ct_hu(inp, sec), box)


def _segment_ct_hu(inp: SegmentationInputs, sec: SegmentationSection) -> LabelVolume:
    from scipy import ndimage

    hu = inp.image.array  # type: ignore[union-attr]
    notes: list[str] = []
    body = body_outline(hu > sec.body_threshold_HU)
    if not body.any():
        raise SegmentationError(f"{inp.source}: no voxel above body_threshold_HU = {sec.body_threshold_HU}; expected a CT of a patient")
    cls = np.digitize(hu, np.array([sec.air_max_HU, sec.fat_max_HU, sec.bone_min_HU, sec.metal_min_HU], dtype=np.float32)).astype(np.uint8)
    # cls: 0 air, 1 fat, 2 soft, 3 bone, 4 metal
    metal_raw = (cls == 4) & body
    cls = mode_filter(cls, 5, sec.smoothing_voxels, where=body)
    vox_mm3 = inp.grid.voxel_volume_m3 * 1e9
    min_vox = int(np.ceil(sec.min_component_mm3 / vox_mm3))
    for c in (0, 3):
        small = _small_components((cls == c) & body, min_vox)
        if small.any():
            cls[small] = 2
            notes.append(f"{int(small.sum())} voxels of small {'air' if c == 0 else 'bone'} components (< {sec.min_component_mm3} mm³) "
                         "set to soft tissue")
    # metal: components of the unfiltered metal mask (the filter must not erase thin stems) ≥ min volume
    metal = metal_raw | ((cls == 4) & body)
    lab, n = ndimage.label(metal, structure=np.ones((3, 3, 3), bool))
    implants: list[np.ndarray] = []
    if n:
        counts = np.bincount(lab.ravel())
        counts[0] = 0
        order = np.argsort(counts)[::-1]
        min_metal = sec.metal_min_volume_mm3 / vox_mm3
        kept = [int(c) for c in order if counts[c] > 0 and counts[c] >= min_metal]
        dropped = int(sum(counts[c] for c in order if 0 < counts[c] < min_metal))
        if len(kept) > sec.max_implants:
            raise SegmentationError(
                f"{inp.source}: {len(kept)} metal components ≥ metal_min_volume_mm3 = {sec.metal_min_volume_mm3}; expected at most "
                f"segmentation.max_implants = {sec.max_implants} (raise metal_min_volume_mm3 or metal_min_HU)"
            )
        implants = [lab == c for c in kept]
        kept_metal = np.isin(lab, kept) if kept else np.zeros(metal.shape, bool)
        if inp.implants:
            roi_metal = np.zeros(hu.shape, bool)
            for _, m in inp.implants:
                roi_metal |= m
            n_before = len(implants)
            implants = [m for m in implants if not (m & roi_metal).any()]
            if len(implants) < n_before:
                notes.append(f"{n_before - len(implants)} detected metal component(s) replaced by RTSTRUCT implant ROIs")
        if kept and sec.streak_radius_mm > 0:
            n_fixed = _open_streak_zone(cls, kept_metal, body, inp.grid, sec.streak_radius_mm)
            if n_fixed:
                notes.append(f"{n_fixed} voxels of thin air/fat/bone structures within {sec.streak_radius_mm} mm of metal (streak "
                             "artefacts) set to soft tissue")
        if dropped:
            notes.append(f"{dropped} metal voxels in components < {sec.metal_min_volume_mm3} mm³ (streaks/specks) set to soft tissue")
        cls[metal] = 2
    labels = np.zeros(hu.shape, dtype=np.uint16)
    lut = np.array([AIR, FAT, SOFT, BONE, SOFT], dtype=np.uint16)
    labels[body] = lut[cls[body]]
    n_lung = _split_lungs(labels, hu, vox_mm3, sec)
    if n_lung:
        notes.append(f"{n_lung} air-class component(s) ≥ {sec.lung_min_volume_mm3:g} mm³ with mean HU ≥ {sec.lung_min_mean_HU:g} labelled "
                     "lung")
    table = [
        LabelInfo(SOFT, "soft_tissue", sec.soft_tissue, Role.BODY),
        LabelInfo(FAT, "fat", sec.fat_tissue, Role.BODY),
        LabelInfo(BONE, "bone", sec.bone_tissue, Role.BODY),
        LabelInfo(AIR, "air", sec.air_tissue, Role.BODY),
        LabelInfo(LUNG, "lung", sec.lung_tissue, Role.BODY),
    ]
    for n_imp, m in enumerate(implants):
        labels[m] = IMPLANT_BASE + n_imp
        table.append(LabelInfo(IMPLANT_BASE + n_imp, f"implant_{n_imp + 1}", sec.metal_tissue, Role.IMPLANT))
    _apply_rois(labels, body, inp, sec, table, notes)
    for n_imp, m in enumerate(implants):  # detected metal stays on top of organs/target
        labels[m] = IMPLANT_BASE + n_imp
    for n_imp, (_, m) in enumerate(inp.implants):  # and RTSTRUCT implants on top of everything
        labels[m & body] = ROI_IMPLANT_BASE + n_imp
    return _finish(labels, table, inp, "ct-hu", notes)


def segment_mr_intensity(inp: SegmentationInputs, sec: SegmentationSection) -> LabelVolume:
    """MR body mask (Otsu) + k-means intensity classes + RTSTRUCT / mask target."""
    from scipy import ndimage

    if inp.image is None:
        raise InputError("segmentation.method = 'mr-intensity': expected an MR image")
    _require_volume(inp)
    smooth = ndimage.gaussian_filter(inp.image.array.astype(np.float32), sigma=0.7)
    thr = sec.mr_body_threshold if sec.mr_body_threshold is not None else otsu_threshold(smooth)
    inp, box = _crop_to(inp, smooth > thr)
    if box is not None:
        smooth = smooth[tuple(slice(a, b) for a, b in box)]
    return _with_box(_segment_mr(inp, sec, smooth, thr), box)


def _segment_mr(inp: SegmentationInputs, sec: SegmentationSection, smooth: np.ndarray, thr: float) -> LabelVolume:
    img = inp.image.array  # type: ignore[union-attr]
    body = body_outline(smooth > thr)
    if not body.any():
        raise SegmentationError(f"{inp.source}: no voxel above the body threshold {thr:.4g}; expected an MR image of a patient")
    notes = [f"body threshold {thr:.4g} ({'Otsu' if sec.mr_body_threshold is None else 'plan'}); "
             "bone and air inside the body cannot be told apart by MR intensity and fall into the darkest class"]
    k = len(sec.mr_classes)
    centres = kmeans_1d(smooth[body], k) if k > 1 else np.array([float(smooth[body].mean())])
    cut = 0.5 * (centres[1:] + centres[:-1])
    cls = np.searchsorted(cut, smooth).astype(np.uint8)
    cls = mode_filter(cls, k, sec.smoothing_voxels, where=body)
    notes.append("k-means intensity centres " + ", ".join(f"{c:.4g}" for c in centres))
    labels = np.zeros(img.shape, dtype=np.uint16)
    labels[body] = cls[body].astype(np.uint16) + 1
    table = [LabelInfo(n + 1, f"mr_class_{n + 1}", t, Role.BODY) for n, t in enumerate(sec.mr_classes)]
    _apply_rois(labels, body, inp, sec, table, notes)
    return _finish(labels, table, inp, "mr-intensity", notes)


def segment_labels(inp: SegmentationInputs, sec: SegmentationSection) -> LabelVolume:
    """User label map + ``[[segmentation.labels]]`` table; unlisted non-zero values are an error."""
    if inp.label_map is None:
        raise InputError("segmentation.method = 'labels': expected imaging.labels (a NIfTI label map)")
    _require_volume(inp)
    lm = inp.label_map
    present = sorted(int(v) for v in np.unique(lm) if v != 0)
    known = {lab.value: lab for lab in sec.labels}
    missing = [v for v in present if v not in known]
    if missing:
        raise InputError(
            f"{inp.source}: label values {missing} are not in segmentation.labels (values {sorted(known)}); expected a row per label "
            "present"
        )
    if not present:
        raise SegmentationError(f"{inp.source}: label map is all zero; expected labelled tissue")
    table = [LabelInfo(v, known[v].name, known[v].tissue, Role(known[v].role)) for v in present]
    labels = lm.astype(np.uint16)
    notes: list[str] = []
    if inp.target is not None or inp.organs or inp.implants:
        body = labels > 0
        base = (max(present) // 1000 + 1) * 1000  # ROI labels above every user label
        if base + ROI_IMPLANT_BASE + len(inp.implants) > 65535:
            raise InputError(f"{inp.source}: label values up to {max(present)} leave no room for RTSTRUCT labels; expected values below "
                             "65000")
        labels = labels.astype(np.int32)
        _apply_rois(labels, body, inp, sec, table, notes, base=base)
        present2 = set(np.flatnonzero(np.bincount(labels.ravel())).tolist())
        table = [t for t in table if t.value in present2]
    return _finish(labels, table, inp, "labels", notes)


Segmenter = Callable[[SegmentationInputs, SegmentationSection], LabelVolume]


def _nonempty(s: str) -> bool:
    return bool(s.strip())


def _finite(x: float) -> bool:
    return math.isfinite(x)


def _non_negative(x: float) -> bool:
    return math.isfinite(x) and x >= 0


_HU = "a finite HU value"


@dataclass(frozen=True)
class CtHuParams:
    """``ct-hu``: Hounsfield-unit classes air/lung < fat < soft tissue < bone < metal; metal implants detected.

    Typical CT numbers: air/lung −1000…−400, fat −150…−50, soft tissue 0…100, bone 250…2000, titanium
    > 3000 (clipped at 3071 in 12-bit CT); Kalender, Computed Tomography, 3rd ed. 2011."""

    fat_tissue: str = spec("fat", check=_nonempty, expected="a tissue name for fat")
    bone_tissue: str = spec("bone_cortical", check=_nonempty, expected="a tissue name for bone")
    air_tissue: str = spec("air", check=_nonempty, expected="a tissue name for internal air / lung")
    lung_tissue: str = spec("lung", check=_nonempty, expected="a tissue name for lung parenchyma")
    body_threshold_HU: float = spec(-400.0, check=_finite, expected=_HU)
    air_max_HU: float = spec(-400.0, check=_finite, expected=_HU)
    fat_max_HU: float = spec(-30.0, check=_finite, expected=_HU)
    bone_min_HU: float = spec(250.0, check=_finite, expected=_HU)
    metal_min_HU: float = spec(2500.0, check=_finite, expected=_HU)
    lung_min_volume_mm3: float = spec(100000.0, check=_non_negative,
                                      expected="a non-negative volume (mm³) above which an air component can be lung "
                                               "(0 = never)")
    lung_min_mean_HU: float = spec(-950.0, check=_finite,
                                   expected="a finite HU value: minimum mean HU of a lung component (gas ≈ −1000)")
    metal_min_volume_mm3: float = spec(100.0, check=_non_negative, expected="a non-negative volume (mm³)")
    min_component_mm3: float = spec(20.0, check=_non_negative, expected="a non-negative volume (mm³)")
    streak_radius_mm: float = spec(50.0, check=_non_negative,
                                   expected="a non-negative distance (mm) around metal where thin structures are "
                                            "treated as streak artefacts (0 = off)")
    smoothing_voxels: int = spec(1, check=lambda v: 0 <= v <= 3, expected="0..3 (radius of the majority filter)")
    max_implants: int = spec(8, check=lambda v: 1 <= v <= 50, expected="1..50")

    def validate(self, path: str) -> None:
        cuts = [self.air_max_HU, self.fat_max_HU, self.bone_min_HU, self.metal_min_HU]
        if any(b <= a for a, b in zip(cuts, cuts[1:])):
            raise InputError(
                f"{path}: HU cut points air_max_HU={cuts[0]}, fat_max_HU={cuts[1]}, bone_min_HU={cuts[2]}, "
                f"metal_min_HU={cuts[3]}: expected strictly increasing values"
            )


@dataclass(frozen=True)
class MrIntensityParams:
    """``mr-intensity``: body by Otsu's threshold, then k-means intensity classes, darkest first."""

    mr_classes: tuple[str, ...] = spec(("muscle", "fat"), check=lambda v: 1 <= len(v) <= 6 and all(_nonempty(x) for x in v),
                                       expected="1..6 tissue names, darkest class first")
    mr_body_threshold: float | None = spec(None, check=_finite, expected="a finite intensity (default: Otsu)")
    smoothing_voxels: int = spec(1, check=lambda v: 0 <= v <= 3, expected="0..3 (radius of the majority filter)")


@dataclass(frozen=True)
class LabelsParams:
    """``labels``: a NIfTI label map (``imaging.labels``) with a label → tissue table."""

    labels: tuple[LabelSpec, ...] = spec(check=lambda rows: len(rows) > 0,
                                         expected="[[segmentation.labels]] rows (value, name, tissue, role)")

    def validate(self, path: str) -> None:
        vals = [lab.value for lab in self.labels]
        if len(set(vals)) != len(vals):
            raise InputError(f"{path}.labels: label values {vals} repeat; expected unique values")


def register_segmenter(name: str, params: type | None = None, *,
                       replace: bool = False) -> Callable[[Segmenter], Segmenter]:
    """Decorator: ``segmenter(inputs, section) -> LabelVolume`` available as ``[segmentation] method = name``;
    ``params`` declares the method's own keys (stored in :class:`SegmentationSection`)."""
    return SEGMENTERS.decorator(name, params, replace=replace)


def get_segmenter(name: str) -> Segmenter:
    return SEGMENTERS.get(name)


def available_segmenters() -> tuple[str, ...]:
    return SEGMENTERS.available()


register_segmenter("ct-hu", CtHuParams)(segment_ct_hu)
register_segmenter("mr-intensity", MrIntensityParams)(segment_mr_intensity)
register_segmenter("labels", LabelsParams)(segment_labels)


def segment(inp: SegmentationInputs, sec: SegmentationSection) -> LabelVolume:
    """Run the segmenter named by ``sec.method`` (registry :data:`planner.config.registry.SEGMENTERS`)."""
    return get_segmenter(sec.method or "ct-hu")(inp, sec)


def check_tissues(lv: LabelVolume, lib: object) -> None:
    """Raise InputError if a label's tissue is not in the tissue library ``lib`` (if it lists names)."""
    names_fn = getattr(lib, "names", None)
    if names_fn is None:
        return
    names = set(names_fn())
    known = (lambda n: n in lib) if hasattr(lib, "__contains__") else (lambda n: n in names)  # aliases
    for t in lv.table:
        if not known(t.tissue):
            raise InputError(
                f"segmentation: region {t.name!r} uses tissue {t.tissue!r}, not in the tissue library; "
                f"expected one of {', '.join(sorted(names))} (or define [tissues.{t.tissue}] with base = ...)"
            )
