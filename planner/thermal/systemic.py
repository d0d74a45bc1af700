"""Systemic heat: the arterial blood temperature as a state (a whole-body blood pool).

    C_p dT_a/dt = ∫β (T − T_a) dV − P_loss(T_a),   P_loss = P_loss,0 + G (T_a − T_a,0)

- C_p = (m_body − m_mesh) c_body: the heat capacity of the body outside the mesh, which blood
  (cardiac output ≈ 5 L/min recirculates the blood volume every ~1 min) keeps near one temperature
  on the session's time scale; the meshed tissue stores its own heat in the 3-D model.
- ∫β (T − T_a) dV: the heat the 3-D Pennes exchange hands to the blood (the same β as in the tissue).
- P_loss: whole-body loss (skin, respiration, sweating) linearised about the resting state; P_loss,0
  balances the resting exchange, so the no-field baseline is steady at T_a,0 = ``arterial_T_C``.
  The conductance G (``thermoregulation_W_per_K``) defaults to 280 W/K, the ratio implied by the
  IEC 60601-2-33 (3rd ed., 2010, Annex AA rationale of the normal operating mode) pairing of a
  2 W/kg whole-body SAR with a core temperature rise of at most 0.5 K for a 70 kg patient:
  G = 2 W/kg · 70 kg / 0.5 K. G = 0 is the adiabatic bound (no thermoregulation):
  dT_a/dt = P/C_p, ≈ 4 K/h for 300 W in 70 kg (the issue's estimate).

The coupled system is solved monolithically by :mod:`planner.fem.bioheat.pool` (same time scheme).
"""
from __future__ import annotations

import numpy as np

from planner.artefacts import TissueMesh
from planner.errors import InputError, bad_value


def meshed_mass_kg(mesh: TissueMesh, table: dict[str, dict[str, float]]) -> float:
    """Mass of the meshed tissue (kg) from the thermal property table of the stage."""
    rho = np.zeros(max(r.tag for r in mesh.regions) + 1)
    for r in mesh.regions:
        rho[r.tag] = table[r.tissue]["rho_kg_per_m3"]
    return float((rho[mesh.cell_region] * mesh.cell_volumes_m3()).sum())


def pool_parameters(mesh: TissueMesh, table: dict, th) -> tuple[float, float, float] | None:
    """(C_p J/K, G W/K, meshed mass kg) of the blood pool, or None with ``systemic = 'off'``."""
    if th.systemic == "off":
        return None
    m_mesh = meshed_mass_kg(mesh, table)
    if th.body_mass_kg <= m_mesh:
        raise InputError(bad_value("thermal.body_mass_kg", th.body_mass_kg,
                                   f"the whole patient's mass, more than the meshed {m_mesh:.3g} kg"))
    return (th.body_mass_kg - m_mesh) * th.body_heat_capacity_J_per_kg_K, float(th.thermoregulation_W_per_K), m_mesh
