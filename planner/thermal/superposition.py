"""Field-amplitude scans of one thermal session by exact superposition (the settings search).

With temperature-independent perfusion and fixed time steps the Pennes–blood-pool system is linear in
its sources and its time steps do not depend on them, so the vertex field after every accepted step of
a run whose heat is Σ_k c_k q_k(f) (f: the schedule's field fraction of that step) is

    T(t_n) = T_b + Σ_k c_k (T_k(t_n) − T_b),

T_k the run with component k alone (same baseline T_b: the no-field state). The arterial (blood-pool)
temperature, the perfusion exchange and probe values are affine in T and combine the same way. The
nonlinear outputs — per-vertex maximum, CEM43 and time above 42 °C — are then recomputed from the
combined step fields with the solver's own per-step kernel, so the combined history equals a run at
that heat up to the linear solver's tolerance (tested against direct runs).

A scale s of the field amplitude maps to coefficients c_k(s): eddy-current and implant losses ∝ s²;
particle heat q(f·s) = c(s) q(f) for every fraction f the unit run used, checked per cell at each s:
exact for a uniform applied field or an SLP ∝ H²; where the field varies over the particles (e.g. the
total field near an implant) and SLP(H) is not a power law, the per-cell deviation ε from the best c is
computed and accepted up to ``HEAT_RTOL`` (temperature error ≤ ε × the particle rise, by positivity of
the Pennes Green's function; reported as ``max_deviation``); beyond it
:meth:`LinearSession.coefficients` returns None and the caller solves directly.

:func:`linear_session` returns None (with the reason) where the session is not linear: temperature-
dependent perfusion, adaptive steps, steady mode, Dirichlet data, or step fields too large to keep.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from planner.artefacts import TissueMesh
from planner.config.plan import ThermalSection
from planner.thermal._kernels import accumulate_dose_nb
from planner.thermal.history import TemperatureHistory

DEFAULT_MAX_BYTES = 2 * 2**30  # step fields kept for the combination (all components)
# largest per-cell relative deviation ε of a component from proportionality accepted: the Pennes
# response to a heat change |δq| ≤ ε c q is at most ε × that component's rise (non-negative Green's
# function), i.e. ≤ 1 mK per K of particle heating; beyond it the evaluation is solved directly
HEAT_RTOL = 1e-3


@dataclass(frozen=True)
class ComponentHeat:
    """A heat source made of one component: Q(f) per schedule field fraction f."""

    q: Callable[[float], np.ndarray]

    def Q_W_per_m3(self, field_fraction: float = 1.0) -> np.ndarray:
        return self.q(field_fraction)


def heat_components(heat) -> dict[str, Callable[[float], np.ndarray]]:
    """The non-zero heat components of a planner.nanoparticles.HeatSource at schedule fraction f."""
    out: dict[str, Callable[[float], np.ndarray]] = {}
    if np.any(heat.Q_np_W_per_m3 > 0):
        out["particles"] = heat.Q_np_at
    for name, q in (("eddy", heat.Q_eddy_W_per_m3), ("implant", heat.Q_implant_W_per_m3)):
        if np.any(np.asarray(q) > 0):
            out[name] = (lambda qq: (lambda f: float(f) ** 2 * qq))(np.asarray(q, dtype=float))
    return out


def _split(heat) -> tuple[dict[str, Callable[[float], np.ndarray]], set[str]] | None:
    """(components, names scaling exactly with s²); None: a heat with an implant loss that cannot be split."""
    if all(hasattr(heat, a) for a in ("Q_np_at", "Q_np_W_per_m3", "Q_eddy_W_per_m3", "Q_implant_W_per_m3")):
        return heat_components(heat), {"eddy", "implant"}
    q_imp = getattr(heat, "Q_implant_W_per_m3", None)
    if q_imp is not None and np.any(np.asarray(q_imp) > 0):
        return None
    return {"heat": heat.Q_W_per_m3}, set()


class _Recording:
    """A component heat that remembers the field fractions the solver asked for."""

    def __init__(self, q: Callable[[float], np.ndarray]) -> None:
        self.q = q
        self.fractions: set[float] = set()

    def Q_W_per_m3(self, field_fraction: float = 1.0) -> np.ndarray:
        self.fractions.add(float(field_fraction))
        return self.q(field_fraction)


@dataclass
class _Unit:
    rise: np.ndarray  # (S, N) step fields − baseline
    arterial: np.ndarray
    exchange: np.ndarray
    probes: np.ndarray
    fractions: tuple[float, ...]  # non-zero fractions the solver evaluated
    heats: tuple[np.ndarray, ...]  # the unit run's heat at each of them (the proportionality reference)


class LinearSession:
    """Unit runs of one linear session; :meth:`history` combines them for any coefficients."""

    def __init__(self, mesh: TissueMesh, th: ThermalSection, base, inp, names, pos, units: dict[str, _Unit],
                 q: dict[str, Callable[[float], np.ndarray]], quadratic: set[str], threshold_C: float) -> None:
        self.mesh, self.th, self.base, self.inp, self.names, self.pos = mesh, th, base, inp, names, pos
        self.units, self.q, self.quadratic, self.threshold_C = units, q, quadratic, threshold_C
        self.runs = len(units)
        self.heat_rtol = HEAT_RTOL
        self.max_deviation = 0.0

    def coefficients(self, s: float) -> dict[str, float] | None:
        """c_k at field scale s, or None if a component is not proportional to itself at scale s within
        ``heat_rtol`` per cell (then the caller solves directly). ``max_deviation``: the largest ε used."""
        out = {}
        for name, unit in self.units.items():
            if name in self.quadratic:
                out[name] = s * s
                continue
            c, eps = _proportional(self.q[name], unit.fractions, unit.heats, s)
            if not eps <= self.heat_rtol:
                return None
            self.max_deviation = max(self.max_deviation, eps)
            out[name] = c
        return out

    def history(self, coeffs: dict[str, float]) -> TemperatureHistory:
        """The history of the run whose heat is Σ_k coeffs[k] q_k (implant self-heating included)."""
        from planner.thermal.stage import history_from_result, implant_rises

        b = self.base  # every unit run starts from the same no-field baseline, held without heat
        snaps = np.repeat(b.T_snapshots_C[:1], b.T_snapshots_C.shape[0], axis=0)
        arterial = np.full_like(b.arterial_T_C, b.arterial_T_C[0])
        exchange = np.full_like(b.exchange_W, b.exchange_W[0])
        probes = np.repeat(b.probe_T_C[:, :1], b.probe_T_C.shape[1], axis=1)
        for name, u in self.units.items():
            c = float(coeffs[name])
            snaps += c * u.rise
            arterial += c * u.arterial
            exchange += c * u.exchange
            probes += c * u.probes
        n = snaps.shape[1]
        cem, tab, tmax = np.zeros(n), np.zeros(n), snaps[0].copy()
        for i, dt in enumerate(np.diff(b.times_s)):
            accumulate_dose_nb(cem, tab, tmax, snaps[i], snaps[i + 1], float(dt), self.threshold_C)
        res = dataclasses.replace(
            b, T_final_C=snaps[-1], T_max_C=tmax, CEM43_min=cem, time_above_s=tab, T_snapshots_C=snaps,
            probe_T_C=probes, body_max_T_C=snaps.max(axis=1), arterial_T_C=arterial, exchange_W=exchange,
            stats={"method": "superposition of unit runs", "unit_runs": self.runs})
        imp = self.units.get("implant")
        self_heating = None
        if imp is not None:
            self_heating = {k: float(coeffs["implant"]) * v for k, v in implant_rises(self.mesh, imp.rise.max(axis=0)).items()}
        return history_from_result(self.mesh, self.th, res, self.inp, self.names, self.pos, self_heating)


def _proportional(q: Callable[[float], np.ndarray], fractions: tuple[float, ...], heats: tuple[np.ndarray, ...],
                  s: float) -> tuple[float, float]:
    """(c, ε): c the least-squares factor of q(f·s) ≈ c q(f) over every f (``heats``: q(f)), ε the largest
    per-cell relative deviation |q(f·s) − c q(f)| / (c q(f)) (inf where q(f) = 0 but q(f·s) is not)."""
    pairs = [(np.asarray(q(f * s), dtype=float), r) for f, r in zip(fractions, heats)]
    den = sum(float(r @ r) for _, r in pairs)
    if den == 0.0:
        return 0.0, 0.0 if all(not np.any(a) for a, _ in pairs) else math.inf
    c = sum(float(a @ r) for a, r in pairs) / den
    eps = 0.0
    for a, r in pairs:
        d = np.abs(a - c * r)
        scale = np.abs(c * r)
        tiny = d <= 1e-14 * max(float(np.abs(a).max()), 1e-300)  # rounding, incl. 0 = 0
        if np.any(~tiny & (scale == 0.0)):
            return c, math.inf
        ok = ~tiny & (scale > 0.0)
        if np.any(ok):
            eps = max(eps, float((d[ok] / scale[ok]).max()))
    return c, eps if math.isfinite(c) else math.inf


def not_linear_reason(th: ThermalSection) -> str | None:
    """Why a session of this [thermal] section cannot be superposed (None: it can)."""
    if th.mode != "transient":
        return "steady mode (one solve per evaluation already)"
    if th.perfusion_model != "constant":
        return f"temperature-dependent perfusion ({th.perfusion_model}): the session is nonlinear"
    if th.adaptive:
        return "adaptive time steps depend on the heat"
    return None


def linear_session(mesh: TissueMesh, heat, lib, th: ThermalSection, *, comm=None,
                   max_bytes: float = DEFAULT_MAX_BYTES) -> tuple[LinearSession | None, str]:
    """Unit runs of ``th`` for each heat component (one run each); (None, reason) where not applicable.
    ``th`` must record every step (``field_output_interval_s`` = ``time_step_s``, no probes needed)."""
    from planner.thermal.stage import _solve, check_thermal_section

    check_thermal_section(th)
    why = not_linear_reason(th)
    if why is not None:
        return None, why
    split = _split(heat)
    if split is None:
        return None, "heat with an implant loss that is not a planner HeatSource"
    comps, quadratic = split
    if any(np.any(np.asarray(q(0.0)) != 0.0) for q in comps.values()):
        return None, "heat without field: the baseline would depend on the source"
    n_steps = max(1, int(math.ceil(th.session_duration_s / th.time_step_s)) + 1)
    need = 8.0 * (len(comps) + 2) * n_steps * mesh.num_vertices
    if need > max_bytes:
        return None, f"step fields of {need / 2**30:.1f} GiB exceed {max_bytes / 2**30:.1f} GiB"
    base, inp, names, pos = None, None, (), np.zeros((0, 3))
    units: dict[str, _Unit] = {}
    threshold = 42.0  # PennesRun.threshold_C of the thermal stage's runs (time_above_42C_min)
    for name, q in comps.items():
        rec = _Recording(q)
        res, inp, names, pos = _solve(mesh, rec, lib, th, None, comm, False, True)
        if not (res.T_snapshots_C.shape[0] == res.times_s.size and np.allclose(res.snapshot_times_s, res.times_s)):
            return None, "the thermal section does not record every step"
        if base is None:
            base = res
        fractions = tuple(sorted(f for f in rec.fractions if f != 0.0))
        heats = () if name in quadratic else tuple(np.asarray(q(f), dtype=float) for f in fractions)
        units[name] = _Unit(res.T_snapshots_C - base.T_snapshots_C[:1], res.arterial_T_C - base.arterial_T_C[0],
                            res.exchange_W - base.exchange_W[0], res.probe_T_C - base.probe_T_C[:, :1],
                            fractions, heats)
    if base is None:  # no heat at all: a run without sources is the baseline itself
        base, inp, names, pos = _solve(mesh, ComponentHeat(lambda f: np.zeros(mesh.num_cells)), lib, th, None, comm,
                                       False, True)
    return LinearSession(mesh, th, base, inp, names, pos, units, comps, quadratic, threshold), "linear"
