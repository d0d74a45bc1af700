"""Linear-response SLP (Rosensweig 2002): kernels, closed forms, limits, polydisperse quadrature."""
from __future__ import annotations

import logging
import math

import numpy as np
import pytest

from planner.errors import InputError
from planner.nanoparticles import _kernels
from planner.nanoparticles.distributions import RELAXIVITY_PRESETS_per_s_per_mM
from planner.nanoparticles.materials import MATERIALS
from planner.nanoparticles.slp import (
    AUTO_TEST_FIELDS_A_per_m,
    LinearResponseModel,
    LinearResponseParameters,
    build_size_rule,
    ilp_nH_m2_per_kg,
)
from planner.verification import nanoparticles as an

MAG = MATERIALS["magnetite"]
T_K = 310.15


def params(**kw) -> LinearResponseParameters:
    base = dict(median_diameter_m=14e-9, sigma_ln=0.0, shell_thickness_m=2e-9, Ms_A_per_m=MAG.saturation_magnetization_A_per_m,
                K_J_per_m3=MAG.anisotropy_J_per_m3, density_kg_per_m3=MAG.density_kg_per_m3,
                iron_mass_fraction=MAG.iron_mass_fraction, viscosity_Pa_s=0.692e-3, T_K=T_K,
                mass_basis="per_g_particle", material="magnetite")
    base.update(kw)
    return LinearResponseParameters(**base)


def quad_ref(p: LinearResponseParameters, H: float, f: float) -> float:
    """Independent reference (planner.verification.nanoparticles, scipy quad) in W/kg oxide."""
    kw = dict(shell_m=p.shell_thickness_m, Ms_A_per_m=p.Ms_A_per_m, K_J_per_m3=p.K_J_per_m3,
              density_kg_per_m3=p.density_kg_per_m3, viscosity_Pa_s=p.viscosity_Pa_s, T_K=p.T_K, tau0_s=p.tau0_s,
              brownian=p.brownian)
    if p.sigma_ln == 0.0:
        return an.slp_mono_W_per_kg(p.median_diameter_m, H, f, neel=p.neel, **kw)
    return an.slp_poly_quad_W_per_kg(H, f, median_D_m=p.median_diameter_m, sigma_ln=p.sigma_ln, **kw)


# --- kernels -----------------------------------------------------------------------------------
def test_langevin_reduction_matches_extended_precision():
    rng = np.random.default_rng(1)
    x = np.concatenate([np.geomspace(1e-9, 200.0, 20001), rng.uniform(0, 60, 20000), [0.0, 0.5, 1.0, 40.0]])
    xl = x.astype(np.longdouble)
    with np.errstate(all="ignore"):
        ref = 3 * (1 / np.tanh(xl) - 1 / xl) / xl
    small = x < 1e-2
    ref[small] = 1 - xl[small] ** 2 / 15 + 2 * xl[small] ** 4 / 315 - xl[small] ** 6 / 1575
    assert np.max(np.abs(_kernels.g_numpy(x) / ref - 1)) < 1e-14
    assert np.max(np.abs(_kernels.g_numba(x) / ref - 1)) < 5e-13
    # g → 3/ξ at large ξ, 1 − ξ²/15 at small ξ
    assert _kernels.g_numba(np.array([1e4]))[0] == pytest.approx(3e-4 * (1 - 1e-4), rel=1e-12)


def test_series_coefficients_are_bernoulli():
    from scipy.special import bernoulli

    B = bernoulli(40)
    for n, a in enumerate(_kernels.G_SERIES):
        k = 2 * n + 2
        assert a == pytest.approx(3 * 2**k * B[k] / math.factorial(k), rel=1e-14)


def test_numba_kernel_matches_numpy_reference():
    rng = np.random.default_rng(2)
    H = rng.uniform(0, 5e4, 20011)
    H[:3] = [0.0, 1e-3, -2e4]  # sign of H does not matter
    b = np.geomspace(1e-7, 1e-2, 23)
    W = rng.uniform(0, 1, 23)
    a = _kernels.slp_sum(H, b, W, 3.7)
    r = _kernels.slp_sum_numpy(H, b, W, 3.7)
    np.testing.assert_allclose(a, r, rtol=1e-12, atol=0)
    assert a[2] == pytest.approx(_kernels.slp_sum(np.array([2e4]), b, W, 3.7)[0], rel=1e-15)


# --- monodisperse closed forms -------------------------------------------------------------------
@pytest.mark.parametrize("H", [100.0, 5e3, 15e3, 40e3])
def test_monodisperse_matches_closed_form(H):
    for brownian in (True, False):
        p = params(brownian=brownian)
        m = LinearResponseModel(p)
        got = m.slp_W_per_g(np.array([H]), 1e5)[0] * 1e3
        assert got == pytest.approx(quad_ref(p, H, 1e5), rel=1e-13)


def test_peak_at_omega_tau_one_equals_half_mu0_pi_chi0_H2_f():
    """Pure Brown with the viscosity chosen so that 2πfτB = 1: P = μ0 π χ0 H0² f / 2."""
    f, D, shell, H = 2e5, 12e-9, 3e-9, 8e3
    VH = math.pi * (D + 2 * shell) ** 3 / 6
    eta = an.KB_J_per_K * T_K / (3 * VH * 2 * math.pi * f)
    p = params(median_diameter_m=D, shell_thickness_m=shell, viscosity_Pa_s=eta, neel=False)
    got_W_per_kg = LinearResponseModel(p).slp_W_per_g(np.array([H]), f)[0] * 1e3
    P_peak = an.peak_power_density_W_per_m3(D, H, f, phi=1.0, Ms_A_per_m=p.Ms_A_per_m, T_K=T_K)
    assert got_W_per_kg == pytest.approx(P_peak / p.density_kg_per_m3, rel=1e-13)
    # and it is the maximum over viscosity
    for fac in (0.5, 0.9, 1.1, 2.0):
        other = LinearResponseModel(params(median_diameter_m=D, shell_thickness_m=shell, viscosity_Pa_s=eta * fac,
                                           neel=False)).slp_W_per_g(np.array([H]), f)[0] * 1e3
        assert other < got_W_per_kg


def test_pure_neel_and_pure_brown_limits():
    f, H = 1e5, 5e3
    # huge anisotropy freezes Néel relaxation → Brown only
    frozen = LinearResponseModel(params(K_J_per_m3=5e6)).slp_W_per_g(np.array([H]), f)[0]
    brown = LinearResponseModel(params(neel=False)).slp_W_per_g(np.array([H]), f)[0]
    assert frozen == pytest.approx(brown, rel=1e-12)
    # huge viscosity blocks Brown rotation → Néel only (= brownian = false)
    viscous = LinearResponseModel(params(viscosity_Pa_s=1e6)).slp_W_per_g(np.array([H]), f)[0]
    neel = LinearResponseModel(params(brownian=False)).slp_W_per_g(np.array([H]), f)[0]
    assert viscous == pytest.approx(neel, rel=1e-9)
    # closed forms of the two limits
    D, V = 14e-9, math.pi * 14e-9**3 / 6
    VH = math.pi * (18e-9) ** 3 / 6
    chi0 = an.chi0(D, H, Ms_A_per_m=MAG.saturation_magnetization_A_per_m, T_K=T_K)
    for tau, val in ((an.tau_neel_s(V, MAG.anisotropy_J_per_m3, T_K), neel),
                     (an.tau_brown_s(VH, 0.692e-3, T_K), brown)):
        wt = 2 * math.pi * f * tau
        P = an.MU0_H_per_m * math.pi * chi0 * H**2 * f * wt / (1 + wt**2)
        assert val * 1e3 == pytest.approx(P / MAG.density_kg_per_m3, rel=1e-12)


def test_ilp_and_low_field_scaling():
    m = LinearResponseModel(params(sigma_ln=0.2))
    H = np.array([10.0, 20.0, 40.0])
    s = m.slp_W_per_g(H, 1e5)
    ilp = ilp_nH_m2_per_kg(s, H, 1e5)
    np.testing.assert_allclose(ilp, s * 1e3 / (1e5 * H**2) * 1e9, rtol=1e-15)
    # linear response: SLP ∝ H² at low field, ILP falling by O(ξ²/15) as the Langevin curve bends
    np.testing.assert_allclose(ilp, ilp[0], rtol=1e-4)
    assert ilp[0] > ilp[1] > ilp[2]
    assert ilp_nH_m2_per_kg(np.array([1.0]), np.array([0.0]), 1e5)[0] == 0.0


def test_mass_basis_per_g_fe_is_per_particle_over_iron_fraction():
    a = LinearResponseModel(params(sigma_ln=0.15, mass_basis="per_g_particle")).slp_W_per_g(np.array([1e4]), 1e5)[0]
    b = LinearResponseModel(params(sigma_ln=0.15, mass_basis="per_g_Fe")).slp_W_per_g(np.array([1e4]), 1e5)[0]
    assert b == pytest.approx(a / MAG.iron_mass_fraction, rel=1e-14)
    assert MAG.iron_mass_fraction == pytest.approx(0.7236, abs=1e-4)


# --- polydisperse quadrature --------------------------------------------------------------------
CASES = [
    dict(sigma_ln=0.1),
    dict(sigma_ln=0.25, brownian=False),
    dict(sigma_ln=0.35, median_diameter_m=11e-9, K_J_per_m3=MATERIALS["cobalt-ferrite"].anisotropy_J_per_m3),
    dict(sigma_ln=0.5, brownian=False, K_J_per_m3=9e3),
]


@pytest.mark.parametrize("case", CASES)
def test_polydisperse_matches_direct_quadrature(case):
    p = params(**case)
    m = LinearResponseModel(p)
    H = np.array([300.0, 4e3, 12e3, 30e3])
    got = m.slp_W_per_g(H, 1.5e5) * 1e3
    ref = np.array([quad_ref(p, h, 1.5e5) for h in H])
    np.testing.assert_allclose(got, ref, rtol=2e-9)
    r = m.rule(1.5e5)
    assert r.rel_error_estimate < 2e-9


def test_polydisperse_convergence_in_nodes_is_geometric():
    p = params(sigma_ln=0.2)
    f, H = 1e5, np.array([2e3, 15e3])
    ref = np.array([quad_ref(p, h, f) for h in H])
    errs = []
    nodes = np.array([2, 4, 8, 16, 24])
    for m_nodes in nodes:
        r = build_size_rule(p, f, nodes=int(m_nodes), panels=128)
        errs.append(float(np.max(np.abs(r.slp_W_per_kg(H) / ref - 1))))
    errs = np.array(errs)
    # geometric (faster than any power of m): error per added node falls by > 1.5× at every step
    rate = (errs[:-1] / errs[1:]) ** (1.0 / np.diff(nodes))
    assert np.all(rate > 1.5), (errs, rate)
    assert errs[-1] < 1e-10, errs


def test_polydisperse_convergence_in_panels():
    p = params(sigma_ln=0.25, brownian=False)
    f, H = 1e5, np.array([5e3])
    ref = quad_ref(p, 5e3, f)
    errs = [abs(build_size_rule(p, f, nodes=24, panels=n).slp_W_per_kg(H)[0] / ref - 1) for n in (8, 16, 32, 64)]
    assert all(b < a / 8 for a, b in zip(errs[:-1], errs[1:])), errs
    assert errs[-1] < 1e-8


def test_auto_rule_meets_its_target_on_test_fields():
    p = params(sigma_ln=0.2, brownian=False)
    r = build_size_rule(p, 2e5)
    fine = build_size_rule(p, 2e5, nodes=64, panels=1024)
    err = np.max(np.abs(r.slp_W_per_kg(AUTO_TEST_FIELDS_A_per_m) / fine.slp_W_per_kg(AUTO_TEST_FIELDS_A_per_m) - 1))
    assert err < 1e-9
    assert r.nodes < 64


def test_published_trends_rosensweig_2002():
    """Rosensweig (2002) shows (i) the monodisperse loss peaking at the core size where 2πfτ = 1,
    moving to smaller cores as f rises, and (ii) polydispersity lowering the peak heating rate.
    (Quantitative figure values are NOT reproduced here; see benchmarks/README_np.md.)"""
    D = np.linspace(6e-9, 24e-9, 181)

    def curve(f, sigma):
        return np.array([LinearResponseModel(params(median_diameter_m=d, sigma_ln=sigma, brownian=False))
                         .slp_W_per_g(np.array([5e3]), f)[0] for d in D])

    c1, c2 = curve(1e5, 0.0), curve(1e6, 0.0)
    d1, d2 = D[np.argmax(c1)], D[np.argmax(c2)]
    assert d2 < d1
    # the monodisperse peak sits where 2πfτN(D) = 1 (within the grid spacing)
    V = math.pi * d1**3 / 6
    wt = 2 * math.pi * 1e5 * an.tau_neel_s(V, MAG.anisotropy_J_per_m3, T_K)
    assert 0.7 < wt < 1.4
    peaks = [curve(1e5, s).max() for s in (0.0, 0.1, 0.2, 0.3)]
    assert all(b < a for a, b in zip(peaks[:-1], peaks[1:])), peaks


def test_xi_fraction_and_warning(caplog):
    p = params(sigma_ln=0.25)
    m = LinearResponseModel(p)
    H = 10e3
    # numeric check of the closed form: mass fraction with ξ > 1
    D = np.exp(np.linspace(np.log(1e-9), np.log(200e-9), 400001))
    n = np.exp(-0.5 * (np.log(D / 14e-9) / 0.25) ** 2) / D
    w = D**3 * n
    xi = an.MU0_H_per_m * p.Ms_A_per_m * (math.pi * D**3 / 6) * H / (an.KB_J_per_K * T_K)
    num = np.trapz(w * (xi > 1), D) / np.trapz(w, D)
    assert m.xi_gt_1_mass_fraction(H) == pytest.approx(num, abs=1e-4)
    with caplog.at_level(logging.WARNING):
        d = m.field_diagnostics(np.array([1e3, H]), 1e5)
    assert d["linear_response_warning"] is True and "ξ" in caplog.text
    d_low = LinearResponseModel(params(median_diameter_m=6e-9, sigma_ln=0.1)).field_diagnostics(np.array([2e3]), 1e5)
    assert d_low["linear_response_warning"] is False


@pytest.mark.parametrize("kw,key", [
    (dict(median_diameter_m=-1e-9), "median_diameter_nm"),
    (dict(median_diameter_m=float("nan")), "median_diameter_nm"),
    (dict(sigma_ln=1.5), "sigma_ln"),
    (dict(sigma_ln=float("nan")), "sigma_ln"),
    (dict(shell_thickness_m=-1e-9), "shell_thickness_nm"),
    (dict(viscosity_Pa_s=0.0), "viscosity_mPa_s"),
    (dict(mass_basis="per_g_core"), "mass_basis"),
])
def test_bad_parameters_name_the_key(kw, key):
    with pytest.raises(InputError, match=key):
        params(**kw)


def test_presets_are_the_models_own_choices():
    """The plan's material and relaxivity-preset choices are declared by the models from their data."""
    import dataclasses

    from planner.nanoparticles.distributions import R2starMapParams
    from planner.nanoparticles.slp import LinearResponseSection

    material = {f.name: f for f in dataclasses.fields(LinearResponseSection)}["material"].metadata["check"]
    preset = {f.name: f for f in dataclasses.fields(R2starMapParams)}["relaxivity_preset"].metadata["check"]
    assert all(material(m) for m in MATERIALS) and not material("unobtainium")
    assert all(preset(p) for p in RELAXIVITY_PRESETS_per_s_per_mM) and not preset("ferumoxytol-7T")
    for mat in MATERIALS.values():
        assert 0 < mat.iron_mass_fraction < 1 and mat.source


def test_frequency_asymptotes():
    """Rosensweig (2002): P → 2π² μ0 χ0 H0² f² τ for 2πfτ ≪ 1 and → μ0 χ0 H0²/(2τ) for 2πfτ ≫ 1."""
    p = params(neel=False)
    m = LinearResponseModel(p)
    H = 1e3
    D, VH = p.median_diameter_m, math.pi * (p.median_diameter_m + 2 * p.shell_thickness_m) ** 3 / 6
    tau = an.tau_brown_s(VH, p.viscosity_Pa_s, T_K)
    chi0 = an.chi0(D, H, Ms_A_per_m=p.Ms_A_per_m, T_K=T_K)
    for f in (1e-3 / tau, 1e-4 / tau):
        low = 2 * math.pi**2 * an.MU0_H_per_m * chi0 * H**2 * f**2 * tau / p.density_kg_per_m3
        assert m.slp_W_per_g(np.array([H]), f)[0] * 1e3 == pytest.approx(low, rel=(2 * math.pi * f * tau) ** 2 * 1.01)
    for f in (1e3 / tau, 1e4 / tau):
        high = an.MU0_H_per_m * chi0 * H**2 / (2 * tau) / p.density_kg_per_m3
        assert m.slp_W_per_g(np.array([H]), f)[0] * 1e3 == pytest.approx(high, rel=(2 * math.pi * f * tau) ** -2 * 1.01)
