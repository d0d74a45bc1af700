"""RT Structure Set (RTSTRUCT) reading, rasterisation onto an image grid, and writing.

Reading: ROI names come from StructureSetROISequence, contours from ROIContourSequence
(CLOSED_PLANAR contours in patient LPS millimetres, DICOM PS3.3 C.8.8.6). The structure set must
reference the image series it is used with (RTReferencedSeriesSequence, or the SOP instances in
ContourImageSequence) and share its FrameOfReferenceUID.

Rasterisation: each contour must lie in one image slice (its points map to a constant slice index
k within ±0.25 slice). All contours of an ROI that fall in one slice are combined with the
**even-odd rule**: a voxel centre is inside when it lies inside an odd number of the slice's
polygons. This gives holes (a contour inside another) and several islands per slice the meaning
DICOM RT planning systems give them (inner contours subtract). Point-in-polygon uses
:class:`matplotlib.path.Path` on voxel centres.

Writing: masks are turned into contours with marching squares at the 0.5 level (contourpy) on
the zero-padded slice, so every contour runs half-way between voxel centres and rasterising the
written structure set returns the mask exactly (tested).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from planner.errors import InputError
from planner.imaging.dicom_write import RT_STRUCTURE_SET_STORAGE, StudyInfo, file_dataset, make_uid
from planner.imaging.volume import ImageVolume

log = logging.getLogger(__name__)

#: allowed distance of a contour plane from the nearest slice centre, in slices
SLICE_TOL = 0.25

_COLOURS = [(255, 0, 0), (0, 160, 255), (0, 200, 0), (255, 200, 0), (200, 0, 200), (0, 200, 200), (255, 120, 0)]


@dataclass(frozen=True)
class ROI:
    number: int
    name: str
    interpreted_type: str
    contours: tuple[np.ndarray, ...]  # each (n, 3) LPS mm, CLOSED_PLANAR
    frame_of_reference_uid: str = ""  # StructureSetROISequence ReferencedFrameOfReferenceUID


@dataclass(frozen=True)
class StructureSet:
    """ROIs of one RTSTRUCT; ``masks`` hold the rasterised ROIs requested (bool (nk, nj, ni))."""

    path: str
    rois: tuple[ROI, ...]
    referenced_series_uids: tuple[str, ...]
    frame_of_reference_uid: str
    masks: dict
    referenced_sop_uids: tuple[str, ...] = ()
    frame_of_reference_uids: tuple[str, ...] = ()  # every set-level FrameOfReferenceUID
    warnings: tuple[str, ...] = ()  # e.g. contours beyond the image, ROI named

    def names(self) -> list[str]:
        return [r.name for r in self.rois]

    def summary_block(self) -> dict:
        return {
            "path": self.path,
            "roi_names": self.names(),
            "referenced_series_uids": list(self.referenced_series_uids),
            "rasterised_voxels": {k: int(np.count_nonzero(v)) for k, v in self.masks.items()},
            "frame_of_reference_uid": self.frame_of_reference_uid,
            "warnings": list(self.warnings),
        }


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _load_rtstruct(path: Path):
    import pydicom

    if not path.is_file():
        raise InputError(f"{path}: file does not exist; expected an RTSTRUCT DICOM file (imaging.rtstruct)")
    try:
        ds = pydicom.dcmread(path)
    except Exception as exc:
        raise InputError(f"{path}: RTSTRUCT cannot be parsed (truncated or not DICOM: {_one_line(exc)[:100]})") from None
    mod = str(ds.get("Modality", ""))
    if mod != "RTSTRUCT":
        raise InputError(f"{path}: Modality = {mod!r}: expected 'RTSTRUCT' (imaging.rtstruct)")
    return ds


def parse_rtstruct(path: str | Path) -> StructureSet:
    """Read ROI names and contours (no rasterisation)."""
    path = Path(path)
    ds = _load_rtstruct(path)
    try:
        return _parse(ds, path)
    except InputError:
        raise
    except Exception as exc:  # malformed sequences
        raise InputError(f"{path}: malformed RTSTRUCT ({type(exc).__name__}: {_one_line(exc)[:100]})") from None


_CONTOUR_DATA = 0x30060050


def _contour_data(item) -> np.ndarray:
    """ContourData (DS, mm) as floats: straight from the element's ASCII bytes while pydicom has not yet
    converted it (a clinical structure set has millions of coordinates; a DSfloat each costs ~4 µs)."""
    raw = item.get_item(_CONTOUR_DATA)
    if raw is None:
        raise KeyError("ContourData")
    value = getattr(raw, "value", None)
    if isinstance(value, bytes | bytearray):
        text = bytes(value).decode("ascii").strip(" \x00")
        return np.asarray(text.split("\\"), dtype=float) if text else np.zeros(0)
    return np.array([float(v) for v in item.ContourData], dtype=float)


def _ds_element(tag: int, values: np.ndarray):
    """A DS element of ``values`` ("%.4f" each) as its ASCII bytes, the bytes pydicom would write for the
    list of strings (without making a DSfloat object per coordinate; tested byte-equal)."""
    from pydicom.dataelem import RawDataElement
    from pydicom.tag import Tag

    raw = "\\".join(f"{v:.4f}" for v in values).encode("ascii")
    if len(raw) % 2:
        raw += b" "
    return RawDataElement(Tag(tag), "DS", len(raw), raw, 0, False, True, True, False)


def _parse(ds, path: Path) -> StructureSet:
    names: dict[int, str] = {}
    roi_frames: dict[int, str] = {}
    for item in ds.get("StructureSetROISequence", []):
        if "ROINumber" not in item:
            raise InputError(f"{path}: StructureSetROISequence item without ROINumber; expected a number per ROI")
        names[int(item.ROINumber)] = str(item.get("ROIName", f"ROI{int(item.ROINumber)}"))
        roi_frames[int(item.ROINumber)] = str(item.get("ReferencedFrameOfReferenceUID", "") or "")
    if not names:
        raise InputError(f"{path}: StructureSetROISequence is empty; expected at least one ROI")
    types = {int(o.ReferencedROINumber): str(o.get("RTROIInterpretedType", ""))
             for o in ds.get("RTROIObservationsSequence", []) if "ReferencedROINumber" in o}
    contours: dict[int, list[np.ndarray]] = {n: [] for n in names}
    for rc in ds.get("ROIContourSequence", []):
        num = int(rc.ReferencedROINumber)
        if num not in names:
            raise InputError(f"{path}: ROIContourSequence references ROI number {num}; expected one of {sorted(names)}")
        for c in rc.get("ContourSequence", []):
            gtype = str(c.get("ContourGeometricType", "CLOSED_PLANAR"))
            if gtype == "POINT":
                continue
            if gtype not in ("CLOSED_PLANAR",):
                raise InputError(f"{path}: ROI {names[num]!r} has a {gtype} contour; expected CLOSED_PLANAR")
            try:
                data = _contour_data(c)
            except (AttributeError, TypeError, ValueError, KeyError):
                raise InputError(f"{path}: ROI {names[num]!r} has a contour without numeric ContourData") from None
            if data.size % 3 or data.size < 9:
                raise InputError(f"{path}: ROI {names[num]!r} contour has {data.size} coordinates; expected 3 per point and at least 3 "
                                 "points")
            if not np.all(np.isfinite(data)):
                raise InputError(f"{path}: ROI {names[num]!r} contour has NaN/infinite coordinates; expected finite mm values")
            contours[num].append(data.reshape(-1, 3))
    refs: list[str] = []
    frame = ""
    frames: list[str] = [str(ds.get("FrameOfReferenceUID", "") or "")]  # not in the IOD, but some systems write it
    sops: list[str] = []
    for fr in ds.get("ReferencedFrameOfReferenceSequence", []):
        frame = frame or str(fr.get("FrameOfReferenceUID", ""))
        frames.append(str(fr.get("FrameOfReferenceUID", "") or ""))
        for st in fr.get("RTReferencedStudySequence", []):
            for se in st.get("RTReferencedSeriesSequence", []):
                refs.append(str(se.get("SeriesInstanceUID", "")))
                sops += [str(ci.get("ReferencedSOPInstanceUID", "")) for ci in se.get("ContourImageSequence", [])]
    rois = tuple(
        ROI(n, names[n], types.get(n, ""), tuple(contours[n]), roi_frames.get(n, "")) for n in sorted(names)
    )
    return StructureSet(str(path), rois, tuple(r for r in refs if r), frame or next((f for f in frames if f), ""), {},
                        tuple(s for s in sops if s), tuple(dict.fromkeys(f for f in frames if f)))


def rasterise_contours(contours: list[np.ndarray], image: ImageVolume, where: str) -> np.ndarray:
    """Even-odd rasterisation of planar contours (LPS mm) onto the voxel centres of ``image``."""
    from matplotlib.path import Path as MplPath

    nk, nj, ni = image.shape
    mask = np.zeros((nk, nj, ni), dtype=bool)
    for pts in contours:
        ijk = image.grid.lps_m_to_index(pts * 1e-3)
        k = ijk[:, 2]
        kc = float(np.round(k.mean()))
        if np.abs(k - kc).max() > SLICE_TOL:
            raise InputError(
                f"{where}: contour at slice index {k.mean():.2f} (spread {np.ptp(k):.2f}) does not lie on an image slice; "
                "expected planar contours drawn on the referenced image slices"
            )
        kk = int(kc)
        if not 0 <= kk < nk:
            raise InputError(f"{where}: contour at slice index {kk} lies outside the image (0..{nk - 1}); expected contours inside the "
                             "referenced series")
        xy = ijk[:, :2]
        i0 = max(int(np.floor(xy[:, 0].min())), 0)
        i1 = min(int(np.ceil(xy[:, 0].max())), ni - 1)
        j0 = max(int(np.floor(xy[:, 1].min())), 0)
        j1 = min(int(np.ceil(xy[:, 1].max())), nj - 1)
        if i1 < i0 or j1 < j0:
            continue
        ii, jj = np.meshgrid(np.arange(i0, i1 + 1), np.arange(j0, j1 + 1))
        # closed=True makes matplotlib ignore the last vertex (CLOSEPOLY), so repeat the first one
        inside = MplPath(np.vstack([xy, xy[:1]]), closed=True).contains_points(np.column_stack([ii.ravel(), jj.ravel()]))
        mask[kk, j0:j1 + 1, i0:i1 + 1] ^= inside.reshape(ii.shape)
    return mask


def read_rtstruct(path: str | Path, image: ImageVolume, names: list[str] | tuple[str, ...] = ()) -> StructureSet:
    """Read an RTSTRUCT, check it references ``image``'s series and frame, rasterise the ROIs ``names``.

    An unknown ROI name is an :class:`InputError` listing the names present; contours reaching
    beyond the image are warned (logged and listed in ``warnings``) with the ROI named.
    """
    ss, warnings = check_rtstruct(path, image, names)
    p = ss.path
    masks = {}
    for n in names:
        roi = next(r for r in ss.rois if r.name == n)
        m = rasterise_contours(list(roi.contours), image, f"{p}: ROI {n!r}")
        if not m.any():
            raise InputError(f"{p}: ROI {n!r} covers no voxel centre of the image; expected a non-empty structure")
        masks[n] = m
    for msg in warnings:
        log.warning(msg)
    return StructureSet(p, ss.rois, ss.referenced_series_uids, ss.frame_of_reference_uid, masks, ss.referenced_sop_uids,
                        ss.frame_of_reference_uids, tuple(warnings))


def check_rtstruct(path: str | Path, image: ImageVolume,
                   names: list[str] | tuple[str, ...] = ()) -> tuple[StructureSet, list[str]]:
    """Everything :func:`read_rtstruct` checks except rasterisation (for ``planner check``): the
    referenced series, the frame of reference, the ROI names; returns the parsed set and the
    warnings on contours beyond the image."""
    ss = parse_rtstruct(path)
    p = ss.path
    sops = set(ss.referenced_sop_uids)
    if ss.referenced_series_uids:
        if image.series_uid not in ss.referenced_series_uids:
            raise InputError(
                f"{p}: references series {', '.join(ss.referenced_series_uids)}; expected the image series {image.series_uid!r} "
                "(imaging.rtstruct must belong to the images read)"
            )
    elif sops and image.sop_instance_uids and not sops & set(image.sop_instance_uids):
        raise InputError(f"{p}: references none of the images of series {image.series_uid!r}; expected contours drawn on that series")
    present = ss.names()
    warnings: list[str] = []
    for n in names:
        if n not in present:
            raise InputError(f"{p}: ROI {n!r} not found; ROIs present: {', '.join(repr(x) for x in present)}")
        roi = next(r for r in ss.rois if r.name == n)
        check_frame(ss, roi, image)
        beyond = contours_beyond_image(list(roi.contours), image)
        if beyond is not None:
            warnings.append(f"{p}: ROI {n!r}: {beyond}; the part outside is ignored")
    if not names:
        check_frame(ss, None, image)
    return ss, warnings


def check_frame(ss: StructureSet, roi: ROI | None, image: ImageVolume) -> None:
    """Refuse contours in another patient frame than ``image`` (one-line error naming both UIDs).

    The frame of an ROI is its ReferencedFrameOfReferenceUID (StructureSetROISequence), else every
    FrameOfReferenceUID the structure set references; an RTSTRUCT or image series without any
    frame UID cannot be checked and is refused unless neither has one.
    """
    img = image.frame_of_reference_uid
    own = roi.frame_of_reference_uid if roi is not None else ""
    frames = tuple(dict.fromkeys((*ss.frame_of_reference_uids, *((own,) if own else ()))))
    what = f"{ss.path}: " + (f"ROI {roi.name!r}: " if roi is not None else "")
    if not frames and not img:
        log.warning("%sneither the RTSTRUCT nor the images carry a FrameOfReferenceUID: registration not checked", what)
        return
    if not img:
        raise InputError(f"{what}FrameOfReferenceUID {frames[0]!r}, "
                         f"but the images (series {image.series_uid!r}) carry none; "
                         "expected images and contours in one patient frame")
    if not frames:
        raise InputError(f"{what}no FrameOfReferenceUID; expected the images' {img!r} "
                         "(contours must be drawn in the images' patient frame)")
    set_frames = ss.frame_of_reference_uids
    bad = own if own and own != img else (set_frames[0] if set_frames and img not in set_frames else "")
    if bad:
        raise InputError(f"{what}FrameOfReferenceUID {bad!r} differs from the images' {img!r}; "
                         "expected the same patient frame "
                         "(an RTSTRUCT of another scan or registration)")


#: contour points farther than this outside the image volume (in voxels) are reported
BEYOND_TOL_VOXELS = 1.0


def contours_beyond_image(contours: list[np.ndarray], image: ImageVolume) -> str | None:
    """A sentence on how far the contours reach beyond the image volume, or None if they lie inside."""
    shape = np.array(image.shape[::-1], dtype=float)  # (ni, nj, nk)
    n_out = n_pts = 0
    worst_mm = 0.0
    sp_mm = np.asarray(image.grid.spacing_m, dtype=float) * 1e3
    for pts in contours:
        ijk = image.grid.lps_m_to_index(pts * 1e-3)
        below = np.maximum(-0.5 - ijk, 0.0)
        above = np.maximum(ijk - (shape - 0.5), 0.0)
        excess = np.maximum(below, above)
        out = (excess > BEYOND_TOL_VOXELS).any(axis=1)
        n_out += int(out.sum())
        n_pts += len(ijk)
        if out.any():
            worst_mm = max(worst_mm, float(np.linalg.norm(excess[out] * sp_mm, axis=1).max()))
    if n_out == 0:
        return None
    return f"{n_out} of {n_pts} contour points lie outside the image volume (up to {worst_mm:.1f} mm beyond its edge)"


def mask_to_contours(mask: np.ndarray, image: ImageVolume) -> list[np.ndarray]:
    """Marching-squares contours (LPS mm, (n, 3) each) of a bool mask (nk, nj, ni), slice by slice."""
    import contourpy

    out = []
    for k in range(mask.shape[0]):
        sl = mask[k]
        if not sl.any():
            continue
        z = np.pad(sl.astype(np.float64), 1)
        gen = contourpy.contour_generator(z=z, line_type="Separate")
        for line in gen.lines(0.5):
            line = np.asarray(line, dtype=float)
            if np.allclose(line[0], line[-1]):
                line = line[:-1]
            if len(line) < 3:
                continue
            ijk = np.column_stack([line[:, 0] - 1.0, line[:, 1] - 1.0, np.full(len(line), float(k))])
            out.append(image.grid.index_to_lps_m(ijk) * 1e3)
    return out


def _referenced_frames(image: ImageVolume, study: StudyInfo, contour_image):
    """ReferencedFrameOfReferenceSequence: the frame, the study, the series and every image slice."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    se = Dataset()
    se.SeriesInstanceUID = image.series_uid
    se.ContourImageSequence = Sequence([contour_image(k) for k in range(len(image.sop_instance_uids))])
    st = Dataset()
    st.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    st.ReferencedSOPInstanceUID = study.study_uid
    st.RTReferencedSeriesSequence = Sequence([se])
    fr = Dataset()
    fr.FrameOfReferenceUID = study.frame_of_reference_uid
    fr.RTReferencedStudySequence = Sequence([st])
    return Sequence([fr])


def write_rtstruct(
    path: str | Path,
    image: ImageVolume,
    rois: list[tuple[str, np.ndarray, str]],
    *,
    study: StudyInfo | None = None,
    seed: str | None = None,
    label: str = "planner",
) -> Path:
    """Write an RTSTRUCT referencing ``image`` with ROIs ``(name, bool mask, interpreted type)``.

    ``interpreted type`` is the DICOM RTROIInterpretedType (e.g. "GTV", "PTV", "ORGAN").
    """
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    study = study or StudyInfo(study_uid=image.study_uid, frame_of_reference_uid=image.frame_of_reference_uid)
    study = study.filled(seed)
    sop = make_uid(None if seed is None else f"{seed}/rtstruct/{image.series_uid}")
    ds = file_dataset(RT_STRUCTURE_SET_STORAGE, sop, study, "RTSTRUCT")
    ds.SeriesInstanceUID = make_uid(None if seed is None else f"{seed}/rtstruct-series/{image.series_uid}")
    ds.SeriesNumber = 99
    ds.StructureSetLabel = label
    ds.StructureSetName = label
    ds.StructureSetDate = study.date
    ds.StructureSetTime = "120000"
    image_sop_class = "1.2.840.10008.5.1.4.1.1.2" if image.modality == "CT" else "1.2.840.10008.5.1.4.1.1.4"

    def contour_image(k: int) -> Dataset:
        ci = Dataset()
        ci.ReferencedSOPClassUID = image_sop_class
        ci.ReferencedSOPInstanceUID = image.sop_instance_uids[k]
        return ci

    ds.ReferencedFrameOfReferenceSequence = _referenced_frames(image, study, contour_image)

    ssroi, roic, obs = [], [], []
    for n, (name, mask, itype) in enumerate(rois, start=1):
        r = Dataset()
        r.ROINumber = n
        r.ReferencedFrameOfReferenceUID = study.frame_of_reference_uid
        r.ROIName = name
        r.ROIGenerationAlgorithm = "AUTOMATIC"
        ssroi.append(r)
        c = Dataset()
        c.ROIDisplayColor = list(_COLOURS[(n - 1) % len(_COLOURS)])
        c.ReferencedROINumber = n
        seq = []
        for pts in mask_to_contours(np.asarray(mask, dtype=bool), image):
            k = int(round(float(image.grid.lps_m_to_index(pts[:1] * 1e-3)[0, 2])))
            item = Dataset()
            item.ContourImageSequence = Sequence([contour_image(k)]) if image.sop_instance_uids else Sequence([])
            item.ContourGeometricType = "CLOSED_PLANAR"
            item.NumberOfContourPoints = len(pts)
            item[_CONTOUR_DATA] = _ds_element(_CONTOUR_DATA, pts.ravel())
            seq.append(item)
        c.ContourSequence = Sequence(seq)
        roic.append(c)
        o = Dataset()
        o.ObservationNumber = n
        o.ReferencedROINumber = n
        o.RTROIInterpretedType = itype
        o.ROIInterpreter = ""
        obs.append(o)
    ds.StructureSetROISequence = Sequence(ssroi)
    ds.ROIContourSequence = Sequence(roic)
    ds.RTROIObservationsSequence = Sequence(obs)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(p, enforce_file_format=True)
    return p
