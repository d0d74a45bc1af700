"""The bioheat stage: tissue properties + heat source + plan → :class:`TemperatureHistory`.

Input checks and material set-up are pure NumPy; the FE solve is in :mod:`planner.fem.bioheat`
(imported lazily so this module imports without FEniCSx).

Tissue properties per region come from ``lib[region.tissue]``: density ρ, heat capacity c, thermal
conductivity k, perfusion w (``perfusion_per_s``), metabolic heat (``metabolic_heat_W_per_kg`` × ρ,
constant in time, also in the baseline). Blood ρ_b c_b from ``lib.blood``. Metal and air (``kind``
'metal'/'air') are conducting, heat-storing media with no perfusion and no metabolic heat; air
inside the body is treated like that (its library k, ρ, c), not excluded.
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from planner.artefacts import Progress, Role, TissueLookup, TissueMesh, no_progress
from planner.config.plan import ThermalSection
from planner.errors import InputError, bad_value
from planner.thermal import metrics
from planner.thermal._kernels import accumulate_dose_nb
from planner.thermal.history import TemperatureHistory
from planner.thermal.perfusion import curve_for_tissue, curve_id, make_perfusion_law
from planner.thermal.probes import locate_probes
from planner.thermal.schedule import build_schedule
from planner.thermal.systemic import pool_parameters

NON_PERFUSED_KINDS = ("metal", "air")


class HeatLike(Protocol):
    """A heat source: per-cell W/m³ at a fraction of the nominal field amplitude."""

    def Q_W_per_m3(self, field_fraction: float = 1.0) -> np.ndarray: ...


class ThermalLibrary(TissueLookup, Protocol):
    """The tissue library as the bioheat stage reads it (tissues and ``blood``)."""

    blood: object


def _prop(t: Any, attr: str, name: str, positive: bool) -> float:
    v = getattr(t, attr, None)
    key = f"tissues.{name}.{attr}"
    if v is None or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
        raise InputError(bad_value(key, v, "a finite number"))
    v = float(v)
    if positive and v <= 0:
        raise InputError(bad_value(key, v, "a positive number"))
    if not positive and v < 0:
        raise InputError(bad_value(key, v, "a non-negative number"))
    return v


def tissue_table(mesh: TissueMesh, lib: ThermalLibrary) -> dict[str, dict[str, Any]]:
    """Validated thermal properties of every tissue used by the mesh (SI)."""
    out = {}
    for tissue in sorted({r.tissue for r in mesh.regions}):
        try:
            t = lib[tissue]
        except KeyError:
            region = next(r.name for r in mesh.regions if r.tissue == tissue)
            raise InputError(bad_value(f"region {region!r} tissue", tissue, "a tissue of the library or [tissues.*]")) from None
        kind = getattr(t, "kind", "tissue")
        rho = _prop(t, "density_kg_per_m3", tissue, True)
        row = {
            "rho_kg_per_m3": rho,
            "c_J_per_kg_K": _prop(t, "heat_capacity_J_per_kg_K", tissue, True),
            "k_W_per_m_K": _prop(t, "thermal_conductivity_W_per_m_K", tissue, True),
            "w_per_s": _prop(t, "perfusion_per_s", tissue, False),
            "q_met_W_per_m3": _prop(t, "metabolic_heat_W_per_kg", tissue, False) * rho,
            "kind": kind,
        }
        if kind in NON_PERFUSED_KINDS:
            row["w_per_s"] = 0.0
            row["q_met_W_per_m3"] = 0.0
        out[tissue] = row
    return out


def _heat_callable(heat: Any, mesh: TissueMesh):
    def q(fraction: float) -> np.ndarray:
        arr = np.asarray(heat.Q_W_per_m3(fraction), dtype=float)
        if arr.shape != (mesh.num_cells,):
            raise InputError(bad_value("heat.Q_W_per_m3(field_fraction).shape", arr.shape, f"({mesh.num_cells},) per-cell values"))
        if not np.all(np.isfinite(arr)):
            raise InputError(bad_value("heat.Q_W_per_m3", "non-finite values", "finite heat densities (W/m³)"))
        return arr
    return q


def build_inputs(mesh: TissueMesh, heat: HeatLike, lib: ThermalLibrary, th: ThermalSection, dirichlet=None):
    """PennesInputs for :func:`planner.fem.bioheat.solve_pennes` (imports the FE module)."""
    from planner.fem.bioheat import BloodPool, PennesInputs

    table = tissue_table(mesh, lib)
    pool = pool_parameters(mesh, table, th)
    blood = lib.blood
    rho_b = _prop(blood, "density_kg_per_m3", "blood", True)
    c_b = _prop(blood, "heat_capacity_J_per_kg_K", "blood", True)
    names = tuple(sorted(table))
    tag_max = max(r.tag for r in mesh.regions) + 1
    lut = {key: np.zeros(tag_max) for key in ("k", "rc", "w", "q", "tid", "curve")}
    for r in mesh.regions:
        row = table[r.tissue]
        lut["k"][r.tag] = row["k_W_per_m_K"]
        lut["rc"][r.tag] = row["rho_kg_per_m3"] * row["c_J_per_kg_K"]
        lut["w"][r.tag] = row["w_per_s"]
        lut["q"][r.tag] = row["q_met_W_per_m3"]
        lut["tid"][r.tag] = names.index(r.tissue)
        curve = "constant" if row["kind"] in NON_PERFUSED_KINDS else curve_for_tissue(r.tissue, dict(th.perfusion_curves))
        lut["curve"][r.tag] = curve_id(curve)
    cr = mesh.cell_region
    law = make_perfusion_law(th.perfusion_model, lut["w"][cr], lut["curve"][cr].astype(np.int64), rho_b * c_b, rho_b)
    return PennesInputs(
        k_W_per_m_K=lut["k"][cr], rho_c_J_per_m3_K=lut["rc"][cr], q_met_W_per_m3=lut["q"][cr],
        perfusion=law, heat_W_per_m3=_heat_callable(heat, mesh), T_arterial_C=th.arterial_T_C,
        T_ambient_C=th.ambient_T_C, h_skin_W_per_m2_K=th.skin_h_W_per_m2_K,
        cell_tissue=lut["tid"][cr].astype(np.int64), tissue_names=names, dirichlet=dirichlet,
        blood_pool=None if pool is None else BloodPool(heat_capacity_J_per_K=pool[0], loss_W_per_K=pool[1]),
    ), table


def check_thermal_section(th) -> None:
    """Re-check the values the solver relies on (sections can be built in code, bypassing load)."""
    if not (math.isfinite(th.time_step_s) and th.time_step_s > 0):
        raise InputError(bad_value("thermal.time_step_s", th.time_step_s, "a positive number of seconds"))
    if th.mode == "transient" and th.time_step_s > th.session_duration_s * (1 + 1e-12):
        raise InputError(bad_value("thermal.time_step_s", th.time_step_s, f"at most the duration ({th.session_duration_s} s)"))
    if not (math.isfinite(th.duration_min) and th.duration_min > 0):
        raise InputError(bad_value("thermal.duration_min", th.duration_min, "a positive number of minutes"))
    if th.mode not in ("steady", "transient"):
        raise InputError(bad_value("thermal.mode", th.mode, "'steady' or 'transient'"))
    if th.scheme not in ("implicit-euler", "crank-nicolson", "bdf2"):
        raise InputError(bad_value("thermal.scheme", th.scheme, "'implicit-euler', 'crank-nicolson' or 'bdf2'"))
    if th.adaptive and th.cut_faces == "baseline" and th.mode == "transient":
        raise InputError(bad_value("thermal.cut_faces", th.cut_faces, "'adiabatic' with adaptive = true"))
    if th.adaptive and th.scheme != "crank-nicolson":
        raise InputError(bad_value("thermal.scheme", th.scheme, "'crank-nicolson' with adaptive = true (TR-AB2 error control)"))
    if th.element_order not in (1, 2):
        raise InputError(bad_value("thermal.element_order", th.element_order, "1 or 2"))
    if not (math.isfinite(th.skin_h_W_per_m2_K) and th.skin_h_W_per_m2_K >= 0):
        raise InputError(bad_value("thermal.skin_h_W_per_m2_K", th.skin_h_W_per_m2_K, "a non-negative heat-transfer coefficient"))


def _pennes_run(mesh: TissueMesh, th, check_physical: bool, probes: bool = True, initial_T_C=None,
                progress: Progress = no_progress, task: str = "time loop"):
    """The FE run description (schedule steps, snapshots, probes) of a [thermal] section."""
    from planner.fem.bioheat import PennesRun

    probe_names = [p.name for p in th.probes] if probes else []
    probe_pos = np.array([p.position_m for p in th.probes] if probes else [], dtype=float).reshape(-1, 3)
    _, pverts, pbary = locate_probes(mesh, probe_pos, probe_names)
    schedule = build_schedule(th.schedule, th.duration_min)
    if th.mode == "transient":
        steps = schedule.steps(th.time_step_s)
        total = schedule.total_s
    else:
        steps = []
        total = th.duration_min * 60.0
    interval = th.field_output_interval_s if probes else 0.0
    snap = np.arange(interval, total + 1e-9, interval) if interval > 0 else np.array([total])
    on_time = None
    if th.mode == "transient":
        progress(task, 0.0, total)

        def on_time(t_s: float) -> None:
            progress(task, t_s, total)
    run = PennesRun(mode=th.mode, scheme=th.scheme, element_order=th.element_order, steps=steps,
                    steady_fraction=1.0, steady_duration_s=total, picard_tol_K=th.picard_tol_K,
                    picard_max_iter=th.picard_max_iter, linear_rtol=th.linear_rtol, snapshot_times_s=snap,
                    probe_vertices=pverts, probe_weights=pbary, check_physical=check_physical,
                    linear_pc=th.linear_pc, adaptive=bool(th.adaptive and th.mode == "transient"),
                    segments=list(schedule.segments), time_step_s=th.time_step_s,
                    max_time_step_s=th.max_time_step_s or 8.0 * th.time_step_s,
                    min_time_step_s=th.min_time_step_s, adaptive_tol_K=th.adaptive_tol_K,
                    dose_step=accumulate_dose_nb, initial_T_C=initial_T_C, cut_faces=th.cut_faces, on_time=on_time)
    return run, tuple(probe_names), probe_pos


def _solve(mesh, heat, lib, th, dirichlet, comm, check_physical, probes=True, initial_T_C=None,
           progress: Progress = no_progress, task: str = "time loop"):
    from planner.fem.bioheat import solve_pennes

    inp, _ = build_inputs(mesh, heat, lib, th, dirichlet)
    run, names, pos = _pennes_run(mesh, th, check_physical, probes, initial_T_C, progress, task)
    res = solve_pennes(mesh, inp, run, comm) if comm is not None else solve_pennes(mesh, inp, run)
    return res, inp, names, pos


@dataclass(frozen=True)
class ImplantOnlyHeat:
    """The implant loss alone: Q(f) = f² Q_implant (nominal field)."""

    Q_implant_W_per_m3: np.ndarray

    def Q_W_per_m3(self, field_fraction: float = 1.0) -> np.ndarray:
        return float(field_fraction) ** 2 * self.Q_implant_W_per_m3


def implant_self_heating(mesh: TissueMesh, heat: HeatLike, lib: ThermalLibrary, th: ThermalSection,
                         comm=None, progress: Progress = no_progress) -> dict[str, float] | None:
    """Per implant region: the largest rise over baseline at its vertices with the implant's own loss
    as the only source (same run, same perfusion law and blood pool). For constant perfusion the
    Pennes–pool system is linear, so this is exactly the self-heating part of the total rise
    (superposition); with temperature-dependent perfusion it is the rise the implant causes alone.
    None when the heat has no implant loss."""
    q = getattr(heat, "Q_implant_W_per_m3", None)
    implants = mesh.regions_with_role(Role.IMPLANT)
    if q is None or not implants or not np.any(np.asarray(q) > 0):
        return None
    res, *_ = _solve(mesh, ImplantOnlyHeat(np.asarray(q, dtype=float)), lib, th, None, comm, False, probes=False,
                     progress=progress, task="time loop (implant self-heating)")
    return implant_rises(mesh, res.T_max_C - res.T_baseline_C)


def implant_rises(mesh: TissueMesh, rise: np.ndarray) -> dict[str, float]:
    """Per implant region: the largest of a per-vertex rise at its vertices."""
    return {r.name: float(rise[np.unique(mesh.cells[mesh.cell_region == r.tag])].max())
            for r in mesh.regions_with_role(Role.IMPLANT)}


@contextmanager
def reusing_operators() -> Iterator[None]:
    """Within this block, thermal runs with the same mesh, tissues and solver settings reuse one set of
    assembled matrices and AMG set-ups (only the heat, the initial state or the steps differ)."""
    from planner.fem.bioheat import reuse_operators

    with reuse_operators():
        yield


def solve_bioheat(mesh: TissueMesh, heat: HeatLike, lib: ThermalLibrary, section: ThermalSection | None, *,
                  dirichlet=None, comm=None,
                  check_physical: bool = True, initial_T_C: np.ndarray | None = None,
                  progress: Progress = no_progress) -> TemperatureHistory:
    """Pennes bioheat stage (see :mod:`planner.fem.bioheat` for the equations and schemes).

    ``heat.Q_W_per_m3(field_fraction) -> (M,)`` per-cell heat (W/m³) (and, if it has implant loss,
    ``heat.Q_implant_W_per_m3``: then a second, implant-only run gives the self-heating part);
    ``lib[tissue]`` gives the properties; ``section`` (the plan's [thermal]; None: its defaults)
    the run. ``dirichlet`` (a :class:`planner.fem.bioheat.DirichletData`) is for verification only;
    ``initial_T_C`` (steady mode, P1) starts the Picard iteration from that field (continuation sweeps);
    ``progress`` is told the simulated time of the transient time loop.
    """
    th = section if section is not None else ThermalSection()
    check_thermal_section(th)
    with reusing_operators():  # the implant-only run reuses the heated run's operators
        res, inp, probe_names, probe_pos = _solve(mesh, heat, lib, th, dirichlet, comm, check_physical, True,
                                                  initial_T_C, progress)
        self_heating = None if dirichlet is not None else implant_self_heating(mesh, heat, lib, th, comm, progress)
    return history_from_result(mesh, th, res, inp, probe_names, probe_pos, self_heating)


def history_from_result(mesh: TissueMesh, th: ThermalSection, res, inp, probe_names: tuple[str, ...],
                        probe_pos: np.ndarray, self_heating: dict[str, float] | None) -> TemperatureHistory:
    """The :class:`TemperatureHistory` (metrics, DVH, systemic block) of a solver result ``res``
    (a :class:`planner.fem.bioheat.PennesResult`, or one combined from unit runs)."""
    t42_min = res.time_above_s / 60.0
    tmask = metrics.target_cell_mask(mesh)
    base = {"min_C": float(res.T_baseline_C.min()), "max_C": float(res.T_baseline_C.max())}
    if np.any(tmask):
        w = metrics.vertex_volumes_m3(mesh, tmask)
        base["target_mean_C"] = float((w * res.T_baseline_C).sum() / w.sum())
    return TemperatureHistory(
        mode=th.mode, scheme=th.scheme, element_order=th.element_order, times_s=res.times_s,
        field_fraction=res.fractions, T_baseline_C=res.T_baseline_C, T_final_C=res.T_final_C,
        T_max_C=res.T_max_C, CEM43_min=res.CEM43_min, time_above_42C_min=t42_min,
        snapshot_times_s=res.snapshot_times_s, T_snapshots_C=res.T_snapshots_C,
        probe_names=probe_names, probe_positions_m=probe_pos, probe_T_C=res.probe_T_C,
        body_max_T_C=res.body_max_T_C,
        target=metrics.target_metrics(mesh, res.T_max_C, res.CEM43_min, t42_min),
        tissues=metrics.tissue_metrics(mesh, res.T_max_C, res.CEM43_min),
        dvh=metrics.dvh(mesh, res.T_max_C, th.dvh_bin_K),
        baseline=base, perfusion_model=th.perfusion_model, solver=res.stats,
        arterial_T_C=res.arterial_T_C, exchange_W=res.exchange_W, systemic=_systemic_block(inp, th, res),
        implant_self_heating_dT_K=self_heating,
    )


def _systemic_block(inp, th, res) -> dict | None:
    pool = inp.blood_pool
    if pool is None:
        return None
    return {"model": "blood-pool", "body_mass_kg": th.body_mass_kg, "pool_heat_capacity_J_per_K": pool.heat_capacity_J_per_K,
            "thermoregulation_W_per_K": pool.loss_W_per_K, "arterial_rise_K": float(np.max(res.arterial_T_C) - res.arterial_T_C[0]),
            "max_exchange_W": float(np.nanmax(res.exchange_W)), "resting_exchange_W": float(res.exchange_W[0])}
