"""The plan pipeline: one function per stage, chained over frozen artefacts (DESIGN.md §3).

Stages run on every MPI rank (the FE solvers are collective); meshing runs on rank 0 and is
broadcast; rank 0 writes the results folder atomically. A stage whose plan section is absent is
skipped and says so in ``summary.json`` → ``stages``.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from planner.reporting import results as report
from planner.artefacts import TissueMesh
from planner.config.plan import PlanConfig
from planner.errors import InputError, bad_value

log = logging.getLogger(__name__)


@dataclass
class PlanResult:
    summary: dict[str, Any]
    output_dir: Path | None
    artefacts: dict[str, Any] = field(default_factory=dict)


def check_plan(cfg: PlanConfig, lib) -> None:
    """Checks beyond the plan file's own schema, without running anything: every tissue a plan names
    exists in the library (after [tissues.*] overrides); [imaging]/[segmentation] keys and paths;
    magnitudes that betray a unit slip and meshes that would not fit (planner.config.plausibility);
    concentration-map values against their stated units."""
    from planner.config.plausibility import check_plausibility

    check_plausibility(cfg)
    _check_input_files(cfg)
    _check_map_values(cfg)
    if cfg.geometry is None:
        from planner.imaging import check_sections

        img_sec, _ = check_sections(cfg, lib)
        _check_images(cfg, img_sec)
        return
    for i, b in enumerate(cfg.geometry.bodies):
        if b.tissue not in lib:
            raise InputError(bad_value(f"geometry.bodies[{i}].tissue", b.tissue, "one of " + ", ".join(lib.names())))


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


def _check_images(cfg: PlanConfig, img_sec) -> None:
    """DICOM headers, the slice stack, RTSTRUCT references and frame, positions against the image
    bounds, and the mesh-size estimate — without decoding pixels or meshing (phantom inputs that
    will be generated on the first run are skipped)."""
    import numpy as np

    from planner.config.plausibility import CELLS_PER_H3, mesh_size_message
    from planner.imaging.dicom import read_dicom_series
    from planner.imaging.rtstruct import check_rtstruct

    src = img_sec.image_source
    if src not in ("ct", "mr") or not cfg.resolve(getattr(img_sec, src)).exists():
        return
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
    for key, pos in _positions(cfg):
        ijk = image.grid.lps_m_to_index(np.array(pos) * 1e-3)[0]
        n = np.array(image.shape[::-1])
        if np.any(ijk < -0.5) or np.any(ijk > n - 0.5):
            lo = image.grid.index_to_lps_m(np.array([[-0.5, -0.5, -0.5]]))[0] * 1e3
            hi = image.grid.index_to_lps_m(np.array([n - 0.5]))[0] * 1e3
            raise InputError(f"{key} = {list(pos)!r}: outside the image volume (LPS mm {np.round(np.minimum(lo, hi), 1).tolist()} .. "
                             f"{np.round(np.maximum(lo, hi), 1).tolist()}); expected a position in patient LPS mm inside the images")
    cells = int(CELLS_PER_H3 * 0.5 * float(np.prod(box_mm)) / cfg.mesh.max_size_mm ** 3)  # body ≈ half the field of view
    msg = mesh_size_message(cells, "mesh.max_size_mm", cfg.mesh.max_size_mm)
    if msg:
        raise InputError(msg)


def _positions(cfg: PlanConfig):
    """(key, position in LPS mm) of every point a plan places in the patient."""
    if cfg.thermal is not None:
        for i, pr in enumerate(cfg.thermal.probes):
            yield f"thermal.probes[{i}].position_mm", pr.position_mm
    if cfg.nanoparticles is not None:
        for i, dep in enumerate(cfg.nanoparticles.distribution.deposits):
            yield f"nanoparticles.distribution.deposits[{i}].center_mm", dep.center_mm


def _check_input_files(cfg: PlanConfig) -> None:
    """Read every text input a plan names (SLP table, coil path file) behind one error boundary."""
    np_sec = cfg.nanoparticles
    if np_sec is not None and np_sec.slp_model == "table" and np_sec.table is not None:
        from planner.nanoparticles.slp import read_slp_table

        path = cfg.resolve(np_sec.table.file)
        sniff_text(path, "nanoparticles.table.file", "a CSV file of SLP(H, f) with '# key: value' metadata")
        table = read_slp_table(path)
        from planner.config.plausibility import table_value_messages

        errors = table_value_messages(f"nanoparticles.table.file = {np_sec.table.file!r}", table.H_peak_A_per_m.tolist(),
                                      table.frequency_Hz.tolist(), table.slp_W_per_g.ravel().tolist())
        if errors:
            raise InputError(errors[0])
    app = cfg.applicator
    if app is not None and app.path_file:
        from planner.em.applicators import read_path_file

        path = cfg.resolve(app.path_file)
        sniff_text(path, "applicator.path_file", "a text file of 3-D points in mm")
        read_path_file(path)


def _check_map_values(cfg: PlanConfig) -> None:
    """A concentration map in µg/mL declared as mg/mL (or µM as mM) is refused before meshing."""
    d = cfg.nanoparticles.distribution if cfg.nanoparticles is not None else None
    if d is None or d.kind != "concentration-map" or d.file is None:
        return
    import numpy as np

    from planner.config.plausibility import map_value_messages
    from planner.nanoparticles.distributions import FE_mg_per_mmol, read_map

    vol = read_map(cfg.resolve(d.file), d.format)
    data = np.nan_to_num(np.asarray(vol.data, dtype=float), nan=0.0, posinf=0.0, neginf=0.0)
    scale = FE_mg_per_mmol * 1e-3 if d.units == "mM_Fe" else 1.0
    c = np.maximum(data, 0.0) * scale
    errors = map_value_messages(f"nanoparticles.distribution.file = {d.file!r}", float(c.max(initial=0.0)),
                                float(c.sum()) * vol.voxel_volume_mL, d.units or "mg_Fe_per_mL")
    if errors and d.total_mass_mg is None:
        raise InputError(errors[0])
    if errors:  # the declared total fixes the mass; the map's shape is still used
        log.warning(errors[0])


def build_mesh(cfg: PlanConfig, lib) -> tuple[TissueMesh, Any]:
    """TissueMesh from primitives ([geometry]) or from DICOM ([imaging]); the second item is the
    patient model (imaging reports) or None."""
    if cfg.geometry is not None:
        from planner.geometry.mesher import mesh_shapes

        return canonical_tissues(mesh_shapes(cfg.geometry, cfg.mesh), lib), None
    from planner.imaging import patient_model

    model = patient_model(cfg, lib)
    return canonical_tissues(model.mesh, lib), model


def canonical_tissues(mesh: TissueMesh, lib) -> TissueMesh:
    """Regions name tissues by the library's canonical name (plans may use aliases like 'tumor')."""
    regions = tuple(dataclasses.replace(r, tissue=lib[r.tissue].name) for r in mesh.regions)
    if regions == mesh.regions:
        return mesh
    return dataclasses.replace(mesh, regions=regions, _cache={})


def mesh_summary(mesh: TissueMesh) -> dict[str, Any]:
    regions = []
    for reg in mesh.regions:
        v = mesh.region_volume_m3(reg.tag)
        exact = reg.exact_volume_m3
        regions.append({
            "name": reg.name, "tissue": reg.tissue, "role": reg.role.value, "tag": reg.tag,
            "cells": int((mesh.cell_region == reg.tag).sum()),
            "volume_m3": v, "exact_volume_m3": exact,
            "volume_rel_error": (v - exact) / exact if exact else None,
        })
    return {"cells": mesh.num_cells, "vertices": mesh.num_vertices, "skin_facets": int(mesh.skin_facets.shape[0]),
            "source": mesh.source, "regions": regions}


def run_plan(cfg: PlanConfig, *, write: bool = True) -> PlanResult:
    """Run every stage the plan asks for; warnings logged on the way are listed in ``summary["warnings"]``."""
    with report.collect_warnings() as warnings:
        return _run_plan(cfg, write, warnings)


def _run_plan(cfg: PlanConfig, write: bool, warnings: list[str]) -> PlanResult:
    from planner.fem import parallel
    from planner.tissues.library import load_library

    lib = load_library(cfg.tissues)
    check_plan(cfg, lib)
    if write and parallel.rank() == 0:
        check_output(cfg)
    root: dict[str, Any] = {}  # the patient model (with its images) stays on rank 0

    def build() -> tuple[TissueMesh, dict | None, dict]:
        mesh, patient = build_mesh(cfg, lib)
        root["patient"] = patient
        return mesh, (patient.summary_block() if patient else None), (patient.input_files() if patient else {})

    mesh, imaging_summary, imaging_files = parallel.on_root_then_bcast(build)
    stages: dict[str, str] = {"mesh": "done"}
    summary: dict[str, Any] = {"plan": {"name": cfg.plan.name, "description": cfg.plan.description},
                               "mesh": mesh_summary(mesh)}
    if imaging_summary is not None:
        summary["imaging"] = imaging_summary
    artefacts: dict[str, Any] = {"mesh": mesh, "patient": root.get("patient")}
    artefacts.update(_physics(cfg, lib, mesh, stages, summary))
    summary["stages"] = stages
    summary["warnings"] = list(warnings)
    summary["provenance"] = report.provenance(cfg.plan_sha256, {**_input_files(cfg), **imaging_files})
    out = None
    if write and parallel.rank() == 0:
        out = cfg.output_path
        with report.results_folder(out, overwrite=cfg.plan.overwrite, inputs=plan_inputs(cfg)) as tmp:
            _write_outputs(tmp, mesh, artefacts, summary)
    if write:
        parallel.barrier()
    return PlanResult(summary=summary, output_dir=out, artefacts=artefacts)


def _physics(cfg: PlanConfig, lib, mesh: TissueMesh, stages: dict, summary: dict) -> dict[str, Any]:
    """Field → heat → temperature → safety (→ settings search); each runs when the plan asks for it."""
    if cfg.applicator is None:
        for st in ("em", "nanoparticles", "thermal", "safety"):
            stages[st] = "skipped: plan has no [applicator] section"
        return {}
    from planner import em
    from planner.planning import safety
    from planner.config.plan import SafetySection
    from planner.nanoparticles import heat_source

    applied = em.applied_field(mesh, cfg.applicator, base_dir=cfg.base_dir)
    fields = em.solve_eddy_currents(mesh, applied, lib, cfg)
    fields = _implant_stage(cfg, lib, mesh, applied, fields, stages)
    stages["em"] = "done"
    summary["em"] = fields.summary_block()
    heat = heat_source(mesh, applied, fields, lib, cfg.nanoparticles, base_dir=cfg.base_dir)
    stages["nanoparticles"] = "done" if cfg.nanoparticles else "skipped: no [nanoparticles] section (eddy/implant heat only)"
    summary["nanoparticles"] = heat.summary_block()
    temperatures = None
    if cfg.thermal is not None:
        from planner.thermal import solve_bioheat

        temperatures = _solve_bioheat_explained(solve_bioheat, mesh, heat, lib, cfg)
        stages["thermal"] = "done"
        summary["thermal"] = temperatures.summary_block()
    else:
        stages["thermal"] = "skipped: plan has no [thermal] section"
    check = safety.check(cfg.safety or SafetySection(), cfg.applicator, mesh, applied, fields, temperatures)
    stages["safety"] = "done" if check.ok else f"done: {len(check.violations)} violation(s)"
    summary["safety"] = check.summary_block()
    found = None
    if cfg.search is not None:
        from planner.planning.search import search_settings

        found = search_settings(cfg, mesh, applied, fields, heat, lib)
        stages["search"] = "done"
        summary["search"] = found.summary_block()
    return {"fields": fields, "heat": heat, "temperatures": temperatures, "safety": check, "search": found}


def _solve_bioheat_explained(solve, mesh, heat, lib, cfg):
    """The thermal stage; a non-physical temperature names the heat source and the keys that set it."""
    from planner.config.plausibility import divergence_hint
    from planner.errors import SolverError

    try:
        return solve(mesh, heat, lib, cfg)
    except SolverError as exc:
        if not str(exc).startswith("temperature T ="):
            raise
        b = heat.summary_block()
        powers = {"nanoparticles": b.get("total_power_W") or 0.0, "eddy currents": b.get("eddy_power_W") or 0.0,
                  "implants": b.get("implant_power_W") or 0.0}
        raise SolverError(f"{exc}; {divergence_hint(cfg, powers)}") from None


def _implant_stage(cfg: PlanConfig, lib, mesh: TissueMesh, applied, fields, stages: dict):
    """Losses of metal implants from the full eddy-current sub-models, handed on as heat."""
    import dataclasses as dc

    from planner.em.implants import ImplantOptions, implant_losses, implant_regions, total_Q_W_per_m3

    regions = implant_regions(mesh, lib)
    if not regions:
        stages["implants"] = "skipped: no implant regions"
        return fields
    options = ImplantOptions(**dc.asdict(cfg.implants)) if cfg.implants is not None else None
    losses = implant_losses(mesh, regions, A_peak_at=applied.A_peak_at, H_peak_at=applied.H_peak_at,
                            frequency_Hz=applied.frequency_Hz, lib=lib, geometry=cfg.geometry, options=options)
    stages["implants"] = "done"
    return fields.with_implants(tuple(losses), total_Q_W_per_m3(losses, mesh.num_cells))


def _write_outputs(folder: Path, mesh: TissueMesh, artefacts: dict, summary: dict) -> None:
    fields_dir = folder / "fields"
    fields_dir.mkdir()
    written = []
    for name, art in artefacts.items():
        if art is not None and hasattr(art, "write_fields"):
            written += [p.relative_to(folder) for p in art.write_fields(fields_dir, mesh)]
        if art is not None and hasattr(art, "write_figures"):
            written += [p.relative_to(folder) for p in art.write_figures(folder / "figures")]
    written.append(Path("fields") / "mesh.vtu")
    _write_mesh_vtu(fields_dir / "mesh.vtu", mesh)
    from planner.reporting.figures import write_report

    written += [p.relative_to(folder) for p in write_report(folder, mesh, summary, artefacts)]
    summary["files"] = sorted(str(p) for p in written) + ["summary.json"]
    report.write_json(folder / "summary.json", summary)


def _write_mesh_vtu(path: Path, mesh: TissueMesh) -> None:
    import meshio

    meshio.write(str(path), meshio.Mesh(mesh.points_m, [("tetra", mesh.cells)],
                                        cell_data={"region": [mesh.cell_region]}))


_IMAGING_PATHS = ("ct", "mr", "nifti", "labels", "rtstruct", "target_mask")


def plan_inputs(cfg: PlanConfig) -> dict[str, Path]:
    """Every file or folder a plan reads (plan file, images, RTSTRUCT, maps, tables, coil paths):
    the results folder may not be, contain or lie inside any of them."""
    files = _input_files(cfg)
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


def _input_files(cfg: PlanConfig) -> dict[str, Path]:
    files: dict[str, Path] = {}
    if cfg.plan_file is not None:
        files["plan"] = cfg.plan_file
    if cfg.applicator is not None and cfg.applicator.path_file:
        files["applicator.path_file"] = cfg.resolve(cfg.applicator.path_file)
    from planner.nanoparticles import input_files

    files.update(input_files(cfg.nanoparticles, base_dir=cfg.base_dir))
    return files
