"""Calibration from thermometry: fit SLP and perfusion scales (and optionally the arterial baseline) to
measured probe temperatures by bounded least squares on the plan's transient model.

Model at the probes: T_p(t) = base_p(w) + s_slp θ_np,p(t; w) + θ_eddy,p(t; w) + θ_implant,p(t; w) + ΔT_a θ_a,p(w)
(unit responses, planner.uncertainty.responses; w the perfusion scales: each new w re-solves, an SLP or
arterial change does not). Scales are fitted in log space (bounds 1/100..100), the arterial offset in K
(±3 K). 95 % intervals: the Gauss–Newton covariance s² (JᵀJ)⁻¹ at the optimum (s² = SSR/(m − n)),
±1.96 σ in the fitted coordinates (log for scales, mapped back). A pair of parameters whose estimates are
correlated beyond |r| > 0.95, or a singular JᵀJ, is reported as not identifiable from these probes.
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from planner.artefacts import TissueMesh
from planner.config.plan import ThermalSection
from planner.errors import InputError, SolverError
from planner.nanoparticles.heat import HeatSource
from planner.thermal.stage import ThermalLibrary
from planner.thermal.superposition import ComponentHeat as _Component
from planner.thermal.superposition import heat_components as components
from planner.uncertainty.probes_csv import MeasuredProbes
from planner.uncertainty.responses import ScaledPerfusionLibrary

log = logging.getLogger(__name__)
SCALE_BOUND = 100.0
ARTERIAL_BOUND_K = 3.0


@dataclass
class ProbeModel:
    """Probe temperature curves of a plan as a function of (SLP scale, perfusion scales, arterial offset)."""

    mesh: TissueMesh
    heat: HeatSource
    lib: ThermalLibrary
    th: ThermalSection
    perfusion_tissues: tuple[str, ...]
    arterial: bool

    def __post_init__(self) -> None:
        if self.th.mode != "transient":
            raise InputError("[thermal] mode: calibration needs 'transient' (probe curves over time); the plan has "
                             f"{self.th.mode!r}")
        if not self.th.probes:
            raise InputError("[[thermal.probes]]: calibration needs the plan's probes (their names match the CSV)")
        self.cache: dict[tuple, tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]] = {}
        self.solves = 0

    @property
    def names(self) -> list[str]:
        return ["slp", *(f"perfusion.{t}" for t in self.perfusion_tissues), *(["arterial_T"] if self.arterial else [])]

    def _run(self, lib_s, q, th):
        from planner.thermal import solve_bioheat

        self.solves += 1
        h = solve_bioheat(self.mesh, _Component(q), lib_s, th, check_physical=False)
        return np.asarray(h.times_s, dtype=float), np.asarray(h.probe_T_C, dtype=float)

    def curves(self, perf: Sequence[float]):
        """(times, base (P,), θ per component (P, nt)) at perfusion scales ``perf`` (cached)."""
        key = tuple(round(float(p), 12) for p in perf)
        if key not in self.cache:
            lib_s = ScaledPerfusionLibrary(self.lib, dict(zip(self.perfusion_tissues, perf)))
            theta: dict[str, np.ndarray] = {}
            zero = np.zeros(self.mesh.num_cells)
            times, P0 = self._run(lib_s, lambda f: zero, self.th)
            base = P0[:, 0]
            for name, q in components(self.heat).items():
                _, P = self._run(lib_s, q, self.th)
                theta[name] = P - P0
            if self.arterial:
                _, Pa = self._run(lib_s, lambda f: zero, dataclasses.replace(self.th, arterial_T_C=self.th.arterial_T_C + 1))
                theta["arterial"] = Pa - P0
            self.cache[key] = (times, base, theta)
        return self.cache[key]

    def predict(self, x: np.ndarray, data: MeasuredProbes) -> np.ndarray:
        """Model temperatures at the measured (probe, time) points for fitted coordinates ``x``."""
        n_p = len(self.perfusion_tissues)
        s = float(np.exp(x[0]))
        perf = np.exp(x[1:1 + n_p])
        dTa = float(x[1 + n_p]) if self.arterial else 0.0
        times, base, theta = self.curves(perf)
        names = [p.name for p in self.th.probes]
        out = []
        for name, ts in zip(data.names, data.times_s):
            i = names.index(name)
            T = base[i] + sum((s if k == "particles" else dTa if k == "arterial" else 1.0) * th[i] for k, th in theta.items())
            T = np.broadcast_to(T, times.shape)
            out.append(np.interp(ts, times, T))
        return np.concatenate(out)


@dataclass(frozen=True)
class CalibrationResult:
    names: tuple[str, ...]
    estimate: np.ndarray
    ci95: np.ndarray  # (n, 2)
    rms_residual_K: float
    residual_K: np.ndarray
    warnings: tuple[str, ...]
    solves: int

    def parameter(self, name: str) -> float:
        return float(self.estimate[self.names.index(name)])

    def to_json(self) -> dict:
        return {"parameters": {n: {"estimate": float(e), "ci95": [float(c[0]), float(c[1])],
                                   "unit": "K" if n == "arterial_T" else "scale factor"}
                               for n, e, c in zip(self.names, self.estimate, self.ci95)},
                "rms_residual_K": self.rms_residual_K, "identifiability_warnings": list(self.warnings),
                "thermal_solves": self.solves,
                "definitions": {"ci95": "Gauss-Newton covariance s^2 (J^T J)^-1 at the optimum, +-1.96 sigma in log "
                                        "space for scale factors, in K for arterial_T"}}


def _intervals(x: np.ndarray, J: np.ndarray, r: np.ndarray, names: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    m, n = J.shape
    s2 = float(r @ r) / max(m - n, 1)
    JtJ = J.T @ J
    warnings: list[str] = []
    if np.linalg.cond(JtJ) > 1e12:
        warnings.append("the probes cannot separate the parameters (singular Jacobian): " + ", ".join(names))
    cov = s2 * np.linalg.pinv(JtJ)
    sd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    corr = cov / np.outer(np.where(sd > 0, sd, 1.0), np.where(sd > 0, sd, 1.0))
    for i in range(n):
        for j in range(i + 1, n):
            if abs(corr[i, j]) > 0.95:
                warnings.append(f"{names[i]} and {names[j]} are not identifiable from these probes "
                                f"(estimate correlation {corr[i, j]:+.3f}); add a probe where only one of them acts")
    return np.stack([x - 1.96 * sd, x + 1.96 * sd], axis=1), warnings


def calibrate(model: ProbeModel, data: MeasuredProbes) -> CalibrationResult:
    """Bounded least squares (scipy.optimize.least_squares, trust-region reflective)."""
    from scipy.optimize import least_squares

    names = model.names
    n_scale = 1 + len(model.perfusion_tissues)
    lb = np.r_[np.full(n_scale, -np.log(SCALE_BOUND)), [-ARTERIAL_BOUND_K] * model.arterial]
    ub = -lb
    measured = np.concatenate(data.T_C)
    fit = least_squares(lambda x: model.predict(x, data) - measured, np.zeros(len(names)), bounds=(lb, ub),
                        method="trf", diff_step=1e-4, x_scale=1.0)
    if not fit.success:
        raise SolverError(f"calibration: least squares did not converge ({fit.message})")
    r = fit.fun
    ci, warnings = _intervals(fit.x, fit.jac, r, names)
    for w in warnings:
        log.warning("calibration: %s", w)
    est = fit.x.copy()
    est[:n_scale] = np.exp(est[:n_scale])
    ci[:n_scale] = np.exp(ci[:n_scale])
    return CalibrationResult(tuple(names), est, ci, float(np.sqrt(np.mean(r * r))), r, tuple(warnings), model.solves)
