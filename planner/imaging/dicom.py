"""DICOM image-series reader (CT, MR) → :class:`ImageVolume` in patient LPS metres.

What it does (DICOM PS3.3 C.7.6.2 Image Plane module, C.11.1 Modality LUT):

1. Every file under the folder is opened (pixel data deferred). Files that are not DICOM
   (no ``DICM`` marker, e.g. a README) are ignored; a file with the ``DICM`` marker that cannot be
   parsed is an error naming that file. Objects without pixel data (RTSTRUCT, RTPLAN, SR, ...) and
   localizer (scout) images (ImageType contains LOCALIZER) are ignored.
2. Images are grouped by SeriesInstanceUID; with several series the plan must give
   ``[imaging] series_uid`` (the error lists the series found).
3. Slices are sorted by their position along the slice normal n = row × column cosine,
   d = ImagePositionPatient · n — never by file name or InstanceNumber.
4. Geometry checks, each a one-line :class:`InputError` naming the file and the problem: missing or
   non-finite tags, non-orthonormal or mixed orientation, zero/negative/mixed pixel spacing, mixed
   image sizes, duplicate slice positions, missing slices (a gap that is a multiple of the usual
   spacing), non-uniform slice spacing, gantry tilt (slice origins not on a line along the normal:
   a sheared stack; it is *not* resampled silently), multi-frame and colour images.
5. Pixel values: stored value × RescaleSlope + RescaleIntercept (HU for CT). Compressed transfer
   syntaxes are decoded when pydicom has a decoder; otherwise the error names the transfer syntax.
   NaN/inf after rescaling is an error.

A single slice is read as a 1-slice volume (slice spacing from SpacingBetweenSlices, else
SliceThickness); the segmentation stage then refuses it because it needs a volume.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from planner.errors import InputError
from planner.imaging.multiframe import frame_headers, frame_pixels
from planner.imaging.multiframe import multiframe_count as _frames
from planner.imaging.volume import Grid, ImageVolume
from planner.units import MM

log = logging.getLogger(__name__)

#: relative tolerance on slice spacing uniformity (fraction of the median spacing)
SPACING_RTOL = 0.01
#: tolerance on the in-plane offset of slice origins (gantry tilt / shear), in mm
SHEAR_TOL_MM = 0.05


def _one_line(text: Any) -> str:
    return " ".join(str(text).split())


def _looks_like_dicom(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


@dataclass(frozen=True)
class SliceHeader:
    """Geometry and identity of one image file, validated."""

    path: str
    series_uid: str
    modality: str
    rows: int
    columns: int
    position_mm: np.ndarray  # ImagePositionPatient (3,)
    row_cosine: np.ndarray  # direction of increasing column index i
    col_cosine: np.ndarray  # direction of increasing row index j
    spacing_ij_mm: tuple[float, float]  # (Δi, Δj) = (PixelSpacing[1], PixelSpacing[0])
    slope: float
    intercept: float
    thickness_mm: float | None
    sop_uid: str
    frame_uid: str
    study_uid: str
    description: str
    rescale_tags: tuple[bool, bool] = (True, True)  # (RescaleSlope, RescaleIntercept) present in the file

    @property
    def normal(self) -> np.ndarray:
        return np.cross(self.row_cosine, self.col_cosine)


def _floats(ds: Any, keyword: str, n: int, path: str) -> np.ndarray:
    if keyword not in ds:
        raise InputError(f"{path}: missing {keyword}; expected {n} numbers (DICOM Image Plane module)")
    raw = ds[keyword].value
    items = [raw] if isinstance(raw, (str, bytes)) or not hasattr(raw, "__iter__") else list(raw)
    try:
        vals = [float(v) for v in items]
    except (TypeError, ValueError):
        raise InputError(f"{path}: {keyword} = {_one_line(raw)!r}: expected {n} numbers") from None
    if len(vals) != n or not all(math.isfinite(v) for v in vals):
        raise InputError(f"{path}: {keyword} = {vals!r}: expected {n} finite numbers")
    return np.array(vals, dtype=float)


def _opt_float(ds: Any, keyword: str, path: str, default: float | None) -> float | None:
    if keyword not in ds or ds[keyword].value in (None, ""):
        return default
    raw = ds[keyword].value
    try:
        v = float(raw)
    except (TypeError, ValueError):
        raise InputError(f"{path}: {keyword} = {_one_line(raw)!r}: expected a number") from None
    if not math.isfinite(v):
        raise InputError(f"{path}: {keyword} = {v!r}: expected a finite number")
    return v


def _int(ds: Any, keyword: str, path: str) -> int:
    if keyword not in ds or ds[keyword].value in (None, ""):
        raise InputError(f"{path}: missing {keyword}; expected a positive integer")
    try:
        v = int(ds[keyword].value)
    except (TypeError, ValueError):
        raise InputError(f"{path}: {keyword} = {_one_line(ds[keyword].value)!r}: expected a positive integer") from None
    if v <= 0:
        raise InputError(f"{path}: {keyword} = {v}: expected a positive integer")
    return v


def _str(ds: Any, keyword: str) -> str:
    v = ds.get(keyword, "")
    return "" if v is None else str(v)


def parse_slice_header(ds: Any, path: str) -> SliceHeader:
    """Validate the image-plane header of one dataset. Raises :class:`InputError` (one line)."""
    try:
        return _parse_slice_header(ds, path)
    except InputError:
        raise
    except Exception as exc:  # pydicom converts raw elements lazily; bad values fail here
        raise InputError(f"{path}: DICOM header cannot be parsed ({type(exc).__name__}: {_one_line(exc)[:100]})") from None


def _parse_slice_header(ds: Any, path: str) -> SliceHeader:
    series = _str(ds, "SeriesInstanceUID")
    if not series:
        raise InputError(f"{path}: missing SeriesInstanceUID; expected a UID")
    rows = _int(ds, "Rows", path)
    cols = _int(ds, "Columns", path)
    spp = ds.get("SamplesPerPixel", 1)
    try:
        spp = int(spp)
    except (TypeError, ValueError):
        raise InputError(f"{path}: SamplesPerPixel = {_one_line(spp)!r}: expected 1 (greyscale)") from None
    if spp != 1:
        raise InputError(f"{path}: SamplesPerPixel = {spp}: expected 1 (greyscale CT/MR, not a colour image)")
    frames = ds.get("NumberOfFrames", 1)
    try:
        frames = int(frames) if frames not in (None, "") else 1
    except (TypeError, ValueError):
        raise InputError(f"{path}: NumberOfFrames = {_one_line(frames)!r}: expected 1") from None
    if frames != 1:
        raise InputError(f"{path}: NumberOfFrames = {frames}: "
                         "expected single-frame images (enhanced multi-frame objects are not supported)")
    pos = _floats(ds, "ImagePositionPatient", 3, path)
    iop = _floats(ds, "ImageOrientationPatient", 6, path)
    r, c = iop[:3], iop[3:]
    nr, nc = float(np.linalg.norm(r)), float(np.linalg.norm(c))
    if abs(nr - 1) > 1e-3 or abs(nc - 1) > 1e-3 or abs(float(r @ c)) > 1e-3:
        raise InputError(
            f"{path}: ImageOrientationPatient = {iop.tolist()!r}: expected two orthogonal unit vectors "
            f"(|row| = {nr:.4g}, |col| = {nc:.4g}, row·col = {float(r @ c):.3g})"
        )
    ps = _floats(ds, "PixelSpacing", 2, path)
    if np.any(ps <= 0):
        raise InputError(f"{path}: PixelSpacing = {ps.tolist()!r}: expected 2 positive numbers (mm)")
    slope = _opt_float(ds, "RescaleSlope", path, 1.0)
    intercept = _opt_float(ds, "RescaleIntercept", path, 0.0)
    if slope == 0.0:
        raise InputError(f"{path}: RescaleSlope = 0: expected a non-zero number")
    thick = _opt_float(ds, "SpacingBetweenSlices", path, None)
    if thick is None:
        thick = _opt_float(ds, "SliceThickness", path, None)
    return SliceHeader(
        path=path,
        series_uid=series,
        modality=_str(ds, "Modality").upper(),
        rows=rows,
        columns=cols,
        position_mm=pos,
        row_cosine=r / nr,
        col_cosine=c / nc,
        spacing_ij_mm=(float(ps[1]), float(ps[0])),
        slope=float(slope),  # type: ignore[arg-type]
        intercept=float(intercept),  # type: ignore[arg-type]
        thickness_mm=thick,
        sop_uid=_str(ds, "SOPInstanceUID"),
        frame_uid=_str(ds, "FrameOfReferenceUID"),
        study_uid=_str(ds, "StudyInstanceUID"),
        description=_str(ds, "SeriesDescription"),
        rescale_tags=(_opt_float(ds, "RescaleSlope", path, None) is not None,
                      _opt_float(ds, "RescaleIntercept", path, None) is not None),
    )


def check_series_consistency(hs: list[SliceHeader], field: str) -> tuple[list[SliceHeader], list[str]]:
    """One FrameOfReferenceUID per series (else a one-line error naming both UIDs); slices lacking
    RescaleSlope/RescaleIntercept while others carry them take the value the others share (noted and
    warned, the files named) — the DICOM default (1, 0) would shift them by the intercept (≈ 1024 HU)."""
    first = next((h for h in hs if h.frame_uid), None)
    if first is not None:
        odd = next((h for h in hs if h.frame_uid != first.frame_uid), None)
        if odd is not None:
            raise InputError(f"{odd.path}: FrameOfReferenceUID {odd.frame_uid!r} differs from {first.frame_uid!r} "
                             f"of {first.path} "
                             f"({field}); expected one patient frame per series")
    notes: list[str] = []
    out = list(hs)
    for idx, (tag, attr) in enumerate((("RescaleSlope", "slope"), ("RescaleIntercept", "intercept"))):
        missing = [h for h in out if not h.rescale_tags[idx]]
        present = [h for h in out if h.rescale_tags[idx]]
        if not missing or not present:
            continue
        values = {getattr(h, attr) for h in present}
        if len(values) > 1:
            raise InputError(f"{missing[0].path}: no {tag} while other slices of the series carry {sorted(values)} "
                             f"({field}); "
                             f"expected {tag} in every slice")
        value = values.pop()
        note = (f"{len(missing)} of {len(out)} slices lack {tag} (e.g. {Path(missing[0].path).name}); "
                f"the value {value:g} of the other slices is used for them")
        log.warning("%s: %s", field, note)
        notes.append(note)
        out = [dataclasses.replace(h, **{attr: value}) if not h.rescale_tags[idx] else h for h in out]
    return out, notes


def _starts_with_group_0008(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError:
        return False
    elements = (b"\x05\x00", b"\x08\x00", b"\x12\x00", b"\x16\x00", b"\x18\x00", b"\x20\x00")
    return len(head) == 8 and head[:2] == b"\x08\x00" and head[2:4] in elements


def _read_header(path: Path) -> Any | None:
    """Dataset with pixel data deferred, or None for a non-DICOM file."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    marker = _looks_like_dicom(path)
    # DICOM streams without the Part-10 preamble (old exports) start with a group-0008 tag
    force = not marker and _starts_with_group_0008(path)
    try:
        ds = pydicom.dcmread(path, defer_size=256, force=force)
    except InvalidDicomError:
        if marker:
            raise InputError(f"{path}: DICOM file cannot be parsed (invalid header); expected a readable DICOM file") from None
        return None
    except Exception as exc:  # pydicom raises many types on truncated/corrupt files
        if marker or force or path.suffix.lower() == ".dcm":
            raise InputError(f"{path}: DICOM file is truncated or corrupt ({_one_line(exc)[:120]}); "
                             "expected a complete DICOM file") from None
        return None
    if force and "TransferSyntaxUID" not in getattr(ds, "file_meta", {}):
        # no file meta: the transfer syntax is the encoding the stream was parsed with
        from pydicom.dataset import FileMetaDataset
        from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

        implicit, little = ds.original_encoding
        if getattr(ds, "file_meta", None) is None:
            ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else (ExplicitVRLittleEndian if little else ExplicitVRBigEndian)
    return ds


def list_series(folder: str | Path) -> dict[str, list[tuple[Path, Any]]]:
    """Image datasets under ``folder`` grouped by SeriesInstanceUID (non-images skipped)."""
    folder = Path(folder)
    if not folder.exists():
        raise InputError(f"{folder}: folder does not exist; expected a folder of DICOM files")
    series: dict[str, list[tuple[Path, Any]]] = {}
    ignored: list[str] = []
    walk = [(str(folder.parent), [], [folder.name])] if folder.is_file() else os.walk(folder)  # one (multi-frame) file
    for root, dirs, files in walk:
        dirs.sort()
        for name in sorted(files):
            p = Path(root) / name
            if name.upper() == "DICOMDIR":
                continue
            try:
                ds = _read_header(p)
                if ds is None:
                    log.info("ignoring non-DICOM file %s", p)
                    ignored.append(p.name)
                    continue
                if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
                    if not _str(ds, "SOPClassUID") and not _str(ds, "Modality"):
                        raise InputError(f"{p}: DICOM file has neither SOPClassUID nor Modality (corrupt file?); expected a valid DICOM "
                                         "object")
                    log.info("ignoring non-image DICOM object %s (Modality %s)", p, ds.get("Modality", "?"))
                    continue
                image_type = [str(v).upper() for v in (ds.get("ImageType") or [])] if "ImageType" in ds else []
                if "LOCALIZER" in image_type:
                    log.info("ignoring localizer (scout) image %s", p)
                    continue
                uid = _str(ds, "SeriesInstanceUID")
            except InputError:
                raise
            except Exception as exc:  # lazily converted elements may fail on access
                raise InputError(f"{p}: DICOM header cannot be parsed ({type(exc).__name__}: {_one_line(exc)[:100]})") from None
            if not uid:
                raise InputError(f"{p}: missing SeriesInstanceUID; expected a UID")
            series.setdefault(uid, []).append((p, ds))
    if not series and ignored:
        raise InputError(
            f"{folder}: no DICOM image series found; {len(ignored)} file(s) are not DICOM (e.g. {ignored[0]!r}); "
            "expected DICOM Part-10 files (with the 'DICM' marker)"
        )
    return series


def _series_list_text(series: dict[str, list[tuple[Path, Any]]]) -> str:
    parts = []
    for uid, items in series.items():
        ds = items[0][1]
        parts.append(f"{uid} ({_str(ds, 'Modality') or '?'}, {len(items)} images, {_str(ds, 'SeriesDescription')!r})")
    return "; ".join(parts)


def _pixels(ds: Any, h: SliceHeader) -> np.ndarray:
    """Decoded, rescaled float pixels of one slice, shape (rows, columns)."""
    tsuid = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    try:
        arr = ds.pixel_array
    except NotImplementedError as exc:
        name = getattr(tsuid, "name", str(tsuid))
        raise InputError(
            f"{h.path}: compressed pixel data ({name}) cannot be decoded ({_one_line(exc)[:100]}); "
            "expected uncompressed pixels or an installed decoder (pylibjpeg/GDCM)"
        ) from None
    except Exception as exc:
        compressed = tsuid is not None and getattr(tsuid, "is_compressed", False)
        what = (f"compressed pixel data ({getattr(tsuid, 'name', tsuid)}) cannot be decoded" if compressed
                else "pixel data cannot be read (truncated or inconsistent with Rows/Columns/BitsAllocated)")
        raise InputError(f"{h.path}: {what}: {_one_line(exc)[:140]}") from None
    arr = np.asarray(arr)
    if arr.shape != (h.rows, h.columns):
        raise InputError(f"{h.path}: pixel array shape {arr.shape}: expected (Rows, Columns) = ({h.rows}, {h.columns})")
    out = arr.astype(np.float32) * np.float32(h.slope) + np.float32(h.intercept)
    if not np.all(np.isfinite(out)):
        bad = int(np.count_nonzero(~np.isfinite(out)))
        raise InputError(f"{h.path}: {bad} pixels are NaN or infinite after rescaling; expected finite values")
    return out


def sort_slices(headers: list[SliceHeader]) -> tuple[list[SliceHeader], float, list[str]]:
    """Sort slices along the normal and check the stack. Returns (sorted, slice spacing mm, notes)."""
    h0 = headers[0]
    for h in headers[1:]:
        if (h.rows, h.columns) != (h0.rows, h0.columns):
            raise InputError(
                f"{h.path}: image size {h.rows}×{h.columns} (Rows×Columns): expected {h0.rows}×{h0.columns} like {h0.path} (mixed sizes "
                "in one series)"
            )
        if not (np.allclose(h.row_cosine, h0.row_cosine, atol=1e-4) and np.allclose(h.col_cosine, h0.col_cosine, atol=1e-4)):
            raise InputError(
                f"{h.path}: ImageOrientationPatient differs from {h0.path}; expected one orientation for the whole series"
            )
        if not np.allclose(h.spacing_ij_mm, h0.spacing_ij_mm, rtol=1e-4, atol=1e-6):
            raise InputError(
                f"{h.path}: PixelSpacing {h.spacing_ij_mm[::-1]} differs from {h0.spacing_ij_mm[::-1]} in {h0.path}; expected one pixel "
                "spacing per series"
            )
    n = h0.normal
    d = np.array([h.position_mm @ n for h in headers])
    order = np.argsort(d, kind="stable")
    hs = [headers[i] for i in order]
    d = d[order]
    notes: list[str] = []
    if len(hs) == 1:
        dz = h0.thickness_mm
        if dz is None or dz <= 0:
            raise InputError(
                f"{h0.path}: single slice with SliceThickness/SpacingBetweenSlices = {dz!r}: expected a positive slice thickness"
            )
        notes.append(f"single slice: slice spacing taken from SpacingBetweenSlices/SliceThickness = {dz} mm")
        return hs, float(dz), notes
    gaps = np.diff(d)
    for g, a, b in zip(gaps, hs[:-1], hs[1:]):
        if g < 1e-3:
            raise InputError(
                f"{b.path}: duplicate slice position {np.round(b.position_mm, 3).tolist()} (same as {a.path}); expected one image per "
                "position"
            )
    # gantry tilt / sheared stack: origins must lie on a line along the normal
    p = np.array([h.position_mm for h in hs])
    lateral = (p - p[0]) - np.outer(d - d[0], n)
    lat = np.linalg.norm(lateral, axis=1)
    if lat.max() > SHEAR_TOL_MM:
        span = d[-1] - d[0]
        tilt = math.degrees(math.atan2(float(lat[-1]), float(span))) if span > 0 else float("nan")
        worst = int(np.argmax(lat))
        raise InputError(
            f"{hs[worst].path}: slice origin is {lat[worst]:.3g} mm off the slice normal (gantry tilt ≈ {tilt:.2f}° or sheared stack); "
            "expected slices stacked along the normal (resample the series to a non-tilted grid first)"
        )
    dz = float(np.median(gaps))
    for g, a, b in zip(gaps, hs[:-1], hs[1:]):
        if abs(g - dz) > SPACING_RTOL * dz + 1e-4:
            m = g / dz
            if abs(m - round(m)) < 0.05 and round(m) >= 2:
                raise InputError(
                    f"{b.path}: {int(round(m)) - 1} missing slice(s) between {a.path} and this file (gap {g:.4g} mm, usual spacing "
                    f"{dz:.4g} mm); expected a complete series"
                )
            raise InputError(
                f"{b.path}: slice spacing {g:.4g} mm to {a.path} differs from the usual {dz:.4g} mm; expected uniform slice spacing"
            )
    jitter = float(np.abs(gaps - dz).max())
    if jitter > 1e-4:
        notes.append(f"slice spacing varies by up to {jitter:.3g} mm (within {SPACING_RTOL:.0%}); median {dz:.6g} mm used")
    return hs, dz, notes


def read_dicom_series(
    folder: str | Path, *, series_uid: str | None = None, modality: str | None = None, field: str = "imaging.ct",
    headers_only: bool = False,
) -> ImageVolume:
    """Read one CT/MR image series from ``folder`` into an :class:`ImageVolume` (LPS, metres).

    ``modality`` ("CT" or "MR") is the one the plan expects; ``field`` names the plan key in errors.
    ``headers_only``: check every header and the slice stack but decode no pixels (``planner
    check``); the volume's array is then a read-only zero view of the right shape.
    """
    folder = Path(folder)
    series = list_series(folder)
    if not series:
        raise InputError(f"{folder}: no DICOM image series found ({field}); expected a folder of CT or MR image files")
    if series_uid is not None:
        if series_uid not in series:
            raise InputError(f"{folder}: imaging.series_uid = {series_uid!r} not found; series present: {_series_list_text(series)}")
        items = series[series_uid]
    elif len(series) > 1:
        raise InputError(
            f"{folder}: {len(series)} image series found; expected one, or set imaging.series_uid to one of: {_series_list_text(series)}"
        )
    else:
        items = next(iter(series.values()))
    multi = [(p, ds) for p, ds in items if _frames(ds) > 1]
    if multi:
        if len(items) > 1:
            raise InputError(f"{multi[0][0]}: NumberOfFrames = {_frames(multi[0][1])} in a series of {len(items)} files; expected one "
                             "enhanced multi-frame file per series (or single-frame slices only)")
        return read_multiframe(items[0][0], items[0][1], modality=modality, field=field, headers_only=headers_only)
    headers = [parse_slice_header(ds, str(p)) for p, ds in items]
    datasets = {str(p): ds for p, ds in items}
    if modality is not None:
        for h in headers:
            if h.modality != modality.upper():
                raise InputError(f"{h.path}: Modality = {h.modality!r}: expected {modality.upper()!r} for {field}")
    headers, mixed = check_series_consistency(headers, field)
    hs, dz, notes = sort_slices(headers)
    notes = mixed + notes
    h0 = hs[0]
    if headers_only:
        arr = np.broadcast_to(np.zeros((), np.float32), (len(hs), h0.rows, h0.columns))
    else:
        arr = np.empty((len(hs), h0.rows, h0.columns), dtype=np.float32)
        for k, h in enumerate(hs):
            arr[k] = _pixels(datasets[h.path], h)
    direction = np.column_stack([h0.row_cosine, h0.col_cosine, h0.normal])
    grid = Grid(
        shape=arr.shape,  # type: ignore[arg-type]
        origin_m=h0.position_mm * MM,
        spacing_m=np.array([h0.spacing_ij_mm[0], h0.spacing_ij_mm[1], dz]) * MM,
        direction=direction,
    )
    mod = h0.modality or "OT"
    if not np.allclose(np.abs(direction), np.eye(3), atol=1e-6):
        notes.append("oblique orientation: geometry kept exactly (no resampling)")
    return ImageVolume(
        array=arr,
        grid=grid,
        modality=mod,
        units="HU" if mod == "CT" else "arbitrary",
        series_uid=h0.series_uid,
        frame_of_reference_uid=h0.frame_uid,
        study_uid=h0.study_uid,
        description=h0.description,
        source=str(folder),
        files=tuple(h.path for h in hs),
        sop_instance_uids=tuple(h.sop_uid for h in hs),
        notes=tuple(notes),
    )


def read_multiframe(path: Path, ds: Any, *, modality: str | None, field: str, headers_only: bool = False) -> ImageVolume:
    """One enhanced multi-frame CT/MR file (per-frame functional groups) as a volume: every frame's plane
    position/orientation, pixel measures and rescale are checked and sorted exactly as the slices of a
    single-frame series are (gantry tilt, gaps, duplicates: one-line errors naming the file and frame)."""
    headers = frame_headers(ds, str(path), parse_slice_header)
    if modality is not None and headers[0].modality != modality.upper():
        raise InputError(f"{path}: Modality = {headers[0].modality!r}: expected {modality.upper()!r} for {field}")
    hs, dz, notes = sort_slices(headers)
    h0 = hs[0]
    order = [int(h.path.rsplit("frame ", 1)[1].rstrip("]")) - 1 for h in hs]
    if headers_only:
        arr = np.broadcast_to(np.zeros((), np.float32), (len(hs), h0.rows, h0.columns))
    else:
        arr = frame_pixels(ds, str(path), hs, order)
    direction = np.column_stack([h0.row_cosine, h0.col_cosine, h0.normal])
    grid = Grid(arr.shape, h0.position_mm * MM, np.array([h0.spacing_ij_mm[0], h0.spacing_ij_mm[1], dz]) * MM,  # type: ignore[arg-type]
                direction)
    mod = h0.modality or "OT"
    return ImageVolume(arr, grid, mod, "HU" if mod == "CT" else "arbitrary", h0.series_uid, h0.frame_uid, h0.study_uid,
                       h0.description, str(path), (str(path),), (),  # one SOP instance, not one per slice
                       (f"enhanced multi-frame object: {len(hs)} frames",) + tuple(notes))


def read_dicom_file(path: str | Path) -> ImageVolume:
    """Read a single DICOM image file as a 1-slice volume (e.g. pydicom's CT_small.dcm)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: file does not exist; expected a DICOM image file")
    ds = _read_header(p)
    if ds is None:
        raise InputError(f"{p}: not a DICOM file; expected a DICOM image file")
    if "PixelData" not in ds:
        raise InputError(f"{p}: no pixel data (Modality {_str(ds, 'Modality')!r}); expected an image")
    h = parse_slice_header(ds, str(p))
    hs, dz, notes = sort_slices([h])
    arr = _pixels(ds, h)[None]
    shape: tuple[int, int, int] = (1, h.rows, h.columns)
    grid = Grid(shape, h.position_mm * MM, np.array([h.spacing_ij_mm[0], h.spacing_ij_mm[1], dz]) * MM,
                np.column_stack([h.row_cosine, h.col_cosine, h.normal]))
    return ImageVolume(arr, grid, h.modality or "OT", "HU" if h.modality == "CT" else "arbitrary", h.series_uid,
                       h.frame_uid, h.study_uid, h.description, str(p), (str(p),), (h.sop_uid,), tuple(notes))
