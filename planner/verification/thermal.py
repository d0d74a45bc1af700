"""Closed-form solutions of the Pennes equation used by the thermal benchmarks and tests.

Notation: θ = T − T_ref (K), Q uniform volumetric heat (W/m³) in a sphere of radius a, k thermal
conductivity (W m⁻¹ K⁻¹), β = w ρ_b c_b perfusion coefficient (W m⁻³ K⁻¹), m = √(β/k) (1/m),
κ = k/(ρc) thermal diffusivity (m²/s).
"""
from __future__ import annotations

import math

import numpy as np
from scipy import integrate, special


def sphere_steady(r_m: np.ndarray, *, a_m: float, Q_W_per_m3: float, k_in: float,
                  k_out: float | None = None) -> np.ndarray:
    """Steady θ(r) of a uniformly heated sphere in an infinite medium without perfusion, θ(∞) = 0.

    k∇²θ = −Q inside, 0 outside; continuity of θ and of k ∂θ/∂r at r = a (derived from
    θ_out = C/r, flux Q a³/(3r²) through every shell r > a):
        θ_out(r) = Q a³ / (3 k_out r),
        θ_in(r)  = Q a² / (3 k_out) + Q (a² − r²) / (6 k_in);
    with k_in = k_out = k: θ_in = Q a²/(6k) (3 − r²/a²).
    """
    k_out = k_in if k_out is None else k_out
    r = np.abs(np.asarray(r_m, dtype=float))
    inside = Q_W_per_m3 * a_m**2 / (3 * k_out) + Q_W_per_m3 * (a_m**2 - r**2) / (6 * k_in)
    with np.errstate(divide="ignore"):
        outside = Q_W_per_m3 * a_m**3 / (3 * k_out * np.maximum(r, 1e-300))
    return np.where(r <= a_m, inside, outside)


def sphere_steady_perfused(r_m: np.ndarray, *, a_m: float, Q_W_per_m3: float, k: float,
                           beta_W_per_m3_K: float) -> np.ndarray:
    """Steady θ(r) = T − T_a of a uniformly heated sphere in infinite perfused tissue (uniform k, β).

    k∇²θ − βθ + Q χ(r<a) = 0, θ → 0 at ∞. With m = √(β/k), regular at 0 and decaying at ∞,
    continuity of θ and θ' at a gives
        θ_in(r)  = (Q/β) [1 − (1 + m a) e^{−m a} sinh(m r)/(m r)],
        θ_out(r) = (Q/β) [m a cosh(m a) − sinh(m a)] e^{−m r}/(m r).
    """
    r = np.abs(np.asarray(r_m, dtype=float))
    m = math.sqrt(beta_W_per_m3_K / k)
    q = Q_W_per_m3 / beta_W_per_m3_K
    ma = m * a_m
    mr = np.maximum(m * r, 1e-12)
    inside = q * (1.0 - (1.0 + ma) * math.exp(-ma) * np.sinh(mr) / mr)
    outside = q * (ma * math.cosh(ma) - math.sinh(ma)) * np.exp(-mr) / mr
    return np.where(r <= a_m, inside, outside)


def _ball_indicator_evolved(r: float, s: float, a: float, kappa: float) -> float:
    """Solution at time s of the heat equation u_t = κ∇²u in R³ with u(0) = χ(|x| < a):
    u = ½[erf((a−r)/(2√(κs))) + erf((a+r)/(2√(κs)))] − √(κs/π)/r [e^{−(a−r)²/(4κs)} − e^{−(a+r)²/(4κs)}]
    (Carslaw & Jaeger 1959, §10.3); r → 0 limit: erf(a/√(4κs)) − a/√(πκs) e^{−a²/(4κs)}."""
    if s <= 0:
        return 1.0 if r < a else (0.5 if r == a else 0.0)
    d = 2.0 * math.sqrt(kappa * s)
    if r < 1e-9 * a:
        return math.erf(a / d) - 2.0 * a / (d * math.sqrt(math.pi)) * math.exp(-(a / d) ** 2)
    return 0.5 * (math.erf((a - r) / d) + math.erf((a + r) / d)) - math.sqrt(kappa * s / math.pi) / r * (
        math.exp(-((a - r) / d) ** 2) - math.exp(-((a + r) / d) ** 2))


def sphere_transient(r_m: np.ndarray, t_s: float, *, a_m: float, Q_W_per_m3: float, k: float,
                     rho_c_J_per_m3_K: float) -> np.ndarray:
    """θ(r, t) of a sphere heated uniformly from t = 0 in an infinite medium, no perfusion, θ(0) = 0.

    Duhamel: θ(r, t) = (Q/ρc) ∫₀ᵗ u(r, s) ds with u the heat-kernel evolution of the ball indicator
    (erf form, Carslaw & Jaeger 1959 §10.3; Andrä et al., Phys. Med. Biol. 44:2349, 1999). The time
    integral is evaluated by adaptive Gauss–Kronrod quadrature to 1e-10 relative accuracy; it tends
    to :func:`sphere_steady` as t → ∞.
    """
    kappa = k / rho_c_J_per_m3_K
    r = np.atleast_1d(np.abs(np.asarray(r_m, dtype=float)))
    out = np.empty(r.shape)
    for i, ri in enumerate(r.ravel()):
        val, _ = integrate.quad(lambda s, ri=ri: _ball_indicator_evolved(ri, s, a_m, kappa), 0.0, t_s,
                                epsabs=1e-12, epsrel=1e-10, limit=200,
                                points=[min(t_s, (abs(a_m - ri)) ** 2 / (4 * kappa))] if abs(a_m - ri) > 0 else None)
        out.ravel()[i] = Q_W_per_m3 / rho_c_J_per_m3_K * val
    return out.reshape(np.shape(r_m)) if np.ndim(r_m) else out[0]


def lumped_pennes(t_s: np.ndarray, *, T0_C: float, T_a_C: float, Q_W_per_m3: float, beta_W_per_m3_K: float,
                  rho_c_J_per_m3_K: float) -> np.ndarray:
    """0-D Pennes (isolated domain, uniform fields): ρc dT/dt = β(T_a − T) + Q, T(0) = T0:
    T(t) = T_∞ + (T0 − T_∞) e^{−βt/(ρc)}, T_∞ = T_a + Q/β."""
    T_inf = T_a_C + Q_W_per_m3 / beta_W_per_m3_K
    return T_inf + (T0_C - T_inf) * np.exp(-beta_W_per_m3_K * np.asarray(t_s, dtype=float) / rho_c_J_per_m3_K)


def lumped_blood_pool(t_s, *, T0_C: float, T_a0_C: float, Q_W_per_m3: float, beta_W_per_m3_K: float,
                      rho_c_J_per_m3_K: float, volume_m3: float, pool_J_per_K: float,
                      loss_W_per_K: float) -> tuple[np.ndarray, np.ndarray]:
    """0-D Pennes coupled to the blood pool (planner.thermal.systemic), from the resting state
    (T0 = T_a0 + q_met/β, balanced loss) with a source Q switched on at t = 0. Deviations u = T − T0,
    θ = T_a − T_a0 obey x' = A x + s,
        A = [[−β/ρc, β/ρc], [βV/C_p, −(βV + G)/C_p]],  s = [Q/ρc, 0],  x(0) = 0,
    so x(t) = x_∞ + Σ_k α_k v_k e^{λ_k t}, x_∞ = −A⁻¹ s, λ_k the (real, negative) eigenvalues of A
    with eigenvectors v_k = (A12, λ_k − A11), Σ α_k v_k = −x_∞. Returns (T(t), T_a(t)) in °C."""
    t = np.asarray(t_s, dtype=float)
    b, rc, V, C, G = beta_W_per_m3_K, rho_c_J_per_m3_K, volume_m3, pool_J_per_K, loss_W_per_K
    a11, a12, a21, a22 = -b / rc, b / rc, b * V / C, -(b * V + G) / C
    det = a11 * a22 - a12 * a21
    s1 = Q_W_per_m3 / rc
    x_inf = np.array([-a22 * s1 / det, a21 * s1 / det])  # −A⁻¹ s
    tr = a11 + a22
    disc = math.sqrt(tr * tr - 4.0 * det)
    lam = ((tr + disc) / 2.0, (tr - disc) / 2.0)
    vecs = np.array([[a12, a12], [lam[0] - a11, lam[1] - a11]])
    alpha = np.linalg.solve(vecs, -x_inf)
    u = x_inf[0] + sum(alpha[k] * vecs[0, k] * np.exp(lam[k] * t) for k in range(2))
    th = x_inf[1] + sum(alpha[k] * vecs[1, k] * np.exp(lam[k] * t) for k in range(2))
    return T0_C + u, T_a0_C + th


def slab_perfused(x_m: np.ndarray, *, L_m: float, T_end_C: float, T_a_C: float, Q_W_per_m3: float, k: float,
                  beta_W_per_m3_K: float) -> np.ndarray:
    """1-D steady slab 0 ≤ x ≤ L, T(0) = T(L) = T_end, k T'' + β(T_a − T) + Q = 0:
    T = T_p + (T_end − T_p) cosh(m(x − L/2)) / cosh(mL/2), T_p = T_a + Q/β, m = √(β/k)."""
    m = math.sqrt(beta_W_per_m3_K / k)
    Tp = T_a_C + Q_W_per_m3 / beta_W_per_m3_K
    x = np.asarray(x_m, dtype=float)
    return Tp + (T_end_C - Tp) * np.cosh(m * (x - L_m / 2)) / math.cosh(m * L_m / 2)


def cem43_constant(T_C: float, minutes: float) -> float:
    """CEM43 of a constant temperature held for ``minutes``: t·R^(43−T), R = 0.5 (T ≥ 43) else 0.25."""
    R = 0.5 if T_C >= 43.0 else 0.25
    return minutes * R ** (43.0 - T_C)


__all__ = ["sphere_steady", "sphere_steady_perfused", "sphere_transient", "lumped_pennes", "slab_perfused",
           "cem43_constant", "special"]
