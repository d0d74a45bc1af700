"""Settings search: transient goal with time to goal, Brent on continuous margins, systemic limits
bounding the search, non-monotonic response detected (small structured box, fast)."""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("dolfinx")

from benchmarks.thermal_performance import structured_box  # noqa: E402
from benchmarks.thermal_verification import MockLibrary, RegionHeat, _Tissue  # noqa: E402
from planner.config.plan import parse_plan  # noqa: E402
from planner.planning.search import ScaledHeat, SearchSections, search_settings  # noqa: E402
from planner.thermal import solve_bioheat  # noqa: E402


def _plan(search=None, thermal=None, safety=None):
    return parse_plan({
        "plan": {"name": "s"}, "mesh": {"max_size_mm": 10.0},
        "geometry": {"bodies": [{"name": "body", "shape": "box", "size_mm": [60, 60, 60], "tissue": "muscle"}]},
        "applicator": {"type": "uniform", "frequency_kHz": 100, "field_kA_per_m": 4, "amplitude": "peak"},
        "thermal": {"duration_min": 10.0, "time_step_s": 30.0, "field_output_interval_s": 0.0, **(thermal or {})},
        "safety": {"Hf_limit_A_per_m_s": 5e9, "max_healthy_T_C": 45.0, **(safety or {})},
        "search": {"goal_T90_C": 41.0, "max_field_kA_per_m": 12.0, "tolerance_kA_per_m": 0.01, "sweep_points": 4,
                   **(search or {})},
    })


def _sections(cfg):
    from planner.planning.safety import patient_mass_kg

    return SearchSections(cfg.search, cfg.applicator, cfg.safety, cfg.thermal, patient_mass_kg(cfg))


@pytest.fixture(scope="module")
def setup():
    mesh = structured_box(6, size_m=0.06, target_radius_m=0.015)
    lib = MockLibrary(muscle=_Tissue("muscle", 6e-4, 1.0), tumour=_Tissue("tumour", 3e-4, 1.0))
    applied = SimpleNamespace(frequency_Hz=1e5, H_peak_A_per_m_at_target=4000.0,
                              H_peak_at=lambda p: np.tile([0.0, 0.0, 4000.0], (len(p), 1)))
    fields = SimpleNamespace(E_peak_V_per_m=np.ones(mesh.num_cells), Q_eddy_W_per_m3=np.full(mesh.num_cells, 100.0),
                             density_kg_per_m3=np.full(mesh.num_cells, 1000.0))
    return mesh, lib, applied, fields


def test_transient_goal_is_reached_within_the_session_in_a_rerun(setup):
    mesh, lib, applied, fields = setup
    cfg = _plan()
    heat = RegionHeat(mesh, 4e4, tag=2)  # Q ∝ (field fraction)²
    res = search_settings(_sections(cfg), mesh, applied, fields, heat, lib)
    s = res.summary_block()
    assert s["goal_mode"] == "transient" and s["monotonic"] is True and s["hysteresis"] is None
    assert res.field_for_goal_kA_per_m is not None and res.goal_reachable_safely
    t_goal = s["time_to_goal_T90_min"]
    assert t_goal is not None and 0.0 < t_goal <= 10.0
    # Brent on the continuous margin: T90 at the reported field is within the tolerance of the goal
    scale = res.field_for_goal_kA_per_m / 4.0
    rerun = solve_bioheat(mesh, ScaledHeat(heat, scale), lib, cfg.thermal)
    assert rerun.target["T90_C"] >= 41.0 - 1e-9
    assert rerun.target["T90_C"] < 41.0 + 0.05
    below = solve_bioheat(mesh, ScaledHeat(heat, scale - 0.02 / 4.0), lib, cfg.thermal)
    assert below.target["T90_C"] < 41.0  # the smallest such field, to the tolerance
    # steady mode is an upper bound: it needs a lower field for the same goal
    steady = search_settings(_sections(_plan(search={"mode": "steady-upper-bound"})), mesh, applied, fields, heat, lib)
    assert steady.goal_mode == "steady-upper-bound" and steady.time_to_goal_T90_min is None
    assert steady.field_for_goal_kA_per_m < res.field_for_goal_kA_per_m
    assert "upper bound" in steady.summary_block()["definitions"]["CEM43T90_min"]


def test_arterial_rise_and_whole_body_sar_bound_the_search(setup):
    mesh, lib, applied, fields = setup
    heat = RegionHeat(mesh, 4e4, tag=2)
    cfg = _plan(thermal={"body_mass_kg": 1.0, "thermoregulation_W_per_K": 0.5}, safety={"max_arterial_rise_K": 0.05})
    res = search_settings(_sections(cfg), mesh, applied, fields, heat, lib)
    assert "arterial (core) temperature" in res.limited_by
    safe = [e for e in res.evaluations if e.field_kA_per_m <= res.max_safe_field_kA_per_m + 1e-9]
    assert all(e.arterial_rise_K <= 0.05 for e in safe)
    worst = max(e.arterial_rise_K for e in res.evaluations)
    assert worst > 0.05
    # whole-body SAR: 100 W/m³ · 0.216 L at 4 kA/m over 1 kg; limit 2 W/kg → s² · 0.0216 ≤ 2 is far;
    # with a tiny limit the SAR (∝ H²) binds at H = 4 kA/m · sqrt(limit / SAR_nominal)
    cfg2 = _plan(safety={"whole_body_SAR_limit_W_per_kg": 1e-4}, search={"max_field_kA_per_m": 8.0})
    res2 = search_settings(_sections(cfg2), mesh, applied, fields, heat, lib)
    sar_nominal = 100.0 * 0.06**3 / 70.0
    H_exact = 4.0 * math.sqrt(1e-4 / sar_nominal)
    assert "whole-body SAR" in res2.limited_by
    assert res2.max_safe_field_kA_per_m == pytest.approx(H_exact, abs=0.011)
    assert res2.max_safe_field_kA_per_m <= H_exact + 1e-9


class _PeakedHeat:
    """Non-monotonic in the field (a stand-in for a runaway/saturating response): Q ∝ f² e^{−(f/2)²}."""

    def __init__(self, mesh):
        self.base = np.where(mesh.cell_region == 2, 3e5, 0.0)

    def Q_W_per_m3(self, f=1.0):
        return self.base * f * f * math.exp(-(f / 2.0) ** 2)


def test_non_monotonic_response_is_detected_and_first_crossing_reported(setup):
    mesh, lib, applied, fields = setup
    res = search_settings(_sections(_plan(search={"sweep_points": 6})), mesh, applied, fields, _PeakedHeat(mesh), lib)
    s = res.summary_block()
    assert s["monotonic"] is False and any("non-monotonic" in n for n in s["notes"])
    T90 = [e.T90_C for e in sorted(res.evaluations, key=lambda e: e.scale)]
    assert max(T90) > T90[-1] + 0.5  # it did go up and come down
    assert res.field_for_goal_kA_per_m is not None and res.field_for_goal_kA_per_m < 4.0 * 2.0  # before the peak


def test_steady_lang_tumour_runaway_is_reported_as_hysteresis():
    """0-D tumour (isolated box, all target) with Lang's tumour perfusion, which halves between 37 and
    42 °C: β(T)(T − 37) = Q has three roots for 2.5 β0 < Q < 3.3 β0. Sweeping up (continuation from
    the cold branch) and down (from the hot branch) gives T90 ≈ 40.5 vs 43 °C at Q = 3 β0."""
    mesh = structured_box(2, size_m=0.02, target_radius_m=1.0)  # every cell in the tumour (target)
    lib = MockLibrary(muscle=_Tissue("muscle", 6e-4, 0.0), tumour=_Tissue("tumour", 3e-4, 0.0))
    beta0 = 3e-4 * 4e6
    applied = SimpleNamespace(frequency_Hz=1e5, H_peak_A_per_m_at_target=4000.0,
                              H_peak_at=lambda p: np.tile([0.0, 0.0, 4000.0], (len(p), 1)))
    cfg = _plan(thermal={"perfusion_model": "lang1999", "skin_h_W_per_m2_K": 0.0, "systemic": "off",
                         "picard_tol_K": 1e-6, "picard_max_iter": 3000},
                search={"mode": "steady-upper-bound", "goal_T90_C": 42.5, "max_field_kA_per_m": 8.0, "sweep_points": 9},
                safety={"max_healthy_T_C": 60.0})
    res = search_settings(_sections(cfg), mesh, applied, None, RegionHeat(mesh, 3.0 * beta0, tag=2), lib)
    s = res.summary_block()
    assert s["hysteresis"] is True and s["monotonic"] is False
    at1 = {e.sweep: e.T90_C for e in res.evaluations if abs(e.scale - 1.0) < 1e-12}
    assert at1["up"] == pytest.approx(pf_root(3.0, 40.0), abs=2e-3)  # cold branch
    assert at1["down"] == pytest.approx(37.0 + 3.0 * 0.833 / 0.416, abs=2e-3)  # hot branch: W = 0.416 above 42 °C
    assert any("non-unique steady state at 4 kA/m" in n for n in s["notes"])


def pf_root(q_over_beta0: float, guess: float) -> float:
    from scipy.optimize import brentq

    from planner.thermal import perfusion as pf

    g = lambda T: pf.lang1999_tumour(T) / pf.lang1999_tumour(37.0) * (T - 37.0) - q_over_beta0
    return brentq(g, 37.5, 41.0)


def test_frequency_search_picks_the_best_h_f_under_the_hf_limit(setup):
    """Heat ∝ f H² (SLP ∝ f in linear response) and H ≤ H·f-limit / f: the goal field scales as
    f^(-1/2) and the H·f ceiling as 1/f, so headroom first grows with f until the 12 kA/m search cap
    stops binding (200 kHz), then shrinks; at 400 kHz the goal is out of reach (5.1 > 5 kA/m)."""
    mesh, lib, applied0, fields0 = setup
    base = RegionHeat(mesh, 4e4, tag=2)

    rebuilt = []

    def rebuild(applicator_f):
        f = applicator_f.frequency_kHz * 1e3
        rebuilt.append(applicator_f.frequency_kHz)
        applied = SimpleNamespace(frequency_Hz=f, H_peak_A_per_m_at_target=4000.0, H_peak_at=applied0.H_peak_at)
        heat = SimpleNamespace(Q_W_per_m3=lambda frac, r=f / 1e5: base.Q_W_per_m3(frac) * r)
        return applied, fields0, heat

    cfg = _plan(search={"frequencies_kHz": [100.0, 200.0, 400.0]}, safety={"Hf_limit_A_per_m_s": 2e9})
    res = search_settings(_sections(cfg), mesh, applied0, fields0, base, lib, rebuild=rebuild)
    rows = {o.frequency_kHz: o for o in res.frequency_options}
    assert rebuilt == [200.0, 400.0]  # the plan's 100 kHz stages (implant sub-models included) are reused
    assert rows[100.0].max_safe_field_kA_per_m == res.max_safe_field_kA_per_m
    assert rows[100.0].max_safe_field_kA_per_m == pytest.approx(12.0)
    assert rows[200.0].max_safe_field_kA_per_m == pytest.approx(10.0) and "H·f" in rows[200.0].limited_by
    assert rows[400.0].max_safe_field_kA_per_m == pytest.approx(5.0) and not rows[400.0].goal_reachable_safely
    g100, g200 = rows[100.0].field_for_goal_kA_per_m, rows[200.0].field_for_goal_kA_per_m
    assert g200 == pytest.approx(g100 / math.sqrt(2.0), abs=0.03)
    assert res.best_frequency_kHz == 200.0 and "headroom" in res.best_reason
    assert res.summary_block()["frequency_sweep"][1]["Hf_at_goal_A_per_m_s"] == pytest.approx(g200 * 2e8)


def test_unconverged_perfusion_state_is_an_unsafe_evaluation_not_a_crash():
    """Near the fold of Lang's tumour curve, damped Picard may not converge within picard_max_iter: the
    search records that field as unsafe (no converged state) and still returns."""
    mesh = structured_box(2, size_m=0.02, target_radius_m=1.0)
    lib = MockLibrary(muscle=_Tissue("muscle", 6e-4, 0.0), tumour=_Tissue("tumour", 3e-4, 0.0))
    applied = SimpleNamespace(frequency_Hz=1e5, H_peak_A_per_m_at_target=4000.0,
                              H_peak_at=lambda p: np.tile([0.0, 0.0, 4000.0], (len(p), 1)))
    cfg = _plan(thermal={"perfusion_model": "lang1999", "skin_h_W_per_m2_K": 0.0, "systemic": "off",
                         "picard_tol_K": 1e-6, "picard_max_iter": 20},
                search={"mode": "steady-upper-bound", "goal_T90_C": 42.5, "max_field_kA_per_m": 8.0, "sweep_points": 9},
                safety={"max_healthy_T_C": 60.0})
    res = search_settings(_sections(cfg), mesh, applied, None, RegionHeat(mesh, 3.0 * 3e-4 * 4e6, tag=2), lib)
    bad = [e for e in res.evaluations if e.T90_C is None]
    assert bad and all("no converged perfusion state" in e.violations[0] for e in bad)
    assert res.max_safe_field_kA_per_m < min(e.field_kA_per_m for e in bad if e.sweep == "up") + 1e-9


def test_superposed_search_equals_the_search_by_direct_runs(setup, monkeypatch):
    """Every evaluation combined from one unit run gives the search of one full run per field."""
    mesh, lib, applied, fields = setup
    cfg = _plan(thermal={"body_mass_kg": 1.0, "thermoregulation_W_per_K": 0.5}, search={"sweep_points": 5})
    heat = RegionHeat(mesh, 4e4, tag=2)
    fast = search_settings(_sections(cfg), mesh, applied, fields, heat, lib)
    import planner.thermal.superposition as sp

    monkeypatch.setattr(sp, "linear_session", lambda *a, **k: (None, "switched off by the test"))
    slow = search_settings(_sections(cfg), mesh, applied, fields, heat, lib)
    sp_block = fast.superposition
    assert (sp_block["used"], sp_block["reason"], sp_block["unit_runs"], sp_block["direct_evaluations"]) == (True, "linear", 1, 0)
    assert sp_block["max_heat_deviation"] < 1e-12 and sp_block["heat_deviation_limit"] == 1e-3  # Q ∝ f²: exact
    assert slow.superposition["used"] is False and slow.superposition["direct_evaluations"] == len(slow.evaluations)
    assert fast.field_for_goal_kA_per_m == pytest.approx(slow.field_for_goal_kA_per_m, abs=1e-6)
    assert fast.max_safe_field_kA_per_m == pytest.approx(slow.max_safe_field_kA_per_m, abs=1e-6)
    # Brent's later points move with the margins' last digits (solver tolerance): compare to 1e-6
    assert [e.scale for e in fast.evaluations] == pytest.approx([e.scale for e in slow.evaluations], abs=1e-6)
    for a, b in zip(fast.evaluations, slow.evaluations):
        assert a.T90_C == pytest.approx(b.T90_C, abs=1e-6) and a.safety_margin == pytest.approx(b.safety_margin, abs=1e-6)
        assert a.arterial_rise_K == pytest.approx(b.arterial_rise_K, abs=1e-8)
        assert (a.time_to_goal_T90_min is None) == (b.time_to_goal_T90_min is None)
        assert a.time_to_goal_T90_min is None or a.time_to_goal_T90_min == pytest.approx(b.time_to_goal_T90_min, abs=1e-4)
    assert any(e.time_to_goal_T90_min is not None for e in fast.evaluations)
