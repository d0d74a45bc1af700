"""Find applicator settings that reach the target safely (mission step 6).

For the plan's applicator and frequency, the field amplitude is scaled by a factor s (all heat terms
follow: eddy and implant losses ∝ s², nanoparticle heat through SLP(s·H)). The search returns

* the largest safe amplitude: H·f within the limit (closed form, H ∝ s); healthy-tissue maximum,
  tissue touching implants, implant self-heating, arterial (core) rise, whole-/partial-body SAR within
  the ``[safety]`` limits;
* the smallest amplitude whose target T90 reaches ``goal_T90_C``, whether it is safe, and the time
  into the session at which T90 reaches the goal.

Goal modes (``[search] mode``):
- ``transient`` (default): every evaluation is the plan's ``[thermal]`` session (schedule, duration)
  from the no-field baseline; T90 is that of the per-vertex maximum over the session; CEM43 comes
  from the transient.
- ``steady-upper-bound``: steady Pennes at the scaled field, the temperature a constant field
  approaches — an upper bound of a session's temperatures for constant perfusion; CEM43 is then the
  dose of the steady state held for the whole duration (an upper bound, labelled so).

Root finding on continuous margins, not bisection on pass/fail: the fields are first swept from 0 to
the ceiling (``sweep_points``); the goal margin T90(s) − goal and the safety margin (smallest
distance to any limit, K or W/kg) are checked for monotonicity; Brent's method
(:func:`scipy.optimize.brentq`) then finds the FIRST crossing on the sweep grid. A non-monotonic
response (e.g. Lang's tumour perfusion falling between 41 and 42 °C) is reported with
``monotonic = false`` and the crossings seen. In steady mode with temperature-dependent perfusion the
sweep is repeated downwards with each steady state started from the previous (hotter) one
(continuation); differing T90 between the two sweeps means non-unique steady states (hysteresis,
thermal runaway) and is reported as ``hysteresis``.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.optimize import brentq

from planner.artefacts import Progress, no_progress
from planner.config.plan import ApplicatorSection, SafetySection, SearchSection, ThermalSection
from planner.errors import InputError, SolverError, bad_value

if TYPE_CHECKING:
    from planner.thermal.superposition import LinearSession

log = logging.getLogger(__name__)

NON_PHYSICAL_T_C = 100.0
UNRESOLVED_MARGIN = -1e3  # safety margin of an evaluation whose Picard iteration did not converge
GOAL_MODES = {"transient": "transient", "plan": "transient", "steady-upper-bound": "steady-upper-bound",
              "steady": "steady-upper-bound"}



@dataclass(frozen=True)
class SearchSections:
    """The plan sections the settings search reads (stage contract: sections, never the whole plan)."""

    search: SearchSection
    applicator: ApplicatorSection
    safety: SafetySection | None = None
    thermal: ThermalSection | None = None
    patient_mass_kg: float = 70.0

    def at_frequency(self, frequency_kHz: float) -> SearchSections:
        return dataclasses.replace(self, applicator=dataclasses.replace(self.applicator, frequency_kHz=frequency_kHz))

@dataclass(frozen=True)
class ScaledHeat:
    """A heat source seen at ``scale`` × the nominal field amplitude."""

    heat: Any
    scale: float

    def Q_W_per_m3(self, field_fraction: float = 1.0):
        return self.heat.Q_W_per_m3(field_fraction * self.scale)

    @property
    def Q_implant_W_per_m3(self):
        q = getattr(self.heat, "Q_implant_W_per_m3", None)
        return None if q is None else np.asarray(q) * self.scale**2


@dataclass(frozen=True)
class ScaledField:
    """An applied field at ``scale`` × its nominal amplitude (for the H·f check)."""

    applied: Any
    scale: float

    @property
    def frequency_Hz(self) -> float:
        return self.applied.frequency_Hz

    @property
    def H_peak_A_per_m_at_target(self) -> float:
        return self.applied.H_peak_A_per_m_at_target * self.scale

    def H_peak_at(self, points_m):
        return self.applied.H_peak_at(points_m) * self.scale


@dataclass(frozen=True)
class Evaluation:
    scale: float
    field_kA_per_m: float
    T90_C: float | None
    max_healthy_T_C: float | None
    implant_dT_K: float | None  # largest implant self-heating (total if no split)
    violations: tuple[str, ...]
    safety_margin: float = 0.0  # > 0: every limit met (smallest distance to a limit, K or W/kg)
    CEM43T90_min: float | None = None
    arterial_rise_K: float | None = None
    whole_body_SAR_W_per_kg: float | None = None
    time_to_goal_T90_min: float | None = None
    sweep: str = "up"


@dataclass(frozen=True)
class FrequencyOption:
    """The field search at one frequency of ``[search] frequencies_kHz``."""

    frequency_kHz: float
    max_safe_field_kA_per_m: float
    limited_by: str
    T90_at_max_safe_C: float | None
    field_for_goal_kA_per_m: float | None
    goal_reachable_safely: bool
    time_to_goal_T90_min: float | None
    monotonic: bool
    Hf_at_goal_A_per_m_s: float | None


@dataclass(frozen=True)
class SearchResult:
    amplitude: str
    nominal_field_kA_per_m: float
    goal_T90_C: float
    max_safe_field_kA_per_m: float
    limited_by: str
    T90_at_max_safe_C: float | None
    field_for_goal_kA_per_m: float | None
    goal_reachable_safely: bool
    mode: str
    evaluations: tuple[Evaluation, ...]
    goal_mode: str = "transient"
    time_to_goal_T90_min: float | None = None
    monotonic: bool = True
    hysteresis: bool | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    CEM43T90_at_goal_min: float | None = None
    frequency_options: tuple[FrequencyOption, ...] = ()
    best_frequency_kHz: float | None = None
    best_reason: str = ""
    superposition: dict[str, Any] = field(default_factory=dict)

    def summary_block(self) -> dict[str, Any]:
        steady = self.goal_mode == "steady-upper-bound"
        return {
            "amplitude": self.amplitude,
            "mode": self.mode,
            "goal_mode": self.goal_mode,
            "nominal_field_kA_per_m": self.nominal_field_kA_per_m,
            "goal_T90_C": self.goal_T90_C,
            "max_safe_field_kA_per_m": self.max_safe_field_kA_per_m,
            "limited_by": self.limited_by,
            "T90_at_max_safe_C": self.T90_at_max_safe_C,
            "field_for_goal_kA_per_m": self.field_for_goal_kA_per_m,
            "goal_reachable_safely": self.goal_reachable_safely,
            "time_to_goal_T90_min": self.time_to_goal_T90_min,
            "CEM43T90_at_goal_min": self.CEM43T90_at_goal_min,
            "monotonic": self.monotonic,
            "hysteresis": self.hysteresis,
            "notes": list(self.notes),
            "frequency_sweep": [dataclasses.asdict(o) for o in self.frequency_options],
            "best_frequency_kHz": self.best_frequency_kHz,
            "best_reason": self.best_reason,
            "superposition": self.superposition,
            "definitions": {
                "goal_mode": "transient: T90 of the per-vertex maximum over the plan's session; steady-upper-bound: "
                             "T90 of the steady state at that field (an upper bound for constant perfusion)",
                "time_to_goal_T90_min": "time into the session at which the target T90 of the instantaneous field "
                                        "first reaches goal_T90_C at field_for_goal"
                                        + ("; not computed in steady mode" if steady else ""),
                "CEM43T90_min": ("upper bound: steady state held for the whole duration" if steady
                                 else "from the transient session"),
                "superposition": "used: every evaluation combined exactly from one thermal run per heat component "
                                 "(linear session: constant perfusion, fixed steps; planner.thermal.superposition); "
                                 "direct_evaluations: those solved as a whole run instead (with their implant-only run); "
                                 "max_heat_deviation ε: largest per-cell relative deviation of the particle heat from "
                                 "c(s) × its unit-run heat (field varying over the particles, SLP not ∝ H²): temperature "
                                 "error ≤ ε × particle rise; above heat_deviation_limit the evaluation is solved directly",
                "safety_margin": "smallest distance to any temperature (K) or SAR (W/kg) limit (a CEM43 structure limit as "
                                 "log2(limit/value), the K above 43 °C that double the dose); negative = violated",
            },
            "evaluations": [dataclasses.asdict(e) for e in self.evaluations],
        }


def _margin(chk, temps, t_top: float, cfg_safety) -> float:
    """Continuous safety margin: the smallest (limit − value) over every limit that applies."""
    m = [NON_PHYSICAL_T_C - t_top]
    if chk.max_healthy_T_C is not None:
        m.append(cfg_safety.max_healthy_T_C - chk.max_healthy_T_C)
    for imp in chk.implants:
        m.append(imp.limit_K - (imp.self_heating_dT_K if imp.self_heating_dT_K is not None else imp.total_dT_K))
        if imp.adjacent_max_T_C is not None:
            m.append(cfg_safety.max_healthy_T_C - imp.adjacent_max_T_C)
    if chk.arterial_rise_K is not None:
        m.append(chk.arterial_rise_limit_K - chk.arterial_rise_K)
    m += [c.margin for c in getattr(chk, "structure_limits", ())]  # [[safety.structure_limits]]
    if chk.sar is not None:
        m.append(chk.sar.whole_body_limit_W_per_kg - chk.sar.whole_body_W_per_kg)
        m.append(chk.sar.partial_body_limit_W_per_kg - chk.sar.partial_body_W_per_kg)
    return float(min(m))


class _Evaluator:
    """One thermal run + safety check per field scale (cached; continuation start in steady mode)."""

    def __init__(self, cfg: SearchSections, mesh, applied, fields, heat, lib, goal_mode: str,
                 progress: Progress = no_progress, task: str = "search"):
        from planner.planning import safety as safety_mod

        self.cfg, self.mesh, self.applied, self.fields, self.heat, self.lib = cfg, mesh, applied, fields, heat, lib
        self.safety_mod = safety_mod
        self.safety_cfg = dataclasses.replace(cfg.safety or SafetySection(), stop_on_violation=False)
        thermal = cfg.thermal or ThermalSection()
        if goal_mode == "steady-upper-bound":
            thermal = dataclasses.replace(thermal, mode="steady", probes=(), schedule=())
        else:  # a snapshot per step: the target T90 history for the time to goal
            thermal = dataclasses.replace(thermal, mode="transient", probes=(),
                                          field_output_interval_s=thermal.time_step_s)
        self.thermal = thermal
        self.goal_mode = goal_mode
        self.patient_mass_kg = cfg.patient_mass_kg
        self.nominal = cfg.applicator.field_kA_per_m
        self.cache: dict[tuple[float, str], Evaluation] = {}
        self.fields_at: dict[tuple[float, str], np.ndarray | None] = {}
        self.progress, self.task = progress, task
        self._linear: LinearSession | None = None
        self.linear_reason = ""  # empty until the unit runs were tried
        self.direct = 0  # evaluations solved directly (not by superposition)

    def _temperatures(self, s: float, start: np.ndarray | None):
        """The session at scale s: combined from the unit runs where the session is linear, else solved."""
        from planner.thermal import solve_bioheat
        from planner.thermal.superposition import linear_session

        if not self.linear_reason and start is None:
            self._linear, self.linear_reason = linear_session(self.mesh, self.heat, self.lib, self.thermal)
            log.info("search: superposition %s", self.linear_reason)
        lin = self._linear if start is None else None
        coeffs = lin.coefficients(s) if lin is not None else None
        if lin is not None and coeffs is not None:
            return lin.history(coeffs)
        self.direct += 1
        return solve_bioheat(self.mesh, ScaledHeat(self.heat, s), self.lib, self.thermal, check_physical=False,
                             initial_T_C=start)

    def superposition_block(self) -> dict[str, Any]:
        lin = self._linear
        return {"used": lin is not None, "reason": self.linear_reason, "unit_runs": lin.runs if lin else 0,
                "direct_evaluations": self.direct,
                "max_heat_deviation": lin.max_deviation if lin else None,
                "heat_deviation_limit": lin.heat_rtol if lin else None}

    def __call__(self, s: float, sweep: str = "up", start: np.ndarray | None = None) -> Evaluation:
        from planner.thermal.metrics import target_T90_history, time_to_reach_s

        key = (float(s), sweep)
        if key in self.cache:
            return self.cache[key]
        # temperatures above 100 °C are not an error here: such a field is simply unsafe
        try:
            temps = self._temperatures(s, start)
        except SolverError as exc:
            if "Picard" not in str(exc):
                raise
            return self._unresolved(key, s, exc)
        chk = self.safety_mod.check(self.safety_cfg, self.cfg.applicator, self.mesh, ScaledField(self.applied, s),
                                    self.fields, temps, patient_mass_kg=self.patient_mass_kg, field_scale=s)
        tgt = temps.target or {}
        violations = [v for v in chk.violations if not v.startswith("H·f")]
        t_top = float(temps.T_max_C.max())
        if t_top > NON_PHYSICAL_T_C:
            violations.append(f"temperature reaches {t_top:.0f} °C "
                              f"(> {NON_PHYSICAL_T_C:.0f} °C: model invalid, tissue boils)")
        t_goal = None
        goal = self.cfg.search.goal_T90_C
        if self.goal_mode == "transient" and tgt:
            t_s = time_to_reach_s(temps.snapshot_times_s, target_T90_history(self.mesh, temps.T_snapshots_C), goal)
            t_goal = None if t_s is None else t_s / 60.0
        own = [i.self_heating_dT_K if i.self_heating_dT_K is not None else i.total_dT_K for i in chk.implants]
        ev = Evaluation(scale=s, field_kA_per_m=s * self.nominal, T90_C=tgt.get("T90_C"),
                        max_healthy_T_C=chk.max_healthy_T_C, implant_dT_K=max(own) if own else None,
                        violations=tuple(violations), safety_margin=_margin(chk, temps, t_top, self.safety_cfg),
                        CEM43T90_min=tgt.get("CEM43T90_min"), arterial_rise_K=chk.arterial_rise_K,
                        whole_body_SAR_W_per_kg=None if chk.sar is None else chk.sar.whole_body_W_per_kg,
                        time_to_goal_T90_min=t_goal, sweep=key[1])
        self.cache[key] = ev
        self.fields_at[key] = temps.T_final_C
        self.progress(self.task, len(self.cache), None)
        log.info("search: %.3f kA/m → T90 %s °C, margin %.3g, %d violation(s)", ev.field_kA_per_m, ev.T90_C,
                 ev.safety_margin, len(ev.violations))
        return ev

    def _unresolved(self, key: tuple[float, str], s: float, exc: SolverError) -> Evaluation:
        """No converged temperature-dependent perfusion at this field (a fold of β(T): runaway): unsafe,
        with a finite sentinel margin so that root finding can bracket it."""
        ev = Evaluation(scale=s, field_kA_per_m=s * self.nominal, T90_C=None, max_healthy_T_C=None,
                        implant_dT_K=None, safety_margin=UNRESOLVED_MARGIN, sweep=key[1],
                        violations=(f"no converged perfusion state at this field ({exc}); treated as unsafe",))
        self.cache[key] = ev
        self.fields_at[key] = None
        log.warning("search: %.3f kA/m: %s", ev.field_kA_per_m, exc)
        return ev

    def evaluations(self) -> tuple[Evaluation, ...]:
        return tuple(sorted(self.cache.values(), key=lambda e: (e.scale, e.sweep)))


def _goal_margin(ev: Evaluation, goal: float) -> float:
    return (ev.T90_C if ev.T90_C is not None else -np.inf) - goal


def _first_crossing(f, grid: list[float], values: list[float], tol: float, rising: bool) -> float | None:
    """Brent root of f on the first grid interval where f changes sign (from < 0 to ≥ 0 if ``rising``,
    from ≥ 0 to < 0 otherwise); None if there is none."""
    for a, b, fa, fb in zip(grid, grid[1:], values, values[1:]):
        if (rising and fa < 0 <= fb) or (not rising and fa >= 0 > fb):
            if not (np.isfinite(fa) and np.isfinite(fb)):
                return b if rising else a
            return float(brentq(f, a, b, xtol=tol, rtol=1e-10, maxiter=60))
    return None


def _is_monotonic(values: list[float], increasing: bool) -> bool:
    v = np.asarray(values, dtype=float)
    d = np.diff(v[np.isfinite(v)])  # unresolved evaluations (no T90) are left out
    return bool(np.all(d >= -1e-6) if increasing else np.all(d <= 1e-6))


def _sweep(ev: _Evaluator, grid: list[float], continuation: bool) -> tuple[list[Evaluation], bool | None, list[str]]:
    """Evaluations up the grid; with ``continuation`` (steady, T-dependent perfusion) each steady state
    starts from the previous one, and a second sweep down the grid starts from the hotter neighbour:
    different T90 at the same field = non-unique steady states (hysteresis)."""
    if not continuation:
        return [ev(s) for s in grid], None, []
    up, prev = [], None
    for s in grid:
        up.append(ev(s, "up-continuation", start=prev))
        prev = ev.fields_at[(float(s), "up-continuation")]
    notes, hysteresis = [], False
    for k in range(len(grid) - 2, -1, -1):
        down = ev(grid[k], "down", start=prev)
        prev = ev.fields_at[(float(grid[k]), "down")]
        a, b = up[k].T90_C, down.T90_C
        if a is not None and b is not None and abs(a - b) > 0.05:
            hysteresis = True
            notes.append(f"non-unique steady state at {up[k].field_kA_per_m:.3g} kA/m: T90 {a:.2f} °C sweeping up, "
                         f"{b:.2f} °C sweeping down (perfusion runaway)")
    return up, hysteresis, notes


def _safe_scale(ev: _Evaluator, grid, margins, tol, s_hi, limited_by) -> tuple[float, str]:
    root = _first_crossing(lambda s: ev(s).safety_margin, grid, margins, tol, rising=False)
    if root is None:
        return s_hi, limited_by
    evs = [e for e in ev.cache.values() if e.sweep == "up"]
    s_safe = max(e.scale for e in evs if e.scale <= root + 1e-15 and e.safety_margin >= 0)
    above = sorted((e for e in evs if e.scale > s_safe and e.safety_margin < 0), key=lambda e: e.scale)
    return s_safe, "; ".join(above[0].violations) if above else "safety margin"


def _goal_scale(ev: _Evaluator, grid, goals, tol, goal) -> float | None:
    root = _first_crossing(lambda s: _goal_margin(ev(s), goal), grid, goals, tol, rising=True)
    if root is None:
        return 0.0 if goals and goals[0] >= 0 else None
    return min(e.scale for e in ev.cache.values() if e.sweep == "up" and e.scale >= root - 1e-15
               and _goal_margin(e, goal) >= 0)


def _search_at(cfg: SearchSections, mesh, applied, fields, heat, lib, progress: Progress = no_progress,
               task: str = "search") -> SearchResult:
    """The field search at the plan's frequency (see the module docstring)."""
    sc = cfg.search
    goal_mode = GOAL_MODES[sc.mode]
    ev = _Evaluator(cfg, mesh, applied, fields, heat, lib, goal_mode, progress, task)
    nominal, goal = ev.nominal, sc.goal_T90_C
    # 1. H·f bound in closed form (H ∝ s)
    chk0 = ev.safety_mod.check(ev.safety_cfg, cfg.applicator, mesh, applied, None, None)
    s_hf = ev.safety_cfg.Hf_limit_A_per_m_s / chk0.Hf_A_per_m_s
    s_hi = min(s_hf, sc.max_field_kA_per_m / nominal)
    limited_by = "H·f limit" if s_hf <= sc.max_field_kA_per_m / nominal else "search.max_field_kA_per_m"
    tol = sc.tolerance_kA_per_m / nominal
    # 2. sweep, monotonicity (and hysteresis of steady states), then Brent on the first crossings
    grid = [float(x) for x in np.linspace(0.0, s_hi, sc.sweep_points)]
    continuation = goal_mode == "steady-upper-bound" and ev.thermal.perfusion_model != "constant" \
        and ev.thermal.element_order == 1
    up, hysteresis, notes = _sweep(ev, grid, continuation)
    if up[0].safety_margin < 0:
        raise InputError("[search]: the plan is unsafe even without field (check baseline temperatures and limits)")
    margins = [e.safety_margin for e in up]
    goals = [_goal_margin(e, goal) for e in up]
    monotonic = _is_monotonic(goals, True) and _is_monotonic(margins, False)
    if not monotonic:
        notes.append("non-monotonic response over the sweep (T90 or safety margin vs field): the FIRST crossing "
                     "of each limit and of the goal is reported")
    if continuation:  # Brent below uses fresh solves from the baseline
        ev.cache.update({(k[0], "up"): dataclasses.replace(e, sweep="up") for k, e in list(ev.cache.items())
                         if k[1] == "up-continuation"})
    s_safe, limited_by = _safe_scale(ev, grid, margins, tol, s_hi, limited_by)
    s_goal = _goal_scale(ev, grid, goals, tol, goal)
    ev_safe = ev(s_safe)
    at_goal = ev(s_goal) if s_goal is not None else None
    progress(task, len(ev.cache), len(ev.cache))
    return SearchResult(
        amplitude=cfg.applicator.amplitude, nominal_field_kA_per_m=nominal, goal_T90_C=goal,
        max_safe_field_kA_per_m=s_safe * nominal, limited_by=limited_by, T90_at_max_safe_C=ev_safe.T90_C,
        field_for_goal_kA_per_m=None if s_goal is None else s_goal * nominal,
        goal_reachable_safely=s_goal is not None and s_goal <= s_safe + 1e-12, mode=sc.mode,
        evaluations=ev.evaluations(), goal_mode=goal_mode,
        time_to_goal_T90_min=None if at_goal is None else at_goal.time_to_goal_T90_min,
        monotonic=monotonic and not hysteresis, hysteresis=hysteresis, notes=tuple(notes),
        CEM43T90_at_goal_min=None if at_goal is None else at_goal.CEM43T90_min,
        superposition=ev.superposition_block(),
    )


def _best(options: list[FrequencyOption]) -> tuple[FrequencyOption, str]:
    """The goal reached safely with the most headroom (smallest goal field / largest safe field, then
    the shortest time to goal); if no frequency reaches it safely, the hottest safe T90."""
    ok = [o for o in options if o.goal_reachable_safely and o.field_for_goal_kA_per_m is not None]
    if ok:
        best = min(ok, key=lambda o: (float(o.field_for_goal_kA_per_m or 0.0) / o.max_safe_field_kA_per_m,
                                      o.time_to_goal_T90_min if o.time_to_goal_T90_min is not None else np.inf))
        return best, (f"goal reached safely with the most headroom: goal field {best.field_for_goal_kA_per_m:.3g} of "
                      f"{best.max_safe_field_kA_per_m:.3g} kA/m allowed")
    best = max(options, key=lambda o: o.T90_at_max_safe_C if o.T90_at_max_safe_C is not None else -np.inf)
    return best, "no frequency reaches the goal safely: highest T90 at the largest safe field"


def search_settings(cfg: SearchSections, mesh, applied, fields, heat, lib, *, rebuild=None,
                    progress: Progress = no_progress) -> SearchResult:
    """The field search at the plan's frequency and, with ``[search] frequencies_kHz``, at each listed
    frequency: ``rebuild(applicator_at_f) -> (applied, fields, heat)`` re-runs the field and heat stages there
    (SLP(H, f) and tissue σ(f) both change) — once per frequency: the plan's own frequency reuses the
    nominal stages and search, and within a frequency every heat term (implant losses included: a linear
    eddy-current problem, loss ∝ H²) is scaled, never re-solved; the best (H, f) under the H·f, SAR and
    temperature limits is reported. ``progress`` is told the number of thermal evaluations (task "search", one per frequency).
    All thermal evaluations reuse one set of assembled matrices and AMG set-ups (the operators do not
    depend on the field)."""
    from planner.thermal import reusing_operators

    with reusing_operators():
        return _search_settings(cfg, mesh, applied, fields, heat, lib, rebuild, progress)


def _search_settings(cfg: SearchSections, mesh, applied, fields, heat, lib, rebuild, progress: Progress) -> SearchResult:
    sc = cfg.search
    res = _search_at(cfg, mesh, applied, fields, heat, lib, progress)
    if not sc.frequencies_kHz:
        return res
    if rebuild is None:
        raise InputError(bad_value("search.frequencies_kHz", list(sc.frequencies_kHz),
                                   "no frequency list here (this caller cannot re-run the field and heat stages)"))
    options = []
    for f_kHz in sc.frequencies_kHz:
        if float(f_kHz) == float(cfg.applicator.frequency_kHz):
            r = res  # the plan's frequency: its fields, implant losses and search are reused, not re-solved
        else:
            cfg_f = cfg.at_frequency(float(f_kHz))
            applied_f, fields_f, heat_f = rebuild(cfg_f.applicator)
            r = _search_at(cfg_f, mesh, applied_f, fields_f, heat_f, lib, progress, f"search at {float(f_kHz):g} kHz")
        hf = None if r.field_for_goal_kA_per_m is None else r.field_for_goal_kA_per_m * 1e3 * f_kHz * 1e3
        options.append(FrequencyOption(float(f_kHz), r.max_safe_field_kA_per_m, r.limited_by, r.T90_at_max_safe_C,
                                       r.field_for_goal_kA_per_m, r.goal_reachable_safely, r.time_to_goal_T90_min,
                                       r.monotonic, hf))
    best, why = _best(options)
    return dataclasses.replace(res, frequency_options=tuple(options), best_frequency_kHz=best.frequency_kHz,
                               best_reason=why)
