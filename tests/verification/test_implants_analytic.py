"""Closed-form implant losses (planner.verification.implants): limits, signs, independent quadrature."""
from __future__ import annotations

import math

import numpy as np
import pytest

from planner.verification import implants as an

SIG, F, H0 = 5.6e5, 100e3, 1000.0


def _kw(a_m, f=F):
    return dict(radius_m=a_m, sigma_S_per_m=SIG, frequency_Hz=f, H0_peak_A_per_m=H0)


def test_skin_depth_titanium_100kHz():
    # δ = sqrt(2/(ω μ0 σ)) = 2.127 mm for σ = 5.6e5 S/m at 100 kHz
    assert an.skin_depth_m(sigma_S_per_m=SIG, frequency_Hz=F) == pytest.approx(2.1268e-3, rel=1e-4)
    assert an.skin_depth_m(sigma_S_per_m=0.0, frequency_Hz=F) == math.inf


@pytest.mark.parametrize("ad", [1e-3, 1e-2, 0.05])
def test_sphere_low_frequency_limit(ad):
    d = an.skin_depth_m(sigma_S_per_m=SIG, frequency_Hz=F)
    P = an.sphere_uniform_field_loss_W(**_kw(ad * d))
    P_lf = an.sphere_low_frequency_loss_W(**_kw(ad * d))
    # next term of the series: P/P_lf = 1 − (4/105)(a/δ)^4·… ; at a/δ = 0.05 the deviation is < 1e-5
    assert P > 0
    assert P / P_lf == pytest.approx(1.0, abs=5 * ad**4 + 1e-12)


def test_sphere_series_and_closed_form_join_continuously():
    # |ka| = 0.1 switches from the series to cot(): both sides agree to ~1e-8 (cot() loses digits in Re α)
    x = 0.1 / math.sqrt(2.0)
    lo = an.sphere_polarizability((1 + 1j) * x * (1 - 1e-9))
    hi = an.sphere_polarizability((1 + 1j) * x * (1 + 1e-9))
    assert abs(lo - hi) < 1e-7 * abs(lo)
    assert abs(lo.imag - hi.imag) < 1e-8 * abs(lo.imag)


@pytest.mark.parametrize("ad", [50.0, 200.0])
def test_sphere_high_frequency_limit(ad):
    d = an.skin_depth_m(sigma_S_per_m=SIG, frequency_Hz=F)
    P = an.sphere_uniform_field_loss_W(**_kw(ad * d))
    P_hf = an.sphere_high_frequency_loss_W(**_kw(ad * d))
    # surface-impedance limit with its first correction 1 − 1/(a/δ) (from Im α = 3/(4 a/δ) − 3/(4 (a/δ)²))
    assert P / P_hf == pytest.approx(1.0 - 1.0 / ad, rel=1e-6)


def test_sphere_loss_positive_and_increasing_with_frequency():
    fs = np.logspace(2, 7, 30)
    P = [an.sphere_uniform_field_loss_W(**_kw(0.01, f)) for f in fs]
    assert all(p > 0 for p in P)
    assert all(b > a for a, b in zip(P, P[1:]))


@pytest.mark.parametrize("ad", [0.1, 1.0, 3.0, 10.0])
def test_cylinder_closed_form_matches_quadrature(ad):
    d = an.skin_depth_m(sigma_S_per_m=SIG, frequency_Hz=F)
    P = an.cylinder_axial_loss_per_length_W_per_m(**_kw(ad * d))
    Pq = an.cylinder_axial_loss_per_length_quadrature_W_per_m(**_kw(ad * d))
    assert P > 0
    assert P == pytest.approx(Pq, rel=1e-9)


def test_cylinder_limits():
    d = an.skin_depth_m(sigma_S_per_m=SIG, frequency_Hz=F)
    a = 0.01 * d
    assert an.cylinder_axial_loss_per_length_W_per_m(**_kw(a)) == pytest.approx(
        an.cylinder_axial_low_frequency_loss_per_length_W_per_m(**_kw(a)), rel=1e-6)
    a = 200 * d  # surface loss π a H0² / (σ δ) with correction ≈ 1 − δ/(2a)·…
    P = an.cylinder_axial_loss_per_length_W_per_m(**_kw(a))
    assert P / (math.pi * a * H0**2 / (SIG * d)) == pytest.approx(1.0, abs=5e-3)
