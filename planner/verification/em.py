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
    return (2.0 * math.pi / 15.0 * sigma_S_per_m * w ** 2 * MU0_H_per_m ** 2 * H0_peak_A_per_m ** 2
            * a_m ** 3 * b_m ** 3 * c_m / (a_m ** 2 + b_m ** 2))


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


# --- perfectly conducting bodies in a uniform induced field (implants in the tissue solve) ------
# Electrostatic analogue of the low-frequency tissue problem: in a locally uniform induced field
# E0 = −jω F0 ẑ the field is E = −jω ∇Φ with ΔΦ = 0 outside the conductor, Φ = const on it and
# Φ → F0 z far away (zero net current into the conductor). Sources: Jackson (1999) §3.5 (sphere);
# Stratton, Electromagnetic Theory (1941) §3.27 and Landau & Lifshitz, ECM §3–4 (ellipsoid,
# depolarisation factors: tip field = E0/n for a conducting ellipsoid along its axis).
def conducting_sphere_field(points_m, radius_m: float, F0: float, center_m=(0.0, 0.0, 0.0)) -> np.ndarray:
    """∇Φ outside a perfectly conducting sphere (radius a) in a uniform field F0 ẑ:
    Φ = F0 z (1 − a³/r³); at the poles |∇Φ| = 3 F0, on the surface ∇Φ = 3 F0 cosθ r̂."""
    p = np.asarray(points_m, dtype=float) - np.asarray(center_m, dtype=float)
    r2 = np.einsum("ij,ij->i", p, p)
    r = np.sqrt(r2)
    a3 = radius_m ** 3
    z = p[:, 2]
    g = -F0 * a3 * z[:, None] * (-3.0 * p / (r ** 5)[:, None])  # −F0 a³ z ∇(r⁻³)
    g[:, 2] += F0 * (1.0 - a3 / r ** 3)
    return g


def prolate_depolarisation_factor(aspect: float) -> float:
    """Depolarisation factor n along the long axis of a prolate spheroid with c/a = ``aspect`` ≥ 1:
    n = (1 − e²)/e³ (artanh e − e), e = √(1 − 1/aspect²); sphere (aspect 1): 1/3.
    Aspect 3: n = 0.1087 (1/n = 9.20); aspect 10: n = 0.02030 (1/n = 49.3)."""
    if aspect <= 1.0 + 1e-9:
        return 1.0 / 3.0
    e = math.sqrt(1.0 - 1.0 / aspect ** 2)
    return (1.0 - e * e) / e ** 3 * (math.atanh(e) - e)


def _Q1(xi):
    return 0.5 * xi * np.log((xi + 1.0) / (xi - 1.0)) - 1.0


def _dQ1(xi):
    return 0.5 * np.log((xi + 1.0) / (xi - 1.0)) - xi / (xi * xi - 1.0)


def conducting_prolate_spheroid_field(points_m, a_m: float, c_m: float, F0: float,
                                      center_m=(0.0, 0.0, 0.0)) -> np.ndarray:
    """∇Φ outside a perfectly conducting prolate spheroid (semi-axes a, a, c > a along z) in F0 ẑ.

    Prolate spheroidal coordinates with focal half-distance f = √(c² − a²): z = f ξ η, the surface is
    ξ0 = c/f and ξ = (r₊ + r₋)/(2f) (r± distances to the foci (0, 0, ±f)). The uniform field is
    F0 f P1(ξ) P1(η); the decaying solution is Q1(ξ) P1(η), Q1(ξ) = (ξ/2) ln((ξ+1)/(ξ−1)) − 1, so

        Φ = F0 z (1 − h(ξ)),  h(ξ) = ξ0 Q1(ξ) / (ξ Q1(ξ0)),

    which vanishes on ξ = ξ0. At the tips |∇Φ| = F0/n (:func:`prolate_depolarisation_factor`)."""
    p = np.asarray(points_m, dtype=float) - np.asarray(center_m, dtype=float)
    f = math.sqrt(c_m * c_m - a_m * a_m)
    xi0 = c_m / f
    fp, fm = np.array([0.0, 0.0, f]), np.array([0.0, 0.0, -f])
    dp, dm = p - fp, p - fm
    rp, rm = np.linalg.norm(dp, axis=1), np.linalg.norm(dm, axis=1)
    xi = np.maximum((rp + rm) / (2.0 * f), 1.0 + 1e-12)
    grad_xi = (dp / rp[:, None] + dm / rm[:, None]) / (2.0 * f)
    q0 = float(_Q1(np.array(xi0)))
    h = xi0 * _Q1(xi) / (xi * q0)
    dh = xi0 * (_dQ1(xi) / xi - _Q1(xi) / xi ** 2) / q0
    z = p[:, 2]
    g = -F0 * (z * dh)[:, None] * grad_xi
    g[:, 2] += F0 * (1.0 - h)
    return g


def conductor_tip_enhancement(aspect: float) -> float:
    """|E_tip| / E0 = 1/n for a perfectly conducting prolate spheroid along the field (3 for a sphere)."""
    return 1.0 / prolate_depolarisation_factor(aspect)


def insulating_sphere_field(points_m, radius_m: float, F0: float, center_m=(0.0, 0.0, 0.0)) -> np.ndarray:
    """∇Φ outside an insulating sphere (n·∇Φ = 0 on r = a) in a uniform field F0 ẑ:
    Φ = F0 z (1 + a³/(2 r³)); pole field 0, equator field 1.5 F0."""
    p = np.asarray(points_m, dtype=float) - np.asarray(center_m, dtype=float)
    r = np.linalg.norm(p, axis=1)
    a3 = radius_m ** 3
    g = 0.5 * F0 * a3 * p[:, 2][:, None] * (-3.0 * p / (r ** 5)[:, None])
    g[:, 2] += F0 * (1.0 + 0.5 * a3 / r ** 3)
    return g


def cylinder_transverse_loss_W(sigma_S_per_m: float, frequency_Hz: float, H0_peak_A_per_m: float,
                               radius_m: float, length_m: float) -> float:
    """A length L of an infinitely long circular cylinder (radius R) with H0 ⟂ its axis: the currents run
    along the axis, E_z = −jω μ0 H0 y (y ⟂ H0 and the axis, from the axis; curl E = −jωμ0 H0 x̂,
    n·J = 0 on the mantle, no net current), so P = π σ ω² μ0² H0² R⁴ L / 8 and |E|max = ω μ0 H0 R. A
    slab of the cylinder (cut faces at both ends) must carry these currents through its cut faces."""
    w = 2.0 * math.pi * frequency_Hz
    return math.pi * sigma_S_per_m * w ** 2 * MU0_H_per_m ** 2 * H0_peak_A_per_m ** 2 * radius_m ** 4 * length_m / 8.0


# --- complex admittivity: a coated sphere carrying a uniform current ----------------------------
def coated_sphere_contrast(sigma_core, sigma_shell, a_m: float, b_m: float) -> complex:
    """Core field / F0 of :func:`coated_sphere_admittivity_field`: the contrast factor

        E_core / E_loc = 3σ2*/(σ1* + 2σ2*) / (1 + 2β (a/b)³),   β = (σ1* − σ2*)/(σ1* + 2σ2*),

    complex for complex admittivities σ* = σ + jωε (magnitude and phase); b → ∞ gives the inclusion in
    an unbounded body, 3σ2*/(σ1* + 2σ2*)."""
    s1, s2 = complex(sigma_core), complex(sigma_shell)
    beta = (s1 - s2) / (s1 + 2.0 * s2)
    return 3.0 * s2 / (s1 + 2.0 * s2) / (1.0 + 2.0 * beta * (a_m / b_m) ** 3)


def coated_sphere_admittivity_field(points_m, sigma_core, sigma_shell, a_m: float, b_m: float, F0: float,
                                    in_core: np.ndarray | None = None) -> np.ndarray:
    """F = A0 + ∇ψ (complex, (n,3); E = −jωF) in a core sphere r < a (admittivity σ1*) inside a shell
    a < r < b (σ2*), driven by a uniform A0 = F0 ẑ with the undisturbed current entering through the
    outer surface, n·σ2*(A0 + ∇ψ) = σ2* F0 n·ẑ on r = b (a locally uniform induced field E_loc = −jωF0
    whose current crosses the core's surface).

    Derivation: F = ∇Φ with ∇·σ*∇Φ = 0 in each layer; the l = 1 solutions are Φ1 = A r cosθ (core),
    Φ2 = (B r + C r⁻²) cosθ (shell). Continuity of Φ and of σ*∂Φ/∂r at r = a gives A = B + C/a³ and
    σ1* A = σ2*(B − 2C/a³), i.e. C = −β a³ B with β = (σ1* − σ2*)/(σ1* + 2σ2*) and A = (1 − β) B =
    3σ2*/(σ1* + 2σ2*) B; the flux condition ∂Φ/∂r = F0 cosθ at r = b gives B − 2C/b³ = F0, so
    B = F0/(1 + 2β(a/b)³). In the shell ∇Φ = B ẑ + C (ẑ/r³ − 3 z r/r⁵). The same algebra holds for
    complex σ*: every step is linear with complex coefficients (e^{jωt} phasors). ``in_core`` (bool per
    point) picks the formula (default r < a), e.g. by mesh region for points near the faceted interface."""
    p = np.asarray(points_m, dtype=float)
    s1, s2 = complex(sigma_core), complex(sigma_shell)
    beta = (s1 - s2) / (s1 + 2.0 * s2)
    B = F0 / (1.0 + 2.0 * beta * (a_m / b_m) ** 3)
    A, C = (1.0 - beta) * B, -beta * a_m ** 3 * B
    r = np.linalg.norm(p, axis=1)
    core = (r < a_m) if in_core is None else np.asarray(in_core, bool)
    out = np.zeros((len(p), 3), dtype=complex)
    out[core, 2] = A
    sh = ~core
    rs, z = r[sh], p[sh, 2]
    out[sh] = -3.0 * C * (z / rs ** 5)[:, None] * p[sh]
    out[sh, 2] += B + C / rs ** 3
    return out


def sphere_internal_E_rms_percentile(frequency_Hz: float, H0_peak_A_per_m: float, radius_m: float,
                                     q: float = 0.99) -> float:
    """Volume percentile q of the rms |E| in a conducting sphere in a uniform field H0: |E_peak| = ω μ0 H0 ρ/2
    (ρ the distance from the axis ∥ H0). The volume fraction with ρ > ρ0 is (1 − ρ0²/a²)^{3/2} (a cylinder
    of radius ρ0 cut from the ball), so ρ_q = a √(1 − (1 − q)^{2/3}) (q = 0.99: 0.9765 a) and the
    percentile is ω μ0 H0 ρ_q / (2√2) — the limit of the 2 mm cube value as cube/a → 0."""
    w = 2.0 * math.pi * frequency_Hz
    rho_q = radius_m * math.sqrt(1.0 - (1.0 - q) ** (2.0 / 3.0))
    return w * MU0_H_per_m * H0_peak_A_per_m * rho_q / (2.0 * math.sqrt(2.0))
