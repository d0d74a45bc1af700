"""Closed forms for the uncertainty study (planner.uncertainty).

With constant perfusion and only the SLP uncertain (log-normal scale s = exp(σ Z), Z ~ N(0, 1)), every
temperature rise is s times the nominal one, so the p-th percentile of the target's T90 rise is
rise_nominal · exp(σ Φ⁻¹(p)).
"""
from __future__ import annotations

import math

from scipy.stats import norm


def lognormal_scaled_percentile(nominal: float, sigma_ln: float, percent: float) -> float:
    """p-th percentile of nominal · exp(σ Z)."""
    return nominal * math.exp(sigma_ln * float(norm.ppf(percent / 100.0)))


def lognormal_mean(nominal: float, sigma_ln: float) -> float:
    """E[nominal · exp(σ Z)] = nominal · exp(σ²/2)."""
    return nominal * math.exp(0.5 * sigma_ln * sigma_ln)


def lognormal_product_first_order(sigmas_ln: list[float]) -> list[float]:
    """First-order Sobol indices of Y = Π exp(σ_i Z_i) (independent standard normal Z_i):
    V_i = Var E[Y | Z_i] = e^{Σ_{j≠i} σ_j²} (e^{σ_i²} − 1), Var Y = e^{Σσ²}(e^{Σσ²} − 1) ⇒
    S_i = (e^{σ_i²} − 1) / (e^{Σσ²} − 1)."""
    total = sum(s * s for s in sigmas_ln)
    return [(math.exp(s * s) - 1.0) / (math.exp(total) - 1.0) for s in sigmas_ln]
