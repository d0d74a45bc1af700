"""Shared constants of the implant benchmarks (tables, orders, checks: planner.verification.convergence)."""
from __future__ import annotations

import math

SIGMA_TI64 = 5.6e5  # Ti-6Al-4V (S/m), as the brief fixes for the benchmarks
H0 = 1000.0  # peak A/m


def frequency_for(a_over_delta: float, a_m: float, sigma: float) -> float:
    """f such that a/δ = a_over_delta (δ = √(2/(ωμ0σ)))."""
    from planner.units import MU0_H_per_m as MU0

    delta = a_m / a_over_delta
    return 2.0 / (delta**2 * MU0 * sigma) / (2.0 * math.pi)
