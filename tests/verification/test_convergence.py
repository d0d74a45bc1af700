"""planner.verification.convergence: observed orders, tables and pass/fail checks of the benchmarks."""
from __future__ import annotations

import math

import numpy as np
import pytest

from planner.errors import InputError
from planner.verification.convergence import Checks, observed_orders, print_table, report, with_orders


def test_observed_orders_recover_a_known_power_law():
    h = [4.0, 2.83, 2.0, 1.41]
    pair, slope = observed_orders(h, [3.0 * x**2 for x in h])
    assert pair == pytest.approx([2.0, 2.0, 2.0], abs=1e-12) and slope == pytest.approx(2.0, abs=1e-12)
    pair, slope = observed_orders(h, [-0.5 * x**1.5 * (1 + 0.1 * x) for x in h])  # sign ignored, order → 1.5 as h → 0
    assert 1.5 < pair[-1] < pair[0] < 2.5 and 1.5 < slope < 2.5


def test_observed_orders_zero_error_and_bad_lengths():
    pair, _ = observed_orders([2.0, 1.0, 0.5], [1e-3, 0.0, 1e-5])
    assert math.isnan(pair[0]) and math.isnan(pair[1])
    with pytest.raises(InputError, match="number of errors = 2: expected 3"):
        observed_orders([2.0, 1.0, 0.5], [1e-3, 1e-4])


def test_print_table_lists_and_dicts_alike(capsys):
    rows = [[4.0, 605, 0.27956, float("nan")], [2.0, 3757, 1.2e-5, 2.01]]
    print_table("t", ["h_mm", "dofs", "err", "order"], rows)
    out_list = capsys.readouterr().out
    print_table("t", ["h_mm", "dofs", "err", "order"], [dict(zip(["h_mm", "dofs", "err", "order"], r)) for r in rows])
    assert capsys.readouterr().out == out_list
    lines = out_list.strip().splitlines()
    assert lines[0] == "## t" and lines[1].split() == ["h_mm", "dofs", "err", "order"]
    assert lines[2].split() == ["4", "605", "0.2796", "-"] and lines[3].split() == ["2", "3757", "1.200e-05", "2.01"]
    assert len({len(x) for x in lines[1:]}) == 1  # aligned columns


def test_with_orders_appends_one_order_per_row():
    rows = with_orders([[1], [2], [3]], [2.0, 2.1])
    assert math.isnan(rows[0][1]) and [r[1] for r in rows[1:]] == [2.0, 2.1]


def test_checks_collect_and_exit_non_zero_on_failure(capsys):
    c = Checks()
    assert c.check(True, "fine") and not c.check(False, "broken")
    assert c.passed == ["fine"] and c.failed == ["broken"]
    with pytest.raises(SystemExit) as e:
        c.exit()
    assert e.value.code == 1 and "FAIL  broken" in capsys.readouterr().out
    ok = Checks()
    ok.check(bool(np.isfinite(1.0)), "finite")
    ok.exit()  # returns: nothing failed
    assert "1 checks passed, 0 failed" in capsys.readouterr().out


def test_report_prints_failures_and_gives_the_exit_code(capsys):
    assert report([]) == 0 and "all checks passed" in capsys.readouterr().out
    assert report(["order 1.2 < 1.6", "error 2e-2 > 1e-2"], passed=3) == 1
    out = capsys.readouterr().out
    assert "3 checks passed, 2 failed" in out and "  order 1.2 < 1.6\n  error 2e-2 > 1e-2" in out
