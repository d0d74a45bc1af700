"""Time steppers of the Pennes solver. Each has ``advance(solver, recorder)``; the fixed-step ones
(:class:`ImplicitEuler`, :class:`CrankNicolson`, :class:`BDF2`) also ``system(...)`` → a :class:`StepSystem`
for one step of (c M + K) Tⁿ⁺¹ = b (see the package docstring for c and b)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from petsc4py import PETSc

from planner.errors import SolverError
from planner.fem.bioheat.data import PennesRun


@dataclass(frozen=True)
class StepSystem:
    """One implicit step (c M + K) Xⁿ⁺¹ = M Σ coef·X_level − [K Xⁿ] + Σ f(fraction), X = (T, blood pool).

    ``mass``: (coef, 'n' | 'nm1') pairs; ``k_explicit``: subtract K Xⁿ (Crank–Nicolson);
    ``fractions``: field fractions whose loads are added; ``cn_mix``: lag β on (Tⁿ + Tⁿ⁺¹)/2."""

    c: float
    mass: tuple[tuple[float, str], ...]
    k_explicit: bool
    fractions: tuple[float, ...]
    cn_mix: bool


class Steady:
    """The heated steady state held for ``steady_duration_s`` (dose from T0 = T1 = T_steady)."""

    def advance(self, s, rec) -> None:
        spec = s.spec
        if spec.initial_T_C is not None and s.V is s.V1:  # continuation start (search sweeps)
            s.T.x.array[:] = s.fm.local_vertex_values(s.V, np.asarray(spec.initial_T_C, dtype=float))
        s.step(StepSystem(0.0, (), False, (spec.steady_fraction,), False), 0.0)
        rec.record(float(spec.steady_duration_s), float(spec.steady_duration_s), spec.steady_fraction,
                   s.view.values(), True)


class _FixedSteps:
    """Steps of ``spec.steps`` (schedule steps with t1_s, dt_s, fraction0/1, segment)."""

    def system(self, st, dt_prev: float | None, restart: bool) -> StepSystem:
        raise NotImplementedError

    def advance(self, s, rec) -> None:
        T = s.T
        T_nm1 = s.T_nm1
        dt_prev = None
        seg_prev = None
        steps = s.spec.steps
        for st in steps:
            dt = st.dt_s
            Told = s.save_old()
            tv_old = rec.tv
            # BDF2 restarts with one implicit-Euler step at the start, at every schedule segment
            # boundary (the source or its slope jumps: a backward difference across the kink of T'
            # would cost O(Δt) accuracy) and whenever the step ratio ω = Δtₙ/Δtₙ₋₁ exceeds 2
            # (variable-step BDF2 is zero-stable only for ω < 1 + √2)
            restart = dt_prev is None or st.segment != seg_prev or dt / dt_prev > 2.0
            seg_prev = st.segment
            system = self.system(st, dt_prev, restart)
            if dt_prev is not None:  # initial guess: linear extrapolation Tⁿ + (Δt/Δtₙ₋₁)(Tⁿ − Tⁿ⁻¹)
                T.vector.axpy(dt / dt_prev, Told)
                T.vector.axpy(-dt / dt_prev, T_nm1)
            s.step(system, st.t1_s)
            s.shift_history()
            dt_prev = dt
            rec.record(st.t1_s, dt, st.fraction1, tv_old, st is steps[-1])


class ImplicitEuler(_FixedSteps):
    """c = 1/Δt, b = M Tⁿ/Δt + fⁿ⁺¹."""

    def system(self, st, dt_prev, restart):
        c = 1.0 / st.dt_s
        return StepSystem(c, ((c, "n"),), False, (st.fraction1,), False)


class CrankNicolson(_FixedSteps):
    """c = 2/Δt, b = (2M/Δt − K) Tⁿ + fⁿ + fⁿ⁺¹ (perfusion lagged on (Tⁿ + Tⁿ⁺¹)/2)."""

    def system(self, st, dt_prev, restart):
        c = 2.0 / st.dt_s
        return StepSystem(c, ((c, "n"),), True, (st.fraction0, st.fraction1), True)


class BDF2(_FixedSteps):
    """Variable-step BDF2, ω = Δtₙ/Δtₙ₋₁: c = (1+2ω)/((1+ω)Δt),
    b = M[(1+ω)Tⁿ − ω²/(1+ω) Tⁿ⁻¹]/Δt + fⁿ⁺¹; an implicit-Euler step on restart."""

    def system(self, st, dt_prev, restart):
        if restart:
            return ImplicitEuler.system(self, st, dt_prev, restart)
        dt = st.dt_s
        w = dt / dt_prev
        c = (1.0 + 2.0 * w) / ((1.0 + w) * dt)
        mass = (((1.0 + w) / dt, "n"), (-(w * w) / ((1.0 + w) * dt), "nm1"))
        return StepSystem(c, mass, False, (st.fraction1,), False)


class AdaptiveTRAB2:
    """Crank–Nicolson (trapezoidal rule) with AB2 predictor and local-error control, TR-AB2
    (Gresho, Griffiths & Silvester, SIAM J. Sci. Comput. 30:2018–2054, 2008):
        P = Tⁿ + (h/2)[(2 + h/hₚ) T'ⁿ − (h/hₚ) T'ⁿ⁻¹],  d = (Tⁿ⁺¹ − P) / (3(1 + hₚ/h)),
        T'ⁿ⁺¹ = 2(Tⁿ⁺¹ − Tⁿ)/h − T'ⁿ.
    A step is accepted if max|d| ≤ adaptive_tol_K; steps come from the ladder h_max/2^k (so the
    cached operators c M + K stay few), the next level from h (tol/|d|)^(1/3) · 0.9, growing by at
    most one level per step. At each segment start (field jump) T' is recomputed from the ODE,
    M T' = f(t⁺) − K T, and the first step (no AB2 history) is taken at ``time_step_s`` without
    control. Steps never cross a segment boundary."""

    def __init__(self, spec: PennesRun):
        self.spec = spec
        h_max = float(spec.max_time_step_s)
        self.levels = [h_max / 2**k for k in range(60) if h_max / 2**k >= spec.min_time_step_s * (1 - 1e-12)]
        self.accepted = self.rejected = 0
        self.h_used: list[float] = []
        self.stats: dict = {}

    def _mass_ksp(self, s):
        mksp = PETSc.KSP().create(s.comm)
        mksp.setOptionsPrefix("bioheat_mass_")
        mksp.setType("cg"); mksp.getPC().setType("jacobi")
        mksp.setTolerances(rtol=1e-12, atol=1e-50, max_it=1000)
        mksp.setErrorIfNotConverged(True)
        mksp.setFromOptions()
        mksp.setOperators(s.M)
        return mksp

    def advance(self, s, rec) -> None:
        self.mksp = self._mass_ksp(s)
        self.dT_n, self.dT_nm1, self.pred, self.d = (s.T.vector.duplicate() for _ in range(4))
        for si, seg in enumerate(self.spec.segments):
            self._segment(s, rec, seg, si == len(self.spec.segments) - 1)
        for v in (self.dT_n, self.dT_nm1, self.pred, self.d):
            v.destroy()
        self.mksp.destroy()
        h_used = self.h_used
        self.stats = {"accepted_steps": self.accepted, "rejected_steps": self.rejected,
                      "min_step_s": float(min(h_used)) if h_used else 0.0,
                      "max_step_s": float(max(h_used)) if h_used else 0.0}

    def _segment(self, s, rec, seg, last_segment: bool) -> None:
        spec, tmp = self.spec, s.tmp
        t, t_end = seg.t_start_s, seg.t_end_s
        # T'(t⁺) = M⁻¹ (f(t⁺) − K Tⁿ)
        s.K.mult(s.T.vector, tmp)
        tmp.scale(-1.0)
        tmp.axpy(1.0, s.load(seg.fraction_at(t)))
        if s.pool is not None:
            tmp.axpy(s.pool.theta, s.pool.mb1)
        self.mksp.solve(tmp, self.dT_n)
        h_prev = None
        h = min(spec.time_step_s, t_end - t)
        while t < t_end - 1e-9 * max(1.0, t_end):
            h = min(h, t_end - t)
            if t_end - t - h < 1e-6 * h:
                h = t_end - t
            t1 = t + h
            Told = s.save_old()
            err = self._trial(s, seg, t, t1, h, h_prev, Told)
            if err is not None and err > spec.adaptive_tol_K and not h <= self.levels[-1] * (1 + 1e-12):
                self.rejected += 1
                s.restore_old()
                h_new = 0.9 * h * (spec.adaptive_tol_K / err) ** (1.0 / 3.0)
                cand = [lv for lv in self.levels if lv <= min(h_new, h * (1 - 1e-9))]
                h = cand[0] if cand else self.levels[-1]
                continue
            h_opt = h if err is None else 0.9 * h * (spec.adaptive_tol_K / max(err, 1e-300)) ** (1.0 / 3.0)
            self._accept(s, h, Told)
            last = last_segment and t1 >= t_end - 1e-9 * max(1.0, t_end)
            rec.record(t1, h, seg.fraction_at(t1), rec.tv, last)
            t, h_prev = t1, h
            h = self._next_level(h, h_opt)

    def _trial(self, s, seg, t: float, t1: float, h: float, h_prev: float | None, Told) -> float | None:
        """One trapezoidal step from Told (AB2 predictor as initial guess); the local error estimate
        (None for the first step of a segment)."""
        c = 2.0 / h
        system = StepSystem(c, ((c, "n"),), True, (seg.fraction_at(t), seg.fraction_at(t1)), True)
        if h_prev is not None:
            r = h / h_prev
            Told.copy(self.pred)
            self.pred.axpy(0.5 * h * (2.0 + r), self.dT_n)
            self.pred.axpy(-0.5 * h * r, self.dT_nm1)
            self.pred.copy(s.T.vector)  # predictor as initial guess
        s.step(system, t1)
        if h_prev is None:
            return None
        s.T.vector.copy(self.d)
        self.d.axpy(-1.0, self.pred)
        return self.d.norm(PETSc.NormType.NORM_INFINITY) / (3.0 * (1.0 + h_prev / h))

    def _accept(self, s, h: float, Told) -> None:
        # T'ⁿ⁺¹ = 2(Tⁿ⁺¹ − Tⁿ)/h − T'ⁿ
        self.dT_n.copy(self.dT_nm1)
        self.dT_n.scale(-1.0)
        self.dT_n.axpy(2.0 / h, s.T.vector)
        self.dT_n.axpy(-2.0 / h, Told)
        self.accepted += 1
        self.h_used.append(h)

    def _next_level(self, h: float, h_opt: float) -> float:
        levels = self.levels
        cand = [lv for lv in levels if lv <= h_opt]
        nxt = cand[0] if cand else levels[-1]
        up = next((lv for lv in reversed(levels) if lv > h * (1 + 1e-12)), h)
        return min(nxt, up) if nxt > h else nxt


def make_stepper(spec: PennesRun, has_dirichlet: bool):
    if spec.mode == "steady":
        return Steady()
    if spec.adaptive:
        if has_dirichlet:
            raise SolverError("adaptive time stepping with Dirichlet data: not supported; expected fixed steps")
        return AdaptiveTRAB2(spec)
    return {"implicit-euler": ImplicitEuler, "crank-nicolson": CrankNicolson, "bdf2": BDF2}[spec.scheme]()
