"""Sampling and the first-order Sobol estimator against closed forms (no FE)."""
import numpy as np
import pytest

from planner.uncertainty.sampling import saltelli_design, saltelli_first_order, sample_points
from planner.verification.uncertainty import lognormal_product_first_order


def test_sobol_points_are_seeded_and_standard_normal():
    a, b = sample_points(256, 3, "sobol", 7), sample_points(256, 3, "sobol", 7)
    assert np.array_equal(a, b) and not np.array_equal(a, sample_points(256, 3, "sobol", 8))
    assert np.abs(a.mean(axis=0)).max() < 0.02 and np.abs(a.std(axis=0) - 1).max() < 0.05


@pytest.mark.parametrize("offset", [0.0, 37.0])
def test_first_order_indices_converge_to_the_lognormal_product(offset):
    """Y = offset + 3 Π exp(σ_i Z_i): S_i = (e^{σ_i²} − 1)/(e^{Σσ²} − 1); the error falls with N."""
    s = np.array([0.3, 0.2, 0.05])
    exact = np.array(lognormal_product_first_order(list(s)))
    errs = []
    for n in (64, 256, 1024):
        A, B, AB = saltelli_design(n, 3, "sobol", 0)
        f = lambda Z: offset + 3.0 * np.exp(Z @ s)  # noqa: E731
        errs.append(np.abs(np.array(saltelli_first_order(f(A), f(B), [f(m) for m in AB])) - exact).max())
    assert errs[-1] < 0.01 and errs[-1] < errs[0]
