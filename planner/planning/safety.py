"""Safety checks of a plan: field exposure (H·f), healthy-tissue and implant temperatures, induced E.

H·f (Atkinson et al. 1984, IEEE Trans. Biomed. Eng. 31:70 → 4.85e8 A m⁻¹ s⁻¹ for a ~30 cm torso coil;
Hergt & Dutz 2007, J. Magn. Magn. Mater. 311:187 → 5e9 A m⁻¹ s⁻¹ for smaller body regions) is checked
with the LARGEST field amplitude anywhere in the patient model (conservative: near a coil the field
exceeds the nominal one at the target), peak or rms as ``[safety] Hf_amplitude`` says; the value at
the target is reported beside it.

Healthy tissue = every mesh vertex that touches no target and no implant cell (vertices on the target
surface count as target). Implant heating is the largest temperature rise over the no-field baseline
at the implant's vertices.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from planner.artefacts import Role, TissueMesh
from planner.config.plan import ApplicatorSection, SafetySection
from planner.errors import SafetyLimitExceeded


@dataclass(frozen=True)
class SafetyCheck:
    Hf_A_per_m_s: float  # at the largest |H| in the body, in the amplitude convention below
    Hf_at_target_A_per_m_s: float
    Hf_limit_A_per_m_s: float
    Hf_amplitude: str
    max_H_in_body_A_per_m: float  # same convention
    max_healthy_T_C: float | None
    max_healthy_T_tissue: str | None
    max_healthy_T_limit_C: float
    implant_dT_K: dict[str, float]
    max_implant_dT_limit_K: float
    max_E_healthy_V_per_m: float | None
    violations: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.violations

    def summary_block(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "violations": list(self.violations),
            "Hf_A_per_m_s": self.Hf_A_per_m_s,
            "Hf_at_target_A_per_m_s": self.Hf_at_target_A_per_m_s,
            "Hf_limit_A_per_m_s": self.Hf_limit_A_per_m_s,
            "Hf_amplitude": self.Hf_amplitude,
            "max_H_in_body_A_per_m": self.max_H_in_body_A_per_m,
            "max_healthy_T_C": self.max_healthy_T_C,
            "max_healthy_T_tissue": self.max_healthy_T_tissue,
            "max_healthy_T_limit_C": self.max_healthy_T_limit_C,
            "implant_dT_K": self.implant_dT_K,
            "max_implant_dT_limit_K": self.max_implant_dT_limit_K,
            "max_E_healthy_V_per_m": self.max_E_healthy_V_per_m,
        }


def healthy_vertices(mesh: TissueMesh) -> np.ndarray:
    """Boolean mask of vertices touching no target and no implant cell."""
    excluded_tags = [r.tag for r in mesh.regions if r.role in (Role.TARGET, Role.IMPLANT)]
    bad = np.zeros(mesh.num_vertices, bool)
    bad[np.unique(mesh.cells[np.isin(mesh.cell_region, excluded_tags)])] = True
    return ~bad


def region_vertices(mesh: TissueMesh, tag: int) -> np.ndarray:
    return np.unique(mesh.cells[mesh.cell_region == tag])


def _field_limits(cfg: SafetySection, mesh: TissueMesh, fields, violations: list) -> float | None:
    """Largest peak |E| in healthy conducting tissue (non-target; implant-adjacent tissue included, at
    cell vertices where the field solution gives them) and the [safety] E / SAR10g limits, also per
    implant on the tissue within 5 mm of it (``fields.implant_tissue``)."""
    target = np.isin(mesh.cell_region, [r.tag for r in mesh.regions_with_role(Role.TARGET)])
    cond = np.asarray(getattr(fields, "conducting", np.ones(mesh.num_cells, bool)), bool)
    sel = cond & ~target
    E = np.asarray(getattr(fields, "E_vertex_max_V_per_m", None) if getattr(fields, "E_vertex_max_V_per_m", None)
                   is not None else fields.E_peak_V_per_m)
    max_E = float(E[sel].max()) if sel.any() else None
    if cfg.max_E_V_per_m is not None and max_E is not None and max_E > cfg.max_E_V_per_m:
        violations.append(f"induced E reaches {max_E:.3g} V/m (peak) in healthy tissue, above the limit {cfg.max_E_V_per_m:g} V/m")
    sar10 = getattr(fields, "SAR10g_W_per_kg", None)
    if cfg.max_SAR10g_W_per_kg is not None and sar10 is not None and sel.any():
        s10 = float(np.asarray(sar10)[sel].max())
        if s10 > cfg.max_SAR10g_W_per_kg:
            violations.append(f"10 g SAR reaches {s10:.3g} W/kg in healthy tissue, above the limit {cfg.max_SAR10g_W_per_kg:g} W/kg")
    for imp in getattr(fields, "implant_tissue", ()):
        if cfg.max_E_V_per_m is not None and imp.E_peak_V_per_m > cfg.max_E_V_per_m:
            violations.append(f"tissue within 5 mm of implant {imp.name!r} ({imp.model_in_tissue_solve}) reaches "
                              f"E = {imp.E_peak_V_per_m:.3g} V/m (peak), above the limit {cfg.max_E_V_per_m:g} V/m")
        if cfg.max_SAR10g_W_per_kg is not None and imp.SAR10g_W_per_kg > cfg.max_SAR10g_W_per_kg:
            violations.append(f"tissue within 5 mm of implant {imp.name!r} reaches SAR10g = {imp.SAR10g_W_per_kg:.3g} W/kg, "
                              f"above the limit {cfg.max_SAR10g_W_per_kg:g} W/kg")
    return max_E


def check(cfg: SafetySection, applicator: ApplicatorSection, mesh: TissueMesh, applied, fields=None,
          temperatures=None) -> SafetyCheck:
    """Evaluate the safety limits; raise :class:`SafetyLimitExceeded` if asked to stop on violations.

    ``applied`` needs ``frequency_Hz``, ``H_peak_A_per_m_at_target`` and ``H_peak_at(points_m)``;
    ``fields`` (optional) per-cell ``E_peak_V_per_m``; ``temperatures`` (optional) per-vertex
    ``T_max_C`` and ``T_baseline_C``.
    """
    scale = 1.0 / math.sqrt(2.0) if cfg.Hf_amplitude == "rms" else 1.0
    H_body = float(np.linalg.norm(applied.H_peak_at(mesh.points_m), axis=1).max()) * scale
    f = applied.frequency_Hz
    Hf, Hf_target = H_body * f, applied.H_peak_A_per_m_at_target * scale * f
    violations = []
    if Hf > cfg.Hf_limit_A_per_m_s:
        violations.append(
            f"H·f = {Hf:.3g} A/(m·s) ({cfg.Hf_amplitude} H = {H_body:.0f} A/m at {f:.0f} Hz, largest in the body) "
            f"exceeds the limit {cfg.Hf_limit_A_per_m_s:.3g}"
        )
    healthy = healthy_vertices(mesh)
    max_E = None
    if fields is not None:
        max_E = _field_limits(cfg, mesh, fields, violations)
    max_T = tissue = None
    implant_dT: dict[str, float] = {}
    if temperatures is not None:
        Tmax = np.asarray(temperatures.T_max_C)
        if healthy.any():
            i = int(np.argmax(np.where(healthy, Tmax, -np.inf)))
            max_T = float(Tmax[i])
            cells_at = np.flatnonzero((mesh.cells == i).any(axis=1))
            tissue = mesh.region(int(mesh.cell_region[cells_at[0]])).tissue if cells_at.size else None
            if max_T > cfg.max_healthy_T_C:
                violations.append(f"healthy tissue reaches {max_T:.2f} °C ({tissue}), above the limit {cfg.max_healthy_T_C} °C")
        base = np.asarray(temperatures.T_baseline_C)
        for reg in mesh.regions_with_role(Role.IMPLANT):
            v = region_vertices(mesh, reg.tag)
            dT = float((Tmax[v] - base[v]).max())
            implant_dT[reg.name] = dT
            if dT > cfg.max_implant_dT_K:
                violations.append(f"implant {reg.name!r} warms by {dT:.2f} K, above the limit {cfg.max_implant_dT_K} K")
    result = SafetyCheck(
        Hf_A_per_m_s=Hf, Hf_at_target_A_per_m_s=Hf_target, Hf_limit_A_per_m_s=cfg.Hf_limit_A_per_m_s,
        Hf_amplitude=cfg.Hf_amplitude, max_H_in_body_A_per_m=H_body, max_healthy_T_C=max_T,
        max_healthy_T_tissue=tissue, max_healthy_T_limit_C=cfg.max_healthy_T_C, implant_dT_K=implant_dT,
        max_implant_dT_limit_K=cfg.max_implant_dT_K, max_E_healthy_V_per_m=max_E, violations=tuple(violations),
    )
    if violations and cfg.stop_on_violation:
        raise SafetyLimitExceeded("; ".join(violations))
    return result
