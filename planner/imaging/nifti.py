"""NIfTI-1/2 reader (nibabel) for image volumes and label maps segmented elsewhere.

RAS → LPS: NIfTI's ``affine`` (sform, else qform, as chosen by nibabel) maps voxel indices of the
stored array ``(i, j, k)`` to scanner **RAS+ millimetres** (x → Right, y → Anterior). DICOM and the
planner use **LPS** (x → Left, y → Posterior), so the LPS affine is ``diag(-1, -1, 1) · A_RAS`` and
then scaled to metres. The NIfTI array ``data[i, j, k]`` becomes the planner array
``array[k, j, i]`` (a transpose), so voxel (i, j, k) keeps its meaning and no resampling is done.
Reference: NIfTI-1 header documentation (Cox et al. 2004, nifti1.h, "method 2/3").
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from planner.errors import InputError
from planner.imaging.volume import Grid, ImageVolume, check_direction, integer_labels

RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0])


def _load(path: Path):
    import nibabel as nib

    if not path.is_file():
        raise InputError(f"{path}: file does not exist; expected a NIfTI file (.nii or .nii.gz)")
    try:
        img = nib.load(str(path))
    except Exception as exc:
        raise InputError(f"{path}: not a readable NIfTI file ({' '.join(str(exc).split())[:120]}); expected .nii or .nii.gz") from None
    if not hasattr(img, "affine") or not hasattr(img, "dataobj"):
        raise InputError(f"{path}: not a NIfTI image; expected .nii or .nii.gz")
    return img


def _grid_from_affine(affine_ras_mm: np.ndarray, shape_ijk: tuple[int, ...], path: Path) -> Grid:
    a = np.asarray(affine_ras_mm, dtype=float)
    if a.shape != (4, 4) or not np.all(np.isfinite(a)):
        raise InputError(f"{path}: affine is not a finite 4×4 matrix; expected a valid sform/qform")
    lps = RAS_TO_LPS @ a[:3, :3]
    spacing_mm = np.linalg.norm(lps, axis=0)
    if np.any(spacing_mm <= 1e-9):
        raise InputError(f"{path}: voxel size {spacing_mm.tolist()} mm: expected 3 positive voxel sizes (zero spacing in the affine)")
    direction = check_direction(lps / spacing_mm, str(path))
    origin_mm = RAS_TO_LPS @ a[:3, 3]
    return Grid((shape_ijk[2], shape_ijk[1], shape_ijk[0]), origin_mm * 1e-3, spacing_mm * 1e-3, direction)


def _data3d(img, path: Path) -> np.ndarray:
    shape = tuple(int(s) for s in img.shape)
    if len(shape) == 4 and shape[3] == 1:
        shape = shape[:3]
    if len(shape) != 3:
        raise InputError(f"{path}: image shape {tuple(img.shape)}: expected a 3-D volume (one time point)")
    if min(shape) < 1:
        raise InputError(f"{path}: image shape {shape}: expected non-empty dimensions")
    try:
        data = np.asarray(img.dataobj).reshape(shape)
    except Exception as exc:
        raise InputError(f"{path}: image data cannot be read (truncated file? {' '.join(str(exc).split())[:100]})") from None
    return data


def read_nifti(path: str | Path, *, modality: str = "MR") -> ImageVolume:
    """Read a 3-D NIfTI image as an :class:`ImageVolume` (values scaled by scl_slope/inter)."""
    path = Path(path)
    img = _load(path)
    data = _data3d(img, path).astype(np.float32)
    if not np.all(np.isfinite(data)):
        raise InputError(f"{path}: {int(np.count_nonzero(~np.isfinite(data)))} voxels are NaN or infinite; expected finite values")
    grid = _grid_from_affine(img.affine, data.shape, path)
    arr = np.ascontiguousarray(data.transpose(2, 1, 0))
    return ImageVolume(
        array=arr,
        grid=grid,
        modality=modality.upper(),
        units="HU" if modality.upper() == "CT" else "arbitrary",
        source=str(path),
        files=(str(path),),
        notes=("NIfTI RAS affine converted to LPS (x, y negated)",),
    )


def read_nifti_labels(path: str | Path) -> tuple[np.ndarray, Grid]:
    """Read an integer label map → (labels (nk, nj, ni) int32, grid). Non-integer values are an error."""
    path = Path(path)
    img = _load(path)
    data = _data3d(img, path)
    grid = _grid_from_affine(img.affine, data.shape, path)
    return integer_labels(np.ascontiguousarray(data.transpose(2, 1, 0)), str(path)), grid


def write_nifti(path: str | Path, array_kji: np.ndarray, grid: Grid) -> Path:
    """Write a planner array (nk, nj, ni) on ``grid`` as NIfTI (inverse of the reader's convention)."""
    import nibabel as nib

    a = np.eye(4)
    a[:3, :3] = RAS_TO_LPS @ (grid.direction * (grid.spacing_m * 1e3)[None, :])
    a[:3, 3] = RAS_TO_LPS @ (grid.origin_m * 1e3)
    img = nib.Nifti1Image(np.asarray(array_kji).transpose(2, 1, 0), a)
    img.set_qform(a, code=1)
    img.set_sform(a, code=1)
    p = Path(path)
    nib.save(img, str(p))
    return p
