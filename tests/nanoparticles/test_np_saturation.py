"""R2* saturation: the residual of the declared total goes to the saturated core (never a uniform
rescale of the map); without a declared total a mostly saturated map is refused."""
from __future__ import annotations

import logging

import numpy as np
import pytest

from planner.errors import InputError
from planner.nanoparticles.saturation import fill_saturated


def _blob():
    r = np.linspace(-10, 10, 21)
    X, Y, Z = np.meshgrid(r, r, r, indexing="ij")
    true = 50.0 * np.exp(-(X**2 + Y**2 + Z**2) / (2 * 3.0**2))  # mg/mL, 1 mL voxels
    sat = true > 0.4 * 50.0 / 10.0  # signal lost above 5 mg/mL
    measured = np.where(sat, 5.0, true)  # saturated voxels read at the saturation level (a lower bound)
    return true, measured, sat


def test_residual_goes_to_the_saturated_core_and_the_rim_is_untouched():
    true, measured, sat = _blob()
    declared = float(true.sum())
    out, info = fill_saturated(measured, sat, 1.0, declared, 0.2, "map")
    assert out.sum() == pytest.approx(declared, rel=1e-12)
    np.testing.assert_array_equal(out[~sat], measured[~sat])  # rim keeps its measured iron
    assert np.all(out[sat] >= measured[sat])
    assert info["saturated_residual_mg"] == pytest.approx(declared - measured.sum())
    assert info["saturated_fraction"] == pytest.approx(measured[sat].sum() / measured.sum())
    # a uniform rescale would have inflated the rim by declared / measured
    assert declared / measured.sum() > 1.5


def test_refused_without_declared_total_when_mostly_saturated():
    true, measured, sat = _blob()
    frac = measured[sat].sum() / measured.sum()
    assert frac > 0.1
    with pytest.raises(InputError, match=r"saturated voxels \(more than max_saturated_fraction = 0.1\)"):
        fill_saturated(measured, sat, 1.0, None, 0.1, "map")
    out, info = fill_saturated(measured, sat, 1.0, None, 1.0, "map")  # allowed: lower bound kept
    np.testing.assert_array_equal(out, measured)
    assert info["saturation_handling"].startswith("lower bound")


def test_declared_below_measurement_keeps_the_measurement(caplog):
    true, measured, sat = _blob()
    with caplog.at_level(logging.WARNING):
        out, info = fill_saturated(measured, sat, 1.0, 0.5 * measured.sum(), 0.2, "map")
    np.testing.assert_array_equal(out, measured)
    assert "below the measured" in caplog.text


def test_residual_weighted_by_the_ct_rise_follows_the_true_iron():
    """With CT weights ∝ the true iron (the HU rise is linear in iron) the residual follows the deposit's
    shape (closer to the truth than a uniform core); weights vanishing over the core fall back to uniform."""
    true, measured, sat = _blob()
    declared = float(true.sum())
    hu_rise = 5.9 * true  # HU per mg Fe/mL × true concentration
    out, info = fill_saturated(measured, sat, 1.0, declared, 0.2, "map", weights=hu_rise)
    assert out.sum() == pytest.approx(declared, rel=1e-12)
    assert info["saturation_handling"].endswith("weighted by the CT HU rise")
    np.testing.assert_array_equal(out[~sat], measured[~sat])
    # residual_v = R·w_v/Σw with R = Σ_sat(true − 5): out_v − true_v = (5·n_sat·w_v/Σw − 5), zero on average
    expected = measured[sat] + (declared - measured.sum()) * true[sat] / true[sat].sum()
    np.testing.assert_allclose(out[sat], expected, rtol=1e-12)
    err_weighted = np.abs(out - true)[sat].max()
    uniform, _ = fill_saturated(measured, sat, 1.0, declared, 0.2, "map")
    assert err_weighted < 0.5 * np.abs(uniform - true)[sat].max()
    flat, info0 = fill_saturated(measured, sat, 1.0, declared, 0.2, "map", weights=np.zeros_like(true))
    np.testing.assert_array_equal(flat, uniform)
    assert info0["saturation_handling"].endswith("uniform")
