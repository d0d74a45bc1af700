"""Property-based fuzzer over plan files generated from the schema: whatever the values, loading and
checking a plan (`planner check`: schema, plausibility, tissues, inputs, output folder) ends either
in success or in a one-line PlannerError — never a traceback (issue 16, item 7)."""
import copy
import dataclasses

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.config import plan as plan_mod
from planner.config.plan import parse_plan
from planner.errors import PlannerError, error_lines
from planner.nanoparticles.slp.linear_response import LinearResponseSection

BASE = {
    "plan": {"name": "fuzz", "output_dir": "out"},
    "geometry": {"bodies": [
        {"name": "body", "shape": "box", "size_mm": [80.0, 60.0, 60.0], "tissue": "muscle"},
        {"name": "tumour", "shape": "sphere", "radius_mm": 10.0, "tissue": "tumour", "role": "target"}]},
    "mesh": {"max_size_mm": 15.0, "target_size_mm": 5.0},
    "applicator": {"type": "uniform", "frequency_kHz": 100.0, "field_kA_per_m": 10.0, "amplitude": "peak"},
    "nanoparticles": {"slp_model": "linear-response",
                      "linear_response": {"median_diameter_nm": 14.0, "sigma_ln": 0.2, "shell_thickness_nm": 5.0},
                      "distribution": {"kind": "uniform-in-target", "total_mass_mg": 50.0}},
    "thermal": {"mode": "transient", "duration_min": 10.0, "time_step_s": 60.0,
                "probes": [{"name": "c", "position_mm": [0.0, 0.0, 0.0]}]},
    "safety": {"Hf_limit_A_per_m_s": 5e9},
    "search": {"goal_T90_C": 42.0},
    "tissues": {"tumour": {"perfusion_mL_per_min_per_kg": 300.0}},
}
# (path in BASE, section class) of every table the fuzzer edits
TABLES = [
    (("plan",), plan_mod.PlanSection), (("mesh",), plan_mod.MeshSection),
    (("geometry", "bodies", 0), plan_mod.BodySpec), (("geometry", "bodies", 1), plan_mod.BodySpec),
    (("applicator",), plan_mod.ApplicatorSection), (("nanoparticles",), plan_mod.NanoparticleSection),
    (("nanoparticles", "linear_response"), LinearResponseSection),
    (("nanoparticles", "distribution"), plan_mod.DistributionSection),
    (("thermal",), plan_mod.ThermalSection), (("thermal", "probes", 0), plan_mod.ProbeSpec),
    (("safety",), plan_mod.SafetySection), (("search",), plan_mod.SearchSection),
    (("tissues", "tumour"), plan_mod.TissueOverride),
]
scalars = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**12, 10**12), st.booleans(),
    st.sampled_from([0.0, -1.0, 1e-300, 1e300, 4000.0, 1e5, 0.01, "", " ", "muscle", "peak", "rms", "table", "deposit",
                     "concentration-map", "sphere", "hip-stem", "target", "../..", ".", "/", "x.csv"]),
    st.text(max_size=8))
values = st.one_of(scalars, st.lists(scalars, max_size=4), st.dictionaries(st.text(max_size=5), scalars, max_size=2))


def _table(data, path):
    """The table at ``path``, or None when an earlier edit replaced or removed it."""
    node = data
    for k in path:
        if isinstance(node, dict) and k in node or isinstance(node, list) and isinstance(k, int) and k < len(node):
            node = node[k]
        else:
            return None
    return node if isinstance(node, dict) else None


@st.composite
def plans(draw):
    data = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 4))):
        path, cls = draw(st.sampled_from(TABLES))
        table = _table(data, path)
        if table is None:
            continue
        names = [f.name for f in dataclasses.fields(cls)] + ["unknown_key"]
        key = draw(st.sampled_from(names))
        action = draw(st.sampled_from(["set", "set", "set", "delete"]))
        if action == "delete":
            table.pop(key, None)
        else:
            table[key] = draw(values)
    if draw(st.booleans()):
        data.pop(draw(st.sampled_from(sorted(data))), None)
    return data


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=plans())
def test_plan_fuzz_never_a_traceback(tmp_path, data):
    from planner.pipeline import check_output, check_plan
    from planner.tissues.library import load_library

    try:
        cfg = parse_plan(data, plan_file=tmp_path / "plan.toml")
        check_plan(cfg, load_library(cfg.tissues))
        check_output(cfg)
    except PlannerError as exc:
        lines = error_lines(exc)
        assert lines and all(line and "\n" not in line for line in lines), lines
        assert "Traceback" not in str(exc)
    assert [p.name for p in tmp_path.iterdir() if p.name != "plan.toml"] == [], "checking wrote a file"
