"""SLP model ``nonlinear-relaxation``: linear limit (Rosensweig, 1e-3), time-step order, bias suppression
against the Brownian Fokker–Planck equation, the large-field regime, the cache and its key."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from planner.errors import InputError
from planner.nanoparticles.slp import LinearResponseModel, LinearResponseParameters
from planner.nanoparticles.slp.nonlinear import NonlinearRelaxationModel, TableGrid, cached_table, loss_per_cycle
from planner.verification.convergence import observed_orders
from planner.verification.selection_field import brownian_fpe_loss, debye_loss


def params(**kw) -> LinearResponseParameters:
    base = dict(median_diameter_m=14e-9, sigma_ln=0.0, shell_thickness_m=5e-9, Ms_A_per_m=446e3, K_J_per_m3=23e3,
                density_kg_per_m3=5180.0, iron_mass_fraction=0.724, viscosity_Pa_s=0.692e-3, T_K=310.15,
                brownian=False)
    base.update(kw)
    return LinearResponseParameters(**base)


@pytest.mark.parametrize("kw", [dict(), dict(brownian=True), dict(sigma_ln=0.1)], ids=["neel", "neel+brown", "poly"])
def test_zero_bias_small_field_equals_linear_response(tmp_path, kw):
    p = params(**kw)
    nl = NonlinearRelaxationModel(p, TableGrid(1e5, 8, 256), cache=tmp_path)
    H = np.array([20.0, 100.0, 300.0])  # ξ ≤ 0.06 for the median core
    rel = nl.slp_W_per_g(H, 1e5) / LinearResponseModel(p).slp_W_per_g(H, 1e5) - 1.0
    assert np.max(np.abs(rel)) < 1e-3, rel


def test_time_step_order_two():
    """Exponential integrator, first-order hold: second order in Δt at ξ_ac = 3, ξ_dc = 1, ωτ ≈ 1."""
    args = (3.0, 1.0, 1.0, 2.0, 5.0, 50.0, -1.0)  # H_ac, H_dc, b, τN0, σ, H_K, τB (units of 1/ω)
    ref = loss_per_cycle(*args, 8192)
    steps = [32, 64, 128, 256]
    err = [abs(loss_per_cycle(*args, n) - ref) for n in steps]
    orders, _ = observed_orders([1.0 / n for n in steps], err)
    assert min(orders) > 1.8, orders
    assert err[-1] / ref < 2e-4


def test_kinetic_linear_limit_is_debye():
    for wt in (0.1, 1.0, 10.0):
        got = loss_per_cycle(0.01, 0.0, 1.0, -1.0, 0.0, 1.0, wt, 512)
        assert got == pytest.approx(debye_loss(0.01, wt), rel=2e-4)


@pytest.mark.parametrize("omega_tau", [0.3, 3.0])
def test_bias_suppression_against_brownian_fokker_planck(omega_tau):
    """Independent computation: the rotational Fokker–Planck equation (Legendre moments, Crank–Nicolson,
    periodic state). The kinetic model's suppression curve P(ξ_dc)/P(0) stays within 6 % over 3 decades."""
    xi_ac = 0.5
    f0 = brownian_fpe_loss(xi_ac, 0.0, omega_tau, moments=16, steps=800)
    k0 = loss_per_cycle(xi_ac, 0.0, 1.0, -1.0, 0.0, 1.0, omega_tau, 512)
    for xi_dc in (1.0, 2.0, 4.0, 8.0):
        f = brownian_fpe_loss(xi_ac, xi_dc, omega_tau, moments=24, steps=800) / f0
        k = loss_per_cycle(xi_ac, xi_dc, 1.0, -1.0, 0.0, 1.0, omega_tau, 512) / k0
        assert abs(k / f - 1.0) < 0.06, (xi_dc, k, f)
    assert f < 0.1  # the bias does suppress: < 10 % left at ξ_dc = 8


def test_fokker_planck_reference_converges():
    a = brownian_fpe_loss(2.0, 2.0, 1.0, moments=12, steps=400)
    b = brownian_fpe_loss(2.0, 2.0, 1.0, moments=24, steps=1600)
    assert abs(a / b - 1) < 1e-3


def test_large_field_regime_against_fokker_planck():
    """ξ_ac = 4 (beyond linear response, which would give π ξ²/3 R): the kinetic loop area within 5 %
    of the Fokker–Planck one, while linear response is off by more than 30 %."""
    f = brownian_fpe_loss(4.0, 0.0, 1.0, moments=24, steps=1200)
    k = loss_per_cycle(4.0, 0.0, 1.0, -1.0, 0.0, 1.0, 1.0, 512)
    assert abs(k / f - 1) < 0.05, (k, f)
    assert abs(debye_loss(4.0, 1.0) / f - 1) > 0.3


def test_cache_hit_and_key_changes_with_parameters(tmp_path):
    p, g = params(), TableGrid(1e5, 6, 64)
    t1, i1 = cached_table(p, 1e5, g, tmp_path)
    t2, i2 = cached_table(p, 1e5, g, tmp_path)
    assert not i1["hit"] and i2["hit"] and np.array_equal(t1, t2)
    _, i3 = cached_table(dataclasses.replace(p, K_J_per_m3=20e3), 1e5, g, tmp_path)
    assert not i3["hit"] and i3["key"] != i1["key"]
    (tmp_path / f"nonlinear-relaxation-{i1['key']}.npz").write_bytes(b"garbage")
    t4, i4 = cached_table(p, 1e5, g, tmp_path)
    assert not i4["hit"] and np.allclose(t4, t1)


def test_bias_suppresses_and_half_power_bias(tmp_path):
    nl = NonlinearRelaxationModel(params(), TableGrid(2e5, 12, 128), cache=tmp_path)
    Hdc = np.array([0.0, 2e3, 5e3, 2e4, 1e5])
    s = nl.slp_W_per_g_biased(np.full(5, 1e4), Hdc, 1e5)
    assert np.all(np.diff(s) < 0) and s[-1] < 1e-3 * s[0]
    h = nl.half_power_bias_A_per_m(1e4, 1e5)
    assert nl.slp_W_per_g_biased(np.array([1e4]), np.array([h]), 1e5)[0] == pytest.approx(0.5 * s[0], rel=1e-6)
    assert "validity" in nl.describe() and nl.describe()["validity"]["max_field_kA_per_m"] == 200.0


def test_linear_response_with_a_bias_is_refused():
    from planner.nanoparticles.heat import _bias_magnitude

    with pytest.raises(InputError, match=r"^nanoparticles\.slp_model = 'linear-response'.*nonlinear-relaxation"):
        _bias_magnitude(np.zeros((3, 3)), LinearResponseModel(params()), "linear-response", 3)
