"""Calibration from thermometry: recovery of known parameters from synthetic probe curves, CSV errors."""
import json
from pathlib import Path

import numpy as np
import pytest

from planner.config.plan import load_plan
from planner.errors import InputError
from planner.uncertainty.calibration import ProbeModel, calibrate
from planner.uncertainty.calibration_run import plan_artefacts, run_calibration, synthetic_measurements
from planner.uncertainty.probes_csv import MeasuredProbes, read_measured_probes, write_measured_probes

from .test_uncertainty import PLAN

PROBES = """
[[thermal.probes]]
name = "centre"
position_mm = [0.0, 0.0, 0.0]

[[thermal.probes]]
name = "edge"
position_mm = [14.0, 0.0, 0.0]

[[thermal.probes]]
name = "muscle"
position_mm = [30.0, 0.0, 0.0]
"""


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    d = tmp_path_factory.mktemp("calib")
    text = PLAN.format(mode="transient").replace("[safety]", PROBES + "\n[safety]")
    (d / "plan.toml").write_text(text)
    cfg = load_plan(d / "plan.toml")
    return cfg, plan_artefacts(cfg)


def test_recovers_slp_and_arterial_within_their_intervals(plan):
    cfg, (mesh, heat, lib) = plan
    model = ProbeModel(mesh, heat, lib, cfg.thermal, (), True)
    truth = {"slp": 1.6, "arterial_T": -0.4}
    x_true = np.array([np.log(truth["slp"]), truth["arterial_T"]])
    hits = 0
    for seed in range(3):
        names, ts, T = synthetic_measurements(model, x_true, np.arange(30.0, 361.0, 30.0), 0.05, seed)
        res = calibrate(model, MeasuredProbes(Path("synthetic.csv"), names, ts, T))
        lo_hi = res.to_json()["parameters"]
        hits += all(lo_hi[n]["ci95"][0] <= v <= lo_hi[n]["ci95"][1] for n, v in truth.items())
        assert res.parameter("slp") == pytest.approx(truth["slp"], rel=0.05)
        assert res.rms_residual_K == pytest.approx(0.05, rel=0.5)
    assert hits >= 2
    assert model.solves == 4  # baseline, particles, eddy, arterial: SLP/arterial changes re-solve nothing


def test_calibrate_writes_json_and_calibrated_plan(plan, tmp_path):
    cfg, (mesh, heat, lib) = plan
    model = ProbeModel(mesh, heat, lib, cfg.thermal, ("tumour",), False)
    names, ts, T = synthetic_measurements(model, np.array([np.log(0.7), np.log(1.5)]), np.arange(30.0, 361.0, 30.0), 0.02, 1)
    csv = tmp_path / "probes.csv"
    write_measured_probes(csv, names, ts, T)
    res, out = run_calibration(cfg, csv, ("tumour",), False, tmp_path / "calib")
    doc = json.loads((out / "calibration.json").read_text())
    assert set(doc["parameters"]) == {"slp", "perfusion.tumour"}
    assert doc["parameters"]["slp"]["estimate"] == pytest.approx(0.7, rel=0.1)
    assert doc["parameters"]["perfusion.tumour"]["ci95"][0] < doc["parameters"]["perfusion.tumour"]["ci95"][1]
    assert doc["rms_residual_K"] < 0.05
    assert (out / "residuals.png").stat().st_size > 1000
    cal = load_plan(cfg.plan_file.with_name("plan.calibrated.toml"))
    assert cal.nanoparticles.slp_scale == pytest.approx(res.parameter("slp"))
    assert cal.tissues["tumour"].perfusion_mL_per_min_per_kg == pytest.approx(
        lib["tumour"].perfusion_mL_per_min_per_kg * res.parameter("perfusion.tumour"))


@pytest.mark.parametrize("rows, where, what", [
    ("0,centre,37\n30,nowhere,38\n", "line 3, column 2", "unknown probe 'nowhere'"),
    ("0,centre,37\n30,centre,38\n20,centre,39\n", "line 4, column 1", "not after its previous reading"),
    ("0,centre,37\n30,centre,nan\n", "line 3, column 3", "not finite"),
    ("0,centre,37\n30,centre,abc\n", "line 3, column 3", "not a number"),
])
def test_bad_probe_csv_names_file_line_and_column(tmp_path, rows, where, what):
    p = tmp_path / "probes.csv"
    p.write_text("time_s,probe,T_C\n" + rows)
    with pytest.raises(InputError) as exc:
        read_measured_probes(p, ["centre", "edge"])
    msg = str(exc.value)
    assert str(p) in msg and where in msg and what in msg and "\n" not in msg


def test_probe_csv_header_is_checked(tmp_path):
    p = tmp_path / "probes.csv"
    p.write_text("t,probe,T\n0,centre,37\n")
    with pytest.raises(InputError, match="line 1.*time_s"):
        read_measured_probes(p, ["centre"])


def test_cli_calibrate_bad_csv_is_one_line_input_error(tmp_path, capsys):
    from planner.cli import EXIT_INPUT, main

    (tmp_path / "plan.toml").write_text(PLAN.format(mode="transient").replace("[safety]", PROBES + "\n[safety]"))
    (tmp_path / "probes.csv").write_text("time_s,probe,T_C\n0,centre,37.0\n30,tumor centre,37.5\n")
    code = main(["calibrate", str(tmp_path / "plan.toml"), "--measured", str(tmp_path / "probes.csv")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == EXIT_INPUT and len(err) == 1
    assert "probes.csv: line 3, column 2 (probe): unknown probe 'tumor centre'" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.toml", "probes.csv"]


def test_slp_scale_multiplies_the_particle_heat_at_every_field(plan):
    import dataclasses

    cfg, (mesh, heat, lib) = plan
    scaled = dataclasses.replace(cfg, nanoparticles=dataclasses.replace(cfg.nanoparticles, slp_scale=0.37))
    _, heat2, _ = plan_artefacts(scaled)
    assert np.allclose(heat2.Q_np_W_per_m3, 0.37 * heat.Q_np_W_per_m3, rtol=1e-12, atol=0)
    assert np.allclose(heat2.Q_np_at(0.6), 0.37 * heat.Q_np_at(0.6), rtol=1e-12, atol=0)
    assert np.array_equal(heat2.Q_eddy_W_per_m3, heat.Q_eddy_W_per_m3)


def test_calibrate_refuses_a_folder_with_other_files(plan, tmp_path):
    cfg, _ = plan
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    csv = tmp_path / "p.csv"
    csv.write_text("time_s,probe,T_C\n30,centre,37.5\n")
    with pytest.raises(InputError, match="did not write"):
        run_calibration(cfg, csv, (), False, tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"
