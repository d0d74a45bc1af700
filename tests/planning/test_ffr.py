"""A small plan with a selection field through the pipeline: summary contract, heat in the FFR, the FFR
search, the figure; and the one-line errors of bad placements."""
from __future__ import annotations

import json

import numpy as np
import pytest

from planner.config.plan import load_plan
from planner.errors import InputError
from planner.pipeline import run_plan

PLAN = """
[plan]
name = "ffr"
output_dir = "out"

[[geometry.bodies]]
name = "body"
shape = "sphere"
radius_mm = 60.0
tissue = "muscle"

[[geometry.bodies]]
name = "liver"
shape = "sphere"
center_mm = [-30.0, 0.0, 0.0]
radius_mm = 20.0
tissue = "liver"
role = "organ"

[[geometry.bodies]]
name = "tumour"
shape = "sphere"
center_mm = [25.0, 0.0, 0.0]
radius_mm = 10.0
tissue = "tumour"
role = "target"

[mesh]
max_size_mm = 14.0
target_size_mm = 4.0
organ_size_mm = 6.0

[applicator]
type = "uniform"
frequency_kHz = 100.0
field_kA_per_m = 10.0
amplitude = "peak"

[selection_field]
place_ffr_on_target = true
{extra}

[[selection_field.coil_pairs]]
radius_mm = {radius}
current_A = 400.0
turns = 100

[nanoparticles]
slp_model = "nonlinear-relaxation"

[nanoparticles.nonlinear_relaxation]
median_diameter_nm = 14.0
brownian = false
table_points = 10
steps_per_period = 128

[nanoparticles.distribution]
kind = "organ-uptake"
total_mass_mg = 100.0

[nanoparticles.distribution.uptake_fractions]
liver = 0.8
tumour = 0.05

[thermal]
mode = "steady"

{search}
"""
SEARCH = """
[search]
goal_T90_C = 38.0
mode = "steady-upper-bound"
max_field_kA_per_m = 20.0
sweep_points = 3
tolerance_kA_per_m = 1.0
"""


def plan(tmp_path, extra: str = "", radius: float = 150.0, search: str = ""):
    (tmp_path / "plan.toml").write_text(PLAN.format(extra=extra, radius=radius, search=search))
    return load_plan(tmp_path / "plan.toml")


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PLANNER_CACHE_DIR", str(tmp_path / "cache"))


def test_summary_contract_and_heat_confined_to_the_ffr(tmp_path):
    s = run_plan(plan(tmp_path), write=False).summary
    sf = s["selection_field"]
    assert set(sf) >= {"ffr_position_mm", "gradient_T_per_m", "model"}
    assert np.allclose(sf["ffr_position_mm"], [25.0, 0.0, 0.0], atol=1.0)  # on the tumour (mesh centroid)
    assert sf["gradient_T_per_m"] == pytest.approx(3 * 4e-7 * np.pi * 4e4 * 0.15**2 * 0.1299 / (0.15**2 + 0.1299**2) ** 2.5,
                                                   rel=1e-3)
    sel = s["nanoparticles"]["selectivity"]
    assert set(sel) >= {"target_power_W", "off_target_power_W", "ratio"}
    assert sel["ratio"] > 10 and sel["off_target_suppression"] > 100  # the liver holds 16× the tumour's dose
    assert sel["without_selection_field"]["ratio"] < 0.2
    assert "liver" in sel["off_target_max_T_C"]
    assert s["nanoparticles"]["model"]["validity"]["max_field_kA_per_m"] == 200.0


@pytest.mark.slow
def test_ffr_position_search_figure_and_report(tmp_path):
    res = run_plan(plan(tmp_path, extra="search_offsets_mm = [4.0]", search=SEARCH))
    s = json.loads((res.output_dir / "summary.json").read_text())
    opts = s["search"]["ffr_options"]
    assert len(opts) == 7 and s["search"]["best_ffr_offset_mm"] in [o["offset_mm"] for o in opts]
    assert all(o["max_safe_field_kA_per_m"] > 0 for o in opts)
    assert (res.output_dir / "figures" / "ffr.png").is_file()
    assert "field-free region" in (res.output_dir / "report.html").read_text()


def test_ffr_outside_the_body_and_coil_through_the_body(tmp_path):
    (tmp_path / "plan.toml").write_text(PLAN.format(extra="", radius=150.0, search="").replace(
        "place_ffr_on_target = true", "shift_mm = [0.0, 0.0, 90.0]"))
    with pytest.raises(InputError, match=r"^selection_field\.shift_mm = \[0\.0, 0\.0, 90\.0\]: .*FFR inside the body"):
        run_plan(load_plan(tmp_path / "plan.toml"), write=False)
    with pytest.raises(InputError, match=r"^selection_field\.coil_pairs\[0\]: .*crosses the body"):
        run_plan(plan(tmp_path, radius=40.0), write=False)


def test_linear_response_with_a_selection_field_is_a_one_line_error(tmp_path):
    text = PLAN.format(extra="", radius=150.0, search="").replace('"nonlinear-relaxation"', '"linear-response"').replace(
        "[nanoparticles.nonlinear_relaxation]", "[nanoparticles.linear_response]").replace(
        "table_points = 10\nsteps_per_period = 128\n", "")
    (tmp_path / "plan.toml").write_text(text)
    with pytest.raises(InputError, match=r"^nanoparticles\.slp_model = 'linear-response'"):
        run_plan(load_plan(tmp_path / "plan.toml"), write=False)
