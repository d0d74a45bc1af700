"""SLP model ``linear-response``: Rosensweig (2002) with a log-normal core-size distribution.

``linear-response``
    Rosensweig, R.E. (2002) J. Magn. Magn. Mater. 252:370–374 (see :mod:`planner.verification.nanoparticles`
    for the formulas): Néel and Brown relaxation in parallel, Langevin-reduced χ0, a log-normal
    core-size NUMBER distribution (median D_med, width σ_ln) and a hydrodynamic coating shell δ.
    "Particle" mass means the magnetic oxide core (the coating is not counted); ``per_g_Fe`` divides
    by the stoichiometric iron mass fraction. SLP is independent of the volume fraction φ (dilute,
    non-interacting particles), so dipolar interactions and aggregation are not modelled.

    Polydispersity: the oxide mass in [D, D+dD] is ∝ D³ n(D), which is again log-normal with median
    D_v = D_med·e^{3σ²}. With u = ln(D/D_v)/σ ~ N(0, 1),

        SLP(H) = C H² ∫ A(u) g(b(u) H) du,   A(u) = V(u) R(u) φ(u),   C = μ0² π Ms² f / (3 k T ρ),

    R = 2πfτ/(1+(2πfτ)²) and g the Langevin reduction (see :mod:`._kernels`). A(u) does not depend
    on H but can be sharply peaked (τN ∝ e^{KV/kT}); g(b(u)H) is smooth in u. The rule is built once
    per frequency in two steps: (1) A(u) on a composite 8-point Gauss–Legendre discretisation of
    u ∈ [3σ − 9, 3σ + 9] (``fine_panels`` panels, resolves the relaxation peak; the mass outside is
    < 1e-18); (2) the m-point Gauss rule of the positive measure A(u)du from that discrete measure by
    the Lanczos process with full re-orthogonalisation (Gautschi 2004, "Orthogonal Polynomials:
    Computation and Approximation", §2.2.3). The per-point sum Σ_j W_j g(b_j H) is then exact for
    polynomials in u of degree 2m−1 and converges geometrically in m for the smooth g; the Numba
    kernel evaluates it at 10⁶ points in milliseconds.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import linalg, special

from planner.config.registry import SLP_MODELS
from planner.config.schema import non_negative, one_of, positive, spec
from planner.errors import InputError, bad_value
from planner.nanoparticles import _kernels
from planner.nanoparticles.materials import MATERIALS
from planner.nanoparticles.slp.base import _FRACTION, _MASS_BASIS, MASS_BASES
from planner.units import ZERO_C_K, KB_J_per_K, MU0_H_per_m

log = logging.getLogger(__name__)

_MATERIAL_NAMES = tuple(MATERIALS)


@dataclass(frozen=True)
class LinearResponseSection:
    """[nanoparticles.linear_response]: Rosensweig (2002) model, log-normal core sizes."""

    PLAN_SECTION = '[nanoparticles.linear_response]'

    median_diameter_nm: float = spec(check=positive,
                                     expected="a positive core diameter in nm (median of the log-normal number "
                                              "distribution)")
    material: str = spec("magnetite", check=one_of(*_MATERIAL_NAMES)[0], expected=one_of(*_MATERIAL_NAMES)[1])
    sigma_ln: float = spec(0.0, check=lambda s: math.isfinite(s) and 0.0 <= s <= 1.0,
                           expected="a log-normal width σ_ln in [0, 1] (0 = monodisperse)")
    shell_thickness_nm: float | None = spec(None, check=non_negative,
                                            expected="a non-negative coating thickness in nm (hydrodynamic diameter = "
                                                     "core + 2 × shell)")
    viscosity_mPa_s: float = spec(0.692, check=positive,
                                  expected="a positive viscosity in mPa·s (water at 37 °C: 0.692)")
    brownian: bool = spec(True, help="false: Brownian rotation blocked (particles immobilised in cells/tissue)")
    temperature_C: float = spec(37.0, check=lambda t: math.isfinite(t) and -50.0 < t < 200.0,
                                expected="a temperature in °C")
    tau0_s: float = spec(1e-9, check=positive, expected="a positive attempt time τ0 in s (Rosensweig 2002: 1e-9)")
    saturation_magnetization_kA_per_m: float | None = spec(None, check=positive, expected="a positive Ms in kA/m")
    anisotropy_kJ_per_m3: float | None = spec(None, check=positive,
                                              expected="a positive anisotropy constant K in kJ/m³")
    density_kg_per_m3: float | None = spec(None, check=positive, expected="a positive core density in kg/m³")
    iron_mass_fraction: float | None = spec(None, check=_FRACTION[0], expected=_FRACTION[1])
    mass_basis: str = spec("per_g_Fe", check=_MASS_BASIS[0], expected=_MASS_BASIS[1])
    quadrature_nodes: int = spec(0, check=lambda n: n == 0 or 1 <= n <= 64,
                                 expected="0 (automatic, 1e-10 target) or an integer in 1..64 (Gauss nodes over the "
                                          "size distribution)")
    fine_panels: int = spec(0, check=lambda n: n == 0 or 2 <= n <= 4096,
                            expected="0 (automatic) or an integer in 2..4096 (8-point Gauss–Legendre panels)")
    linear_response_warning_fraction: float = spec(0.1, check=lambda w: math.isfinite(w) and 0.0 <= w <= 1.0,
                                                   expected="a mass fraction in [0, 1]")

    def validate(self, path: str) -> None:
        if self.brownian and self.shell_thickness_nm is None:
            raise InputError(f"{path}.shell_thickness_nm: missing; expected a coating thickness in nm when brownian = "
                             "true")


@dataclass(frozen=True)
class LinearResponseParameters:
    """Resolved SI parameters of the linear-response model (checked on construction)."""

    median_diameter_m: float
    sigma_ln: float
    shell_thickness_m: float
    Ms_A_per_m: float
    K_J_per_m3: float
    density_kg_per_m3: float
    iron_mass_fraction: float
    viscosity_Pa_s: float
    T_K: float
    tau0_s: float = 1e-9
    brownian: bool = True
    neel: bool = True  # False only for verification (pure-Brown limit)
    mass_basis: str = "per_g_Fe"
    quadrature_nodes: int = 0  # 0 = automatic
    fine_panels: int = 0  # 0 = automatic
    warning_fraction: float = 0.1
    material: str = "custom"
    key_prefix: str = "nanoparticles.linear_response"

    def __post_init__(self) -> None:
        p = self.key_prefix
        checks = [
            ("median_diameter_nm", self.median_diameter_m * 1e9, self.median_diameter_m > 0,
             "a positive diameter (nm)"),
            ("sigma_ln", self.sigma_ln, 0.0 <= self.sigma_ln <= 1.0, "a log-normal width in [0, 1]"),
            ("shell_thickness_nm", self.shell_thickness_m * 1e9, self.shell_thickness_m >= 0,
             "a non-negative thickness (nm)"),
            ("saturation_magnetization_kA_per_m", self.Ms_A_per_m / 1e3, self.Ms_A_per_m > 0, "a positive Ms"),
            ("anisotropy_kJ_per_m3", self.K_J_per_m3 / 1e3, self.K_J_per_m3 > 0, "a positive K"),
            ("density_kg_per_m3", self.density_kg_per_m3, self.density_kg_per_m3 > 0, "a positive density"),
            ("iron_mass_fraction", self.iron_mass_fraction, 0 < self.iron_mass_fraction <= 1, "a fraction in (0, 1]"),
            ("viscosity_mPa_s", self.viscosity_Pa_s * 1e3, self.viscosity_Pa_s > 0, "a positive viscosity"),
            ("temperature_C", self.T_K - ZERO_C_K, self.T_K > 0, "a temperature above absolute zero"),
            ("tau0_s", self.tau0_s, self.tau0_s > 0, "a positive attempt time"),
            ("quadrature_nodes", self.quadrature_nodes, self.quadrature_nodes == 0 or 1 <= self.quadrature_nodes <= 64,
             "0 (automatic) or an integer in 1..64"),
            ("fine_panels", self.fine_panels, self.fine_panels == 0 or 2 <= self.fine_panels <= 4096,
             "0 (automatic) or an integer in 2..4096"),
        ]
        for key, shown, ok, expected in checks:
            value = float(shown)
            if not (math.isfinite(value) and ok):
                raise InputError(bad_value(f"{p}.{key}", shown, expected))
        if self.mass_basis not in MASS_BASES:
            raise InputError(bad_value(f"{p}.mass_basis", self.mass_basis, "'per_g_Fe' or 'per_g_particle'"))
        if not (self.neel or self.brownian):
            raise InputError(f"{p}: Néel and Brown relaxation both disabled; expected at least one mechanism")


@dataclass(frozen=True)
class SizeRule:
    """Gauss rule over the mass-weighted size distribution at one frequency.

    SLP(H) [W/kg oxide] = C · H² · Σ_j W_j g(b_j H); ``D_m`` the node diameters; ``nodes`` and
    ``panels`` as used; ``rel_error_estimate`` the largest relative change of SLP over the test
    fields between the last two node counts (automatic mode) or NaN (fixed counts)."""

    frequency_Hz: float
    D_m: np.ndarray
    b_m_per_A: np.ndarray
    W: np.ndarray
    C: float
    nodes: int = 1
    panels: int = 0
    rel_error_estimate: float = float("nan")

    def slp_W_per_kg(self, H_peak_A_per_m: np.ndarray) -> np.ndarray:
        return _kernels.slp_sum_numpy(np.atleast_1d(H_peak_A_per_m), self.b_m_per_A, self.W, self.C)


#: Fields (A/m, peak) at which the automatic node count is checked, 10 A/m … 100 kA/m.
AUTO_TEST_FIELDS_A_per_m = np.geomspace(10.0, 1e5, 17)
AUTO_NODES = (8, 12, 16, 20, 24, 32, 40, 48, 64)
AUTO_RTOL = 1e-10


def _lanczos_gauss(x: np.ndarray, w: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """m-point Gauss rule of the discrete measure Σ w_k δ(x − x_k), w_k ≥ 0 (Lanczos with full
    re-orthogonalisation; nodes = eigenvalues of the Jacobi matrix, weights = M0 · v_0j²)."""
    M0 = float(w.sum())
    q = np.sqrt(w / M0)
    m = min(m, int(np.count_nonzero(w > 0)))
    Q = np.zeros((m, x.size))
    alpha = np.zeros(m)
    beta = np.zeros(max(m - 1, 0))
    Q[0] = q
    for j in range(m):
        r = x * Q[j]
        alpha[j] = Q[j] @ r
        r -= alpha[j] * Q[j]
        if j > 0:
            r -= beta[j - 1] * Q[j - 1]
        for _ in range(2):  # full re-orthogonalisation, twice is enough (Parlett)
            r -= Q[: j + 1].T @ (Q[: j + 1] @ r)
        if j + 1 < m:
            beta[j] = float(np.linalg.norm(r))
            if beta[j] <= 1e-14 * max(1.0, abs(alpha[j])):
                m = j + 1
                alpha, beta = alpha[:m], beta[: m - 1]
                break
            Q[j + 1] = r / beta[j]
    if m == 1:
        return alpha[:1].copy(), np.array([M0])
    theta, V = linalg.eigh_tridiagonal(alpha, beta)
    return theta, M0 * V[0] ** 2


def _volume_and_R(p: LinearResponseParameters, D: np.ndarray, frequency_Hz: float) -> tuple[np.ndarray, np.ndarray]:
    """Core volume V and relaxation factor R = ωτ/(1+(ωτ)²), 1/τ = 1/τN + 1/τB (log-space τN)."""
    kT = KB_J_per_K * p.T_K
    omega = 2.0 * math.pi * frequency_Hz
    V = math.pi * D**3 / 6.0
    rate = np.zeros_like(D)
    if p.neel:
        gam = p.K_J_per_m3 * V / kT
        ln_tauN = math.log(0.5 * math.sqrt(math.pi) * p.tau0_s) + gam - 0.5 * np.log(gam)
        rate = rate + np.exp(-np.minimum(ln_tauN, 700.0)) * (ln_tauN < 700.0)
    if p.brownian:
        VH = math.pi * (D + 2.0 * p.shell_thickness_m) ** 3 / 6.0
        rate = rate + kT / (3.0 * p.viscosity_Pa_s * VH)
    with np.errstate(divide="ignore", over="ignore"):
        wt = np.where(rate > 0, omega / np.where(rate > 0, rate, 1.0), np.inf)  # ωτ
    R = np.where(np.isfinite(wt), 1.0 / (wt + 1.0 / np.where(wt > 0, wt, np.inf)), 0.0)
    return V, R


def _fine_measure(p: LinearResponseParameters, frequency_Hz: float, panels: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes u and weights w of the composite 8-point Gauss–Legendre discretisation of A(u)du."""
    s = p.sigma_ln
    Dv = p.median_diameter_m * math.exp(3.0 * s * s)
    xg, wg = special.roots_legendre(8)
    edges = np.linspace(3.0 * s - 9.0, 3.0 * s + 9.0, panels + 1)
    half = 0.5 * (edges[1:] - edges[:-1])
    mid = 0.5 * (edges[1:] + edges[:-1])
    u = (mid[:, None] + half[:, None] * xg[None, :]).ravel()
    wu = (half[:, None] * wg[None, :]).ravel()
    V, R = _volume_and_R(p, Dv * np.exp(s * u), frequency_Hz)
    return u, wu * V * R * np.exp(-0.5 * u * u) / math.sqrt(2.0 * math.pi)


def _rule_from_measure(p: LinearResponseParameters, frequency_Hz: float, u: np.ndarray, w: np.ndarray, m: int,
                       panels: int) -> SizeRule:
    kT = KB_J_per_K * p.T_K
    C = MU0_H_per_m**2 * math.pi * p.Ms_A_per_m**2 * frequency_Hz / (3.0 * kT * p.density_kg_per_m3)
    Dv = p.median_diameter_m * math.exp(3.0 * p.sigma_ln**2)
    if not np.any(w > 0):
        return SizeRule(frequency_Hz, np.array([Dv]), np.array([0.0]), np.array([0.0]), C, 1, panels)
    scale = float(w.max())  # the measure scaled to O(1) for the Lanczos process
    un, Wn = _lanczos_gauss(u, w / scale, m)
    Dn = Dv * np.exp(p.sigma_ln * un)
    Vn = math.pi * Dn**3 / 6.0
    return SizeRule(frequency_Hz, Dn, MU0_H_per_m * p.Ms_A_per_m * Vn / kT, Wn * scale, C, len(un), panels)


def build_size_rule(p: LinearResponseParameters, frequency_Hz: float, *, nodes: int | None = None,
                    panels: int | None = None) -> SizeRule:
    """Gauss rule for the polydisperse integral at ``frequency_Hz`` (see module docstring).

    ``nodes``/``panels`` default to the parameters; 0 means automatic: panels double from 32 until
    the mass, mean and variance of the measure A(u)du change by < 1e-13 (relative), then the node
    count grows through 8, 12, …, 64 until SLP at :data:`AUTO_TEST_FIELDS_A_per_m` changes by less
    than :data:`AUTO_RTOL` (relative) between successive counts.
    """
    if not (math.isfinite(frequency_Hz) and frequency_Hz > 0):
        raise InputError(bad_value("frequency_Hz", frequency_Hz, "a positive frequency"))
    m = p.quadrature_nodes if nodes is None else nodes
    n_pan = p.fine_panels if panels is None else panels
    if p.sigma_ln == 0.0:
        kT = KB_J_per_K * p.T_K
        C = MU0_H_per_m**2 * math.pi * p.Ms_A_per_m**2 * frequency_Hz / (3.0 * kT * p.density_kg_per_m3)
        D = np.array([p.median_diameter_m])
        V, R = _volume_and_R(p, D, frequency_Hz)
        return SizeRule(frequency_Hz, D, MU0_H_per_m * p.Ms_A_per_m * V / kT, V * R, C, 1, 0, 0.0)
    if n_pan == 0:
        n_pan, prev = 32, None
        while True:
            u, w = _fine_measure(p, frequency_Hz, n_pan)
            M0 = w.sum()
            mom = np.array([M0, (w * u).sum() / M0, (w * u * u).sum() / M0]) if M0 > 0 else np.zeros(3)
            if prev is not None and np.all(np.abs(mom - prev) <= 1e-13 * np.maximum(np.abs(mom), 1.0)):
                break
            if n_pan >= 4096:
                break
            prev, n_pan = mom, 2 * n_pan
    else:
        u, w = _fine_measure(p, frequency_Hz, n_pan)
    if m != 0:
        return _rule_from_measure(p, frequency_Hz, u, w, m, n_pan)
    prev_rule, prev_val = None, None
    for m_try in AUTO_NODES:
        rule = _rule_from_measure(p, frequency_Hz, u, w, m_try, n_pan)
        val = rule.slp_W_per_kg(AUTO_TEST_FIELDS_A_per_m)
        if prev_val is not None:
            err = float(np.max(np.abs(val - prev_val) / np.maximum(np.abs(val), 1e-300)))
            if err < AUTO_RTOL or m_try == AUTO_NODES[-1] or rule.nodes <= prev_rule.nodes:
                return SizeRule(rule.frequency_Hz, rule.D_m, rule.b_m_per_A, rule.W, rule.C, rule.nodes, n_pan, err)
        prev_rule, prev_val = rule, val
    raise AssertionError("unreachable")


class LinearResponseModel:
    """Rosensweig (2002) linear-response SLP with log-normal polydispersity (module docstring)."""

    name = "linear-response"

    def __init__(self, params: LinearResponseParameters) -> None:
        self.p = params
        self.mass_basis = params.mass_basis
        self.iron_mass_fraction: float | None = params.iron_mass_fraction
        self._rules: dict[float, SizeRule] = {}

    @classmethod
    def from_section(cls, sec: Any, base_dir: Path | None = None) -> LinearResponseModel:
        mat = MATERIALS[sec.material]
        pick = lambda v, scale, default: default if v is None else v * scale  # noqa: E731
        return cls(LinearResponseParameters(
            median_diameter_m=sec.median_diameter_nm * 1e-9,
            sigma_ln=sec.sigma_ln,
            shell_thickness_m=(sec.shell_thickness_nm or 0.0) * 1e-9,
            Ms_A_per_m=pick(sec.saturation_magnetization_kA_per_m, 1e3, mat.saturation_magnetization_A_per_m),
            K_J_per_m3=pick(sec.anisotropy_kJ_per_m3, 1e3, mat.anisotropy_J_per_m3),
            density_kg_per_m3=pick(sec.density_kg_per_m3, 1.0, mat.density_kg_per_m3),
            iron_mass_fraction=pick(sec.iron_mass_fraction, 1.0, mat.iron_mass_fraction),
            viscosity_Pa_s=sec.viscosity_mPa_s * 1e-3,
            T_K=sec.temperature_C + ZERO_C_K,
            tau0_s=sec.tau0_s,
            brownian=sec.brownian,
            mass_basis=sec.mass_basis,
            quadrature_nodes=sec.quadrature_nodes,
            fine_panels=sec.fine_panels,
            warning_fraction=sec.linear_response_warning_fraction,
            material=sec.material,
        ))

    def rule(self, frequency_Hz: float) -> SizeRule:
        key = float(frequency_Hz)
        if key not in self._rules:
            self._rules[key] = build_size_rule(self.p, key)
        return self._rules[key]

    def _basis_factor(self) -> float:
        """W/kg oxide → W/g of the stated basis."""
        return 1e-3 / (self.p.iron_mass_fraction if self.mass_basis == "per_g_Fe" else 1.0)

    def slp_W_per_g(self, H_peak_A_per_m: np.ndarray, frequency_Hz: float) -> np.ndarray:
        H = np.asarray(H_peak_A_per_m, dtype=float)
        r = self.rule(frequency_Hz)
        out = _kernels.slp_sum(H.ravel(), r.b_m_per_A, r.W, r.C * self._basis_factor())
        return out.reshape(H.shape)

    def slp_W_per_g_numpy(self, H_peak_A_per_m: np.ndarray, frequency_Hz: float) -> np.ndarray:
        """Same as :meth:`slp_W_per_g` through the NumPy reference sum (tests, benchmarks)."""
        H = np.asarray(H_peak_A_per_m, dtype=float)
        r = self.rule(frequency_Hz)
        return _kernels.slp_sum_numpy(H.ravel(), r.b_m_per_A, r.W, r.C * self._basis_factor()).reshape(H.shape)

    def xi_gt_1_mass_fraction(self, H_peak_A_per_m: float) -> float:
        """Mass fraction of the cores with ξ = μ0 Ms V H/kT > 1 at field H (outside linear response)."""
        H = float(H_peak_A_per_m)
        if H <= 0:
            return 0.0
        V_star = KB_J_per_K * self.p.T_K / (MU0_H_per_m * self.p.Ms_A_per_m * H)
        D_star = (6.0 * V_star / math.pi) ** (1.0 / 3.0)
        if self.p.sigma_ln == 0.0:
            return 1.0 if self.p.median_diameter_m > D_star else 0.0
        Dv = self.p.median_diameter_m * math.exp(3.0 * self.p.sigma_ln**2)
        return float(special.ndtr(-math.log(D_star / Dv) / self.p.sigma_ln))

    def field_diagnostics(self, H_peak_A_per_m: np.ndarray, frequency_Hz: float) -> dict:
        H = np.asarray(H_peak_A_per_m, dtype=float)
        Hmax = float(H.max()) if H.size else 0.0
        frac = self.xi_gt_1_mass_fraction(Hmax)
        warn = frac > self.p.warning_fraction
        if warn:
            log.warning(
                "linear-response SLP: at the highest particle-weighted field %.3g kA/m, %.0f %% of the particle mass "
                "has ξ = μ0 Ms V H/kT > 1 (outside linear response; threshold %.0f %%): SLP is approximate",
                Hmax / 1e3, 100 * frac, 100 * self.p.warning_fraction)
        return {"linear_response_warning": bool(warn), "xi_gt_1_mass_fraction_at_max_H": frac,
                "max_H_peak_A_per_m": Hmax}

    def describe(self) -> dict:
        p = self.p
        return {
            "material": p.material,
            "median_diameter_nm": p.median_diameter_m * 1e9,
            "sigma_ln": p.sigma_ln,
            "shell_thickness_nm": p.shell_thickness_m * 1e9,
            "saturation_magnetization_kA_per_m": p.Ms_A_per_m / 1e3,
            "anisotropy_kJ_per_m3": p.K_J_per_m3 / 1e3,
            "density_kg_per_m3": p.density_kg_per_m3,
            "iron_mass_fraction": p.iron_mass_fraction,
            "viscosity_mPa_s": p.viscosity_Pa_s * 1e3,
            "brownian": p.brownian,
            "temperature_C": p.T_K - ZERO_C_K,
            "tau0_s": p.tau0_s,
            "source": "Rosensweig 2002, J. Magn. Magn. Mater. 252:370 (linear response)",
            "quadrature": [{"frequency_Hz": r.frequency_Hz, "nodes": r.nodes, "fine_panels": r.panels,
                            "rel_error_estimate": r.rel_error_estimate} for r in self._rules.values()],
        }

@SLP_MODELS.decorator("linear-response", LinearResponseSection)
def _make_linear_response(sec: Any, base_dir: Path) -> LinearResponseModel:
    return LinearResponseModel.from_section(sec, base_dir)
