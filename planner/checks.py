"""Everything a plan names, checked before anything is meshed or solved (issue 16).

``check_before_solving(cfg, imaging_section)`` runs at ``planner check`` and first thing in ``planner
run`` (through :func:`planner.pipeline.check_plan`): plausibility of magnitudes
(:mod:`planner.config.plausibility`), every input file read behind one error boundary (format
sniffed: an .xlsx given as CSV is a one-line error), DICOM headers and RTSTRUCT references without
decoding pixels, positions against the image bounds, concentration maps against their units and the
patient's extent. ``plan_inputs``/``check_output``: the results folder may not be, contain or lie
inside an input, nor hold files the planner did not write (:mod:`planner.reporting.results`).
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from planner.config.plan import PlanConfig
from planner.errors import InputError
from planner.reporting import results as report

log = logging.getLogger(__name__)


def check_before_solving(cfg: PlanConfig, img_sec=None) -> None:
    """All checks that need no mesh and no solve (see module docstring); one-line InputError."""
    from planner.config.plausibility import check_plausibility

    check_plausibility(cfg)
    _check_input_files(cfg)
    bounds = _check_images(cfg, img_sec) if img_sec is not None else _geometry_bounds_mm(cfg)
    _check_map_values(cfg, bounds)


_BINARY_FORMATS = ((b"PK\x03\x04", "a ZIP archive (an .xlsx/.docx/.ods workbook?)"),
                   (b"\xd0\xcf\x11\xe0", "an OLE2 file (an .xls workbook?)"), (b"%PDF", "a PDF document"),
                   (b"\x89PNG", "a PNG image"), (b"\x1f\x8b", "gzip-compressed data"))


def sniff_text(path: Path, key: str, expected: str) -> None:
    """Refuse, in one line naming the key and the path, a text input that is missing, unreadable or
    binary (an Excel workbook given as CSV, a PDF, NUL bytes, not UTF-8)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 16)
    except OSError as exc:
        raise InputError(f"{key} = {str(path)!r}: cannot be read ({exc.strerror}); expected {expected}") from None
    what = next((w for magic, w in _BINARY_FORMATS if head.startswith(magic)), None)
    if what is None and b"\x00" in head:
        what = "binary data (NUL bytes)"
    if what is None:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 4:  # not just a character cut at the 64 KiB boundary
                what = f"not UTF-8 text (byte {exc.start})"
    if what is not None:
        raise InputError(f"{key} = {str(path)!r}: {what}; expected {expected} (export it as CSV/UTF-8 text)")


Bounds = tuple[np.ndarray, np.ndarray, str]  # (lo, hi) LPS mm and what they bound


def _check_images(cfg: PlanConfig, img_sec) -> Bounds | None:
    """DICOM headers, the slice stack, RTSTRUCT references and frame, positions against the image
    bounds, and the mesh-size estimate — without decoding pixels or meshing (phantom inputs that
    will be generated on the first run are skipped)."""
    from planner.config.plausibility import CELLS_PER_H3, mesh_size_message
    from planner.imaging.dicom import read_dicom_series
    from planner.imaging.rtstruct import check_rtstruct

    src = img_sec.image_source
    if src not in ("ct", "mr") or not cfg.resolve(getattr(img_sec, src)).exists():
        return None
    image = read_dicom_series(cfg.resolve(getattr(img_sec, src)), series_uid=img_sec.series_uid, modality=src.upper(),
                              field=f"imaging.{src}", headers_only=True)
    box_mm = np.array(image.shape[::-1], float) * image.grid.spacing_m * 1e3
    if img_sec.rtstruct is not None and cfg.resolve(img_sec.rtstruct).exists():
        names = ([img_sec.target] if img_sec.target else []) + list(img_sec.organs) + list(img_sec.implants)
        ss, warnings = check_rtstruct(cfg.resolve(img_sec.rtstruct), image, names)
        for w in warnings:
            log.warning(w)
        target = next((r for r in ss.rois if r.name == img_sec.target), None)
        if img_sec.crop_margin_mm and target is not None and target.contours:
            pts = np.vstack(target.contours)
            box_mm = np.minimum(np.ptp(pts, axis=0) + 2 * img_sec.crop_margin_mm, box_mm)
    _check_masks_on_grid(cfg, img_sec, image.grid)
    n = np.array(image.shape[::-1])
    corners = np.array([[a, b, c] for a in (-0.5, n[0] - 0.5) for b in (-0.5, n[1] - 0.5) for c in (-0.5, n[2] - 0.5)])
    pts = image.grid.index_to_lps_m(corners) * 1e3
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    for key, pos in _positions(cfg):
        ijk = image.grid.lps_m_to_index(np.array(pos) * 1e-3)[0]
        if np.any(ijk < -0.5) or np.any(ijk > n - 0.5):
            raise InputError(f"{key} = {list(pos)!r}: outside the image volume (LPS mm {np.round(lo, 1).tolist()} .. "
                             f"{np.round(hi, 1).tolist()}); expected a position in patient LPS mm inside the images")
    # the body fills about half the field of view
    cells = int(CELLS_PER_H3 * 0.5 * float(np.prod(box_mm)) / cfg.mesh.max_size_mm ** 3)
    msg = mesh_size_message(cells, "mesh.max_size_mm", cfg.mesh.max_size_mm)
    if msg:
        raise InputError(msg)
    return lo, hi, "the images"


def _check_masks_on_grid(cfg: PlanConfig, img_sec, grid) -> None:
    """A label map, target mask or segmentation must overlap the image (another grid is resampled at run
    time, planner.imaging.resample); the structures a plan names must be in the segmentation file."""
    from planner.imaging.resample import MIN_INSIDE_LABELS, MIN_INSIDE_MASK, check_inside, same_grid
    from planner.imaging.stage import read_label_file, read_segments

    for key in ("labels", "target_mask"):
        rel = getattr(img_sec, key, None)
        if rel is None or not cfg.resolve(rel).exists():
            continue
        values, g = read_label_file(cfg.resolve(rel))
        if not same_grid(g, grid):
            check_inside(values, g, grid, what=f"imaging.{key} = {rel!r}",
                         min_inside=MIN_INSIDE_MASK if key == "target_mask" else MIN_INSIDE_LABELS)
    rel = getattr(img_sec, "segments", None)
    if rel is not None and cfg.resolve(rel).exists():
        seg = read_segments(cfg.resolve(rel))
        names = ([img_sec.target] if img_sec.target else []) + list(img_sec.organs) + list(img_sec.implants)
        missing = [n for n in names if n not in seg.masks]
        if missing:
            raise InputError(f"imaging.segments = {rel!r}: segment(s) {missing} not found; the file has {seg.names()}")
        for n in names:
            if not same_grid(seg.grid, grid):
                check_inside(seg.masks[n], seg.grid, grid, what=f"imaging.segments = {rel!r} segment {n!r}",
                             min_inside=MIN_INSIDE_MASK if n == img_sec.target else MIN_INSIDE_LABELS)


def _geometry_bounds_mm(cfg: PlanConfig) -> Bounds | None:
    """Bounding box (LPS mm) of the outer body of a [geometry] plan (None for a hip stem)."""
    if cfg.geometry is None:
        return None
    b = cfg.geometry.bodies[0]
    c = np.array(b.center_mm, float)
    if b.shape == "box" and b.size_mm:
        half = np.array(b.size_mm) / 2
    elif b.shape == "sphere" and b.radius_mm:
        half = np.full(3, b.radius_mm)
    elif b.shape == "cylinder" and b.radius_mm and b.length_mm:
        half = np.full(3, max(b.radius_mm, b.length_mm / 2))
    elif b.shape == "ellipsoid" and b.semi_axes_mm:
        half = np.array(b.semi_axes_mm)
    else:
        return None
    return c - half, c + half, f"the body {b.name!r}"


def _positions(cfg: PlanConfig):
    """(key, position in LPS mm) of every point a plan places in the patient."""
    if cfg.thermal is not None:
        for i, pr in enumerate(cfg.thermal.probes):
            yield f"thermal.probes[{i}].position_mm", pr.position_mm
    if cfg.em is not None:
        for i, fp in enumerate(cfg.em.field_probes):
            for k in ("position_mm", "start_mm", "end_mm"):
                if getattr(fp, k) is not None:
                    yield f"em.field_probes[{i}].{k}", getattr(fp, k)
    if cfg.nanoparticles is not None:
        for i, dep in enumerate(cfg.nanoparticles.distribution.deposits):
            yield f"nanoparticles.distribution.deposits[{i}].center_mm", dep.center_mm


def _check_input_files(cfg: PlanConfig) -> None:
    """Read every text input a plan names (SLP table, coil path file) behind one error boundary."""
    np_sec = cfg.nanoparticles
    table_file = getattr(np_sec.model_parameters, "file", None) if np_sec is not None and np_sec.slp_model == "table" else None
    if table_file is not None:
        from planner.nanoparticles.slp import read_slp_table

        path = cfg.resolve(table_file)
        sniff_text(path, "nanoparticles.table.file", "a CSV file of SLP(H, f) with '# key: value' metadata")
        table = read_slp_table(path)
        from planner.config.plausibility import table_value_messages

        errors = table_value_messages(f"nanoparticles.table.file = {table_file!r}",
                                      table.H_peak_A_per_m.tolist(), table.frequency_Hz.tolist(),
                                      table.slp_W_per_g.ravel().tolist())
        if errors:
            raise InputError(errors[0])
    app = cfg.applicator
    if app is not None and app.path_file:
        sniff_text(cfg.resolve(app.path_file), "applicator.path_file", "a text file of 3-D points in mm")
    if app is not None:
        from planner.em import applicators

        builders = getattr(applicators, "APPLICATORS", {})
        build = builders.get(app.type)
        if build is not None:  # the coil is built without a mesh: its keys and path file are checked now
            build(app, cfg.base_dir)


def _check_map_values(cfg: PlanConfig, bounds: Bounds | None) -> None:
    """Every particle map the plan names is read; a map that misses the patient, or a concentration
    map in µg/mL declared as mg/mL (µM as mM), is refused before meshing."""
    d = cfg.nanoparticles.distribution if cfg.nanoparticles is not None else None
    if d is None or d.kind not in ("concentration-map", "r2star-map"):
        return
    from planner.nanoparticles.distributions import FE_mg_per_mmol, read_map

    for key in ("file", "pre_file", "post_file"):
        rel = getattr(d, key)
        if rel is None:
            continue
        vol = read_map(cfg.resolve(rel), d.format)
        shown = f"nanoparticles.distribution.{key} = {rel!r}"
        if bounds is not None:
            _check_overlap(vol, bounds, shown)
        if d.kind == "concentration-map":
            data = np.nan_to_num(np.asarray(vol.data, dtype=float), nan=0.0, posinf=0.0, neginf=0.0)
            scale = FE_mg_per_mmol * 1e-3 if d.units == "mM_Fe" else 1.0
            _map_units(shown, np.maximum(data, 0.0) * scale, vol.voxel_volume_mL, d)


def _map_units(shown: str, c_mg_per_mL: np.ndarray, voxel_mL: float, d) -> None:
    from planner.config.plausibility import map_value_messages

    errors = map_value_messages(shown, float(c_mg_per_mL.max(initial=0.0)), float(c_mg_per_mL.sum()) * voxel_mL,
                                d.units or "mg_Fe_per_mL")
    if errors and d.total_mass_mg is None:
        raise InputError(errors[0])
    if errors:  # the declared total fixes the mass; the map's shape is still used
        log.warning(errors[0])


def _check_overlap(vol, bounds: Bounds, shown: str) -> None:
    n = np.array(vol.data.shape, float)
    corners = np.array([[a, b, c, 1.0] for a in (-0.5, n[0] - 0.5) for b in (-0.5, n[1] - 0.5)
                        for c in (-0.5, n[2] - 0.5)])
    pts = (vol.affine_lps_mm @ corners.T).T[:, :3]
    mlo, mhi = pts.min(axis=0), pts.max(axis=0)
    lo, hi, what = bounds
    if np.any(mhi < lo) or np.any(mlo > hi):
        raise InputError(f"{shown}: the map (LPS mm {np.round(mlo, 1).tolist()} .. {np.round(mhi, 1).tolist()}) "
                         f"does not overlap {what} (LPS mm {np.round(lo, 1).tolist()} .. {np.round(hi, 1).tolist()}); "
                         "expected a map in the same patient frame")


_IMAGING_PATHS = ("ct", "mr", "nifti", "nrrd", "labels", "rtstruct", "segments", "target_mask")


def plan_inputs(cfg: PlanConfig) -> dict[str, Path]:
    """Every file or folder a plan reads (plan file, images, RTSTRUCT, maps, tables, coil paths):
    the results folder may not be, contain or lie inside any of them."""
    files = input_files(cfg)
    raw = cfg.imaging or {}
    for key in _IMAGING_PATHS:
        if isinstance(raw.get(key), str) and raw[key].strip():
            files[f"imaging.{key}"] = cfg.resolve(raw[key])
    if raw.get("phantom") is not None:
        files["imaging.phantom"] = cfg.resolve("dicom")
    return files


def check_output(cfg: PlanConfig) -> None:
    """Refuse, before anything runs, an output_dir that would delete or modify a file the planner
    did not write (planner.reporting.results.check_output_dir)."""
    report.check_output_dir(cfg.output_path, inputs=plan_inputs(cfg), overwrite=cfg.plan.overwrite)


def input_files(cfg: PlanConfig) -> dict[str, Path]:
    """Files a plan reads outside [imaging] (plan, coil path, SLP table, maps): hashed into summary.json."""
    files: dict[str, Path] = {}
    if cfg.plan_file is not None:
        files["plan"] = cfg.plan_file
    if cfg.applicator is not None and cfg.applicator.path_file:
        files["applicator.path_file"] = cfg.resolve(cfg.applicator.path_file)
    from planner.nanoparticles import input_files

    files.update(input_files(cfg.nanoparticles, base_dir=cfg.base_dir))
    return files
