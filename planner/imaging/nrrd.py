"""NRRD (pynrrd) images and label maps, and 3D Slicer ``.seg.nrrd`` segmentations.

Geometry (NRRD file format 5, teem.sourceforge.net/nrrd/format.html): ``space`` names the patient
frame of ``space directions`` (one vector per spatial axis, in file order, fastest axis first) and
``space origin`` (centre of the first voxel), in millimetres unless ``space units`` says otherwise.
``left-posterior-superior`` (LPS, 3D Slicer's files), ``right-anterior-superior`` (RAS) and
``left-anterior-superior`` (LAS) are converted to the planner's LPS by negating axes; a file without a
named patient space (``space dimension`` only, ``scanner-xyz``, ...) cannot be placed on a patient and is
refused. The array is read in file order (``index_order='F'``: ``data[a0, a1, a2]``, a0 fastest, like
NIfTI) and transposed to the planner's ``[k, j, i]``, so voxel (i, j, k) keeps its meaning and
nothing is resampled here.

3D Slicer segmentations (``.seg.nrrd``, Slicer ≥ 4.11 layout): a 3-D array (one layer) or a 4-D
array whose first (non-spatial, ``kinds`` list) axis is the layer; segment ``n`` is described by the
header fields ``Segment{n}_Name``, ``Segment{n}_LabelValue`` (default 1) and ``Segment{n}_Layer``
(default 0 for 3-D data, else ``n``: the older one-segment-per-layer files); its mask is
``layer == LabelValue``. Segments in different layers may overlap (the plan's override order —
organs, then the target, then implants — decides, as for RTSTRUCT ROIs).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from planner.errors import InputError
from planner.imaging.volume import Grid, ImageVolume, check_direction, integer_labels

#: NRRD ``space`` values → the diagonal that turns their axes into LPS
SPACES = {
    "left-posterior-superior": (1.0, 1.0, 1.0), "lps": (1.0, 1.0, 1.0),
    "right-anterior-superior": (-1.0, -1.0, 1.0), "ras": (-1.0, -1.0, 1.0),
    "left-anterior-superior": (1.0, -1.0, 1.0), "las": (1.0, -1.0, 1.0),
}


def _one_line(text: object) -> str:
    return " ".join(str(text).split())[:140]


def _read(path: Path) -> tuple[np.ndarray, dict]:
    import nrrd

    if not path.is_file():
        raise InputError(f"{path}: file does not exist; expected an NRRD file (.nrrd or .nhdr)")
    try:
        data, header = nrrd.read(str(path), index_order="F")
    except Exception as exc:  # pynrrd raises NRRDError, ValueError, OSError, zlib.error, ... on bad files
        raise InputError(f"{path}: not a readable NRRD file ({type(exc).__name__}: {_one_line(exc)}); "
                         "expected a complete .nrrd/.nhdr file") from None
    return np.asarray(data), dict(header)


def _spatial_axes(header: dict, ndim: int, path: Path) -> tuple[list[int], np.ndarray]:
    """(indices of the 3 spatial axes in file order, (3, 3) LPS direction rows in mm per voxel)."""
    space = str(header.get("space", "")).strip().lower()
    if space not in SPACES:
        got = header.get("space", f"no 'space' field (space dimension {header.get('space dimension', '?')})")
        raise InputError(f"{path}: NRRD space {got!r}: expected a patient space (left-posterior-superior, "
                         "right-anterior-superior or left-anterior-superior) to place the image on the patient")
    units = header.get("space units")
    if units is not None and any(str(u).strip().strip('"') not in ("mm", "") for u in units):
        raise InputError(f"{path}: NRRD space units {list(units)!r}: expected millimetres ('mm')")
    dirs = header.get("space directions")
    if dirs is None:
        raise InputError(f"{path}: NRRD header has no 'space directions'; expected the voxel axes in patient space")
    try:
        rows = np.array([np.full(3, np.nan) if d is None else np.asarray(d, dtype=float) for d in dirs], dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"{path}: NRRD space directions {_one_line(dirs)!r}: expected 3-vectors (or 'none')") from None
    if rows.shape != (ndim, 3):
        raise InputError(f"{path}: NRRD space directions {rows.shape[0]} rows for {ndim} array axes; expected one per axis")
    spatial = [a for a in range(ndim) if np.all(np.isfinite(rows[a]))]
    if len(spatial) != 3:
        raise InputError(f"{path}: NRRD with {len(spatial)} spatial axes (array shape {_shape(header, ndim)}): expected a 3-D "
                         "volume")
    return spatial, rows[spatial] * np.array(SPACES[space])[None, :]


def _shape(header: dict, ndim: int) -> tuple:
    return tuple(int(s) for s in header.get("sizes", ()))[:ndim]


def _grid(header: dict, lps_rows_mm: np.ndarray, sizes: tuple[int, int, int], path: Path) -> Grid:
    space = str(header.get("space", "")).strip().lower()
    origin = header.get("space origin")
    if origin is None:
        raise InputError(f"{path}: NRRD header has no 'space origin'; expected the position of the first voxel")
    o = np.asarray(origin, dtype=float).reshape(-1)
    if o.shape != (3,) or not np.all(np.isfinite(o)):
        raise InputError(f"{path}: NRRD space origin {_one_line(origin)!r}: expected 3 finite numbers (mm)")
    cols = lps_rows_mm.T  # columns = i, j, k axes
    spacing = np.linalg.norm(cols, axis=0)
    if np.any(spacing <= 1e-9):
        raise InputError(f"{path}: NRRD voxel size {spacing.tolist()} mm: expected 3 positive voxel sizes")
    direction = check_direction(cols / spacing, str(path))
    origin_lps = o * np.array(SPACES[space])
    return Grid((sizes[2], sizes[1], sizes[0]), origin_lps * 1e-3, spacing * 1e-3, direction)


def _volume(path: Path) -> tuple[np.ndarray, Grid, dict]:
    """3-D data transposed to [k, j, i] and its grid."""
    data, header = _read(path)
    spatial, rows = _spatial_axes(header, data.ndim, path)
    other = [a for a in range(data.ndim) if a not in spatial]
    if any(data.shape[a] != 1 for a in other):
        raise InputError(f"{path}: NRRD array shape {data.shape} has a non-spatial axis of length > 1: expected one 3-D volume "
                         "(a .seg.nrrd with several layers belongs in imaging.segments)")
    d3 = data.reshape(tuple(data.shape[a] for a in spatial))
    if min(d3.shape) < 1:
        raise InputError(f"{path}: NRRD array shape {d3.shape}: expected non-empty dimensions")
    grid = _grid(header, rows, d3.shape, path)  # type: ignore[arg-type]
    return np.ascontiguousarray(d3.transpose(2, 1, 0)), grid, header


def read_nrrd(path: str | Path, *, modality: str = "MR") -> ImageVolume:
    """A 3-D NRRD image as an :class:`ImageVolume` (LPS, metres)."""
    path = Path(path)
    arr, grid, _ = _volume(path)
    if arr.dtype.kind not in "iufb":
        raise InputError(f"{path}: NRRD data type {arr.dtype}: expected numbers")
    arr = arr.astype(np.float32)
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{path}: {int(np.count_nonzero(~np.isfinite(arr)))} voxels are NaN or infinite; expected finite values")
    return ImageVolume(arr, grid, modality.upper(), "HU" if modality.upper() == "CT" else "arbitrary", source=str(path),
                       files=(str(path),), notes=("NRRD patient space converted to LPS",))


def read_nrrd_labels(path: str | Path) -> tuple[np.ndarray, Grid]:
    """An integer NRRD label map → (labels (nk, nj, ni) int32, grid)."""
    path = Path(path)
    arr, grid, _ = _volume(path)
    return integer_labels(arr, str(path)), grid


def write_nrrd(path: str | Path, array_kji: np.ndarray, grid: Grid, header: dict | None = None) -> Path:
    """Write a planner array (nk, nj, ni) on ``grid`` as NRRD in LPS mm (inverse of the reader)."""
    import nrrd

    h = {"space": "left-posterior-superior",
         "space directions": (grid.direction * (grid.spacing_m * 1e3)[None, :]).T,
         "space origin": grid.origin_m * 1e3, "kinds": ["domain"] * 3, "encoding": "gzip", **(header or {})}
    nrrd.write(str(path), np.asarray(array_kji).transpose(2, 1, 0), h, index_order="F")
    return Path(path)


@dataclass(frozen=True)
class SegmentSet:
    """Named segments of a segmentation file (.seg.nrrd or DICOM SEG); ``masks``: bool (nk, nj, ni) on
    ``grid`` for every segment (the stage places the ones a plan names on the planning grid)."""

    path: str
    kind: str  # "seg.nrrd" | "DICOM SEG"
    grid: Grid
    masks: dict[str, np.ndarray]
    frame_of_reference_uid: str = ""
    notes: tuple[str, ...] = field(default=())

    def names(self) -> list[str]:
        return list(self.masks)

    def summary_block(self) -> dict:
        return {"path": self.path, "kind": self.kind, "segment_names": self.names(),
                "voxels": {k: int(np.count_nonzero(v)) for k, v in self.masks.items()},
                "frame_of_reference_uid": self.frame_of_reference_uid, "notes": list(self.notes)}


def _seg_field(header: dict, n: int, key: str, default: int | None, path: Path) -> int:
    raw = header.get(f"Segment{n}_{key}")
    if raw is None:
        if default is None:
            raise InputError(f"{path}: missing header field Segment{n}_{key}; expected an integer")
        return default
    try:
        return int(str(raw).strip())
    except ValueError:
        raise InputError(f"{path}: Segment{n}_{key} = {raw!r}: expected an integer") from None


def read_seg_nrrd(path: str | Path) -> SegmentSet:
    """A 3D Slicer ``.seg.nrrd`` → :class:`SegmentSet` (segment names → masks), see the module docstring."""
    path = Path(path)
    data, header = _read(path)
    if "Segment0_Name" not in header:
        raise InputError(f"{path}: no Segment0_Name in the NRRD header; expected a 3D Slicer segmentation (.seg.nrrd)")
    spatial, rows = _spatial_axes(header, data.ndim, path)
    other = [a for a in range(data.ndim) if a not in spatial]
    if len(other) > 1 or data.ndim not in (3, 4):
        raise InputError(f"{path}: array shape {data.shape}: expected 3-D (one layer) or 4-D (layers × volume)")
    if data.dtype.kind not in "iub":
        raise InputError(f"{path}: segmentation data type {data.dtype}: expected integer label values")
    layers = np.moveaxis(data, other[0], 0) if other else data[None]
    layers = layers.transpose(0, 3, 2, 1)  # (layer, k, j, i)
    grid = _grid(header, rows, tuple(data.shape[a] for a in spatial), path)  # type: ignore[arg-type]
    masks: dict[str, np.ndarray] = {}
    n = 0
    while f"Segment{n}_Name" in header:
        name = str(header[f"Segment{n}_Name"]).strip()
        layer = _seg_field(header, n, "Layer", 0 if not other else n, path)
        value = _seg_field(header, n, "LabelValue", 1, path)
        if not 0 <= layer < layers.shape[0]:
            raise InputError(f"{path}: Segment{n}_Layer = {layer}: expected 0..{layers.shape[0] - 1} (the file has "
                             f"{layers.shape[0]} layer(s))")
        if not name:
            raise InputError(f"{path}: Segment{n}_Name is empty; expected a segment name")
        if name in masks:
            raise InputError(f"{path}: segment name {name!r} appears twice (Segment{n}_Name); expected unique names")
        masks[name] = layers[layer] == value
        n += 1
    return SegmentSet(str(path), "seg.nrrd", grid, masks,
                      notes=(f"{n} segment(s) in {layers.shape[0]} layer(s)",))
