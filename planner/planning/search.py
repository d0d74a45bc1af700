"""Find applicator settings that reach the target safely (mission step 6).

For the plan's applicator and frequency, the field amplitude is scaled by a factor s (all heat terms
follow: eddy and implant losses ∝ s², nanoparticle heat through SLP(s·H)). The search returns

* the largest safe amplitude: H·f within the limit (closed form, H ∝ s), healthy-tissue maximum and
  implant temperature rise within ``[safety]`` limits (bisection on s, one Pennes solve per step);
* the smallest amplitude whose target T90 reaches ``goal_T90_C`` (bisection), and whether it is safe.

By default each evaluation is a STEADY Pennes solve at the scaled field: the temperature a constant
field approaches, hence an upper bound of a transient session's temperatures for a constant field
(with temperature-independent perfusion). ``mode = "plan"`` uses the plan's ``[thermal]`` run instead.
Temperatures increase monotonically with s (heat terms are non-decreasing in s), which bisection needs.
"""
from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from typing import Any

from planner.config.plan import PlanConfig
from planner.errors import InputError

log = logging.getLogger(__name__)

NON_PHYSICAL_T_C = 100.0


@dataclass(frozen=True)
class ScaledHeat:
    """A heat source seen at ``scale`` × the nominal field amplitude."""

    heat: Any
    scale: float

    def Q_W_per_m3(self, field_fraction: float = 1.0):
        return self.heat.Q_W_per_m3(field_fraction * self.scale)


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
    implant_dT_K: float | None
    violations: tuple[str, ...]


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

    def summary_block(self) -> dict[str, Any]:
        return {
            "amplitude": self.amplitude,
            "mode": self.mode,
            "nominal_field_kA_per_m": self.nominal_field_kA_per_m,
            "goal_T90_C": self.goal_T90_C,
            "max_safe_field_kA_per_m": self.max_safe_field_kA_per_m,
            "limited_by": self.limited_by,
            "T90_at_max_safe_C": self.T90_at_max_safe_C,
            "field_for_goal_kA_per_m": self.field_for_goal_kA_per_m,
            "goal_reachable_safely": self.goal_reachable_safely,
            "evaluations": [dataclasses.asdict(e) for e in self.evaluations],
        }


def search_settings(cfg: PlanConfig, mesh, applied, fields, heat, lib) -> SearchResult:
    from planner.planning import safety as safety_mod
    from planner.config.plan import SafetySection, ThermalSection
    from planner.thermal import solve_bioheat

    sc = cfg.search
    if sc is None:
        raise InputError("[search]: missing section")
    safety_cfg = cfg.safety or SafetySection()
    safety_cfg = dataclasses.replace(safety_cfg, stop_on_violation=False)
    thermal = cfg.thermal or ThermalSection()
    if sc.mode == "steady":
        thermal = dataclasses.replace(thermal, mode="steady", probes=())
    run_cfg = dataclasses.replace(cfg, thermal=thermal)
    nominal = cfg.applicator.field_kA_per_m  # in the plan's amplitude convention
    evaluations: list[Evaluation] = []
    cache: dict[float, Evaluation] = {}

    def evaluate(s: float) -> Evaluation:
        if s in cache:
            return cache[s]
        # temperatures above 100 °C are not an error here: such a field is simply unsafe
        temps = solve_bioheat(mesh, ScaledHeat(heat, s), lib, run_cfg, check_physical=False)
        chk = safety_mod.check(safety_cfg, cfg.applicator, mesh, ScaledField(applied, s), None, temps)
        tgt = temps.target or {}
        violations = [v for v in chk.violations if not v.startswith("H·f")]
        t_top = float(temps.T_max_C.max())
        if t_top > NON_PHYSICAL_T_C:
            violations.append(f"temperature reaches {t_top:.0f} °C (> {NON_PHYSICAL_T_C:.0f} °C: model invalid, tissue boils)")
        ev = Evaluation(scale=s, field_kA_per_m=s * nominal, T90_C=tgt.get("T90_C"),
                        max_healthy_T_C=chk.max_healthy_T_C,
                        implant_dT_K=max(chk.implant_dT_K.values()) if chk.implant_dT_K else None,
                        violations=tuple(violations))
        cache[s] = ev
        evaluations.append(ev)
        log.info("search: %.3f kA/m → T90 %s °C, %d violation(s)", ev.field_kA_per_m, ev.T90_C, len(ev.violations))
        return ev

    # 1. H·f bound in closed form (H ∝ s)
    chk0 = safety_mod.check(safety_cfg, cfg.applicator, mesh, applied, None, None)
    s_hf = safety_cfg.Hf_limit_A_per_m_s / chk0.Hf_A_per_m_s
    s_hi = min(s_hf, sc.max_field_kA_per_m / nominal)
    limited_by = "H·f limit" if s_hf <= sc.max_field_kA_per_m / nominal else "search.max_field_kA_per_m"
    tol = sc.tolerance_kA_per_m / nominal
    # 2. thermal limits by bisection on [0, s_hi]
    if evaluate(s_hi).violations:
        lo, hi = 0.0, s_hi
        if evaluate(0.0).violations:
            raise InputError("[search]: the plan is unsafe even without field (check baseline temperatures and limits)")
        while hi - lo > tol:
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if not evaluate(mid).violations else (lo, mid)
        s_safe = lo
        limited_by = "; ".join(evaluate(hi).violations)
    else:
        s_safe = s_hi
    ev_safe = evaluate(s_safe)
    # 3. smallest field reaching the goal T90 (bisection on [0, s_reach])
    s_goal = None
    reach = ev_safe if (ev_safe.T90_C or -math.inf) >= sc.goal_T90_C else None
    if reach is None and s_safe < s_hi and (evaluate(s_hi).T90_C or -math.inf) >= sc.goal_T90_C:
        reach = evaluate(s_hi)
    if reach is not None:
        lo, hi = 0.0, reach.scale
        while hi - lo > tol:
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if (evaluate(mid).T90_C or -math.inf) < sc.goal_T90_C else (lo, mid)
        s_goal = hi
    return SearchResult(
        amplitude=cfg.applicator.amplitude, nominal_field_kA_per_m=nominal, goal_T90_C=sc.goal_T90_C,
        max_safe_field_kA_per_m=s_safe * nominal, limited_by=limited_by, T90_at_max_safe_C=ev_safe.T90_C,
        field_for_goal_kA_per_m=None if s_goal is None else s_goal * nominal,
        goal_reachable_safely=s_goal is not None and s_goal <= s_safe + 1e-12, mode=sc.mode,
        evaluations=tuple(sorted(evaluations, key=lambda e: e.scale)),
    )
