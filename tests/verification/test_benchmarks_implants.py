"""CI check of the implant benchmarks (smaller than ``python -m benchmarks.implants_accuracy``)."""
from __future__ import annotations

import pytest

pytest.importorskip("dolfinx")

from benchmarks import implants_accuracy as acc  # noqa: E402
from benchmarks import implants_performance as perf  # noqa: E402
from planner.verification.convergence import Checks  # noqa: E402


def test_cylinder_convergence_meets_order_and_accuracy():
    checks = Checks()
    rows, slope = acc.cylinder_convergence(5.0, refinements=(0.35, 0.5, 0.7), checks=checks)
    assert not checks.failed, checks.failed
    assert abs(rows[-1][5]) < 0.005


def test_sphere_sweep_small():
    checks = Checks()
    acc.sphere_sweep(ads=(1.0,), refinement=0.5, checks=checks)
    assert not checks.failed, checks.failed


def test_low_frequency_agreement_small():
    checks = Checks()
    acc.low_frequency_agreement(ads=(0.05, 0.1, 0.2), checks=checks, refinement=0.35)
    assert not checks.failed, checks.failed


def test_iterations_flat_in_sigma_small():
    checks = Checks()
    perf.iterations_vs_sigma(sigmas=(1e3, 1e5, 1e7), refinement=0.35, checks=checks)
    assert not checks.failed, checks.failed


def test_iterations_flat_in_a_over_delta_and_ams_matches_direct_small():
    checks = Checks()
    rows = perf.iterations_vs_a_over_delta(ads=(0.3, 3.0, 10.0), refinement=0.35, checks=checks)
    assert not checks.failed, checks.failed
    assert all(r[2] > 0 for r in rows)
