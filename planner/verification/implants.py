"""Closed-form eddy-current losses of conductors in a uniform time-harmonic field (implant benchmarks).

All amplitudes are PEAK phasors (e^{jωt}); powers are time averages. SI units.

* Sphere (radius a, conductivity σ, μr = 1) in a uniform field H0 — full skin-effect solution of
  Landau & Lifshitz, *Electrodynamics of Continuous Media* (2nd ed., 1984), §59, problem 1:

      P = 2π ω μ0 a³ H0² Im α,      α = −½ [1 − 3/(ka)² + 3 cot(ka)/(ka)],     k = (1 + j)/δ,

  with δ = √(2/(ω μ0 σ)). (L&L write e^{−iωt}; with their k = (1+i)/δ, Im α > 0 is the absorption,
  which is the real, positive dissipated power in either convention.) Limits:
  a ≪ δ:  P → π σ ω² μ0² H0² a⁵ / 15  (induced E_φ = −jω μ0 H0 r sinθ / 2, P = ½σ∫|E|²dV);
  a ≫ δ:  P → 3π a² H0² / (σ δ) · (1 − 3δ/(2a) + …)  (surface loss, H_t = 3/2 H0 sinθ, R_s = 1/(σδ)).

* Infinite circular cylinder (radius a) in a uniform AXIAL field H0 — Bessel solution
  (e.g. Stoll, *The Analysis of Eddy Currents*, Clarendon 1974, ch. 2; Lammeraner & Štafl 1964):
  inside H_z(r) = H0 J0(κ r)/J0(κ a), κ² = −jωμ0σ (κ = (1 − j)/δ); E_φ = −(1/σ) ∂H_z/∂r;
  power per unit length from the Poynting flux through r = a:

      P' = π a H0² / σ · Re[ κ J1(κa)/J0(κa) · … ]   (computed below without sign ambiguity as
      P' = −π a Re(E_φ(a) H_z*(a)) · … with the outward normal; see :func:`cylinder_axial_loss_per_length_W_per_m`).

  Limits: a ≪ δ:  P' → π σ ω² μ0² H0² a⁴ / 16;  a ≫ δ: P' → π a H0² /(σ δ) (surface loss, H_t = H0).
"""
from __future__ import annotations

import math

import numpy as np
from scipy import special

from planner.units import MU0_H_per_m


def skin_depth_m(*, sigma_S_per_m: float, frequency_Hz: float, mu_r: float = 1.0) -> float:
    """δ = √(2 / (ω μ0 μr σ)) in metres (∞ for σ = 0)."""
    if sigma_S_per_m <= 0.0:
        return math.inf
    return math.sqrt(2.0 / (2.0 * math.pi * frequency_Hz * MU0_H_per_m * mu_r * sigma_S_per_m))


def sphere_polarizability(ka: complex) -> complex:
    """L&L §59 magnetic polarisability per unit volume factor α(ka) = −½[1 − 3/(ka)² + 3 cot(ka)/(ka)].

    For |ka| < 0.1 the series α = (ka)²/30 + 2(ka)⁴/630 … … is used to avoid cancellation:
    1 − 3/x² + 3cot(x)/x = −x²/15 − 2x⁴/315 − x⁶/1575 …
    """
    x = complex(ka)
    if abs(x) < 0.1:
        s = -(x**2) / 15.0 - 2.0 * x**4 / 315.0 - x**6 / 1575.0
    else:
        s = 1.0 - 3.0 / x**2 + 3.0 / (x * np.tan(x))
    return -0.5 * s


def sphere_exterior_H_peak_A_per_m(points_m: np.ndarray, *, radius_m: float, sigma_S_per_m: float,
                                   frequency_Hz: float, H0_peak_A_per_m: np.ndarray,
                                   centre_m: np.ndarray | None = None) -> np.ndarray:
    """Total peak phasor H (n, 3) complex OUTSIDE a conducting sphere in a uniform field, e^{jωt} convention.

    Outside the sphere (no currents) H = −∇Φ; the solution that tends to H0 and matches the interior
    Helmholtz solution is H0 plus the field of a point dipole at the centre (L&L §59):

        H = H0 + [3 (m·r̂) r̂ − m] / (4π r³),      m = 4π a³ α(ka) H0   (SI, A·m²),

    with α the function of :func:`sphere_polarizability`. L&L's α is derived for e^{−iωt} with
    k = (1 + i)/δ; α depends on k only through the Helmholtz equation ∇²H + k²H = 0 inside, which for
    e^{jωt} reads ∇²H − jωμ0σ H = 0, i.e. k² = −jωμ0σ, k = (1 − j)/δ: the same function of ka with
    the conjugate k (α is real-analytic, so α_j = conj(α_L&L)). Checks: a perfect conductor (ka → ∞,
    α → −½) has m = −2π a³ H0 and the normal field H·r̂ = 0 on the surface (poles: H0 + 2m/(4πa³) = 0);
    the time-averaged absorbed power is P = −½ ω μ0 Im(m · H0*) = 2π ω μ0 a³ H0² (−Im α_j)
    = 2π ω μ0 a³ H0² Im α_L&L, the loss of :func:`sphere_uniform_field_loss_W`.
    """
    X = np.asarray(points_m, float).reshape(-1, 3)
    c = np.zeros(3) if centre_m is None else np.asarray(centre_m, float)
    H0 = np.asarray(H0_peak_A_per_m, float).reshape(3)
    delta = skin_depth_m(sigma_S_per_m=sigma_S_per_m, frequency_Hz=frequency_Hz)
    alpha = 0.0 if not math.isfinite(delta) else sphere_polarizability((1.0 - 1.0j) / delta * radius_m)
    m = 4.0 * math.pi * radius_m**3 * alpha * H0  # (3,) complex
    r = X - c[None, :]
    rn = np.linalg.norm(r, axis=1)
    rhat = r / rn[:, None]
    mr = rhat @ m
    return H0[None, :] + (3.0 * mr[:, None] * rhat - m[None, :]) / (4.0 * math.pi * rn[:, None] ** 3)


def sphere_interior_E_peak_V_per_m(points_m: np.ndarray, *, radius_m: float, sigma_S_per_m: float,
                                   frequency_Hz: float, H0_peak_A_per_m: np.ndarray,
                                   centre_m: np.ndarray | None = None) -> np.ndarray:
    """Total peak phasor E (n, 3) complex INSIDE a conducting sphere in a uniform field, e^{jωt}.

    By symmetry E (and the vector potential, temporal gauge E = −jωA) is azimuthal about ĥ = H0/|H0|:
    A = A_φ(r) sinθ φ̂ with φ̂ sinθ = ĥ × r̂. Inside, ∇×∇×A + jωμ0σ A = 0 gives A_φ = C j1(kr)
    (spherical Bessel, k = (1 − j)/δ, k² = −jωμ0σ); outside, A_φ = μ0|H0| r/2 + μ0 m/(4π r²) (applied
    field plus the dipole of :func:`sphere_exterior_H_peak_A_per_m`, m = 4π a³ α |H0|). Continuity of
    A_φ at r = a (continuous B_r) fixes C = [μ0|H0| a/2 + μ0 m/(4π a²)] / j1(ka); the continuity of
    ∂(r A_φ)/∂r (B_θ) is what fixes α, so both conditions hold with L&L's α. E = −jω A. Limit ka → 0:
    C j1(kr) → μ0|H0| r/2 (E_φ = −jω μ0 H0 r sinθ / 2, the undisturbed induced field).
    """
    X = np.asarray(points_m, float).reshape(-1, 3)
    c = np.zeros(3) if centre_m is None else np.asarray(centre_m, float)
    H0v = np.asarray(H0_peak_A_per_m, float).reshape(3)
    H0 = float(np.linalg.norm(H0v))
    omega = 2.0 * math.pi * frequency_Hz
    delta = skin_depth_m(sigma_S_per_m=sigma_S_per_m, frequency_Hz=frequency_Hz)
    k = (1.0 - 1.0j) / delta
    alpha = sphere_polarizability(k * radius_m)
    m = 4.0 * math.pi * radius_m**3 * alpha * H0

    def j1(x: np.ndarray | complex) -> np.ndarray:
        x = np.asarray(x, complex)
        return np.sin(x) / x**2 - np.cos(x) / x

    C = (MU0_H_per_m * H0 * radius_m / 2.0 + MU0_H_per_m * m / (4.0 * math.pi * radius_m**2)) / j1(k * radius_m)
    r = X - c[None, :]
    rn = np.linalg.norm(r, axis=1)
    cross = np.cross(H0v[None, :] / H0, r) / np.where(rn > 0, rn, 1.0)[:, None]  # ĥ × r̂ = sinθ φ̂
    A_phi = np.where(rn > 0, C * j1(k * np.where(rn > 0, rn, 1.0)), 0.0)
    return -1j * omega * A_phi[:, None] * cross


def sphere_uniform_field_loss_W(*, radius_m: float, sigma_S_per_m: float, frequency_Hz: float,
                                H0_peak_A_per_m: float) -> float:
    """Time-averaged loss (W) of a non-magnetic conducting sphere in a uniform peak field H0 (L&L §59)."""
    omega = 2.0 * math.pi * frequency_Hz
    delta = skin_depth_m(sigma_S_per_m=sigma_S_per_m, frequency_Hz=frequency_Hz)
    if not math.isfinite(delta):
        return 0.0
    ka = (1.0 + 1.0j) / delta * radius_m
    alpha = sphere_polarizability(ka)
    return float(2.0 * math.pi * omega * MU0_H_per_m * radius_m**3 * H0_peak_A_per_m**2 * alpha.imag)


def sphere_low_frequency_loss_W(*, radius_m: float, sigma_S_per_m: float, frequency_Hz: float,
                                H0_peak_A_per_m: float) -> float:
    """a ≪ δ limit: P = π σ ω² μ0² H0² a⁵ / 15 (the tissue formula: E = −jω A0, no reaction field)."""
    omega = 2.0 * math.pi * frequency_Hz
    return math.pi * sigma_S_per_m * omega**2 * MU0_H_per_m**2 * H0_peak_A_per_m**2 * radius_m**5 / 15.0


def sphere_high_frequency_loss_W(*, radius_m: float, sigma_S_per_m: float, frequency_Hz: float,
                                 H0_peak_A_per_m: float) -> float:
    """a ≫ δ limit (surface impedance): P = 3π a² H0² / (σ δ)."""
    delta = skin_depth_m(sigma_S_per_m=sigma_S_per_m, frequency_Hz=frequency_Hz)
    return 3.0 * math.pi * radius_m**2 * H0_peak_A_per_m**2 / (sigma_S_per_m * delta)


def cylinder_axial_loss_per_length_W_per_m(*, radius_m: float, sigma_S_per_m: float, frequency_Hz: float,
                                           H0_peak_A_per_m: float) -> float:
    """Time-averaged loss per unit length (W/m) of an infinite cylinder in a uniform axial peak field H0.

    H_z(r) = H0 J0(κr)/J0(κa), κ = (1 − j)/δ (so κ² = −jωμ0σ for e^{jωt}); the azimuthal current
    J_φ = −∂H_z/∂r = H0 κ J1(κr)/J0(κa); P' = ∫0^a |J_φ|²/(2σ) 2πr dr, evaluated in closed form
    through the Poynting flux: P' = π a Re(E_φ(a) H_z*(a)) with E_φ = J_φ/σ (inward flux > 0).
    """
    delta = skin_depth_m(sigma_S_per_m=sigma_S_per_m, frequency_Hz=frequency_Hz)
    if not math.isfinite(delta):
        return 0.0
    kappa = (1.0 - 1.0j) / delta
    x = kappa * radius_m
    ratio = special.jv(1, x) / special.jv(0, x)
    E_phi = H0_peak_A_per_m * kappa * ratio / sigma_S_per_m
    # E × H* · r̂ = E_φ H_z* (φ̂ × ẑ = r̂): outward flux; the power flowing IN is its negative.
    return float(-math.pi * radius_m * (E_phi * np.conj(H0_peak_A_per_m)).real)


def cylinder_axial_low_frequency_loss_per_length_W_per_m(*, radius_m: float, sigma_S_per_m: float,
                                                         frequency_Hz: float, H0_peak_A_per_m: float) -> float:
    """a ≪ δ limit: E_φ = −jω μ0 H0 r/2, P' = π σ ω² μ0² H0² a⁴ / 16."""
    omega = 2.0 * math.pi * frequency_Hz
    return math.pi * sigma_S_per_m * omega**2 * MU0_H_per_m**2 * H0_peak_A_per_m**2 * radius_m**4 / 16.0


def cylinder_axial_loss_per_length_quadrature_W_per_m(*, radius_m: float, sigma_S_per_m: float,
                                                      frequency_Hz: float, H0_peak_A_per_m: float,
                                                      n: int = 200) -> float:
    """Same quantity by direct quadrature of ∫|J_φ|²/(2σ) 2πr dr (an independent check of the sign)."""
    delta = skin_depth_m(sigma_S_per_m=sigma_S_per_m, frequency_Hz=frequency_Hz)
    kappa = (1.0 - 1.0j) / delta
    r, w = np.polynomial.legendre.leggauss(n)
    r = 0.5 * radius_m * (r + 1.0)
    w = 0.5 * radius_m * w
    J = H0_peak_A_per_m * kappa * special.jv(1, kappa * r) / special.jv(0, kappa * radius_m)
    return float(np.sum(w * np.abs(J) ** 2 / (2.0 * sigma_S_per_m) * 2.0 * math.pi * r))


__all__ = [
    "MU0_H_per_m",
    "skin_depth_m",
    "sphere_polarizability",
    "sphere_exterior_H_peak_A_per_m",
    "sphere_interior_E_peak_V_per_m",
    "sphere_uniform_field_loss_W",
    "sphere_low_frequency_loss_W",
    "sphere_high_frequency_loss_W",
    "cylinder_axial_loss_per_length_W_per_m",
    "cylinder_axial_low_frequency_loss_per_length_W_per_m",
    "cylinder_axial_loss_per_length_quadrature_W_per_m",
]
