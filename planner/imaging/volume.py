"""Image-grid geometry and the :class:`ImageVolume` artefact.

Conventions (used by every module of :mod:`planner.imaging`, :mod:`planner.imaging.segmentation` and
:mod:`planner.imaging.label_mesh`):

* Arrays are indexed ``[k, j, i]`` = (slice, row, column), i.e. the order of a stack of DICOM
  ``pixel_array`` slices. ``i`` runs along a row (DICOM column index), ``j`` down the rows.
* Geometry is in the DICOM patient frame **LPS** (x → patient Left, y → Posterior, z → Superior),
  in **metres**. The centre of voxel ``(i, j, k)`` is ``origin_m + direction @ (spacing_m * (i, j, k))``
  where the columns of ``direction`` are the unit vectors of the i, j, k axes (DICOM
  ImageOrientationPatient row / column cosines and the slice normal) and ``spacing_m = (Δi, Δj, Δk)``
  (DICOM PixelSpacing is ``[Δj, Δi]``, the row spacing first). See DICOM PS3.3 C.7.6.2.1.1.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from planner.errors import InputError


@dataclass(frozen=True)
class Grid:
    """Voxel grid: shape ``(nk, nj, ni)``, voxel-centre origin, spacing and direction (LPS, m)."""

    shape: tuple[int, int, int]
    origin_m: np.ndarray  # (3,) LPS position of the centre of voxel (0, 0, 0)
    spacing_m: np.ndarray  # (3,) (Δi, Δj, Δk)
    direction: np.ndarray  # (3, 3) columns = unit vectors of the i, j, k axes in LPS

    def affine_m(self) -> np.ndarray:
        """4×4 matrix mapping homogeneous voxel indices ``(i, j, k, 1)`` to LPS metres."""
        a = np.eye(4)
        a[:3, :3] = self.direction * self.spacing_m[None, :]
        a[:3, 3] = self.origin_m
        return a

    def index_to_lps_m(self, ijk: np.ndarray) -> np.ndarray:
        """(n, 3) continuous voxel indices (i, j, k) → (n, 3) LPS points in metres."""
        ijk = np.asarray(ijk, dtype=float).reshape(-1, 3)
        return self.origin_m + (ijk * self.spacing_m) @ self.direction.T

    def lps_m_to_index(self, p_m: np.ndarray) -> np.ndarray:
        """(n, 3) LPS points in metres → (n, 3) continuous voxel indices (i, j, k)."""
        p = np.asarray(p_m, dtype=float).reshape(-1, 3)
        return np.linalg.solve(self.direction, (p - self.origin_m).T).T / self.spacing_m

    @property
    def voxel_volume_m3(self) -> float:
        """Δi Δj Δk |det(direction)| (direction is orthonormal, so |det| = 1 up to rounding)."""
        return float(np.prod(self.spacing_m) * abs(np.linalg.det(self.direction)))

    def cropped(self, lo: tuple[int, int, int], hi: tuple[int, int, int]) -> Grid:
        """Sub-grid of the index box ``[lo, hi)`` given in (k, j, i) order."""
        shift = np.array([lo[2], lo[1], lo[0]], dtype=float)
        origin = self.origin_m + self.direction @ (shift * self.spacing_m)
        shape = tuple(int(h - l) for l, h in zip(lo, hi))
        return Grid(shape, origin, self.spacing_m.copy(), self.direction.copy())  # type: ignore[arg-type]

    def same_as(self, other: Grid, tol_m: float = 1e-5) -> bool:
        return (
            tuple(self.shape) == tuple(other.shape)
            and np.allclose(self.origin_m, other.origin_m, atol=tol_m)
            and np.allclose(self.spacing_m, other.spacing_m, atol=tol_m * 1e-2)
            and np.allclose(self.direction, other.direction, atol=1e-4)
        )

    def summary_block(self) -> dict:
        return {
            "shape_kji": [int(s) for s in self.shape],
            "spacing_mm_ijk": [round(float(s) * 1e3, 6) for s in self.spacing_m],
            "origin_mm_lps": [round(float(s) * 1e3, 4) for s in self.origin_m],
            "direction_ijk_columns": [[round(float(v), 6) for v in row] for row in self.direction],
        }


def check_direction(direction: np.ndarray, where: str, tol: float = 1e-3) -> np.ndarray:
    """Return ``direction`` if its columns are orthonormal within ``tol``, else raise InputError."""
    d = np.asarray(direction, dtype=float)
    if d.shape != (3, 3) or not np.all(np.isfinite(d)):
        raise InputError(f"{where}: orientation {d.tolist()!r} is not a finite 3×3 matrix")
    err = float(np.abs(d.T @ d - np.eye(3)).max())
    if err > tol:
        raise InputError(
            f"{where}: orientation axes are not orthonormal (max |DᵀD − I| = {err:.3g}); "
            "expected unit, mutually perpendicular direction cosines"
        )
    return d


def integer_labels(data: np.ndarray, where: str) -> np.ndarray:
    """``data`` as int32 labels 0..65535, or a one-line InputError naming ``where`` (non-integer values,
    NaN, negative or too large labels)."""
    if data.dtype.kind == "f":
        if not np.all(np.isfinite(data)):
            raise InputError(f"{where}: label map has NaN/infinite voxels; expected integer labels")
        if not np.all(data == np.rint(data)):
            raise InputError(f"{where}: label map has non-integer values (e.g. {float(data[data != np.rint(data)].flat[0])!r}); expected "
                             "integer labels")
    elif data.dtype.kind not in "iub":
        raise InputError(f"{where}: label map dtype {data.dtype}: expected integer labels")
    if data.size and (data.min() < 0 or data.max() > 65535):
        raise InputError(f"{where}: label values span {int(data.min())}..{int(data.max())}: expected 0..65535 (0 = outside)")
    return np.ascontiguousarray(data.astype(np.int32))


@dataclass(frozen=True)
class ImageVolume:
    """A 3-D scalar image on a :class:`Grid`.

    ``array`` holds float32 values: Hounsfield units for CT (after RescaleSlope/Intercept), scanner
    units for MR. ``files`` lists the source files in slice order (k = 0 first).
    """

    array: np.ndarray  # (nk, nj, ni) float32
    grid: Grid
    modality: str  # "CT" | "MR" | "OT"
    units: str  # "HU" or "arbitrary"
    series_uid: str = ""
    frame_of_reference_uid: str = ""
    study_uid: str = ""
    description: str = ""
    source: str = ""  # folder or file read
    files: tuple[str, ...] = ()
    sop_instance_uids: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())  # corrections applied while reading, stated

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.array.shape)  # type: ignore[return-value]

    def summary_block(self) -> dict:
        a = self.array
        return {
            "source": self.source,
            "modality": self.modality,
            "units": self.units,
            "series_uid": self.series_uid,
            "frame_of_reference_uid": self.frame_of_reference_uid,
            "description": self.description,
            "num_files": len(self.files),
            **self.grid.summary_block(),
            "value_range": [float(np.min(a)), float(np.max(a))] if a.size else [],
            "notes": list(self.notes),
        }
