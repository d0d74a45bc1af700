"""Closed forms for the applied field and low-frequency eddy-current losses (benchmarks and tests).

Conventions: peak amplitudes, time-averaged losses P = ∫ σ|E_peak|²/2 dV, μ0 = 4π·1e-7 V·s/(A·m).
Low-frequency (quasi-static) limit throughout: skin depth ≫ body, the induced currents do not change H.

Sources: loop and solenoid fields — Jackson, Classical Electrodynamics, 3rd ed. (1999), §5.5 and
problem 5.33 (current sheet); Helmholtz pair — e.g. Smythe, Static and Dynamic Electricity (1950).
Conducting sphere in a uniform low-frequency field — Landau & Lifshitz, Electrodynamics of Continuous
Media (1984), §59 (low-frequency limit of the absorbed power); see also Smythe §10.
Ellipsoid: derived here (below) — the linear field E ∝ (−a²y, b²x, 0)/(a² + b²) is the unique
solenoidal, tangential-at-the-surface solution with ∇×E = −jωμ0H0 ẑ for an ellipsoid with semi-axes
a (x), b (y), c (z) in H0 ∥ z.
"""
from __future__ import annotations

import math

import numpy as np
from planner.units import MU0_H_per_m



# --- applied fields ------------------------------------------------------------------------------
def loop_on_axis_H(current_A: float, radius_m: float, z_m) -> np.ndarray:
    """Axial field (A/m) of a circular loop on its axis: H = I R² / (2 (R² + z²)^{3/2})."""
    z = np.asarray(z_m, dtype=float)
    return current_A * radius_m ** 2 / (2.0 * (radius_m ** 2 + z ** 2) ** 1.5)


def solenoid_on_axis_H(turns: int, current_A: float, radius_m: float, length_m: float, z_m) -> np.ndarray:
    """Axial field (A/m) of a finite current sheet (N turns over length L, radius R), centre at z = 0:
    H = (N I / 2L) [ (z + L/2)/√(R² + (z + L/2)²) − (z − L/2)/√(R² + (z − L/2)²) ]."""
    z = np.asarray(z_m, dtype=float)
    zp, zm = z + length_m / 2, z - length_m / 2
    return turns * current_A / (2.0 * length_m) * (zp / np.hypot(radius_m, zp) - zm / np.hypot(radius_m, zm))


def helmholtz_centre_H(turns: int, current_A: float, radius_m: float, spacing_m: float | None = None) -> float:
    """Centre field (A/m) of two coaxial N-turn loops of radius R, spacing d (default R):
    H = N I R² / (R² + d²/4)^{3/2}; for d = R this is (4/5)^{3/2} N I / R."""
    d = radius_m if spacing_m is None else spacing_m
    return float(turns * current_A * radius_m ** 2 / (radius_m ** 2 + d ** 2 / 4.0) ** 1.5)


# --- eddy-current losses -------------------------------------------------------------------------
def sphere_loss_W(sigma_S_per_m: float, frequency_Hz: float, H0_peak_A_per_m: float, radius_m: float) -> float:
    """Conducting sphere in a uniform field: E_φ = ω μ0 H0 r sinθ / 2 (peak), so
    P = π σ ω² μ0² H0² a⁵ / 15 (time-averaged, W)."""
    w = 2.0 * math.pi * frequency_Hz
    return math.pi * sigma_S_per_m * w ** 2 * MU0_H_per_m ** 2 * H0_peak_A_per_m ** 2 * radius_m ** 5 / 15.0


def concentric_spheres_loss_W(sigmas_S_per_m, radii_m, frequency_Hz: float, H0_peak_A_per_m: float) -> list[float]:
    """Loss per layer of concentric spheres (core first; radii increasing). The centred-gauge field
    E_φ = ω μ0 H0 r sinθ / 2 is tangential on every sphere, so it is the solution for any layering:
    P_k = π σ_k ω² μ0² H0² (r_k⁵ − r_{k−1}⁵) / 15."""
    out, r_prev = [], 0.0
    for s, r in zip(sigmas_S_per_m, radii_m):
        out.append(sphere_loss_W(s, frequency_Hz, H0_peak_A_per_m, r) - sphere_loss_W(s, frequency_Hz, H0_peak_A_per_m, r_prev))
        r_prev = r
    return out


def ellipsoid_E_over_jw(points_m, a_m: float, b_m: float, H0_peak_A_per_m: float, center_m=(0.0, 0.0, 0.0)) -> np.ndarray:
    """−E/(jω) = A0 + ∇ψ inside an ellipsoid (semi-axes a ∥ x, b ∥ y, any c ∥ z) in H0 ẑ:

        A0 + ∇ψ = μ0 H0 (−a² y, b² x, 0) / (a² + b²)   (coordinates relative to the centre).

    Derivation: with A0 = ½ μ0 H0 (−y, x, 0) try ψ = ½ μ0 H0 κ x y; then n·(A0 + ∇ψ) ∝
    xy[(κ−1)/a² + (κ+1)/b²] vanishes on the surface for κ = (b² − a²)/(a² + b²), and ∇²ψ = 0, so this
    ψ solves the Neumann problem (unique up to a constant)."""
    p = np.asarray(points_m, dtype=float) - np.asarray(center_m, dtype=float)
    f = MU0_H_per_m * H0_peak_A_per_m / (a_m ** 2 + b_m ** 2)
    return np.column_stack([-a_m ** 2 * p[:, 1] * f, b_m ** 2 * p[:, 0] * f, np.zeros(len(p))])


def ellipsoid_loss_W(sigma_S_per_m: float, frequency_Hz: float, H0_peak_A_per_m: float,
                     a_m: float, b_m: float, c_m: float) -> float:
    """Loss of a conducting ellipsoid (a ∥ x, b ∥ y, c ∥ z) in a uniform field H0 ∥ z:
    P = ½ σ ω² ∫|A0 + ∇ψ|² dV with ∫x² dV = 4π a³bc/15, ∫y² dV = 4π ab³c/15 gives

        P = (2π/15) σ ω² μ0² H0² a³ b³ c / (a² + b²)       (sphere a = b = c: π σ ω² μ0² H0² a⁵/15)."""
    w = 2.0 * math.pi * frequency_Hz
    return 2.0 * math.pi / 15.0 * sigma_S_per_m * w ** 2 * MU0_H_per_m ** 2 * H0_peak_A_per_m ** 2 * a_m ** 3 * b_m ** 3 * c_m / (a_m ** 2 + b_m ** 2)


def cylinder_axial_loss_W(sigma_S_per_m: float, frequency_Hz: float, H0_peak_A_per_m: float,
                          radius_m: float, length_m: float) -> float:
    """Finite circular cylinder (or thin disc) with its axis ∥ H0: E_φ = ω μ0 H0 r/2 is tangential on
    all faces, so P = π σ ω² μ0² H0² R⁴ L / 16 exactly (the infinite-cylinder value per length × L)."""
    w = 2.0 * math.pi * frequency_Hz
    return math.pi * sigma_S_per_m * w ** 2 * MU0_H_per_m ** 2 * H0_peak_A_per_m ** 2 * radius_m ** 4 * length_m / 16.0


def tet_integral_of_quadratic(points_m: np.ndarray, cells: np.ndarray, field) -> np.ndarray:
    """Exact per-cell ∫|F|² dV (m³·units²) for a field F linear in the coordinates (a callable on (n,3)
    points): 4-point Gauss rule on tetrahedra, barycentric (a, b, b, b), weights V/4, exact for degree 2.
    Used to integrate a closed-form field over the *discrete* (polyhedral) domain, which separates the
    FE error from the geometric error of straight-sided tetrahedra on curved surfaces."""
    x = points_m[cells]  # (M, 4, 3)
    d = np.cross(x[:, 1] - x[:, 0], x[:, 2] - x[:, 0])
    vol = np.abs(np.einsum("ij,ij->i", d, x[:, 3] - x[:, 0])) / 6.0
    # exact degree-2 rule: 4 points at barycentric (a, b, b, b), a = 0.5854101966249685, weight V/4
    a, b = 0.5854101966249685, 0.1381966011250105
    acc = np.zeros(len(cells))
    for k in range(4):
        lam = np.full(4, b)
        lam[k] = a
        q = np.einsum("i,mij->mj", lam, x)
        F = field(q)
        acc += np.einsum("ij,ij->i", F, F)
    return acc * vol / 4.0
