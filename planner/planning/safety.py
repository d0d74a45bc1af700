"""Safety checks of a plan: field exposure (H·f), whole- and partial-body SAR, arterial (core)
temperature rise, healthy-tissue and implant temperatures, induced E.

H·f (Atkinson et al. 1984, IEEE Trans. Biomed. Eng. 31:70 → 4.85e8 A m⁻¹ s⁻¹ for a ~30 cm torso coil;
Hergt & Dutz 2007, J. Magn. Magn. Mater. 311:187 → 5e9 A m⁻¹ s⁻¹ for smaller body regions) is checked
with the LARGEST field amplitude anywhere in the patient model (conservative: near a coil the field
exceeds the nominal one at the target), peak or rms as ``[safety] Hf_amplitude`` says; the value at
the target is reported beside it.

SAR (IEC 60601-2-33:2010 style, the MR-safety standard's limits for RF heating): the electromagnetic
power absorbed by the patient outside the particles — tissue eddy loss plus implant loss — divided by
the patient's mass (whole-body SAR) or by the mass of the exposed, meshed body part (partial-body SAR).
Limits by operating mode: whole-body 2 W/kg (normal) or 4 W/kg (first level); partial-body
10 − 8·r W/kg (normal) or 10 − 6·r W/kg (first level), r = exposed mass / patient mass; core
(here: arterial blood) temperature rise 0.5 K (normal) or 1 K (first level). Particle heat is the
intended therapy and is not part of SAR; it does enter the arterial temperature (systemic model).

Healthy tissue = every mesh vertex that touches no target and no implant cell (vertices on the target
surface count as target). Implants: the rise over the no-field baseline at the implant's vertices,
total and from the implant's own loss alone (``temperatures.implant_self_heating_dT_K``, see
:func:`planner.thermal.stage.implant_self_heating`); the implant limit applies to the self-heating part
(the total when no split is available); the tissue touching the implant is checked on absolute
temperature (healthy-tissue limit) and its CEM43 is reported.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from planner.artefacts import Role, TissueMesh
from planner.config.plan import ApplicatorSection, SafetySection
from planner.errors import InputError, SafetyLimitExceeded, bad_value

WHOLE_BODY_SAR_W_PER_KG = {"normal": 2.0, "first-level": 4.0}
PARTIAL_BODY_SAR = {"normal": (10.0, 8.0), "first-level": (10.0, 6.0)}  # limit = a − b·(exposed/patient)
CORE_RISE_K = {"normal": 0.5, "first-level": 1.0}


@dataclass(frozen=True)
class SarExposure:
    absorbed_W: float  # tissue eddy + implant loss
    exposed_mass_kg: float
    patient_mass_kg: float
    whole_body_W_per_kg: float
    partial_body_W_per_kg: float
    whole_body_limit_W_per_kg: float
    partial_body_limit_W_per_kg: float


@dataclass(frozen=True)
class ImplantHeating:
    name: str
    self_heating_dT_K: float | None  # None: no split (no implant loss source known)
    total_dT_K: float
    limit_K: float
    adjacent_max_T_C: float | None
    adjacent_CEM43_min: float | None

    def summary_block(self) -> dict[str, Any]:
        return {"name": self.name, "self_heating_dT_K": self.self_heating_dT_K, "total_dT_K": self.total_dT_K,
                "limit_K": self.limit_K,
                "limit_applies_to": "self_heating_dT_K" if self.self_heating_dT_K is not None else "total_dT_K",
                "adjacent_tissue_max_T_C": self.adjacent_max_T_C, "adjacent_tissue_CEM43_min": self.adjacent_CEM43_min}


@dataclass(frozen=True)
class StructureLimitCheck:
    """One [[safety.structure_limits]] quantity of one structure: the metrics.csv value against its limit."""

    structure: str
    quantity: str  # "T_max_C" | "T10_C" | "CEM43_max_min" (the metrics.csv column)
    value: float
    limit: float
    unit: str  # "°C" | "min"

    @property
    def ok(self) -> bool:
        return self.value <= self.limit

    @property
    def margin(self) -> float:
        """limit − value in K for temperatures; for CEM43, log2(limit/value): the temperature change (K,
        above 43 °C where CEM43 doubles per K) that would bring the dose to the limit."""
        if self.unit == "min":
            return math.log2(self.limit / max(self.value, 1e-12))
        return self.limit - self.value

    def summary_block(self) -> dict[str, Any]:
        return {"structure": self.structure, "quantity": self.quantity, "value": self.value, "limit": self.limit,
                "unit": self.unit, "ok": self.ok}

    def violation(self) -> str:
        what = {"T_max_C": "reaches", "T10_C": "has T10 =", "CEM43_max_min": "receives CEM43 ="}[self.quantity]
        return (f"structure {self.structure!r} {what} {self.value:.3g} {self.unit}, above its limit {self.limit:g} {self.unit} "
                "([[safety.structure_limits]])")


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
    sar: SarExposure | None = None
    arterial_rise_K: float | None = None
    arterial_rise_limit_K: float = 0.5
    implants: tuple[ImplantHeating, ...] = ()
    structure_limits: tuple[StructureLimitCheck, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.violations

    def summary_block(self) -> dict[str, Any]:
        sar = self.sar
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
            "implants": [i.summary_block() for i in self.implants],
            "max_E_healthy_V_per_m": self.max_E_healthy_V_per_m,
            "whole_body_SAR_W_per_kg": None if sar is None else sar.whole_body_W_per_kg,
            "whole_body_SAR_limit_W_per_kg": None if sar is None else sar.whole_body_limit_W_per_kg,
            "partial_body_SAR_W_per_kg": None if sar is None else sar.partial_body_W_per_kg,
            "partial_body_SAR_limit_W_per_kg": None if sar is None else sar.partial_body_limit_W_per_kg,
            "arterial_rise_K": self.arterial_rise_K,
            "arterial_rise_limit_K": self.arterial_rise_limit_K,
            "structure_limits": [c.summary_block() for c in self.structure_limits],
        }

    def em_block(self) -> dict[str, Any]:
        """Keys the ``em`` block of summary.json carries (whole-/partial-body SAR)."""
        sar = self.sar
        if sar is None:
            return {}
        return {"whole_body_SAR_W_per_kg": sar.whole_body_W_per_kg,
                "partial_body_SAR_W_per_kg": sar.partial_body_W_per_kg,
                "absorbed_power_W": sar.absorbed_W, "exposed_mass_kg": sar.exposed_mass_kg,
                "patient_mass_kg": sar.patient_mass_kg,
                "SAR_definition": "(tissue eddy + implant loss) / patient mass (whole body) or / meshed exposed mass "
                                  "(partial body); particle heat excluded (IEC 60601-2-33 style)"}


def healthy_vertices(mesh: TissueMesh) -> np.ndarray:
    """Boolean mask of vertices touching no target and no implant cell."""
    excluded_tags = [r.tag for r in mesh.regions if r.role in (Role.TARGET, Role.IMPLANT)]
    bad = np.zeros(mesh.num_vertices, bool)
    bad[np.unique(mesh.cells[np.isin(mesh.cell_region, excluded_tags)])] = True
    return ~bad


def region_vertices(mesh: TissueMesh, tag: int) -> np.ndarray:
    return np.unique(mesh.cells[mesh.cell_region == tag])


def _field_limits(cfg: SafetySection, mesh: TissueMesh, fields, violations: list, scale: float = 1.0) -> float | None:
    """Largest peak |E| in healthy conducting tissue (non-target; implant-adjacent tissue included, at
    cell vertices where the field solution gives them) and the [safety] E / SAR10g limits, also per
    implant on the tissue within 5 mm of it (``fields.implant_tissue``); fields seen at ``scale`` × nominal."""
    target = np.isin(mesh.cell_region, [r.tag for r in mesh.regions_with_role(Role.TARGET)])
    cond = np.asarray(getattr(fields, "conducting", np.ones(mesh.num_cells, bool)), bool)
    sel = cond & ~target
    E = np.asarray(getattr(fields, "E_vertex_max_V_per_m", None) if getattr(fields, "E_vertex_max_V_per_m", None)
                   is not None else fields.E_peak_V_per_m)
    max_E = float(E[sel].max()) * scale if sel.any() else None
    if cfg.max_E_V_per_m is not None and max_E is not None and max_E > cfg.max_E_V_per_m:
        violations.append(f"induced E reaches {max_E:.3g} V/m (peak) in healthy tissue, above the limit {cfg.max_E_V_per_m:g} V/m")
    sar10 = getattr(fields, "SAR10g_W_per_kg", None)
    if cfg.max_SAR10g_W_per_kg is not None and sar10 is not None and sel.any():
        s10 = float(np.asarray(sar10)[sel].max()) * scale**2
        if s10 > cfg.max_SAR10g_W_per_kg:
            violations.append(f"10 g SAR reaches {s10:.3g} W/kg in healthy tissue, above the limit {cfg.max_SAR10g_W_per_kg:g} W/kg")
    for imp in getattr(fields, "implant_tissue", ()):
        E_imp, sar10_imp = imp.E_peak_V_per_m * scale, imp.SAR10g_W_per_kg * scale**2
        if cfg.max_E_V_per_m is not None and E_imp > cfg.max_E_V_per_m:
            violations.append(f"tissue within 5 mm of implant {imp.name!r} ({imp.model_in_tissue_solve}) reaches "
                              f"E = {E_imp:.3g} V/m (peak), above the limit {cfg.max_E_V_per_m:g} V/m")
        if cfg.max_SAR10g_W_per_kg is not None and sar10_imp > cfg.max_SAR10g_W_per_kg:
            violations.append(f"tissue within 5 mm of implant {imp.name!r} reaches SAR10g = {sar10_imp:.3g} W/kg, "
                              f"above the limit {cfg.max_SAR10g_W_per_kg:g} W/kg")
    return max_E


def patient_mass_kg(plan) -> float:
    """The patient's mass: ``[thermal] body_mass_kg`` (its default without a [thermal] section)."""
    from planner.config.plan import ThermalSection

    return (plan.thermal or ThermalSection()).body_mass_kg


def limits(cfg: SafetySection) -> tuple[float, tuple[float, float], float]:
    """(whole-body SAR limit, partial-body (a, b), arterial rise limit) for the operating mode."""
    mode = cfg.sar_operating_mode
    wb = cfg.whole_body_SAR_limit_W_per_kg or WHOLE_BODY_SAR_W_PER_KG[mode]
    rise = cfg.max_arterial_rise_K or CORE_RISE_K[mode]
    return wb, PARTIAL_BODY_SAR[mode], rise


def sar_exposure(cfg: SafetySection, mesh: TissueMesh, fields, patient_mass_kg: float,
                 scale: float = 1.0) -> SarExposure:
    """Whole- and partial-body SAR of ``fields`` at ``scale`` × the nominal field (losses ∝ scale²)."""
    vol = mesh.cell_volumes_m3()
    q = np.asarray(fields.Q_eddy_W_per_m3, dtype=float) \
        + np.asarray(getattr(fields, "Q_implant_W_per_m3", 0.0), dtype=float)
    P = float((q * vol).sum()) * scale**2
    m_exposed = float((np.asarray(fields.density_kg_per_m3, dtype=float) * vol).sum())
    m_patient = max(float(patient_mass_kg), m_exposed)
    wb, (a, b), _ = limits(cfg)
    ratio = m_exposed / m_patient
    pb = max(a - b * ratio, wb)
    return SarExposure(absorbed_W=P, exposed_mass_kg=m_exposed, patient_mass_kg=m_patient,
                       whole_body_W_per_kg=P / m_patient, partial_body_W_per_kg=P / m_exposed if m_exposed > 0 else 0.0,
                       whole_body_limit_W_per_kg=wb, partial_body_limit_W_per_kg=pb)


def _hf(cfg: SafetySection, mesh: TissueMesh, applied) -> tuple[float, float, float, list[str]]:
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
    return H_body, Hf, Hf_target, violations


def _sar_violations(sar: SarExposure) -> list[str]:
    out = []
    if sar.whole_body_W_per_kg > sar.whole_body_limit_W_per_kg:
        out.append(f"whole-body SAR {sar.whole_body_W_per_kg:.3g} W/kg "
                   f"({sar.absorbed_W:.3g} W in {sar.patient_mass_kg:.3g} kg) "
                   f"exceeds the limit {sar.whole_body_limit_W_per_kg:.3g} W/kg")
    if sar.partial_body_W_per_kg > sar.partial_body_limit_W_per_kg:
        out.append(f"partial-body SAR {sar.partial_body_W_per_kg:.3g} W/kg (exposed {sar.exposed_mass_kg:.3g} kg) "
                   f"exceeds the limit {sar.partial_body_limit_W_per_kg:.3g} W/kg")
    return out


def _healthy_max(cfg: SafetySection, mesh: TissueMesh, Tmax: np.ndarray, healthy: np.ndarray):
    if not healthy.any():
        return None, None, []
    i = int(np.argmax(np.where(healthy, Tmax, -np.inf)))
    max_T = float(Tmax[i])
    cells_at = np.flatnonzero((mesh.cells == i).any(axis=1))
    tissue = mesh.region(int(mesh.cell_region[cells_at[0]])).tissue if cells_at.size else None
    v = []
    if max_T > cfg.max_healthy_T_C:
        v.append(f"healthy tissue reaches {max_T:.2f} °C ({tissue}), above the limit {cfg.max_healthy_T_C} °C")
    return max_T, tissue, v


def _implants(cfg: SafetySection, mesh: TissueMesh, temperatures) -> tuple[list[ImplantHeating], list[str]]:
    Tmax = np.asarray(temperatures.T_max_C)
    base = np.asarray(temperatures.T_baseline_C)
    cem = getattr(temperatures, "CEM43_min", None)
    split = getattr(temperatures, "implant_self_heating_dT_K", None) or {}
    tissue_cells = ~np.isin(mesh.cell_region, [r.tag for r in mesh.regions_with_role(Role.IMPLANT)])
    tissue_verts = np.zeros(mesh.num_vertices, bool)
    tissue_verts[np.unique(mesh.cells[tissue_cells])] = True
    out, violations = [], []
    for reg in mesh.regions_with_role(Role.IMPLANT):
        v = region_vertices(mesh, reg.tag)
        total = float((Tmax[v] - base[v]).max())
        own = split.get(reg.name)
        adj = v[tissue_verts[v]]  # implant vertices shared with tissue cells: the adjacent tissue
        adj_T = float(Tmax[adj].max()) if adj.size else None
        adj_cem = float(np.asarray(cem)[adj].max()) if adj.size and cem is not None else None
        out.append(ImplantHeating(reg.name, own, total, cfg.max_implant_dT_K, adj_T, adj_cem))
        governed = own if own is not None else total
        if governed > cfg.max_implant_dT_K:
            what = "self-heating" if own is not None else "warms"
            violations.append(f"implant {reg.name!r} {what} {governed:.2f} K (total {total:.2f} K), "
                              f"above the limit {cfg.max_implant_dT_K} K")
        if adj_T is not None and adj_T > cfg.max_healthy_T_C:
            violations.append(f"tissue touching implant {reg.name!r} reaches {adj_T:.2f} °C, "
                              f"above the limit {cfg.max_healthy_T_C} °C")
        lim = cfg.max_implant_adjacent_CEM43_min
        if lim is not None and adj_cem is not None and adj_cem > lim:
            violations.append(f"tissue touching implant {reg.name!r} receives CEM43 = {adj_cem:.3g} min, "
                              f"above the limit {lim} min")
    return out, violations


_LIMIT_KEYS = (("T_max_C", "T_max_C", "°C"), ("T10_max_C", "T10_C", "°C"), ("CEM43_max_min", "CEM43_max_min", "min"))


def check_structure_names(cfg: SafetySection, names: Sequence[str]) -> None:
    """Every [[safety.structure_limits]] structure is one of ``names`` (the plan's region names), else a
    one-line InputError listing them."""
    known = sorted(set(names))
    for n, lim in enumerate(cfg.structure_limits):
        if lim.structure not in known:
            raise InputError(bad_value(f"safety.structure_limits[{n}].structure", lim.structure,
                                       "a structure of this plan: one of " + ", ".join(repr(k) for k in known)))


def structure_limit_checks(cfg: SafetySection, mesh: TissueMesh, temperatures) -> list[StructureLimitCheck]:
    """The [[safety.structure_limits]] against the per-structure metrics of metrics.csv
    (:func:`planner.reporting.structure_metrics.structure_metrics`, the same numbers; regions sharing a
    name: the largest value)."""
    if not cfg.structure_limits:
        return []
    from planner.reporting.structure_metrics import structure_metrics

    check_structure_names(cfg, [r.name for r in mesh.regions])
    wanted = {lim.structure for lim in cfg.structure_limits}
    rows = structure_metrics(mesh, temperatures, None, only=wanted)
    out = []
    for lim in cfg.structure_limits:
        mine = [r for r in rows if r["structure"] == lim.structure]
        for key, column, unit in _LIMIT_KEYS:
            limit = getattr(lim, key)
            if limit is not None and mine:
                value = max(float(r[column]) for r in mine)  # type: ignore[arg-type]
                out.append(StructureLimitCheck(lim.structure, column, value, float(limit), unit))
    return out


def check(cfg: SafetySection, applicator: ApplicatorSection, mesh: TissueMesh, applied, fields=None,
          temperatures=None, *, patient_mass_kg: float = 70.0, field_scale: float = 1.0) -> SafetyCheck:
    """Evaluate the safety limits; raise :class:`SafetyLimitExceeded` if asked to stop on violations.

    ``applied`` needs ``frequency_Hz``, ``H_peak_A_per_m_at_target`` and ``H_peak_at(points_m)``;
    ``fields`` (optional) per-cell ``E_peak_V_per_m`` (and, for SAR, ``Q_eddy_W_per_m3``,
    ``density_kg_per_m3``, optional ``Q_implant_W_per_m3``) at the nominal field, seen at
    ``field_scale`` × nominal; ``temperatures`` (optional) per-vertex ``T_max_C`` and ``T_baseline_C``
    (optional ``CEM43_min``, ``arterial_T_C``, ``implant_self_heating_dT_K``).
    """
    H_body, Hf, Hf_target, violations = _hf(cfg, mesh, applied)
    healthy = healthy_vertices(mesh)
    max_E = sar = None
    if fields is not None:
        max_E = _field_limits(cfg, mesh, fields, violations, field_scale)
        if hasattr(fields, "Q_eddy_W_per_m3") and hasattr(fields, "density_kg_per_m3"):
            sar = sar_exposure(cfg, mesh, fields, patient_mass_kg, field_scale)
            violations += _sar_violations(sar)
    _, _, rise_limit = limits(cfg)
    max_T = tissue = rise = None
    implants: list[ImplantHeating] = []
    structure_checks: list[StructureLimitCheck] = []
    if temperatures is not None:
        max_T, tissue, v = _healthy_max(cfg, mesh, np.asarray(temperatures.T_max_C), healthy)
        violations += v
        implants, v = _implants(cfg, mesh, temperatures)
        violations += v
        structure_checks = structure_limit_checks(cfg, mesh, temperatures)
        violations += [c.violation() for c in structure_checks if not c.ok]
        art = np.asarray(getattr(temperatures, "arterial_T_C", ()), dtype=float)
        if art.size:
            rise = float(art.max() - art[0])
            if rise > rise_limit:
                violations.append(f"arterial (core) temperature rises by {rise:.2f} K, above the limit {rise_limit} K")
    result = SafetyCheck(
        Hf_A_per_m_s=Hf, Hf_at_target_A_per_m_s=Hf_target, Hf_limit_A_per_m_s=cfg.Hf_limit_A_per_m_s,
        Hf_amplitude=cfg.Hf_amplitude, max_H_in_body_A_per_m=H_body, max_healthy_T_C=max_T,
        max_healthy_T_tissue=tissue, max_healthy_T_limit_C=cfg.max_healthy_T_C,
        implant_dT_K={i.name: i.total_dT_K for i in implants}, max_implant_dT_limit_K=cfg.max_implant_dT_K,
        max_E_healthy_V_per_m=max_E, violations=tuple(violations), sar=sar, arterial_rise_K=rise,
        arterial_rise_limit_K=rise_limit, implants=tuple(implants), structure_limits=tuple(structure_checks),
    )
    if violations and cfg.stop_on_violation:
        raise SafetyLimitExceeded("; ".join(violations))
    return result
