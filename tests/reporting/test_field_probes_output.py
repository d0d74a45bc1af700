"""[[em.field_probes]] end to end: summary em.field_probes, field_probes.csv (units and peak in the column
names, listed in summary["files"]) and report.html rows; near-implant tissue E/SAR rows in report.html."""
import csv
import json
import math

import pytest

from planner.config.plan import load_plan
from planner.errors import InputError
from planner.pipeline import run_plan
from planner.reporting.html import render_html
from planner.units import MU0_H_per_m
from tests.reporting.test_html_report import SUMMARY, text_of

PLAN = """
[plan]
name = "probes"
output_dir = "out"

[[geometry.bodies]]
name = "body"
shape = "cylinder"
radius_mm = 40.0
length_mm = 80.0
tissue = "muscle"

[mesh]
max_size_mm = 10.0

[applicator]
type = "uniform"
frequency_kHz = 100.0
field_kA_per_m = 5.0
amplitude = "peak"
target_point_mm = [0.0, 0.0, 0.0]

[[em.field_probes]]
name = "axis-to-skin"
start_mm = [0.0, 0.0, 0.0]
end_mm = [30.0, 0.0, 0.0]
points = 4

[[em.field_probes]]
name = "qa point"
position_mm = {position}
"""


def test_probes_in_summary_csv_and_report(tmp_path):
    (tmp_path / "plan.toml").write_text(PLAN.format(position="[0.0, 20.0, 10.0]"))
    res = run_plan(load_plan(tmp_path / "plan.toml"))
    out = res.output_dir
    s = json.loads((out / "summary.json").read_text())
    assert "field_probes.csv" in s["files"]
    blocks = {b["name"]: b for b in s["em"]["field_probes"]}
    assert list(blocks) == ["axis-to-skin", "qa point"] and blocks["qa point"]["amplitude_convention"] == "peak"
    assert blocks["axis-to-skin"]["H_peak_A_per_m"] == pytest.approx([5e3] * 4, rel=1e-12)
    w = 2 * math.pi * 1e5
    expect = [w * MU0_H_per_m * 5e3 * r / 2 for r in (0.0, 0.01, 0.02, 0.03)]  # E = ω μ0 H0 r / 2 (peak)
    assert blocks["axis-to-skin"]["E_peak_V_per_m"] == pytest.approx(expect, rel=5e-3, abs=5e-3 * expect[-1])
    lines = (out / "field_probes.csv").read_text().splitlines()
    assert lines[0].startswith("# frequency_Hz: 100000; amplitudes: peak")
    rows = list(csv.DictReader(line for line in lines if not line.startswith("#")))
    assert len(rows) == 5 and {"x_mm", "Hz_peak_A_per_m", "E_peak_V_per_m", "Ex_peak_V_per_m"} <= set(rows[0])
    assert float(rows[3]["E_peak_V_per_m"]) == pytest.approx(blocks["axis-to-skin"]["E_peak_V_per_m"][3], rel=1e-8)
    assert rows[4]["probe"] == "qa point" and float(rows[4]["y_mm"]) == 20.0
    t = text_of((out / "report.html").read_text())
    assert "Field probes (field_probes.csv)" in t and "axis-to-skin" in t and "line (4 points)" in t


def test_probe_outside_the_body_stops_before_the_solve(tmp_path):
    (tmp_path / "plan.toml").write_text(PLAN.format(position="[0.0, 0.0, 95.0]"))
    with pytest.raises(InputError) as e:
        run_plan(load_plan(tmp_path / "plan.toml"))
    assert "em.field_probes[1].position_mm = [0.0, 0.0, 95.0]" in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "out").exists()


def test_report_shows_tissue_near_each_implant():
    em = dict(SUMMARY["em"], implants=[{
        "name": "hip stem", "loss_W": 0.0123, "model_in_tissue_solve": "conductor",
        "tissue_near": {"distance_mm": 5.0, "E_peak_V_per_m": 612.5, "E_p99_V_per_m": 301.25,
                        "SAR_peak_W_per_kg": 131.7, "SAR10g_W_per_kg": 9.876}}])
    t = text_of(render_html(dict(SUMMARY, em=em)))
    assert "Tissue next to implants" in t and "within 5 mm of each implant surface" in t
    for s in ("hip stem", "conductor", "612.5", "301.2", "131.7", "9.876", "0.0123"):
        assert s in t, s
    assert "Tissue next to implants" not in text_of(render_html(SUMMARY))
