"""The plan pipeline: one function per stage, chained over frozen artefacts (DESIGN.md §3).

Stages run on every MPI rank (the FE solvers are collective); meshing runs on rank 0 and is
broadcast; rank 0 writes the results folder atomically. A stage whose plan section is absent is
skipped and says so in ``summary.json`` → ``stages``.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from planner.artefacts import DONE, Progress, StageRecord, StageStatus, TissueMesh, no_progress, skipped
from planner.checks import check_output, plan_inputs  # noqa: F401  (public: the CLI and tests use them here)
from planner.checks import input_files as _input_files
from planner.config.plan import PlanConfig
from planner.errors import InputError, bad_value

if TYPE_CHECKING:  # typing only: the stages are imported where they run
    from planner.imaging.stage import PatientModel
    from planner.tissues.library import TissueLibrary
from planner.reporting import results as report

log = logging.getLogger(__name__)


@dataclass
class PlanResult:
    summary: dict[str, Any]
    output_dir: Path | None
    artefacts: dict[str, Any] = field(default_factory=dict)


def check_plan(cfg: PlanConfig, lib) -> None:
    """Checks beyond the plan file's own schema, without running anything: every tissue a plan names
    exists in the library (after [tissues.*] overrides); [imaging]/[segmentation] keys and paths;
    then every input the plan names, read behind one error boundary (planner.checks)."""
    from planner.checks import check_before_solving

    if cfg.geometry is None:
        from planner.imaging import ImagingPlan, check_sections

        img_sec, _ = check_sections(ImagingPlan.of(cfg), lib)
        check_before_solving(cfg, img_sec)
        return
    for i, b in enumerate(cfg.geometry.bodies):
        if b.tissue not in lib:
            raise InputError(bad_value(f"geometry.bodies[{i}].tissue", b.tissue, "one of " + ", ".join(lib.names())))
    if cfg.safety is not None:
        from planner.planning.safety import check_structure_names

        check_structure_names(cfg.safety, [b.name for b in cfg.geometry.bodies])
    check_before_solving(cfg)


def build_mesh(cfg: PlanConfig, lib: TissueLibrary) -> tuple[TissueMesh, PatientModel | None]:
    """TissueMesh from primitives ([geometry]) or from DICOM ([imaging]); the second item is the
    patient model (imaging reports) or None."""
    if cfg.geometry is not None:
        from planner.geometry.mesher import mesh_shapes

        return canonical_tissues(mesh_shapes(cfg.geometry, cfg.mesh), lib), None
    from planner.imaging import ImagingPlan, patient_model

    model = patient_model(ImagingPlan.of(cfg), lib)
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
            "cut_faces": int(mesh.cut_facets.shape[0]), "source": mesh.source, "regions": regions}


@dataclass
class _Clock:
    """Wall-clock seconds per stage (``summary.json`` → ``timings_s``) and the progress callback."""

    progress: Progress = no_progress
    timings_s: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str, task: str | None = None) -> Iterator[None]:
        """Time stage ``name`` (added up over repeated entries); ``task``: also shown as a spinner."""
        t0 = time.perf_counter()
        if task:
            self.progress(task, 0, None)
        try:
            yield
        finally:
            self.timings_s[name] = self.timings_s.get(name, 0.0) + time.perf_counter() - t0
            if task:
                self.progress(task, 1, 1)


def run_plan(cfg: PlanConfig, *, write: bool = True, progress: Progress | None = None) -> PlanResult:
    """Run every stage the plan asks for; warnings logged on the way are listed in ``summary["warnings"]``,
    wall-clock seconds per stage in ``summary["timings_s"]``. ``progress`` (rank 0 only) is told the
    progress of meshing, implant sub-models, the time loop and the search.

    Safety violations do not stop the run: they are recorded (``summary["safety"]["violations"]``) and
    the results are written; with ``[safety] stop_on_violation`` the settings search is not run."""
    with report.collect_warnings() as warnings:
        return _run_plan(cfg, write, warnings, progress or no_progress)


def _run_plan(cfg: PlanConfig, write: bool, warnings: list[str], progress: Progress) -> PlanResult:
    from planner.fem import parallel
    from planner.tissues.library import load_library

    t_start = time.perf_counter()
    clock = _Clock(progress if parallel.rank() == 0 else no_progress)
    lib = load_library(cfg.tissues)
    check_plan(cfg, lib)
    if write:  # on every rank: a refusal must stop all of them before the collective stages
        check_output(cfg)
    root: dict[str, Any] = {}  # the patient model (with its images) stays on rank 0

    def build() -> tuple[TissueMesh, dict | None, dict]:
        mesh, patient = build_mesh(cfg, lib)
        root["patient"] = patient
        return mesh, (patient.summary_block() if patient else None), (patient.input_files() if patient else {})

    with clock.stage("mesh", "meshing" if cfg.geometry is not None else "images → segmentation → mesh"):
        mesh, imaging_summary, imaging_files = parallel.on_root_then_bcast(build)
    if cfg.safety is not None:  # structure names are known once the images are segmented: refuse a typo before the solves
        from planner.planning.safety import check_structure_names

        check_structure_names(cfg.safety, [r.name for r in mesh.regions])
    stages: dict[str, StageRecord] = {"mesh": DONE}
    summary: dict[str, Any] = {"plan": {"name": cfg.plan.name, "description": cfg.plan.description},
                               "mesh": mesh_summary(mesh)}
    if imaging_summary is not None:
        summary["imaging"] = imaging_summary
    artefacts: dict[str, Any] = {"mesh": mesh, "patient": root.get("patient"), "library": lib}
    fem = None  # the one DOLFINx mesh of the field, thermal and search stages (alive until the end)
    if cfg.applicator is not None:
        with clock.stage("fem_mesh"):
            fem = parallel.build_fem_mesh(mesh)
    artefacts.update(_physics(cfg, lib, mesh, stages, summary, clock))
    summary["stages"] = {name: rec.text for name, rec in stages.items()}
    summary["warnings"] = list(warnings)
    summary["provenance"] = report.provenance(cfg.plan_sha256, {**_input_files(cfg), **imaging_files})
    out = None
    if write and parallel.rank() == 0:
        out = cfg.output_path
        with report.results_folder(out, overwrite=cfg.plan.overwrite, inputs=plan_inputs(cfg)) as tmp:
            _write_outputs(tmp, mesh, artefacts, summary, clock, t_start)
    else:
        summary["timings_s"] = _timings(clock, t_start)
    if write:
        parallel.barrier()
    del fem
    return PlanResult(summary=summary, output_dir=out, artefacts=artefacts)


def _timings(clock: _Clock, t_start: float) -> dict[str, float]:
    return {**{k: round(v, 3) for k, v in clock.timings_s.items()}, "total": round(time.perf_counter() - t_start, 3)}


def _physics(cfg: PlanConfig, lib, mesh: TissueMesh, stages: dict[str, StageRecord], summary: dict,
             clock: _Clock) -> dict[str, Any]:
    """Field → heat → temperature → safety (→ settings search); each runs when the plan asks for it.
    A safety violation is recorded, never raised; ``[safety] stop_on_violation`` skips the search."""
    if cfg.applicator is None:
        for st in ("em", "nanoparticles", "thermal", "safety"):
            stages[st] = skipped("plan has no [applicator] section")
        if cfg.em is not None and cfg.em.field_probes:
            log.warning("[[em.field_probes]] ignored: the plan has no [applicator] section (no field to probe)")
        return {}
    from planner.config.plan import SafetySection
    from planner.em.probes import field_probes, locate_field_probes
    from planner.planning import safety

    located = locate_field_probes(mesh, cfg.em.field_probes) if cfg.em and cfg.em.field_probes else None
    sel = _selection_field(cfg, mesh, stages, summary, clock)
    applied, fields, heat = _field_and_heat(cfg, lib, mesh, stages, clock, sel,
                                            probe_points_m=None if located is None else located.points_m)
    stages["em"] = DONE
    summary["em"] = fields.summary_block()
    probes = field_probes(mesh, fields, located) if located is not None else None
    if probes is not None:
        summary["em"]["field_probes"] = probes.summary_block()
    stages["nanoparticles"] = DONE if cfg.nanoparticles else skipped("no [nanoparticles] section (eddy/implant heat only)")
    summary["nanoparticles"] = heat.summary_block()
    if sel is not None:
        from planner.planning.ffr import ffr_width_block

        summary["selection_field"].update(ffr_width_block(sel.gradient_T_per_m, heat))
    temperatures = None
    if cfg.thermal is not None:
        from planner.thermal import solve_bioheat

        with clock.stage("thermal", None if cfg.thermal.mode == "transient" else "thermal (steady state)"):
            temperatures = _solve_bioheat_explained(partial(solve_bioheat, progress=clock.progress), mesh, heat, lib, cfg)
        stages["thermal"] = DONE
        summary["thermal"] = temperatures.summary_block()
        if "selectivity" in summary["nanoparticles"]:
            from planner.planning.ffr import off_target_temperatures

            summary["nanoparticles"]["selectivity"]["off_target_max_T_C"] = off_target_temperatures(
                mesh, heat, temperatures.T_max_C)
    else:
        stages["thermal"] = skipped("plan has no [thermal] section")
    limits = cfg.safety or SafetySection()
    with clock.stage("safety"):
        check = safety.check(dataclasses.replace(limits, stop_on_violation=False), cfg.applicator, mesh, applied,
                             fields, temperatures, patient_mass_kg=safety.patient_mass_kg(cfg))
    summary["em"].update(check.em_block())
    stages["safety"] = DONE if check.ok else StageRecord(StageStatus.DONE, f"{len(check.violations)} violation(s)")
    summary["safety"] = {**check.summary_block(), "stop_on_violation": limits.stop_on_violation}
    found = None
    if cfg.search is not None and check.violations and limits.stop_on_violation:
        stages["search"] = skipped(f"stopped: {len(check.violations)} safety violation(s) at the plan's settings "
                                   "and [safety] stop_on_violation = true")
    elif cfg.search is not None:
        from planner.planning.search import SearchSections, search_settings

        sections = SearchSections(cfg.search, cfg.applicator, cfg.safety, cfg.thermal, safety.patient_mass_kg(cfg))
        rebuild = _Clock()  # the field and heat stages re-run at other frequencies count as search time
        with clock.stage("search"):
            if sel is not None and cfg.selection_field is not None and cfg.selection_field.search_offsets_mm:
                from planner.planning.ffr import ffr_search_block, search_ffr

                found, options, best = search_ffr(sections, mesh, applied, fields, heat, lib, sel.bias_for_offset,
                                                  cfg.selection_field.search_offsets_mm, progress=clock.progress)
            else:
                found = search_settings(sections, mesh, applied, fields, heat, lib, progress=clock.progress,
                                        rebuild=lambda app_f: _field_and_heat(dataclasses.replace(cfg, applicator=app_f),
                                                                              lib, mesh, {}, rebuild, sel))
        stages["search"] = DONE
        summary["search"] = found.summary_block()
        if sel is not None and cfg.selection_field is not None and cfg.selection_field.search_offsets_mm:
            summary["search"].update(ffr_search_block(options, best))
    uq = _uncertainty(cfg, lib, mesh, heat, temperatures, stages, summary, clock)
    return {"fields": fields, "heat": heat, "temperatures": temperatures, "safety": check, "search": found,
            "field_probes": probes, "selection_field": sel, "uncertainty": uq}


def _uncertainty(cfg: PlanConfig, lib, mesh: TissueMesh, heat, temperatures, stages: dict[str, StageRecord],
                 summary: dict, clock: _Clock):
    """[uncertainty] (planner.uncertainty): after the plan's own thermal run, which it reuses."""
    if cfg.uncertainty is None:
        return None
    if temperatures is None:
        stages["uncertainty"] = skipped("plan has no [thermal] section")
        return None
    from planner.uncertainty.study import uncertainty_stage

    with clock.stage("uncertainty", "uncertainty samples"):
        uq = uncertainty_stage(cfg, mesh, heat, lib)
    stages["uncertainty"] = DONE
    summary["uncertainty"] = uq.summary_block()
    return uq


def _selection_field(cfg: PlanConfig, mesh: TissueMesh, stages: dict[str, StageRecord], summary: dict, clock: _Clock):
    """The static selection field and its FFR ([selection_field]; planner.em.selection_field), or None."""
    if cfg.selection_field is None:
        return None
    from planner.em.selection_field import selection_field

    with clock.stage("selection_field"):
        sel = selection_field(mesh, cfg.selection_field)
    stages["selection_field"] = DONE
    summary["selection_field"] = sel.summary_block()
    return sel


def _field_and_heat(cfg: PlanConfig, lib, mesh: TissueMesh, stages: dict[str, StageRecord], clock: _Clock, sel=None, *,
                    probe_points_m=None):
    """Applied field → tissue eddy currents → implant losses → heat source (one frequency)."""
    from planner import em
    from planner.em.eddy import insulated_bodies
    from planner.nanoparticles import heat_source

    if cfg.applicator is None:
        raise InputError("[applicator]: missing section; expected the applicator of the field stages")
    with clock.stage("em", "eddy currents"):
        applied = em.applied_field(mesh, cfg.applicator, base_dir=cfg.base_dir)
        fields = em.solve_eddy_currents(mesh, applied, lib, cfg.applicator, insulated=insulated_bodies(cfg.geometry),
                                        admittivity=cfg.em.admittivity if cfg.em is not None else "auto")
    stages["em"] = DONE  # (before "implants": summary.json lists the stages in the order they ran)
    with clock.stage("implants"):
        fields = _implant_stage(cfg, lib, mesh, applied, fields, stages, clock.progress, probe_points_m)
    with clock.stage("nanoparticles"):
        heat = heat_source(mesh, applied, fields, lib, cfg.nanoparticles, base_dir=cfg.base_dir,
                           bias_A_per_m=None if sel is None or cfg.nanoparticles is None else sel.H_dc_A_per_m)
    return applied, fields, heat


def _solve_bioheat_explained(solve, mesh, heat, lib, cfg):
    """The thermal stage; a non-physical temperature names the heat source and the keys that set it."""
    from planner.config.plausibility import divergence_hint
    from planner.errors import SolverError

    try:
        return solve(mesh, heat, lib, cfg.thermal)
    except SolverError as exc:
        if not str(exc).startswith("temperature T ="):
            raise
        b = heat.summary_block()
        powers = {"nanoparticles": b.get("total_power_W") or 0.0, "eddy currents": b.get("eddy_power_W") or 0.0,
                  "implants": b.get("implant_power_W") or 0.0}
        raise SolverError(f"{exc}; {divergence_hint(cfg, powers)}") from None


def _implant_stage(cfg: PlanConfig, lib, mesh: TissueMesh, applied, fields, stages: dict[str, StageRecord],
                   progress: Progress, probe_points_m=None):
    """Losses of metal implants from the full eddy-current sub-models, handed on as heat."""
    import dataclasses as dc

    from planner.em.implants import ImplantOptions, implant_losses, implant_regions, total_Q_W_per_m3

    regions = implant_regions(mesh, lib)
    if not regions:
        stages["implants"] = skipped("no implant regions")
        return fields
    options = ImplantOptions(**dc.asdict(cfg.implants)) if cfg.implants is not None else None
    losses = implant_losses(mesh, regions, A_peak_at=applied.A_peak_at, H_peak_at=applied.H_peak_at,
                            frequency_Hz=applied.frequency_Hz, lib=lib, geometry=cfg.geometry, options=options,
                            progress=progress, probe_points_m=probe_points_m)
    stages["implants"] = DONE
    return fields.with_implants(tuple(losses), total_Q_W_per_m3(losses, mesh.num_cells))


def _write_outputs(folder: Path, mesh: TissueMesh, artefacts: dict, summary: dict, clock: _Clock,
                   t_start: float) -> None:
    with clock.stage("outputs", "writing results"):
        _write_files(folder, mesh, artefacts, summary)
    summary["timings_s"] = _timings(clock, t_start)
    report.write_json(folder / "summary.json", summary)


def _write_files(folder: Path, mesh: TissueMesh, artefacts: dict, summary: dict) -> None:
    from planner.reporting.fields import write_artefact_files

    fields_dir = folder / "fields"
    fields_dir.mkdir()
    written = [p.relative_to(folder) for p in write_artefact_files(folder, mesh, artefacts)]
    written.append(Path("fields") / "mesh.vtu")
    _write_mesh_vtu(fields_dir / "mesh.vtu", mesh)
    from planner.reporting.exports import write_result_exports
    from planner.reporting.figures import write_report

    written += write_result_exports(folder, mesh, artefacts, summary)
    written += [p.relative_to(folder) for p in write_report(folder, mesh, summary, artefacts)]
    if artefacts.get("uncertainty") is not None:
        from planner.uncertainty.outputs import write_uncertainty_files

        written += write_uncertainty_files(folder, artefacts["uncertainty"])
    summary["files"] = sorted(str(p) for p in written) + ["summary.json"]


def _write_mesh_vtu(path: Path, mesh: TissueMesh) -> None:
    from planner.reporting.vtu import tissue_vtu_writer

    tissue_vtu_writer(mesh).write(path)  # points and region labels (shared with the field files)
