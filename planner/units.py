"""Every physical constant and unit factor of the planner, defined once (SI inside).

Plan files may use mm, kHz, kA/m, min, mg, mL; their loaders multiply by these factors. Names carry
their units; the factors convert *to* SI (``x_mm * MM`` is metres).
"""
from __future__ import annotations

import math

# --- physical constants (CODATA 2018 / SI 2019 exact where defined) ---------------------------------
MU0_H_per_m = 4e-7 * math.pi  # vacuum permeability; the SI 2019 value differs by ~1e-10 relative
EPS0_F_per_m = 8.8541878128e-12  # vacuum permittivity
KB_J_per_K = 1.380649e-23  # Boltzmann constant (exact)
ZERO_C_K = 273.15  # 0 °C in kelvin

# --- unit factors to SI ---------------------------------------------------------------------------
MM = 1e-3  # metres per millimetre
CM = 1e-2  # metres per centimetre
ML = 1e-6  # cubic metres per millilitre
KHZ = 1e3  # hertz per kilohertz
KA_PER_M = 1e3  # A/m per kA/m
MT = 1e-3  # tesla per millitesla
MIN = 60.0  # seconds per minute
MG = 1e-6  # kilograms per milligram
G = 1e-3  # kilograms per gram

__all__ = ["MU0_H_per_m", "EPS0_F_per_m", "KB_J_per_K", "ZERO_C_K", "MM", "CM", "ML", "KHZ", "KA_PER_M", "MT",
           "MIN", "MG", "G"]
