"""Closed-form references for the nanoparticle stage (independent of planner.nanoparticles).

Rosensweig, R.E. (2002) "Heating magnetic fluid with alternating magnetic field",
J. Magn. Magn. Mater. 252:370–374 — linear-response power dissipation of a dilute ferrofluid
(all SI, H0 = PEAK field amplitude, f in Hz):

    P   = μ0 π χ0 H0² f · 2πfτ / (1 + (2πfτ)²)                          [W/m³ of fluid]   (eq. 7/12)
    χ0  = χi · (3/ξ)(coth ξ − 1/ξ),   χi = μ0 φ Ms² V / (3 k T),   ξ = μ0 Ms V H0 / (k T)
    τN  = (√π/2) τ0 e^Γ / √Γ,   Γ = K V / (k T)                        (Néel, Brown 1963 asymptote)
    τB  = 3 η V_H / (k T),       V_H = π (D + 2δ)³ / 6                  (Brown rotation)
    1/τ = 1/τN + 1/τB

The specific loss power per mass of magnetic oxide is SLP = P / (φ ρ) (independent of φ), per mass
of iron SLP_Fe = SLP / w_Fe. At 2πfτ = 1 the loss peaks at P = μ0 π χ0 H0² f / 2.

Polydispersity (reference implementation by adaptive quadrature): core diameters follow a
log-normal NUMBER distribution n(D) with median D_med and σ = σ_ln; the oxide mass in [D, D+dD]
is ∝ D³ n(D), so  SLP_poly = ∫ SLP_mono(D) D³ n(D) dD / ∫ D³ n(D) dD, evaluated here with
scipy.integrate.quad over ln D on sub-intervals split at the relaxation peak.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import integrate

from planner.units import KB_J_per_K, MU0_H_per_m


def langevin_reduction(xi: float) -> float:
    """(3/ξ)(coth ξ − 1/ξ) for one ξ ≥ 0 (series below 1e-3; tanh form above)."""
    if xi < 1e-3:
        return 1.0 - xi * xi / 15.0 + 2.0 * xi**4 / 315.0
    return 3.0 / xi * (1.0 / math.tanh(xi) - 1.0 / xi)


def tau_neel_s(V_m3: float, K_J_per_m3: float, T_K: float, tau0_s: float = 1e-9) -> float:
    """Néel relaxation time (√π/2) τ0 e^Γ/√Γ, Γ = KV/kT; inf if e^Γ overflows."""
    gamma = K_J_per_m3 * V_m3 / (KB_J_per_K * T_K)
    if gamma > 700.0:
        return math.inf
    return 0.5 * math.sqrt(math.pi) * tau0_s * math.exp(gamma) / math.sqrt(gamma)


def tau_brown_s(VH_m3: float, viscosity_Pa_s: float, T_K: float) -> float:
    """Brownian rotational relaxation time 3ηV_H/kT."""
    return 3.0 * viscosity_Pa_s * VH_m3 / (KB_J_per_K * T_K)


def sphere_volume_m3(D_m: float) -> float:
    return math.pi * D_m**3 / 6.0


def relaxation_factor(omega_tau: float) -> float:
    """ωτ/(1+(ωτ)²), 0 for ωτ = ∞."""
    if math.isinf(omega_tau):
        return 0.0
    return omega_tau / (1.0 + omega_tau * omega_tau)


def effective_tau_s(D_m: float, *, shell_m: float, K_J_per_m3: float, viscosity_Pa_s: float, T_K: float,
                    tau0_s: float = 1e-9, brownian: bool = True, neel: bool = True) -> float:
    """Parallel relaxation time; ``neel``/``brownian`` switch a mechanism off (its rate = 0)."""
    rate = 0.0
    if neel:
        rate += 1.0 / tau_neel_s(sphere_volume_m3(D_m), K_J_per_m3, T_K, tau0_s)
    if brownian:
        rate += 1.0 / tau_brown_s(sphere_volume_m3(D_m + 2.0 * shell_m), viscosity_Pa_s, T_K)
    return math.inf if rate == 0.0 else 1.0 / rate


def chi0(D_m: float, H_A_per_m: float, *, Ms_A_per_m: float, T_K: float, phi: float = 1.0) -> float:
    """Langevin-reduced equilibrium susceptibility χ0 = χi (3/ξ)(coth ξ − 1/ξ)."""
    V = sphere_volume_m3(D_m)
    chi_i = MU0_H_per_m * phi * Ms_A_per_m**2 * V / (3.0 * KB_J_per_K * T_K)
    xi = MU0_H_per_m * Ms_A_per_m * V * H_A_per_m / (KB_J_per_K * T_K)
    return chi_i * langevin_reduction(xi)


def power_density_W_per_m3(D_m: float, H_A_per_m: float, f_Hz: float, *, phi: float, Ms_A_per_m: float,
                           T_K: float, tau_s: float) -> float:
    """Rosensweig P = μ0 π χ0 H0² f · 2πfτ/(1+(2πfτ)²) for one core size and a given τ."""
    x = chi0(D_m, H_A_per_m, Ms_A_per_m=Ms_A_per_m, T_K=T_K, phi=phi)
    return MU0_H_per_m * math.pi * x * H_A_per_m**2 * f_Hz * relaxation_factor(2.0 * math.pi * f_Hz * tau_s)


def peak_power_density_W_per_m3(D_m: float, H_A_per_m: float, f_Hz: float, *, phi: float, Ms_A_per_m: float,
                                T_K: float) -> float:
    """The loss maximum over τ, reached at 2πfτ = 1: μ0 π χ0 H0² f / 2."""
    x = chi0(D_m, H_A_per_m, Ms_A_per_m=Ms_A_per_m, T_K=T_K, phi=phi)
    return MU0_H_per_m * math.pi * x * H_A_per_m**2 * f_Hz / 2.0


def slp_mono_W_per_kg(D_m: float, H_A_per_m: float, f_Hz: float, *, shell_m: float, Ms_A_per_m: float,
                      K_J_per_m3: float, density_kg_per_m3: float, viscosity_Pa_s: float, T_K: float,
                      tau0_s: float = 1e-9, brownian: bool = True, neel: bool = True) -> float:
    """Monodisperse SLP per kg of magnetic oxide: P/(φρ)."""
    tau = effective_tau_s(D_m, shell_m=shell_m, K_J_per_m3=K_J_per_m3, viscosity_Pa_s=viscosity_Pa_s, T_K=T_K,
                          tau0_s=tau0_s, brownian=brownian, neel=neel)
    P = power_density_W_per_m3(D_m, H_A_per_m, f_Hz, phi=1.0, Ms_A_per_m=Ms_A_per_m, T_K=T_K, tau_s=tau)
    return P / density_kg_per_m3


def slp_poly_quad_W_per_kg(H_A_per_m: float, f_Hz: float, *, median_D_m: float, sigma_ln: float, shell_m: float,
                           Ms_A_per_m: float, K_J_per_m3: float, density_kg_per_m3: float,
                           viscosity_Pa_s: float, T_K: float, tau0_s: float = 1e-9, brownian: bool = True,
                           n_sigma: float = 9.0, epsrel: float = 1e-12) -> float:
    """Mass-weighted polydisperse SLP by scipy.integrate.quad over s = ln(D/D_med) (number
    distribution n ∝ exp(−s²/2σ²), weight D³ n), split at the SLP_mono maximum and at ±kσ."""
    kw: dict[str, Any] = dict(shell_m=shell_m, Ms_A_per_m=Ms_A_per_m, K_J_per_m3=K_J_per_m3, density_kg_per_m3=density_kg_per_m3,
              viscosity_Pa_s=viscosity_Pa_s, T_K=T_K, tau0_s=tau0_s, brownian=brownian)

    def weight(s: float) -> float:  # D³ n(D) dD ∝ exp(3s − s²/2σ²) ds (D_med³ dropped)
        return math.exp(3.0 * s - 0.5 * (s / sigma_ln) ** 2)

    def num(s: float) -> float:
        return slp_mono_W_per_kg(median_D_m * math.exp(s), H_A_per_m, f_Hz, **kw) * weight(s)

    centre = 3.0 * sigma_ln**2  # mode of the mass-weighted density in s
    lo, hi = centre - n_sigma * sigma_ln, centre + n_sigma * sigma_ln
    # breakpoints: where 2πfτN = 1 (Néel peak) and a fine set around the centre
    grid = np.linspace(lo, hi, 73)
    vals = np.array([num(s) for s in grid])
    k = int(np.argmax(vals))
    pts = sorted(set(np.linspace(lo, hi, 19).tolist() + [grid[max(k - 1, 0)], grid[k], grid[min(k + 1, 72)]]))
    total = 0.0
    for a, b in zip(pts[:-1], pts[1:]):
        if b > a:
            total += integrate.quad(num, a, b, epsabs=0.0, epsrel=epsrel, limit=400)[0]
    norm = math.sqrt(2.0 * math.pi) * sigma_ln * math.exp(4.5 * sigma_ln**2)  # ∫ exp(3s − s²/2σ²) ds
    return total / norm


def ilp_nH_m2_per_kg(slp_W_per_kg: float, H_A_per_m: float, f_Hz: float) -> float:
    """Intrinsic loss power SLP/(f H0²) in nH m² kg⁻¹ (SLP in W/kg, H0 peak)."""
    return slp_W_per_kg / (f_Hz * H_A_per_m**2) * 1e9
