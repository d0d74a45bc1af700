"""Schedules, plan parsing of [thermal], perfusion models (no FEniCSx)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from planner.config.plan import ScheduleSegment, ThermalSection, parse_plan
from planner.errors import InputError
from planner.thermal import perfusion as pf
from planner.thermal.schedule import build_schedule, step_times


def _plan(thermal: dict) -> dict:
    return {"plan": {"name": "t"}, "mesh": {"max_size_mm": 5.0},
            "geometry": {"bodies": [{"name": "b", "shape": "sphere", "tissue": "muscle", "radius_mm": 50.0}]},
            "thermal": thermal}


def test_default_schedule_is_field_on_for_duration():
    s = build_schedule((), 30.0)
    assert s.total_s == 1800.0
    assert s.fraction_at(0.0) == 1.0 and s.fraction_at(1800.0) == 1.0
    steps = s.steps(30.0)
    assert len(steps) == 60 and steps[-1].t1_s == 1800.0
    assert all(st.fraction0 == st.fraction1 == 1.0 for st in steps)


def test_ramp_hold_off_segments_and_step_alignment():
    cfg = parse_plan(_plan({"time_step_s": 40.0, "schedule": [
        {"kind": "ramp", "duration_min": 2.0, "field_fraction": 0.8},
        {"kind": "hold", "duration_min": 3.0},
        {"kind": "off", "duration_min": 1.5},
        {"kind": "hold", "duration_min": 1.0, "field_fraction": 0.5}]}))
    th = cfg.thermal
    assert isinstance(th.schedule[0], ScheduleSegment)
    assert th.session_duration_s == pytest.approx(7.5 * 60)
    s = build_schedule(th.schedule, th.duration_min)
    assert s.fraction_at(0.0) == 0.0
    assert s.fraction_at(60.0) == pytest.approx(0.4)  # halfway up the ramp to 0.8
    assert s.fraction_at(150.0) == 1.0  # hold defaults to fraction 1
    assert s.fraction_at(320.0) == 0.0  # off
    assert s.fraction_at(420.0) == 0.5
    assert s.heating_end_s() == pytest.approx(450.0)
    steps = s.steps(th.time_step_s)
    t = step_times(steps)
    # every segment boundary is a step boundary, no step longer than dt, each step in one segment
    for b in (120.0, 300.0, 390.0, 450.0):
        assert np.min(np.abs(t - b)) < 1e-9
    assert max(st.dt_s for st in steps) <= 40.0 + 1e-12
    # ramp steps carry the linear law at their ends; the jump hold → off is a step boundary
    first = steps[0]
    assert first.fraction0 == 0.0 and first.fraction1 == pytest.approx(0.8 * first.t1_s / 120.0)
    off_steps = [st for st in steps if st.segment == 2]
    assert all(st.fraction0 == st.fraction1 == 0.0 for st in off_steps)
    prev = [st for st in steps if st.segment == 1][-1]
    assert prev.fraction1 == 1.0


@pytest.mark.parametrize("thermal, key", [
    ({"time_step_s": 0.0}, "thermal.time_step_s"),
    ({"time_step_s": -5.0}, "thermal.time_step_s"),
    ({"time_step_s": 4000.0, "duration_min": 30.0}, "thermal.time_step_s"),
    ({"schedule": [{"kind": "off", "duration_min": 1.0, "field_fraction": 0.5}]}, "thermal.schedule[0].field_fraction"),
    ({"schedule": [{"kind": "pulse", "duration_min": 1.0}]}, "thermal.schedule[0].kind"),
    ({"schedule": [{"kind": "hold", "duration_min": 0.0}]}, "thermal.schedule[0].duration_min"),
    ({"mode": "steady", "schedule": [{"kind": "hold", "duration_min": 1.0}]}, "thermal.schedule"),
    ({"perfusion_curves": {"muscle": "bone"}}, "thermal.perfusion_curves.muscle"),
    ({"probes": [{"name": "p", "position_mm": [0, 0, 0]}, {"name": "p", "position_mm": [1, 0, 0]}]}, "thermal.probes"),
    ({"linear_pc": "ilu"}, "thermal.linear_pc"),
    ({"adaptive": True, "scheme": "bdf2"}, "thermal.scheme"),
    ({"adaptive": True, "scheme": "crank-nicolson", "time_step_s": 1.0, "min_time_step_s": 2.0}, "thermal.min_time_step_s"),
])
def test_bad_thermal_sections_name_the_key(thermal, key):
    with pytest.raises(InputError) as exc:
        parse_plan(_plan(thermal))
    assert key in str(exc.value)


def test_schedule_step_checks_without_plan_validation():
    s = build_schedule((), 1.0)
    with pytest.raises(InputError, match="thermal.time_step_s"):
        s.steps(0.0)
    with pytest.raises(InputError, match="thermal.time_step_s"):
        s.steps(61.0)
    assert len(s.steps(60.0)) == 1


def test_lang1999_curves_reference_values():
    # Lang, Erdmann & Seebass 1999 (IEEE TBME 46:1129): values at the breakpoints
    assert pf.lang1999_muscle(45.0) == pytest.approx(4.0)
    assert pf.lang1999_muscle(50.0) == 4.0
    assert pf.lang1999_muscle(37.0) == pytest.approx(0.45 + 3.55 * math.exp(-64.0 / 12.0))
    assert pf.lang1999_fat(45.0) == pytest.approx(0.72) and pf.lang1999_fat(46.0) == 0.72
    assert pf.lang1999_tumour(36.0) == 0.833 and pf.lang1999_tumour(43.0) == 0.416
    assert pf.lang1999_tumour(42.0) == pytest.approx(0.833 - 5.0**4.8 / 5438.0)
    assert abs(pf.lang1999_tumour(42.0) - 0.416) < 1e-3  # continuous at 42 °C
    assert pf.lang1999_tumour(40.0) == pytest.approx(0.833 - 3.0**4.8 / 5438.0)


def test_perfusion_laws_scale_library_baseline():
    w0 = np.array([1e-3, 2e-3, 5e-4, 7e-4])
    cid = np.array([pf.curve_id(c) for c in ("muscle", "fat", "tumour", "constant")])
    law = pf.make_perfusion_law("lang1999", w0, cid, 4e6, 1050.0)
    assert law.temperature_dependent
    np.testing.assert_allclose(law.w_per_s(np.full(4, 37.0)), w0, rtol=1e-14)
    w45 = law.w_per_s(np.full(4, 45.0))
    assert w45[0] == pytest.approx(1e-3 * 4.0 / pf.lang1999_muscle(37.0))
    assert w45[2] == pytest.approx(5e-4 * 0.416 / 0.833)
    assert w45[3] == 7e-4
    np.testing.assert_allclose(law.beta(np.full(4, 37.0)), w0 * 4e6)
    absl = pf.make_perfusion_law("lang1999-absolute", w0, cid, 4e6, 1050.0)
    assert absl.w_per_s(np.full(4, 45.0))[0] == pytest.approx(4.0 / 1050.0)
    const = pf.make_perfusion_law("constant", w0, cid, 4e6, 1050.0)
    assert not const.temperature_dependent
    np.testing.assert_allclose(const.w_per_s(np.full(4, 45.0)), w0)
    with pytest.raises(InputError, match="thermal.perfusion_model"):
        pf.make_perfusion_law("pennes2000", w0, cid, 4e6, 1050.0)


def test_curve_mapping_by_name_and_explicit():
    assert pf.curve_for_tissue("skeletal_muscle", {}) == "muscle"
    assert pf.curve_for_tissue("subcutaneous_fat", {}) == "fat"
    assert pf.curve_for_tissue("tumor_core", {}) == "tumour"
    assert pf.curve_for_tissue("liver", {}) == "constant"
    assert pf.curve_for_tissue("liver", {"liver": "tumour"}) == "tumour"


def test_thermal_section_defaults():
    th = ThermalSection()
    assert th.session_duration_s == 1800.0 and th.linear_pc == "auto" and th.perfusion_model == "constant"
