"""What every SLP model shares: the mass bases, ILP and the :class:`SLPModel` protocol."""
from __future__ import annotations

import math
from typing import Protocol

import numpy as np

from planner.config.schema import one_of

MASS_BASES = ("per_g_Fe", "per_g_particle")


def ilp_nH_m2_per_kg(slp_W_per_g: np.ndarray | float, H_peak_A_per_m: np.ndarray | float,
                     frequency_Hz: float) -> np.ndarray:
    """ILP = SLP/(f H0²) in nH m² kg⁻¹ (SLP in W/g → ×1e3 W/kg; H0 peak; 0 where H0 = 0)."""
    s = np.asarray(slp_W_per_g, dtype=float) * 1e3
    h2 = np.asarray(H_peak_A_per_m, dtype=float) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(h2 > 0, s / (frequency_Hz * np.where(h2 > 0, h2, 1.0)) * 1e9, 0.0)
    return out


class SLPModel(Protocol):
    """What the heat-source stage needs from an SLP model."""

    name: str
    mass_basis: str  # 'per_g_Fe' | 'per_g_particle'
    iron_mass_fraction: float | None  # g Fe per g particle, None when unknown

    def slp_W_per_g(self, H_peak_A_per_m: np.ndarray, frequency_Hz: float) -> np.ndarray: ...

    def field_diagnostics(self, H_peak_A_per_m: np.ndarray, frequency_Hz: float) -> dict: ...

    def describe(self) -> dict: ...


_MASS_BASIS = one_of(*MASS_BASES)
_FRACTION = (lambda w: math.isfinite(w) and 0.0 < w <= 1.0, "a mass fraction in (0, 1]")
