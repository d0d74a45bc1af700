"""CI-size thermal benchmarks: closed-form accuracy and observed orders (see benchmarks/)."""
from __future__ import annotations

import pytest

pytest.importorskip("dolfinx")

from benchmarks import thermal_performance, thermal_verification  # noqa: E402


@pytest.mark.parametrize("case", ["sphere_steady", "sphere_perfused", "sphere_transient", "lumped", "lumped_pool", "perfusion_lang",
                                  "slab"])
def test_verification_case_meets_order_and_0p05K(case, capsys):
    fails = thermal_verification.run("ci", [case])
    out = capsys.readouterr().out
    assert "order" in out
    assert fails == [], "\n".join(fails)


def test_performance_benchmark_small_runs():
    row = thermal_performance.run(8, 4, quiet=True)
    assert row["dofs"] == 9**3 and row["steps"] == 4 and row["T90_C"] > 37.0


def test_cut_slab_equals_the_uncut_mirror_body(capsys):
    fails = thermal_verification.run("ci", ["cut_slab"])
    out = capsys.readouterr().out
    assert "skin_bias_K" in out
    assert fails == [], "\n".join(fails)
