"""Magnetic core materials for the linear-response (Rosensweig 2002) SLP model.

Each preset gives the domain (saturation) magnetisation ``Ms``, the effective uniaxial anisotropy
constant ``K`` and the density of the bulk oxide, with the source. Every value can be overridden
from the plan (``[nanoparticles.linear_response] saturation_magnetization_kA_per_m`` ...), which
is the expected use: the effective K of real particles depends on size, shape and surface and is
the least certain input of the model (DOMAIN.md: K ≈ 9–41 kJ/m³ for magnetite).

Sources
-------
* Ms, K, ρ: R.E. Rosensweig, "Heating magnetic fluid with alternating magnetic field",
  J. Magn. Magn. Mater. 252 (2002) 370–374, Table 1 (physical properties used in its computations:
  magnetite 446 kA/m, 23 kJ/m³, 5180 kg/m³; maghemite 414 kA/m, 4.7 kJ/m³, 4600 kg/m³; cobalt
  ferrite 425 kA/m, 180 kJ/m³, 4907 kg/m³). These were transcribed for this module from the
  published table; check them against the primary source before clinical use.
* Iron mass fraction: stoichiometry with IUPAC standard atomic weights (Fe 55.845, O 15.999,
  Co 58.933): Fe3O4 → 3·55.845/231.533, γ-Fe2O3 → 2·55.845/159.687, CoFe2O4 → 2·55.845/234.621.
"""
from __future__ import annotations

from dataclasses import dataclass

FE_g_per_mol = 55.845
O_g_per_mol = 15.999
CO_g_per_mol = 58.933


@dataclass(frozen=True)
class CoreMaterial:
    name: str
    formula: str
    saturation_magnetization_A_per_m: float  # Ms (domain magnetisation Md in Rosensweig 2002)
    anisotropy_J_per_m3: float  # effective uniaxial K
    density_kg_per_m3: float
    iron_mass_fraction: float  # g Fe per g oxide (stoichiometric)
    source: str


_ROS = "Rosensweig 2002, J. Magn. Magn. Mater. 252:370, Table 1"

MATERIALS: dict[str, CoreMaterial] = {
    "magnetite": CoreMaterial(
        "magnetite", "Fe3O4", 446e3, 23e3, 5180.0,
        3 * FE_g_per_mol / (3 * FE_g_per_mol + 4 * O_g_per_mol), _ROS,
    ),
    "maghemite": CoreMaterial(
        "maghemite", "gamma-Fe2O3", 414e3, 4.7e3, 4600.0,
        2 * FE_g_per_mol / (2 * FE_g_per_mol + 3 * O_g_per_mol), _ROS,
    ),
    "cobalt-ferrite": CoreMaterial(
        "cobalt-ferrite", "CoFe2O4", 425e3, 180e3, 4907.0,
        2 * FE_g_per_mol / (CO_g_per_mol + 2 * FE_g_per_mol + 4 * O_g_per_mol), _ROS,
    ),
}


def material(name: str) -> CoreMaterial:
    """The preset called ``name``; KeyError lists the known names."""
    try:
        return MATERIALS[name]
    except KeyError:
        raise KeyError(f"{name!r}: expected one of {sorted(MATERIALS)}") from None
