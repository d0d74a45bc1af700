"""[uncertainty]: unit-response reuse against the plan's own run and closed forms (log-normal scalings)."""
import dataclasses

import numpy as np
import pytest

from planner.config.plan import UncertaintySection, load_plan
from planner.errors import InputError
from planner.pipeline import run_plan
from planner.uncertainty.study import run_uncertainty
from planner.verification.uncertainty import lognormal_product_first_order, lognormal_scaled_percentile

PLAN = """
[plan]
name = "uq"
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
max_size_mm = 16.0
target_size_mm = 5.0

[applicator]
type = "uniform"
frequency_kHz = 150.0
field_kA_per_m = 5.0
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
mode = "{mode}"
duration_min = 6.0
time_step_s = 60.0

[safety]
Hf_limit_A_per_m_s = 5.0e9
max_healthy_T_C = 43.0

[uncertainty]
samples = 16
"""


def _plan(tmp_path_factory, mode):
    d = tmp_path_factory.mktemp(f"uq_{mode}")
    (d / "plan.toml").write_text(PLAN.format(mode=mode))
    cfg = load_plan(d / "plan.toml")
    return cfg, run_plan(cfg, write=False)


@pytest.fixture(scope="module")
def steady(tmp_path_factory):
    return _plan(tmp_path_factory, "steady")


def _study(plan, robust=False, **kw):
    cfg, res = plan
    a = res.artefacts
    sec = dataclasses.replace(UncertaintySection(), **kw)
    return run_uncertainty(sec, a["mesh"], a["heat"], a["library"], cfg.thermal, cfg.applicator, cfg.safety, 42.0,
                           robust=robust)


def test_summary_contract_keys(steady):
    block = steady[1].summary["uncertainty"]
    for key in ("samples", "method", "P_T90_ge_goal", "P_violation", "T90_C", "sobol_first_order",
                "robust_field_kA_per_m"):
        assert key in block
    assert set(block["T90_C"]) == {"p5", "p50", "p95"}
    assert block["samples"] == 16 and block["method"] == "sobol"
    assert block["T90_C"]["p5"] <= block["T90_C"]["p50"] <= block["T90_C"]["p95"]
    assert steady[1].summary["stages"]["uncertainty"] == "done"


@pytest.mark.parametrize("mode", ["steady", "transient"])
def test_unit_responses_reproduce_the_plan(tmp_path_factory, steady, mode):
    """Superposition: particles + eddy responses at scale 1 give the plan's own T90 and healthy T_max."""
    plan = steady if mode == "steady" else _plan(tmp_path_factory, mode)
    study = _study(plan, slp_sigma_ln=0.0, mass_sigma_ln=0.0, field_sigma_ln=0.0, samples=4)
    th = plan[1].summary["thermal"]["target"]
    assert study.T90_C == pytest.approx(np.full(4, th["T90_C"]), rel=1e-9, abs=1e-6)
    hm = plan[1].summary["safety"]["max_healthy_T_C"]
    assert study.healthy_T_max_C == pytest.approx(np.full(4, hm), abs=1e-6)


def _particles_only(plan):
    cfg, res = plan
    heat = res.artefacts["heat"]
    a = dict(res.artefacts, heat=dataclasses.replace(heat, Q_eddy_W_per_m3=np.zeros_like(heat.Q_eddy_W_per_m3)))
    return cfg, dataclasses.replace(res, artefacts=a)


def test_linear_case_percentiles_match_the_closed_form(steady):
    """Only the SLP uncertain, particles the only source: the T90 rise is the nominal rise × exp(σZ),
    sample by sample (to rounding) and in its 5/50/95 % percentiles (within 1 %)."""
    plan = _particles_only(steady)
    nominal = _study(plan, slp_sigma_ln=0.0, mass_sigma_ln=0.0, field_sigma_ln=0.0, samples=4).T90_rise_K[0]
    assert nominal > 1.0
    study = _study(plan, slp_sigma_ln=0.3, mass_sigma_ln=0.0, field_sigma_ln=0.0, samples=1024)
    assert study.parameters[0].name == "slp" and len(study.parameters) == 1
    blk = study.summary_block()["T90_rise_K"]
    for p in (5, 50, 95):
        assert blk[f"p{p}"] == pytest.approx(lognormal_scaled_percentile(nominal, 0.3, p), rel=0.01)


def test_first_order_indices_match_the_lognormal_product(steady):
    """SLP and mass uncertain, particles only: rise ∝ exp(σ1 Z1 + σ2 Z2), S_i in closed form."""
    plan = _particles_only(steady)
    study = _study(plan, slp_sigma_ln=0.3, mass_sigma_ln=0.15, field_sigma_ln=0.0, samples=1024)
    # T90 = baseline T90-ish + rise: the rise is exactly the product, T90 adds a near-constant baseline
    exact = lognormal_product_first_order([0.3, 0.15])
    got = [study.sobol_first_order["slp"], study.sobol_first_order["mass"]]
    assert got == pytest.approx(exact, abs=0.05)
    assert got[0] > got[1]


def test_robust_fields_bracket_the_probabilities(steady):
    study = _study(steady, robust=True, samples=16)
    H_safe, H_goal = study.robust_field_kA_per_m, study.goal_field_kA_per_m
    assert H_safe is not None and H_goal is not None
    blk, H0 = study.summary_block(), study.nominal_field_kA_per_m
    # the probabilities at the plan's own field place it on the right side of each robust field
    assert (blk["P_violation"] <= study.alpha) == (H_safe >= H0)
    assert (blk["P_T90_ge_goal"] >= 1 - study.beta) == (H_goal <= H0)
    # without the tissue eddy heat the goal needs at least the same field
    weak = _study(_particles_only(steady), robust=True, samples=16)
    assert weak.goal_field_kA_per_m is None or weak.goal_field_kA_per_m >= H_goal


def test_samples_must_be_a_power_of_two(tmp_path):
    (tmp_path / "plan.toml").write_text(PLAN.format(mode="steady").replace("samples = 16", "samples = 10"))
    with pytest.raises(InputError, match=r"uncertainty\.samples.*power of two"):
        load_plan(tmp_path / "plan.toml")


def test_results_folder_has_the_uncertainty_table_and_figure(tmp_path):
    (tmp_path / "plan.toml").write_text(PLAN.format(mode="steady"))
    res = run_plan(load_plan(tmp_path / "plan.toml"))
    files = res.summary["files"]
    assert "uncertainty_samples.csv" in files and "figures/uncertainty.png" in files
    lines = (res.output_dir / "uncertainty_samples.csv").read_text().splitlines()
    assert len(lines) == 1 + 16
    assert "uncertainty.png" in (res.output_dir / "report.html").read_text()


def test_perfusion_samples_resume_from_the_cache(steady, tmp_path):
    """Perfusion samples re-solve once each; a second study with the same cache folder solves nothing and
    gives identical results (an interrupted study resumes)."""
    kw = dict(slp_sigma_ln=0.3, mass_sigma_ln=0.0, field_sigma_ln=0.0, perfusion_tissues=("tumour",), samples=4)
    cfg, res = steady
    a = res.artefacts
    sec = dataclasses.replace(UncertaintySection(), **kw)
    first = run_uncertainty(sec, a["mesh"], a["heat"], a["library"], cfg.thermal, cfg.applicator, cfg.safety, 42.0,
                            robust=False, cache_dir=tmp_path / "cache")
    files = sorted((tmp_path / "cache").glob("uq-*.npz"))
    # distinct perfusion vectors: the rows of A and of B (AB_slp shares A's, AB_perfusion B's)
    assert first.thermal_solves == 2 * len(files) and len(files) == 2 * 4
    files[0].unlink()  # as if interrupted before the last entry was written
    again = run_uncertainty(sec, a["mesh"], a["heat"], a["library"], cfg.thermal, cfg.applicator, cfg.safety, 42.0,
                            robust=False, cache_dir=tmp_path / "cache")
    assert again.thermal_solves == 2
    assert np.array_equal(again.T90_C, first.T90_C) and again.sobol_first_order == first.sobol_first_order
    assert first.sobol_first_order["perfusion.tumour"] != 0.0


@pytest.mark.mpi
def test_rank_groups_match_the_serial_study(tmp_path):
    """mpirun -n 2 with ranks_per_group = 1: two perfusion samples solved at once (one per rank, split
    communicators); the study equals the serial one."""
    import json

    from tests.conftest import run_mpi

    extra = 'perfusion_tissues = ["tumour"]\nranks_per_group = 1\nmass_sigma_ln = 0.0\nfield_sigma_ln = 0.0\n'
    text = PLAN.format(mode="steady").replace("samples = 16", "samples = 4\n" + extra)
    (tmp_path / "plan.toml").write_text(text)
    script = tmp_path / "run.py"
    script.write_text("from planner.config.plan import load_plan\nfrom planner.pipeline import run_plan\n"
                      f"run_plan(load_plan({str(tmp_path / 'plan.toml')!r}))\n")
    res = run_mpi(script)
    assert res.returncode == 0, res.stdout[-1500:] + res.stderr[-3000:]
    par = json.loads((tmp_path / "out" / "summary.json").read_text())["uncertainty"]
    serial = run_plan(load_plan(tmp_path / "plan.toml"), write=False).summary["uncertainty"]
    assert par["thermal_solves"] == serial["thermal_solves"] == 2 * 8
    assert par["rank_groups"] == 2 and serial["rank_groups"] == 1
    for key in ("T90_C", "healthy_T_max_C"):
        for p in ("p5", "p50", "p95"):
            assert par[key][p] == pytest.approx(serial[key][p], abs=1e-6)
    assert par["sobol_first_order"] == pytest.approx(serial["sobol_first_order"], abs=1e-6)


def test_unknown_perfusion_tissue_is_named(steady):
    with pytest.raises(InputError, match=r"uncertainty\.perfusion_tissues.*'liver'.*muscle, tumour"):
        _study(steady, perfusion_tissues=("liver",))
