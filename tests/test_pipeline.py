"""A small plan through every stage, with cross-checks between the stages' results."""
import json
import math

import numpy as np
import pytest

from planner.config.plan import load_plan
from planner.pipeline import run_plan

PLAN = """
[plan]
name = "pipeline"
output_dir = "out"

[[geometry.bodies]]
name = "body"
shape = "sphere"
radius_mm = 60.0
tissue = "muscle"

[[geometry.bodies]]
name = "tumour"
shape = "sphere"
radius_mm = 12.0
tissue = "tumour"
role = "target"

[mesh]
max_size_mm = 14.0
target_size_mm = 4.0

[applicator]
type = "uniform"
frequency_kHz = 150.0
field_kA_per_m = {field}
amplitude = "rms"

[nanoparticles]
slp_model = "constant"

[nanoparticles.constant]
slp_W_per_g = 50.0
mass_basis = "per_g_Fe"

[nanoparticles.distribution]
kind = "uniform-in-target"
total_mass_mg = 50.0

[thermal]
mode = "transient"
duration_min = 10.0
time_step_s = 60.0

[[thermal.probes]]
name = "centre"
position_mm = [0.0, 0.0, 0.0]

[safety]
Hf_limit_A_per_m_s = 5.0e9
max_healthy_T_C = 43.0

[search]
goal_T90_C = 41.0
max_field_kA_per_m = 20.0
tolerance_kA_per_m = 0.25
"""


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    d = tmp_path_factory.mktemp("pipeline")
    (d / "plan.toml").write_text(PLAN.format(field=5.0))
    return run_plan(load_plan(d / "plan.toml")), d


def test_every_stage_ran_and_wrote_its_block(result):
    res, d = result
    s = json.loads((d / "out" / "summary.json").read_text())
    assert s["stages"] == {"mesh": "done", "implants": "skipped: no implant regions", "em": "done",
                           "nanoparticles": "done", "thermal": "done", "safety": "done", "search": "done"}
    for block in ("mesh", "em", "nanoparticles", "thermal", "safety", "search", "provenance"):
        assert block in s
    for f in s["files"]:
        assert (d / "out" / f).is_file(), f


def test_em_block_matches_the_uniform_field_closed_form(result):
    res, _ = result
    em = res.summary["em"]
    H_peak = 5e3 * math.sqrt(2)
    assert em["H_peak_A_per_m_at_target"] == pytest.approx(H_peak)
    # homogeneous conductor? no: tumour and muscle differ in σ only slightly; the sphere loss
    # P = π σ ω² μ0² H² a⁵ / 15 bounds the total between the two tissues' σ
    lib_sig = res.artefacts["fields"].sigma_S_per_m
    w, mu0, a = 2 * math.pi * 150e3, 4e-7 * math.pi, 0.06
    P = [math.pi * s * w**2 * mu0**2 * H_peak**2 * a**5 / 15 for s in (lib_sig.min(), lib_sig.max())]
    assert 0.9 * P[0] < em["tissue_loss_W"] < 1.02 * P[1]


def test_particle_power_is_slp_times_mass(result):
    res, _ = result
    np_ = res.summary["nanoparticles"]
    assert np_["total_mass_mg"] == pytest.approx(50.0)
    assert np_["total_power_W"] == pytest.approx(50.0 * 0.050, rel=1e-9)
    assert abs(np_["mass_conservation_rel_error"]) < 1e-6
    heat = res.artefacts["heat"]
    V = res.artefacts["mesh"].cell_volumes_m3()
    assert (heat.Q_np_W_per_m3 * V).sum() == pytest.approx(2.5, rel=1e-9)


def test_thermal_metrics_are_ordered_and_heated(result):
    res, _ = result
    t = res.summary["thermal"]["target"]
    assert t["T90_C"] <= t["T50_C"] <= t["T10_C"] <= t["max_C"]
    temps = res.artefacts["temperatures"]
    assert t["T90_C"] > float(np.median(temps.T_baseline_C)) + 1.0  # 2.5 W into a 7 mL tumour heats it
    assert res.summary["thermal"]["tissues"]["tumour"]["max_C"] == pytest.approx(t["max_C"])


def test_safety_and_search_are_consistent(result):
    res, _ = result
    sf, sr = res.summary["safety"], res.summary["search"]
    assert sf["Hf_A_per_m_s"] == pytest.approx(5e3 * math.sqrt(2) * 150e3, rel=1e-9)  # uniform field, peak
    ev = sr["evaluations"]
    fields = [e["field_kA_per_m"] for e in ev]
    t90 = [e["T90_C"] for e in ev]
    assert fields == sorted(fields) and all(a <= b + 1e-9 for a, b in zip(t90, t90[1:])), "T90 must grow with H"
    assert sr["max_safe_field_kA_per_m"] <= 20.0 + 1e-9
    if sr["field_for_goal_kA_per_m"] is not None:
        hit = [e for e in ev if abs(e["field_kA_per_m"] - sr["field_for_goal_kA_per_m"]) < 1e-9][0]
        assert hit["T90_C"] >= 41.0
    safe = [e for e in ev if e["field_kA_per_m"] <= sr["max_safe_field_kA_per_m"] + 1e-9]
    assert all(not e["violations"] for e in safe)


@pytest.mark.mpi
def test_plan_on_two_ranks_matches_serial(tmp_path):
    """run_plan under mpirun -n 2 gives the serial results (meshing on rank 0, FE solves distributed)."""
    from tests.conftest import run_mpi

    (tmp_path / "plan.toml").write_text(PLAN.format(field=5.0).split("[search]")[0])
    script = tmp_path / "run.py"
    script.write_text("from planner.config.plan import load_plan\nfrom planner.pipeline import run_plan\n"
                      f"run_plan(load_plan({str(tmp_path / 'plan.toml')!r}))\n")
    res = run_mpi(script)
    assert res.returncode == 0, res.stdout[-1500:] + res.stderr[-3000:]
    par = json.loads((tmp_path / "out" / "summary.json").read_text())
    serial = run_plan(load_plan(tmp_path / "plan.toml"), write=False).summary
    assert par["em"]["tissue_loss_W"] == pytest.approx(serial["em"]["tissue_loss_W"], rel=1e-8)
    assert par["thermal"]["target"]["T90_C"] == pytest.approx(serial["thermal"]["target"]["T90_C"], abs=1e-6)
    assert par["nanoparticles"]["total_power_W"] == pytest.approx(serial["nanoparticles"]["total_power_W"], rel=1e-12)


def test_issue12_summary_contract_keys(result):
    """summary.json keys fixed by issue 12 (systemic heat, SAR, search goal mode)."""
    res, d = result
    s = json.loads((d / "out" / "summary.json").read_text())
    art = s["thermal"]["arterial_T_C"]
    assert set(art) == {"start", "max", "end"} and art["start"] == 37.0 and art["max"] >= art["end"] >= art["start"]
    assert art["max"] > 37.0  # on by default: 2.5 W of particle heat warms the blood pool
    assert s["em"]["whole_body_SAR_W_per_kg"] > 0 and s["em"]["partial_body_SAR_W_per_kg"] > s["em"]["whole_body_SAR_W_per_kg"]
    assert s["safety"]["implants"] == []
    sr = s["search"]
    assert sr["goal_mode"] == "transient" and isinstance(sr["monotonic"], bool)
    if sr["field_for_goal_kA_per_m"] is not None:
        assert 0.0 < sr["time_to_goal_T90_min"] <= 10.0


def test_one_dolfinx_mesh_per_plan(tmp_path, monkeypatch):
    """The field and thermal stages (and the search's thermal runs) share one DOLFINx mesh, built once."""
    import planner.fem.mesh as fem_mesh

    built = []
    real = fem_mesh.to_dolfinx
    monkeypatch.setattr(fem_mesh, "to_dolfinx", lambda tmesh, comm: built.append(tmesh) or real(tmesh, comm))
    (tmp_path / "plan.toml").write_text(PLAN.format(field=5.0).replace("duration_min = 10.0", "duration_min = 2.0"))
    res = run_plan(load_plan(tmp_path / "plan.toml"), write=False)
    assert res.summary["stages"]["thermal"] == "done" and res.summary["stages"]["search"] == "done"
    assert len(built) == 1 and built[0] is res.artefacts["mesh"]
    assert res.summary["timings_s"]["fem_mesh"] > 0.0
