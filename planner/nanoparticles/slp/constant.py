"""SLP model ``constant``.

``constant``
    One SLP value with its basis, independent of H and f (studies, benchmarks).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from planner.config.registry import SLP_MODELS
from planner.config.schema import non_negative, spec
from planner.errors import InputError, bad_value
from planner.nanoparticles.slp.base import _FRACTION, _MASS_BASIS, MASS_BASES


@dataclass(frozen=True)
class SlpConstantSection:
    """[nanoparticles.constant]: one SLP value (studies, benchmarks)."""

    PLAN_SECTION = '[nanoparticles.constant]'

    slp_W_per_g: float = spec(check=non_negative, expected="a non-negative SLP in W/g")
    mass_basis: str = spec(check=_MASS_BASIS[0], expected=_MASS_BASIS[1] + " (no default: say which)")
    iron_mass_fraction: float | None = spec(None, check=_FRACTION[0], expected=_FRACTION[1])


class ConstantModel:
    """SLP independent of field amplitude and frequency while the field is on; zero without field
    (H = 0), so field-off schedule segments and settings searches see no particle heat."""

    name = "constant"

    def __init__(self, slp_W_per_g: float, mass_basis: str, iron_mass_fraction: float | None = None,
                 key: str = "nanoparticles.constant") -> None:
        if not (math.isfinite(slp_W_per_g) and slp_W_per_g >= 0):
            raise InputError(bad_value(f"{key}.slp_W_per_g", slp_W_per_g, "a non-negative SLP in W/g"))
        if mass_basis not in MASS_BASES:
            raise InputError(bad_value(f"{key}.mass_basis", mass_basis, "'per_g_Fe' or 'per_g_particle'"))
        self.value = float(slp_W_per_g)
        self.mass_basis = mass_basis
        self.iron_mass_fraction = iron_mass_fraction

    def slp_W_per_g(self, H_peak_A_per_m: np.ndarray, frequency_Hz: float) -> np.ndarray:
        return np.where(np.asarray(H_peak_A_per_m) > 0, self.value, 0.0)

    def field_diagnostics(self, H_peak_A_per_m: np.ndarray, frequency_Hz: float) -> dict:
        return {"linear_response_warning": False}

    def describe(self) -> dict:
        return {"slp_W_per_g": self.value}

@SLP_MODELS.decorator("constant", SlpConstantSection)
def _make_constant(sec: Any, base_dir: Path) -> ConstantModel:
    return ConstantModel(sec.slp_W_per_g, sec.mass_basis, sec.iron_mass_fraction)
