"""Enhanced multi-frame CT/MR (one file, per-frame functional groups, DICOM PS3.3 C.7.6.16).

Every frame's geometry is taken from its functional groups, the per-frame group first, then the
shared one: Plane Position (ImagePositionPatient), Plane Orientation (ImageOrientationPatient),
Pixel Measures (PixelSpacing, SliceThickness, SpacingBetweenSlices) and Pixel Value Transformation
(RescaleSlope/Intercept; absent for most MR). Each frame becomes a pseudo slice header, checked and
sorted along the slice normal by the same code as a single-frame series
(:func:`planner.imaging.dicom.sort_slices`), so gaps, duplicates (e.g. several echoes or time points
in one object) and tilted stacks are refused the same way, naming ``<file> [frame n]``.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from planner.errors import InputError

_GROUPS = {
    "ImagePositionPatient": "PlanePositionSequence",
    "ImageOrientationPatient": "PlaneOrientationSequence",
    "PixelSpacing": "PixelMeasuresSequence",
    "SliceThickness": "PixelMeasuresSequence",
    "SpacingBetweenSlices": "PixelMeasuresSequence",
    "RescaleSlope": "PixelValueTransformationSequence",
    "RescaleIntercept": "PixelValueTransformationSequence",
}
_TOP = ("SeriesInstanceUID", "Rows", "Columns", "SamplesPerPixel", "Modality", "SOPInstanceUID", "FrameOfReferenceUID",
        "StudyInstanceUID", "SeriesDescription")


def multiframe_count(ds: Any) -> int:
    """NumberOfFrames (1 when absent or unreadable: the single-frame checks then report the problem)."""
    try:
        v = ds.get("NumberOfFrames", 1)
        return int(v) if v not in (None, "") else 1
    except (TypeError, ValueError):
        return 1


def _group_value(item: Any, shared: Any, keyword: str) -> Any:
    seq = _GROUPS[keyword]
    for source in (item, shared):
        if source is not None and seq in source and len(source[seq].value) and keyword in source[seq].value[0]:
            return source[seq].value[0][keyword].value
    return None


def frame_headers(ds: Any, path: str, parse_slice_header: Callable[[Any, str], Any]) -> list:
    """One validated slice header per frame (``parse_slice_header`` of :mod:`planner.imaging.dicom`, passed
    in to keep the import one-way), named ``<path> [frame n]``."""
    from pydicom.dataset import Dataset

    n = multiframe_count(ds)
    per = ds.get("PerFrameFunctionalGroupsSequence")
    if per is None or len(per) != n:
        raise InputError(f"{path}: NumberOfFrames = {n} but {0 if per is None else len(per)} PerFrameFunctionalGroupsSequence items; "
                         "expected an enhanced multi-frame image with one functional group per frame")
    shared_seq = ds.get("SharedFunctionalGroupsSequence")
    shared = shared_seq[0] if shared_seq else None
    out = []
    for f in range(n):
        fake = Dataset()
        for kw in _TOP:
            if kw in ds:
                setattr(fake, kw, ds[kw].value)
        try:
            for kw in _GROUPS:
                v = _group_value(per[f], shared, kw)
                if v is not None:
                    setattr(fake, kw, v)
        except Exception as exc:  # malformed sequences
            raise InputError(f"{path} [frame {f + 1}]: functional groups cannot be parsed ({type(exc).__name__}: "
                             f"{' '.join(str(exc).split())[:100]})") from None
        out.append(parse_slice_header(fake, f"{path} [frame {f + 1}]"))
    return out


def frame_pixels(ds: Any, path: str, sorted_headers: list, order: list[int]) -> np.ndarray:
    """Decoded, rescaled (frames, rows, columns) float32 pixels in ``order`` (frame indices, sorted)."""
    tsuid = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    try:
        raw = np.asarray(ds.pixel_array)
    except Exception as exc:
        name = getattr(tsuid, "name", str(tsuid))
        raise InputError(f"{path}: pixel data ({name}) cannot be decoded: {' '.join(str(exc).split())[:140]}") from None
    h0 = sorted_headers[0]
    if raw.shape != (len(order), h0.rows, h0.columns):
        raise InputError(f"{path}: pixel array shape {raw.shape}: expected (frames, Rows, Columns) = "
                         f"({len(order)}, {h0.rows}, {h0.columns})")
    slope = np.array([h.slope for h in sorted_headers], np.float32)[:, None, None]
    intercept = np.array([h.intercept for h in sorted_headers], np.float32)[:, None, None]
    out = raw[order].astype(np.float32) * slope + intercept
    if not np.all(np.isfinite(out)):
        raise InputError(f"{path}: {int(np.count_nonzero(~np.isfinite(out)))} pixels are NaN or infinite after rescaling; "
                         "expected finite values")
    return out
