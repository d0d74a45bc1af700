"""Label maps and masks from other tools, placed on the planning image grid (nearest neighbour).

A label map or mask made elsewhere (3D Slicer, ITK-SNAP, a DICOM SEG from a PACS) often has another
grid than the planning CT/MR: another field of view, voxel size, axis order or a flipped/oblique
orientation. It is placed onto the planning grid by **nearest-neighbour** resampling, never by
interpolation of label values:

* the map from a planning voxel index to a source voxel index is one affine composition
  ``A_src⁻¹ · A_plan`` (index → LPS metres → index, :meth:`Grid.affine_m`), applied to the array by
  :func:`scipy.ndimage.affine_transform` with ``order=0`` (voxels outside the source are 0);
* **identical grids** — every voxel centre within :data:`SAME_GRID_TOL_MM` (1e-3 mm) of the planning
  voxel with the same index (checked at the 8 corner voxels: the map is affine, so the largest
  offset is at a corner) — are taken as they are, with no resampling;
* a map whose labelled voxels fall inside the planning image for less than ``min_inside`` of their
  volume (:data:`MIN_INSIDE_LABELS` = 0.5 for label maps and segmentations, :data:`MIN_INSIDE_MASK`
  = 0.99 for a target mask) is refused with a one-line error (no overlap at all: "does not overlap");
* what was resampled is stated in a note (kept in ``summary.json`` → ``imaging.segmentation.notes``),
  with the labelled volume before and after and any label value lost on the coarser grid.
"""
from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass

import numpy as np

from planner.errors import InputError
from planner.imaging.volume import Grid

log = logging.getLogger(__name__)

#: grids whose voxel centres all agree within this distance are the same grid (no resampling)
SAME_GRID_TOL_MM = 1e-3
#: label maps / segmentations: at least this fraction of the labelled volume must lie inside the planning image
MIN_INSIDE_LABELS = 0.5
#: target masks: at least this fraction of the mask must lie inside the planning image
MIN_INSIDE_MASK = 0.99


@dataclass(frozen=True)
class Placed:
    """An integer array on the planning grid and what was done to put it there."""

    array: np.ndarray  # (nk, nj, ni) on the planning grid
    resampled: bool
    note: str | None  # None when the grids were identical


def max_offset_mm(a: Grid, b: Grid) -> float:
    """Largest distance (mm) between the voxel centres of ``a`` and ``b`` with the same index (shapes equal)."""
    nk, nj, ni = a.shape
    corners = np.array(list(itertools.product((0, ni - 1), (0, nj - 1), (0, nk - 1))), dtype=float)
    return float(np.linalg.norm(a.index_to_lps_m(corners) - b.index_to_lps_m(corners), axis=1).max()) * 1e3


def same_grid(a: Grid, b: Grid, tol_mm: float = SAME_GRID_TOL_MM) -> bool:
    return tuple(a.shape) == tuple(b.shape) and max_offset_mm(a, b) <= tol_mm


def _kji_matrix(dst: Grid, src: Grid) -> tuple[np.ndarray, np.ndarray]:
    """(matrix, offset) mapping a destination array index (k, j, i) to a source array index (k, j, i)."""
    m_ijk = np.linalg.solve(src.affine_m(), dst.affine_m())  # dst (i, j, k, 1) → src (i, j, k, 1)
    perm = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], dtype=float)  # (i, j, k) ↔ (k, j, i)
    return perm @ m_ijk[:3, :3] @ perm, perm @ m_ijk[:3, 3]


def inside_fraction(values: np.ndarray, src: Grid, dst: Grid) -> float:
    """Fraction of the non-zero voxels of ``values`` (on ``src``) whose centres fall inside ``dst``'s voxels
    (slice by slice, so a whole-body map needs no (n, 3) array of every labelled voxel at once)."""
    n = np.array([dst.shape[2], dst.shape[1], dst.shape[0]], dtype=float)
    total = inside = 0
    for k in range(values.shape[0]):
        ji = np.argwhere(values[k] != 0)
        if ji.size == 0:
            continue
        ijk = np.column_stack([ji[:, 1], ji[:, 0], np.full(ji.shape[0], k)]).astype(float)
        idx = dst.lps_m_to_index(src.index_to_lps_m(ijk))
        total += ji.shape[0]
        inside += int(np.count_nonzero(np.all((idx >= -0.5) & (idx < n - 0.5), axis=1)))
    return inside / total if total else 0.0


def check_inside(values: np.ndarray, src: Grid, dst: Grid, *, what: str, min_inside: float = MIN_INSIDE_LABELS) -> float:
    """The fraction of the labelled voxels inside ``dst``, or a one-line InputError when it is 0 (no
    overlap) or below ``min_inside``."""
    frac = inside_fraction(values, src, dst)
    if frac == 0.0:
        raise InputError(f"{what}: does not overlap the planning image (labels span {_extent_text(src)}, image spans "
                         f"{_extent_text(dst)}); expected a label map of the same patient in the same frame of reference")
    if frac < min_inside:
        raise InputError(f"{what}: only {frac:.1%} of the labelled voxels lie inside the planning image (expected at least "
                         f"{min_inside:.0%}); labels span {_extent_text(src)}, image spans {_extent_text(dst)}")
    return frac


def place_on_grid(values: np.ndarray, src: Grid, dst: Grid, *, what: str, min_inside: float = MIN_INSIDE_LABELS,
                  tol_mm: float = SAME_GRID_TOL_MM) -> Placed:
    """``values`` (integer (nk, nj, ni) on ``src``) on ``dst`` by nearest neighbour; ``what`` names the
    input in errors and the note (e.g. ``"imaging.labels = 'seg.nrrd'"``). See the module docstring."""
    values = np.asarray(values)
    if tuple(values.shape) != tuple(src.shape):
        raise InputError(f"{what}: array shape {values.shape} does not match its grid {src.shape}")
    if same_grid(src, dst, tol_mm):
        return Placed(values, False, None)
    frac = check_inside(values, src, dst, what=what, min_inside=min_inside)
    from scipy import ndimage

    matrix, offset = _kji_matrix(dst, src)
    out = ndimage.affine_transform(values, matrix, offset=offset, output_shape=tuple(dst.shape), order=0,
                                   mode="grid-constant", cval=0, prefilter=False)  # voxel footprints: up to ±½ voxel
    before = set(np.unique(values).tolist()) - {0}
    lost = sorted(before - set(np.unique(out).tolist()))
    v_src = np.count_nonzero(values) * src.voxel_volume_m3 * 1e6
    v_dst = np.count_nonzero(out) * dst.voxel_volume_m3 * 1e6
    note = (f"{what}: resampled by nearest neighbour from grid {tuple(src.shape)} "
            f"({', '.join(f'{s * 1e3:.4g}' for s in src.spacing_m)} mm) onto the planning grid {tuple(dst.shape)} "
            f"({', '.join(f'{s * 1e3:.4g}' for s in dst.spacing_m)} mm){_offset_text(src, dst)}; labelled volume {v_src:.1f} → "
            f"{v_dst:.1f} mL; {frac:.1%} of it inside the image")
    if lost:
        note += f"; label value(s) {lost} too small for the planning grid, lost"
        log.warning("%s", note)
    return Placed(out.astype(values.dtype, copy=False), True, note)


def _offset_text(src: Grid, dst: Grid) -> str:
    return f"; voxel centres differ by up to {max_offset_mm(src, dst):.3g} mm" if tuple(src.shape) == tuple(dst.shape) else ""


def _extent_text(g: Grid) -> str:
    nk, nj, ni = g.shape
    corners = np.array(list(itertools.product((0, ni - 1), (0, nj - 1), (0, nk - 1))), dtype=float)
    p = g.index_to_lps_m(corners) * 1e3
    lo, hi = p.min(axis=0), p.max(axis=0)
    return "LPS " + " × ".join(f"[{a:.1f}, {b:.1f}]" for a, b in zip(lo, hi)) + " mm"


def grid_from_index_affine(affine_mm: np.ndarray, shape: tuple[int, int, int], where: str) -> Grid:
    """Grid of an array whose axes (0, 1, 2) are the planner's (k, j, i), from a 4×4 affine mapping
    array indices ``(a0, a1, a2, 1)`` to LPS millimetres (highdicom's ``Volume.affine`` convention)."""
    from planner.imaging.volume import check_direction

    a = np.asarray(affine_mm, dtype=float)
    if a.shape != (4, 4) or not np.all(np.isfinite(a)):
        raise InputError(f"{where}: geometry is not a finite 4×4 affine; expected a valid image position/orientation")
    cols = a[:3, [2, 1, 0]]  # (i, j, k) columns
    spacing_mm = np.linalg.norm(cols, axis=0)
    if np.any(spacing_mm <= 1e-9):
        raise InputError(f"{where}: voxel size {spacing_mm.tolist()} mm: expected 3 positive voxel sizes")
    direction = check_direction(cols / spacing_mm, where)
    return Grid(tuple(int(s) for s in shape), a[:3, 3] * 1e-3, spacing_mm * 1e-3, direction)  # type: ignore[arg-type]
