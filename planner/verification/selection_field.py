"""References for field-free-region (FFR) heating, independent of the planner's models.

Maxwell (anti-Helmholtz) pair: two coaxial loops of radius R at z = ±d carrying ±N I (the loop at +d
positive about +z). On the axis (Biot–Savart of a loop, e.g. Jackson §5.5):

    B_z(z) = μ0 N I R²/2 · [ (R² + (z − d)²)^{−3/2} − (R² + (z + d)²)^{−3/2} ]
    G = ∂B_z/∂z (0) = 3 μ0 N I R² d / (R² + d²)^{5/2}          (radial gradient −G/2)

with d = √3 R/2 (Maxwell spacing) the z³ term vanishes.

Brownian rotational Fokker–Planck equation (rigid dipoles, Debye/Brown; Coffey W.T., Kalmykov Yu.P.
2012, "The Langevin Equation", 3rd ed., World Scientific, §7 — the moment recurrence in a field along
z): with f_n = ⟨P_n(cos ϑ)⟩, f_0 = 1,

    (2 τB / (n(n+1))) df_n/dt + f_n = ξ(t)/(2n+1) · (f_{n−1} − f_{n+1}),   ξ(t) = ξ_dc + ξ_ac cos ωt,

truncated at n = N (f_{N+1} = 0), integrated over one period by Crank–Nicolson and the periodic state
solved from the period map. The magnetisation is m = f_1; the loss per cycle ∮ ξ dm. This is the exact
dynamics of freely rotating rigid dipoles — an independent computation of the bias suppression the
kinetic SLP model (planner.nanoparticles.slp.nonlinear) approximates with an effective relaxation time.
"""
from __future__ import annotations

import math

import numpy as np

from planner.units import MU0_H_per_m


def maxwell_pair_on_axis_Bz_T(z_m: np.ndarray, *, radius_m: float, half_spacing_m: float, turns: int,
                              current_A: float) -> np.ndarray:
    z = np.asarray(z_m, dtype=float)
    R2 = radius_m**2
    d = half_spacing_m
    return 0.5 * MU0_H_per_m * turns * current_A * R2 * ((R2 + (z - d) ** 2) ** -1.5 - (R2 + (z + d) ** 2) ** -1.5)


def maxwell_pair_gradient_T_per_m(*, radius_m: float, half_spacing_m: float, turns: int, current_A: float) -> float:
    R2, d = radius_m**2, half_spacing_m
    return 3.0 * MU0_H_per_m * turns * current_A * R2 * d / (R2 + d * d) ** 2.5


def ffr_fwhm_estimate_m(half_power_bias_A_per_m: float, gradient_T_per_m: float) -> float:
    """FWHM of the heating profile across a linear gradient: |H_dc| = G|x|/μ0 halves the SLP at
    |x| = μ0 H_½ / G, so FWHM = 2 μ0 H_½ / G."""
    return 2.0 * MU0_H_per_m * half_power_bias_A_per_m / gradient_T_per_m


def fwhm_of_profile_m(x_m: np.ndarray, p: np.ndarray) -> float:
    """Full width at half maximum of a single-peaked sampled profile (linear interpolation at the edges)."""
    x = np.asarray(x_m, dtype=float)
    y = np.asarray(p, dtype=float)
    i = int(np.argmax(y))
    half = 0.5 * y[i]
    left = i
    while left > 0 and y[left] > half:
        left -= 1
    right = i
    while right < y.size - 1 and y[right] > half:
        right += 1
    if y[left] > half or y[right] > half:
        raise ValueError("profile does not fall to half its maximum inside the sampled range")
    xl = x[left] + (half - y[left]) * (x[left + 1] - x[left]) / (y[left + 1] - y[left])
    xr = x[right - 1] + (half - y[right - 1]) * (x[right] - x[right - 1]) / (y[right] - y[right - 1])
    return float(xr - xl)


def brownian_fpe_loss(xi_ac: float, xi_dc: float, omega_tauB: float, *, moments: int = 40,
                      steps: int = 4000) -> float:
    """∮ ξ dm per cycle of the Brownian Fokker–Planck moment system at its periodic steady state.

    Time in units of 1/ω; Crank–Nicolson over one period; the period map y(T) = Φ y(0) + c is built
    alongside and the periodic state y(0) = (I − Φ)⁻¹ c solved directly."""
    N = int(moments)
    n = np.arange(1, N + 1, dtype=float)
    rate = n * (n + 1) / (2.0 * omega_tauB)  # 1/(time in 1/ω)
    dt = 2.0 * math.pi / steps

    def operator(xi: float) -> tuple[np.ndarray, np.ndarray]:
        """df/dt = A f + s for the field ξ."""
        A = np.diag(-rate)
        c = rate * xi / (2.0 * n + 1.0)
        A[np.arange(1, N), np.arange(0, N - 1)] += c[1:]  # + c_n f_{n-1}
        A[np.arange(0, N - 1), np.arange(1, N)] -= c[:-1]  # − c_n f_{n+1}
        s = np.zeros(N)
        s[0] = c[0]  # f_0 = 1
        return A, s

    eye = np.eye(N)
    Phi = np.eye(N)
    cvec = np.zeros(N)
    steps_ops = []
    for k in range(steps):
        xi_m = xi_dc + xi_ac * math.cos((k + 0.5) * dt)
        A, s = operator(xi_m)
        L = eye - 0.5 * dt * A
        R = eye + 0.5 * dt * A
        M = np.linalg.solve(L, R)
        q = np.linalg.solve(L, dt * s)
        Phi = M @ Phi
        cvec = M @ cvec + q
        steps_ops.append((M, q, xi_m))
    y = np.linalg.solve(eye - Phi, cvec)
    area = 0.0
    for M, q, xi_m in steps_ops:
        y1 = M @ y + q
        area += xi_m * (y1[0] - y[0])
        y = y1
    return float(area)


def debye_loss(xi_ac: float, omega_tau: float) -> float:
    """Linear-response ∮ ξ dm = π ξ_ac² /3 · ωτ/(1 + (ωτ)²) (the small-field limit of both models)."""
    return math.pi * xi_ac**2 / 3.0 * omega_tau / (1.0 + omega_tau**2)
