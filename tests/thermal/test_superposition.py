"""Field-amplitude scans by superposition of unit runs (planner.thermal.superposition) against direct
runs of the same session: every output of the history, with a schedule (hold, ramp, off), the blood
pool, probes and an implant; the proportionality check that decides when it applies; the search with
and without it."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("dolfinx")

from benchmarks.thermal_verification import MockLibrary, _Tissue  # noqa: E402
from planner.artefacts import Region, Role  # noqa: E402
from planner.config.plan import ProbeSpec, ScheduleSegment, ThermalSection  # noqa: E402
from planner.planning.search import ScaledHeat  # noqa: E402
from planner.thermal import reusing_operators, solve_bioheat  # noqa: E402
from planner.thermal.superposition import linear_session  # noqa: E402
from planner.verification.meshes import structured_cube  # noqa: E402


class _Heat:
    """A HeatSource stand-in: particles g(f)·q_np (g a power law or not), eddy and implant ∝ f²."""

    def __init__(self, mesh, power: float | None = 2.0):
        reg = mesh.cell_region
        self.Q_np_W_per_m3 = np.where(reg == 2, 6e4, 0.0)
        self.Q_eddy_W_per_m3 = np.where(reg == 1, 300.0, 0.0)
        self.Q_implant_W_per_m3 = np.where(reg == 3, 4e5, 0.0)
        self.power = power

    def _g(self, f: float) -> float:
        return f**self.power if self.power is not None else f * f / (1.0 + 0.8 * f * f)  # saturating: no power law

    def Q_np_at(self, f: float) -> np.ndarray:
        return self._g(f) / self._g(1.0) * self.Q_np_W_per_m3

    def Q_W_per_m3(self, f: float = 1.0) -> np.ndarray:
        return self.Q_np_at(f) + f * f * (self.Q_eddy_W_per_m3 + self.Q_implant_W_per_m3)


def _mesh():
    regions = (Region(1, "body", "muscle", Role.BODY), Region(2, "tumour", "tumour", Role.TARGET),
               Region(3, "stem", "ti", Role.IMPLANT))

    def region_of(c):
        tags = np.where(np.linalg.norm(c - [0.01, 0.0, 0.0], axis=1) < 0.012, 2, 1)
        return np.where(np.linalg.norm(c - [-0.016, 0.0, 0.0], axis=1) < 0.007, 3, tags)
    return structured_cube(8, 0.06, regions=regions, region_of=region_of)


def _lib():
    ti = _Tissue("ti", 0.0, 0.0, k=7.0)
    ti.kind = "metal"
    return MockLibrary(muscle=_Tissue("muscle", 6e-4, 1.0), tumour=_Tissue("tumour", 3e-4, 1.0), ti=ti)


SCHEDULE = (ScheduleSegment("ramp", 1.0, 0.5), ScheduleSegment("hold", 3.0, 1.0), ScheduleSegment("off", 2.0))


def _section(schedule=SCHEDULE, **kw):
    kw = {"field_output_interval_s": 20.0, **kw}
    return ThermalSection(time_step_s=20.0, duration_min=6.0, schedule=schedule, body_mass_kg=2.0,
                          thermoregulation_W_per_K=0.3, linear_rtol=1e-12,
                          probes=(ProbeSpec("centre", (0.0, 0.0, 0.0)), ProbeSpec("tumour", (10.0, 2.0, 0.0))), **kw)


def test_combined_history_equals_a_direct_run_at_another_field():
    mesh, lib, th = _mesh(), _lib(), _section()
    heat = _Heat(mesh)
    with reusing_operators():
        lin, why = linear_session(mesh, heat, lib, th)
        assert lin is not None and why == "linear" and lin.runs == 3
        s = 1.7
        c = lin.coefficients(s)
        assert c == pytest.approx({"particles": s * s, "eddy": s * s, "implant": s * s}, rel=1e-12)
        got = lin.history(c)
        ref = solve_bioheat(mesh, ScaledHeat(heat, s), lib, th, check_physical=False)
    rise = ref.T_max_C - ref.T_baseline_C
    assert rise.max() > 3.0 and ref.CEM43_min.max() > 1.0 and ref.time_above_42C_min.max() > 0.5  # exercised
    for name in ("T_max_C", "T_final_C", "CEM43_min", "time_above_42C_min", "T_snapshots_C", "probe_T_C",
                 "body_max_T_C", "arterial_T_C", "exchange_W"):
        a, b = np.asarray(getattr(got, name)), np.asarray(getattr(ref, name))
        assert a.shape == b.shape, name
        assert np.abs(a - b).max() <= 1e-7 * max(1.0, np.abs(b).max()), name
    assert got.target["T90_C"] == pytest.approx(ref.target["T90_C"], abs=1e-8)
    assert got.target["CEM43T90_min"] == pytest.approx(ref.target["CEM43T90_min"], rel=1e-7)
    assert ref.implant_self_heating_dT_K["stem"] > 0.5
    assert got.implant_self_heating_dT_K["stem"] == pytest.approx(ref.implant_self_heating_dT_K["stem"], rel=1e-8)
    assert got.arterial_block()["max"] > got.arterial_block()["start"] + 1e-3  # the pool heats up
    assert _numbers(got.dvh) == pytest.approx(_numbers(ref.dvh), abs=1e-6)  # volume fractions per bin


def _numbers(tree) -> list[float]:
    if isinstance(tree, dict):
        return [x for k in sorted(tree) for x in _numbers(tree[k])]
    if isinstance(tree, (list, tuple)):
        return [x for v in tree for x in _numbers(v)]
    return [float(tree)] if isinstance(tree, (int, float)) else []


def test_particle_heat_that_is_not_a_power_law_is_combined_only_where_exact():
    mesh, lib = _mesh(), _lib()
    heat = _Heat(mesh, power=None)  # q(f·s) ∝ q(f) for one fraction, not across the ramp's fractions
    with reusing_operators():
        ramp, _ = linear_session(mesh, heat, lib, _section())
        assert ramp is not None and ramp.coefficients(1.0) is not None
        assert ramp.coefficients(1.7) is None  # the caller then solves directly
        hold_th = _section(schedule=())
        hold, _ = linear_session(mesh, heat, lib, hold_th)
        c = hold.coefficients(1.7)
        assert c["particles"] == pytest.approx(heat._g(1.7) / heat._g(1.0), rel=1e-12)
        got = hold.history(c)
        ref = solve_bioheat(mesh, ScaledHeat(heat, 1.7), lib, hold_th, check_physical=False)
    assert np.abs(got.T_max_C - ref.T_max_C).max() < 1e-7
    assert np.abs(got.CEM43_min - ref.CEM43_min).max() <= 1e-7 * ref.CEM43_min.max()


def test_nonlinear_sessions_are_refused_with_the_reason():
    mesh, lib = _mesh(), _lib()
    heat = _Heat(mesh)
    for th, words in ((_section(perfusion_model="lang1999"), "temperature-dependent"),
                      (ThermalSection(mode="steady"), "steady"),
                      (_section(schedule=(), scheme="crank-nicolson", adaptive=True), "adaptive"),
                      (_section(field_output_interval_s=60.0), "every step")):
        lin, why = linear_session(mesh, heat, lib, th)
        assert lin is None and words in why
    lin, why = linear_session(mesh, heat, lib, _section(), max_bytes=1e4)
    assert lin is None and "exceed" in why
    hidden = SimpleNamespace(Q_W_per_m3=heat.Q_W_per_m3, Q_implant_W_per_m3=heat.Q_implant_W_per_m3)
    lin, why = linear_session(mesh, hidden, lib, _section())
    assert lin is None and "implant" in why


class _FieldHeat(_Heat):
    """Particles in a field varying over the tumour by ±``spread`` with a saturating SLP (no power law)."""

    def __init__(self, mesh, spread: float):
        super().__init__(mesh, power=None)
        x = mesh.cell_centroids_m()[:, 0]
        self.H = 1.0 + spread * np.clip((x - 0.01) / 0.012, -1.0, 1.0)

    def Q_np_at(self, f: float) -> np.ndarray:
        return np.array([self._g(f * h) for h in self.H]) / self._g(1.0) * self.Q_np_W_per_m3


def test_particles_in_a_varying_field_are_combined_within_the_stated_bound():
    """Per-cell deviation ε from proportionality: accepted up to 1e-3 with temperature error ≤ ε × the
    particle rise (checked against a direct run); a strongly varying field is solved directly."""
    mesh, lib, th = _mesh(), _lib(), _section(schedule=())
    with reusing_operators():
        lin, _ = linear_session(mesh, _FieldHeat(mesh, 0.3), lib, th)
        assert lin.coefficients(1.7) is None
        heat = _FieldHeat(mesh, 0.002)
        lin, _ = linear_session(mesh, heat, lib, th)
        c = lin.coefficients(1.7)
        eps = lin.max_deviation
        assert c is not None and 1e-5 < eps <= 1e-3
        got = lin.history(c)
        ref = solve_bioheat(mesh, ScaledHeat(heat, 1.7), lib, th, check_physical=False)
        only = solve_bioheat(mesh, ScaledHeat(SimpleNamespace(Q_W_per_m3=heat.Q_np_at), 1.7), lib, th,
                             check_physical=False)
    rise_np = (only.T_max_C - only.T_baseline_C).max()
    err = np.abs(got.T_max_C - ref.T_max_C).max()
    assert rise_np > 3.0 and 0.0 < err <= eps * rise_np
