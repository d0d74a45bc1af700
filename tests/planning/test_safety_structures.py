"""Per-structure limits in [safety] (issue 15, deliverable 3): [[safety.structure_limits]] checked against the
per-structure metrics of metrics.csv, violations named, the search's margin keeps to them, unknown names refused."""
from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

from planner.config.plan import parse_plan
from planner.errors import InputError
from planner.geometry.mesher import mesh_shapes
from planner.planning.safety import check, check_structure_names, structure_limit_checks
from planner.planning.search import _margin
from planner.reporting.structure_metrics import structure_metrics
from planner.thermal.metrics import exceeded_by_fraction, vertex_volumes_m3

PLAN = {
    "plan": {"name": "s"},
    "mesh": {"max_size_mm": 12.0},
    "geometry": {"bodies": [
        {"name": "body", "shape": "box", "size_mm": [60, 60, 60], "tissue": "muscle"},
        {"name": "GTV", "shape": "sphere", "radius_mm": 10, "center_mm": [-12, 0, 0], "tissue": "tumour", "role": "target"},
        {"name": "Rectum", "shape": "sphere", "radius_mm": 8, "center_mm": [15, 0, 0], "tissue": "muscle", "role": "organ"},
    ]},
    "applicator": {"type": "uniform", "frequency_kHz": 100, "field_kA_per_m": 1, "amplitude": "peak"},
}


def _safety(limits):
    return parse_plan({**PLAN, "safety": {"structure_limits": limits}}).safety


@pytest.fixture(scope="module")
def mesh():
    cfg = parse_plan(PLAN)
    return mesh_shapes(cfg.geometry, cfg.mesh)


def applied():
    return SimpleNamespace(frequency_Hz=1e5, H_peak_A_per_m_at_target=1000.0, H_peak_at=lambda p: np.tile([0.0, 0.0, 1000.0], (len(p), 1)))


def _temps(mesh):
    """T rises linearly along x (37 °C at x = −30 mm, 45 °C at +30 mm); CEM43 from it for 60 min."""
    x = mesh.points_m[:, 0]
    T = 37.0 + 8.0 * (x + 0.03) / 0.06
    cem = 60.0 * np.where(T >= 43, 0.5, 0.25) ** (43.0 - T)
    return SimpleNamespace(T_max_C=T, T_final_C=T, T_baseline_C=np.full_like(T, 37.0), CEM43_min=cem)


def test_rectum_limits_are_checked_against_the_metrics_csv_numbers(mesh):
    temps = _temps(mesh)
    cfg = _safety([{"structure": "Rectum", "T_max_C": 42.0, "T10_max_C": 41.0, "CEM43_max_min": 10.0}])
    res = check(cfg, None, mesh, applied(), None, temps)
    row = structure_metrics(mesh, temps, None, only={"Rectum"})[0]
    # independent: the Rectum's vertices and the same volume weighting as metrics.csv
    cells = mesh.cell_region == next(r.tag for r in mesh.regions if r.name == "Rectum")
    verts = np.unique(mesh.cells[cells])
    assert row["T_max_C"] == pytest.approx(float(temps.T_max_C[verts].max()))
    assert row["T10_C"] == pytest.approx(exceeded_by_fraction(temps.T_max_C, vertex_volumes_m3(mesh, cells), 0.1))
    got = {c.quantity: c for c in res.structure_limits}
    assert set(got) == {"T_max_C", "T10_C", "CEM43_max_min"}
    assert got["T_max_C"].value == row["T_max_C"] and got["T10_C"].value == row["T10_C"]
    assert got["CEM43_max_min"].value == row["CEM43_max_min"]
    # Rectum spans x = 7..23 mm: T_max ≈ 44 °C > 42, CEM43 > 10 min: violations named
    assert not res.ok and row["T_max_C"] > 43.5
    assert f"structure 'Rectum' reaches {row['T_max_C']:.3g} °C, above its limit 42 °C ([[safety.structure_limits]])" in res.violations
    assert any(v.startswith("structure 'Rectum' receives CEM43 =") for v in res.violations)
    block = res.summary_block()["structure_limits"]
    assert {b["quantity"] for b in block if not b["ok"]} >= {"T_max_C", "CEM43_max_min"}
    json.dumps(res.summary_block())  # serialisable


def test_a_structure_under_its_limit_passes(mesh):
    temps = _temps(mesh)
    res = check(_safety([{"structure": "GTV", "T_max_C": 45.0}]), None, mesh, applied(), None, temps)
    assert [c.ok for c in res.structure_limits] == [True]
    assert not any("structure" in v for v in res.violations)


def test_unknown_structure_is_one_line_listing_the_known_ones(mesh):
    cfg = _safety([{"structure": "Rectm", "T_max_C": 42.0}])
    with pytest.raises(InputError, match=r"^safety.structure_limits\[0\].structure = 'Rectm': expected a structure of this plan: "
                                         r"one of 'GTV', 'Rectum', 'body'$"):
        structure_limit_checks(cfg, mesh, _temps(mesh))
    with pytest.raises(InputError, match="one of 'GTV', 'Rectum', 'body'"):
        check_structure_names(cfg, ["body", "GTV", "Rectum"])


def test_planner_check_refuses_an_unknown_structure_of_a_geometry_plan():
    from planner.pipeline import check_plan
    from planner.tissues.library import load_library

    cfg = parse_plan({**PLAN, "safety": {"structure_limits": [{"structure": "rectum", "T_max_C": 42.0}]}})
    with pytest.raises(InputError, match=r"safety.structure_limits\[0\].structure = 'rectum'"):
        check_plan(cfg, load_library(cfg.tissues))


@pytest.mark.parametrize("rows,phrase", [
    ([{"structure": "Rectum"}], "has no limit; expected T_max_C, T10_max_C and/or CEM43_max_min"),
    ([{"structure": "Rectum", "T_max_C": 42.0}, {"structure": "Rectum", "T10_max_C": 41.0}], "structures ['Rectum'] repeat"),
    ([{"structure": "Rectum", "T_max_C": 315.0}], "T_max_C = 315.0: expected a temperature in 37..60 °C"),
])
def test_bad_structure_limit_rows(rows, phrase):
    with pytest.raises(InputError) as err:
        _safety(rows)
    assert phrase in str(err.value)


def test_the_search_margin_keeps_to_structure_limits(mesh):
    temps = _temps(mesh)
    cfg = _safety([{"structure": "Rectum", "T_max_C": 50.0, "CEM43_max_min": 1e6}])
    chk = check(cfg, None, mesh, applied(), None, temps)
    t_max = {c.quantity: c for c in chk.structure_limits}["T_max_C"]
    cem = {c.quantity: c for c in chk.structure_limits}["CEM43_max_min"]
    assert t_max.margin == pytest.approx(50.0 - t_max.value)
    assert cem.margin == pytest.approx(math.log2(1e6 / cem.value))
    base = SimpleNamespace(max_healthy_T_C=None, implants=(), arterial_rise_K=None, sar=None, structure_limits=())
    loose = _margin(base, temps, 45.0, cfg)
    tight = _margin(SimpleNamespace(**{**vars(base), "structure_limits": chk.structure_limits}), temps, 45.0, cfg)
    assert tight == pytest.approx(min(loose, t_max.margin, cem.margin)) and tight < loose


def test_planner_run_exits_3_on_a_structure_limit_and_writes_the_results(tmp_path):
    from tests.conftest import run_cli
    from tests.test_cli import SMALL

    text = SMALL + """
[applicator]
type = "uniform"
frequency_kHz = 100.0
field_kA_per_m = 1.0
amplitude = "peak"

[thermal]
duration_min = 2.0
time_step_s = 60.0

[[safety.structure_limits]]
structure = "tumour"
CEM43_max_min = 1e-9
"""
    plan = tmp_path / "plan.toml"
    plan.write_text(text)
    res = run_cli("run", str(plan), "-q")
    assert res.returncode == 3, res.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    [v] = summary["safety"]["violations"]
    assert v.startswith("structure 'tumour' receives CEM43 =") and v in res.stderr
    [lim] = summary["safety"]["structure_limits"]
    metrics = (tmp_path / "out" / "metrics.csv").read_text().splitlines()
    header = metrics[0].split(",")
    tumour = next(r.split(",") for r in metrics[1:] if r.startswith("tumour,"))
    assert lim["value"] == pytest.approx(float(tumour[header.index("CEM43_max_min")]), rel=1e-8)
