"""DICOM Segmentation objects (SEG, PS3.3 A.51) → named segments (highdicom reader).

Each segment's ``SegmentLabel`` becomes a region name (as an RTSTRUCT ROI name would); its frames are
stacked into a volume by highdicom (``Segmentation.get_volume``: frames sorted along the slice
normal, regular spacing required) whose affine maps the array index to LPS millimetres. FRACTIONAL
segments are thresholded at 0.5. The SEG's FrameOfReferenceUID must be the planning image's.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from planner.errors import InputError
from planner.imaging.nrrd import SegmentSet
from planner.imaging.resample import grid_from_index_affine

SEG_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"


def _one_line(text: object) -> str:
    return " ".join(str(text).split())[:140]


def is_dicom_seg(path: Path) -> bool:
    """True if ``path`` is a DICOM file of the Segmentation Storage SOP class (header only)."""
    import pydicom

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except Exception:
        return False
    return str(ds.get("SOPClassUID", "")) == SEG_STORAGE


def read_dicom_seg(path: str | Path) -> SegmentSet:
    """Segments of a DICOM SEG file as a :class:`SegmentSet` (label → bool mask on the SEG's grid)."""
    import highdicom as hd
    import pydicom

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file does not exist; expected a DICOM SEG file")
    try:
        ds = pydicom.dcmread(path)
    except Exception as exc:
        raise InputError(f"{path}: not a readable DICOM file ({type(exc).__name__}: {_one_line(exc)}); expected a DICOM SEG") from None
    if str(ds.get("SOPClassUID", "")) != SEG_STORAGE:
        raise InputError(f"{path}: SOP class {ds.get('SOPClassUID', 'missing')!s} (Modality {ds.get('Modality', '?')!s}): "
                         "expected a DICOM Segmentation (SEG)")
    try:
        seg = hd.seg.Segmentation.from_dataset(ds, copy=False)
        numbers = list(seg.segment_numbers)
        names = [str(seg.get_segment_description(n).segment_label).strip() for n in numbers]
        vol = seg.get_volume(combine_segments=False, segment_numbers=numbers)
    except InputError:
        raise
    except Exception as exc:  # highdicom raises ValueError/AttributeError/RuntimeError on malformed objects
        raise InputError(f"{path}: DICOM SEG cannot be read as a volume ({type(exc).__name__}: {_one_line(exc)}); expected a SEG of "
                         "parallel, regularly spaced frames") from None
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup or not all(names):
        raise InputError(f"{path}: segment labels {names!r}: expected unique, non-empty SegmentLabel values")
    arr = np.asarray(vol.array)
    if arr.ndim == 3:
        arr = arr[..., None]
    fractional = str(ds.get("SegmentationType", "BINARY")).upper() == "FRACTIONAL"
    grid = grid_from_index_affine(vol.affine, (arr.shape[0], arr.shape[1], arr.shape[2]), str(path))
    masks = {name: (arr[..., n] >= 0.5) if fractional else (arr[..., n] > 0) for n, name in enumerate(names)}
    notes = [f"{len(names)} segment(s), {arr.shape[0]} frame position(s)"]
    if fractional:
        notes.append("FRACTIONAL segments thresholded at 0.5")
    return SegmentSet(str(path), "DICOM SEG", grid, masks, frame_of_reference_uid=str(ds.get("FrameOfReferenceUID", "")),
                      notes=tuple(notes))
