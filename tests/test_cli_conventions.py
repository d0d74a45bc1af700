"""CLI conventions (issue 15, deliverable 5): exit codes 0/2/3/64, -v/-q after the verb, --version,
stage timings in summary.json, `planner tissues`, `planner schema` (deliverables 6, 7)."""
import json
import tomllib

import pytest

from tests.conftest import ROOT, run_cli
from tests.test_cli import SMALL

FIELD = """
[applicator]
type = "uniform"
frequency_kHz = 100.0
field_kA_per_m = 10.0
amplitude = "peak"
"""
# H·f = 1e4 A/m × 1e5 Hz = 1e9 A m⁻¹ s⁻¹ > 4.85e8: one violation, with or without a search
UNSAFE = SMALL + FIELD + "\n[safety]\nHf_limit_A_per_m_s = 4.85e8\n"
SAFE = SMALL + FIELD.replace("10.0", "1.0")


def _plan(tmp_path, text):
    plan = tmp_path / "plan.toml"
    plan.write_text(text)
    return plan


def test_exit_0_when_safe_with_timings_per_stage(tmp_path):
    res = run_cli("run", str(_plan(tmp_path, SAFE)))
    assert res.returncode == 0, res.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["safety"]["violations"] == []
    t = summary["timings_s"]
    assert {"mesh", "em", "implants", "nanoparticles", "safety", "outputs", "total"} <= set(t)
    assert all(v >= 0 for v in t.values())
    assert t["total"] >= t["mesh"] + t["em"] + t["outputs"]
    assert "timings (s)" in res.stdout and "mesh" in res.stdout
    assert "\x1b[" not in res.stderr + res.stdout, "no progress bars when not a terminal"


def test_exit_3_with_violations_and_results_written(tmp_path):
    res = run_cli("run", str(_plan(tmp_path, UNSAFE)))
    assert res.returncode == 3, res.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert len(summary["safety"]["violations"]) == 1 and summary["safety"]["violations"][0].startswith("H·f")
    assert "1 safety violation(s), results written" in res.stderr
    assert summary["safety"]["violations"][0] in res.stderr


def test_stop_on_violation_keeps_the_record_and_skips_the_search(tmp_path):
    text = UNSAFE.replace("[safety]\n", "[safety]\nstop_on_violation = true\n") + "\n[thermal]\n\n[search]\n"
    res = run_cli("run", str(_plan(tmp_path, text)))
    assert res.returncode == 3, res.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["safety"]["stop_on_violation"] is True
    assert summary["safety"]["violations"][0].startswith("H·f")
    assert summary["stages"]["search"].startswith("skipped") and "stop_on_violation" in summary["stages"]["search"]
    assert "search" not in summary and summary["stages"]["thermal"] == "done"
    assert (tmp_path / "out" / "summary.json").is_file() and (tmp_path / "out" / "fields" / "mesh.vtu").is_file()


def test_exit_2_on_plan_error_writes_nothing(tmp_path):
    plan = _plan(tmp_path, SAFE.replace("frequency_kHz", "frequency_khz"))
    res = run_cli("run", str(plan), "-q")
    assert res.returncode == 2
    assert res.stderr.startswith("planner: error: applicator.frequency_khz: unknown key")
    assert list(tmp_path.iterdir()) == [plan]


@pytest.mark.parametrize("argv", [("bogus",), (), ("run",), ("run", "plan.toml", "--no-such-option"),
                                  ("tissues", "--frequency-kHz", "ten")])
def test_exit_64_on_usage_error(argv):
    res = run_cli(*argv)
    assert res.returncode == 64, (argv, res.returncode, res.stderr)
    assert "usage: planner" in res.stderr and "error:" in res.stderr


def test_exit_codes_documented_in_help_and_readme():
    res = run_cli("--help")
    assert res.returncode == 0
    for code in ("0 ", "2 ", "3 ", "64 "):
        assert f"\n  {code}" in res.stdout, code
    readme = (ROOT / "README.md").read_text()
    for code in ("| 0 |", "| 2 |", "| 3 |", "| 64 |"):
        assert code in readme


def test_version():
    import planner

    res = run_cli("--version")
    assert res.returncode == 0 and res.stdout.strip() == f"planner {planner.__version__}"


def test_verbose_and_quiet_after_the_verb(tmp_path):
    plan = _plan(tmp_path, SMALL)
    quiet = run_cli("check", str(plan), "-q")
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""
    normal = run_cli("check", str(plan))
    assert normal.returncode == 0 and "is valid" in normal.stdout
    verbose = run_cli("run", str(plan), "-v")
    assert verbose.returncode == 0, verbose.stderr
    assert "INFO planner." in verbose.stderr  # -v after the verb raised the log level
    before = verbose.stderr.count("INFO")
    assert run_cli("-v", "run", str(plan), "-v").stderr.count("DEBUG") > 0 and before > 0
    q = run_cli("run", str(plan), "--quiet")
    assert q.returncode == 0 and q.stdout == "" and "INFO" not in q.stderr


def test_quiet_still_records_warnings(tmp_path):
    """-q silences stderr only: the warnings still reach summary.json."""
    text = SAFE + """
[nanoparticles]
slp_model = "linear-response"

[nanoparticles.linear_response]
material = "magnetite"
median_diameter_nm = 14.0
sigma_ln = 0.2
shell_thickness_nm = 5.0
brownian = false
temperature_C = 37.0
mass_basis = "per_g_Fe"

[nanoparticles.distribution]
kind = "uniform-in-target"
mass_of = "Fe"
total_mass_mg = 2000.0   # ≈ 480 mg Fe/mL of a 4.2 mL tumour: above any clinical stock, a logged warning
"""
    plan = _plan(tmp_path, text)
    loud = run_cli("run", str(plan))
    quiet_dir = tmp_path / "q"
    quiet_dir.mkdir()
    plan_q = quiet_dir / "plan.toml"
    plan_q.write_text(text)
    quiet = run_cli("run", str(plan_q), "-q")
    assert loud.returncode == quiet.returncode == 0
    w_loud = json.loads((tmp_path / "out" / "summary.json").read_text())["warnings"]
    w_quiet = json.loads((quiet_dir / "out" / "summary.json").read_text())["warnings"]
    assert w_quiet == w_loud and any("exceeds the most concentrated clinical stock" in w for w in w_quiet)
    assert "WARNING" in loud.stderr and "WARNING" not in quiet.stderr and quiet.stdout == ""


def test_tissues_lists_library_with_units_and_citations():
    from planner.tissues.library import load_library

    res = run_cli("tissues")
    assert res.returncode == 0, res.stderr
    for unit in ("kg/m³", "J/(kg·K)", "W/(m·K)", "mL/(min·kg)", "W/kg", "S/m @100 kHz"):
        assert unit in res.stdout
    lib = load_library()
    for name, t in lib.items():
        assert f"  {name}: {t.citation}" in res.stdout
    muscle = next(line for line in res.stdout.splitlines() if line.startswith("muscle "))
    assert f"{float(lib['muscle'].conductivity_S_per_m(1e5)):.4g}" in muscle.split()
    js = json.loads(run_cli("tissues", "--json", "--frequency-kHz", "300").stdout)
    assert js["muscle"]["frequency_Hz"] == 3e5 and js["muscle"]["citation"] == lib["muscle"].citation
    assert js["muscle"]["conductivity_S_per_m"] == pytest.approx(float(lib["muscle"].conductivity_S_per_m(3e5)))


# --- `planner schema` --------------------------------------------------------------------------
jsonschema = pytest.importorskip("jsonschema")


@pytest.fixture(scope="module")
def validator():
    res = run_cli("schema")
    assert res.returncode == 0, res.stderr
    schema = json.loads(res.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_shipped_schema_file_is_up_to_date():
    from planner.config.doc import schema_text

    assert (ROOT / "docs" / "plan.schema.json").read_text() == schema_text(), \
        "docs/plan.schema.json is stale: run `python -m planner.config.doc --schema > docs/plan.schema.json`"


SHIPPED = sorted(ROOT.glob("phantoms/*/plan*.toml"))


def test_there_are_shipped_plans():
    assert len(SHIPPED) >= 5 and any(p.name == "plan_table.toml" for p in SHIPPED)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_plan_validates(validator, path):
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(tomllib.loads(path.read_text()))]
    assert not errors, errors


def _errors(validator, data):
    return [e for e in validator.iter_errors(data)]


def test_schema_rejects_what_the_loader_rejects(validator):
    from planner.config.plan import parse_plan
    from planner.errors import InputError

    torso = tomllib.loads((ROOT / "phantoms" / "torso" / "plan.toml").read_text())
    assert not _errors(validator, torso)
    bad_key = {**torso, "mesh": {**torso["mesh"], "max_sise_mm": 10.0}}
    bad_section = {**torso, "thermol": {}}
    bad_type = {**torso, "applicator": {**torso["applicator"], "frequency_kHz": "100"}}
    bad_model = {**torso, "applicator": {**torso["applicator"], "type": "tesla-coil"}}
    no_model_key = {**torso, "applicator": {k: v for k, v in torso["applicator"].items() if k != "radius_mm"}}
    both = {**torso, "imaging": {}}
    for name, data in [("key", bad_key), ("section", bad_section), ("type", bad_type), ("model", bad_model),
                       ("per-model key", no_model_key), ("geometry and imaging", both)]:
        assert _errors(validator, data), name
        with pytest.raises(InputError):
            parse_plan(data)
    assert any("max_sise_mm" in e.message for e in _errors(validator, bad_key))


def test_schema_slp_sub_table_is_conditional(validator):
    table = tomllib.loads((ROOT / "phantoms" / "torso" / "plan_table.toml").read_text())
    assert table["nanoparticles"]["slp_model"] == "table"
    missing = {**table, "nanoparticles": {k: v for k, v in table["nanoparticles"].items() if k != "table"}}
    assert _errors(validator, missing)


# --- progress: the stages report through the callback; the CLI draws it only on a terminal -------
def test_stages_report_progress_through_the_callback(tmp_path):
    from planner.config.plan import parse_plan
    from planner.pipeline import run_plan

    text = SAFE + "\n[thermal]\nduration_min = 2.0\ntime_step_s = 30.0\n"
    cfg = parse_plan(tomllib.loads(text), plan_file=tmp_path / "plan.toml")
    calls: list[tuple[str, float, float | None]] = []
    result = run_plan(cfg, write=False, progress=lambda task, done, total: calls.append((task, done, total)))
    tasks = {t for t, _, _ in calls}
    assert {"meshing", "eddy currents", "time loop"} <= tasks, tasks
    loop = [(d, t) for task, d, t in calls if task == "time loop"]
    assert [d for d, _ in loop] == [0.0, 30.0, 60.0, 90.0, 120.0] and {t for _, t in loop} == {120.0}
    assert calls[0] == ("meshing", 0, None) and ("meshing", 1, 1) in calls
    assert set(result.summary["timings_s"]) >= {"mesh", "em", "thermal", "safety", "total"}


def test_rich_progress_rows_finish_and_restart():
    import io

    from rich.console import Console
    from rich.progress import Progress as Bars

    from planner.cli import _RichProgress

    out = io.StringIO()
    with Bars(console=Console(file=out, force_terminal=True, width=100)) as bars:
        p = _RichProgress(bars)
        p("time loop", 0.0, 120.0)
        p("time loop", 120.0, 120.0)  # finished: the row is done and the name free again
        assert not p.tasks and bars.tasks[0].finished
        p("time loop (implant self-heating)", 60.0, 120.0)
        p("search", 3, None)
        assert set(p.tasks) == {"time loop (implant self-heating)", "search"}
        assert bars.tasks[1].completed == 60.0 and bars.tasks[2].total is None
        assert bars.tasks[2].description == "search (3)" and bars.tasks[1].description.startswith("time loop (")
    assert "time loop" in out.getvalue()


def test_no_progress_display_without_a_terminal():
    from planner.cli import _progress_display

    with _progress_display(enabled=False) as p:
        assert p is None


def test_schema_and_key_reference_come_from_the_same_metadata(validator):
    """Every key of docs/plan-files.md is a property somewhere in the schema, and vice versa."""
    import re

    doc_keys = set(re.findall(r"^\| `([A-Za-z0-9_]+)` \|", (ROOT / "docs" / "plan-files.md").read_text(), re.M))

    def walk(node, out):
        if isinstance(node, dict):
            for k, v in node.get("properties", {}).items():
                out.add(k)
                walk(v, out)
            for v in node.values():
                walk(v, out)
        elif isinstance(node, list):
            for v in node:
                walk(v, out)
        return out

    schema_keys = walk(validator.schema, set())
    assert len(doc_keys) > 100
    assert doc_keys - schema_keys == set()
    sections = {"plan", "geometry", "mesh", "applicator", "nanoparticles", "thermal", "safety", "search", "implants",
                "imaging", "segmentation", "tissues", "em", "selection_field", "uncertainty"}
    sub_tables = {"bodies", "distribution", "probes", "schedule", "deposits", "linear_response", "table", "constant",
                  "field_probes", "nonlinear_relaxation", "magnets", "coil_pairs"}
    assert schema_keys - doc_keys - sections - sub_tables == set()
