"""Plausibility before solving: ranges that catch the common unit slips in a plan.

The schema (planner.config.plan) checks types and signs; this module checks *magnitudes* that no
treatment can have and that a unit slip produces: ``field_kA_per_m = 4000`` (A/m typed),
``frequency_kHz = 100000`` (Hz typed), a mass in µg, a diameter in Å, a duration in seconds. Each
message names the key, the value, the limit and the likely mistake, e.g.
``applicator.field_kA_per_m = 4000: above 100 kA/m — was A/m meant?``.

Also here: the element-count and memory estimate of a primitive-geometry mesh (a mesh that would not
fit is refused before gmsh starts), particle concentrations implied by masses and volumes,
map values against their stated units, and the hint added to a divergent temperature.
Imports no stage package (rules of planner/config); callers pass arrays and numbers.
"""
from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass

from planner.errors import InputError, InputErrors


@dataclass(frozen=True)
class Limit:
    """Refuse a value below ``low`` or above ``high`` (None: no bound), with the likely mistake."""

    low: float | None
    high: float | None
    unit: str
    low_hint: str = ""
    high_hint: str = ""


# Clinical and experimental magnetic hyperthermia: H 1–30 kA/m, f 50–1000 kHz (Dutz & Hergt 2013,
# Int J Hyperthermia 29:790); NanoTherm stock fluid 112 mg Fe/mL; magnetite holds 3.7 g Fe per mL.
FIELD = Limit(0.01, 100.0, "kA/m", "was the field given in mT (1 mT ≈ 0.8 kA/m) or T?", "was A/m meant?")
LIMITS: dict[str, Limit] = {
    "applicator.field_kA_per_m": FIELD,
    "search.max_field_kA_per_m": FIELD,
    "applicator.frequency_kHz": Limit(1.0, 10_000.0, "kHz", "was MHz meant?", "was Hz meant?"),
    "nanoparticles.distribution.total_mass_mg": Limit(None, 20_000.0, "mg", "", "was µg meant?"),
    "nanoparticles.distribution.deposits[].mass_mg": Limit(None, 20_000.0, "mg", "", "was µg meant?"),
    "nanoparticles.constant.slp_W_per_g": Limit(None, 10_000.0, "W/g", "", "was W/kg or mW/g meant?"),
    "nanoparticles.linear_response.median_diameter_nm": Limit(1.0, 200.0, "nm", "was µm meant?", "was Å meant?"),
    "nanoparticles.linear_response.shell_thickness_nm": Limit(None, 1000.0, "nm", "", "was Å meant?"),
    "nanoparticles.linear_response.saturation_magnetization_kA_per_m": Limit(
        1.0, 2500.0, "kA/m", "was emu/g or T meant?", "was A/m meant?"),
    "nanoparticles.linear_response.anisotropy_kJ_per_m3": Limit(None, 5000.0, "kJ/m³", "", "was J/m³ meant?"),
    "thermal.duration_min": Limit(None, 1440.0, "min", "", "was the duration given in seconds?"),
    "tissues.*.perfusion_mL_per_min_per_kg": Limit(
        None, 20_000.0, "mL/min/kg", "", "check the units: mL of blood per minute per kg of tissue (kidney ≈ 4000)"),
}
#: highest plausible particle iron concentration (stock fluids ≤ ~120 mg Fe/mL; magnetite itself 3700)
MAX_CONCENTRATION_mg_Fe_per_mL = 500.0
#: largest mesh the planner accepts, and the memory one cell costs through the whole pipeline
MAX_CELLS = 20_000_000
BYTES_PER_CELL = 2_500
#: tetrahedra per h³ of volume for a gmsh mesh of element size h (regular tetrahedra: 8.5)
CELLS_PER_H3 = 6.0


def limit_message(key: str, value: float, lim: Limit) -> str | None:
    """The one-line refusal of ``key = value`` under ``lim``, or None when it is plausible."""
    if lim.high is not None and value > lim.high:
        return f"{key} = {value:g}: above {lim.high:g} {lim.unit} — {lim.high_hint}"
    if lim.low is not None and value < lim.low:
        return f"{key} = {value:g}: below {lim.low:g} {lim.unit} — {lim.low_hint}"
    return None


def _values(cfg) -> Iterator[tuple[str, str, float]]:
    """(limit key, plan key, value) of every limited value the plan sets."""
    for sec_name in ("applicator", "search", "thermal"):
        sec = getattr(cfg, sec_name, None)
        for key in LIMITS:
            head, _, attr = key.partition(".")
            if sec is not None and head == sec_name and getattr(sec, attr, None) is not None:
                yield key, key, float(getattr(sec, attr))
    np_sec = getattr(cfg, "nanoparticles", None)
    if np_sec is not None:
        d = np_sec.distribution
        if d.total_mass_mg is not None:
            key = "nanoparticles.distribution.total_mass_mg"
            yield key, key, d.total_mass_mg
        for i, dep in enumerate(d.deposits):
            yield ("nanoparticles.distribution.deposits[].mass_mg", f"nanoparticles.distribution.deposits[{i}].mass_mg",
                   dep.mass_mg)
        model = np_sec.model_parameters
        sub = np_sec.slp_model.replace("-", "_")  # [nanoparticles.<model>] section name
        for key in LIMITS:
            prefix = f"nanoparticles.{sub}."
            if key.startswith(prefix) and getattr(model, key[len(prefix):], None) is not None:
                yield key, key, float(getattr(model, key[len(prefix):]))
    for name, ov in (getattr(cfg, "tissues", None) or {}).items():
        if ov.perfusion_mL_per_min_per_kg is not None:
            yield ("tissues.*.perfusion_mL_per_min_per_kg", f"tissues.{name}.perfusion_mL_per_min_per_kg",
                   ov.perfusion_mL_per_min_per_kg)


def body_volume_mm3(body) -> float | None:
    """Volume of one [[geometry.bodies]] primitive (None for shapes without a closed form here); products,
    not powers, so that an absurd size gives inf (refused by the cell estimate) instead of OverflowError."""
    if body.shape == "box" and body.size_mm is not None:
        return math.prod(body.size_mm)
    if body.shape == "sphere" and body.radius_mm is not None:
        r = float(body.radius_mm)
        return 4.0 / 3.0 * math.pi * r * r * r
    if body.shape == "cylinder" and body.radius_mm is not None and body.length_mm is not None:
        r = float(body.radius_mm)
        return math.pi * r * r * float(body.length_mm)
    if body.shape == "ellipsoid" and body.semi_axes_mm is not None:
        return 4.0 / 3.0 * math.pi * math.prod(body.semi_axes_mm)
    return None


def estimate_cells(cfg) -> int | None:
    """Lower estimate of the tetrahedra of a [geometry] plan: CELLS_PER_H3 · V / h³ per body at its
    element size (target/organ/implant sizes inside those bodies, max_size_mm elsewhere)."""
    geo, mesh = getattr(cfg, "geometry", None), cfg.mesh
    if geo is None:
        return None
    sizes = {"target": mesh.target_size_mm, "organ": mesh.organ_size_mm, "implant": mesh.implant_size_mm}
    outer = body_volume_mm3(geo.bodies[0]) or 0.0
    inner = 0.0
    cells = 0.0
    for b in geo.bodies[1:]:
        v = body_volume_mm3(b) or 0.0
        h = sizes.get(b.role) or mesh.max_size_mm
        cells += CELLS_PER_H3 * v / h / h / h
        inner += v
    h_max = float(mesh.max_size_mm)
    cells += CELLS_PER_H3 * max(outer - inner, 0.0) / h_max / h_max / h_max
    return int(min(cells, 1e18)) if math.isfinite(cells) else int(1e18)  # inf or inf - inf: absurd sizes


def _memory_bytes() -> float:
    try:
        return float(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return math.inf


def mesh_size_message(cells: int, key: str, value: float) -> str | None:
    """Refusal of a mesh of about ``cells`` tetrahedra that exceeds MAX_CELLS or this machine's memory."""
    need = cells * BYTES_PER_CELL
    mem = _memory_bytes()
    if cells <= MAX_CELLS and need <= 0.8 * mem:
        return None
    return (f"{key} = {value:g}: the mesh would have about {cells:.3g} cells (≈ {need / 2**30:.3g} GiB; limit "
            f"{MAX_CELLS:.3g} cells, {mem / 2**30:.0f} GiB of memory here) "
            "— was the size given in m or cm instead of mm?")


def concentration_message(key: str, mass_mg: float, volume_mL: float) -> str | None:
    """Refuse a particle mass that, spread over ``volume_mL``, exceeds any magnetic fluid."""
    if volume_mL <= 0:
        return None
    c = mass_mg / volume_mL
    if c > MAX_CONCENTRATION_mg_Fe_per_mL:
        return (f"{key} = {mass_mg:g}: {c:.4g} mg/mL over {volume_mL:.3g} mL, "
                f"above {MAX_CONCENTRATION_mg_Fe_per_mL:g} mg/mL "
                "(stock fluids ≈ 112 mg Fe/mL) — was µg meant?")
    return None


def _concentration_messages(cfg) -> Iterator[str]:
    np_sec, geo = getattr(cfg, "nanoparticles", None), getattr(cfg, "geometry", None)
    if np_sec is None:
        return
    d = np_sec.distribution
    for i, dep in enumerate(d.deposits):
        if dep.shape == "ellipsoid" and dep.semi_axes_mm is not None:
            v_mL = 4.0 / 3.0 * math.pi * math.prod(dep.semi_axes_mm) * 1e-3
        elif dep.sigma_mm is not None:  # Gaussian: peak concentration M / ((2π)^1.5 σx σy σz)
            v_mL = (2.0 * math.pi) ** 1.5 * math.prod(dep.sigma_mm) * 1e-3
        else:
            continue
        m = concentration_message(f"nanoparticles.distribution.deposits[{i}].mass_mg", dep.mass_mg, v_mL)
        if m:
            yield m
    if d.kind == "uniform-in-target" and d.total_mass_mg is not None and geo is not None:
        names = set(d.regions) or {b.name for b in geo.bodies if b.role == "target"}
        vols = [body_volume_mm3(b) for b in geo.bodies if b.name in names]
        if vols and all(v is not None for v in vols):
            m = concentration_message("nanoparticles.distribution.total_mass_mg", d.total_mass_mg, sum(vols) * 1e-3)  # type: ignore[arg-type]
            if m:
                yield m


def plausibility_errors(cfg) -> list[str]:
    """Every implausible value of a plan (one line each), in plan order; empty when all are plausible."""
    out = [m for key, shown, v in _values(cfg) if (m := limit_message(shown, v, LIMITS[key]))]
    out += list(_concentration_messages(cfg))
    cells = estimate_cells(cfg)
    if cells is not None:
        m = mesh_size_message(cells, "mesh.max_size_mm", cfg.mesh.max_size_mm)
        if m:
            out.append(m)
    return out


def check_plausibility(cfg) -> None:
    """Raise :class:`InputError` on an implausible value (:class:`InputErrors`, one line each, on several)."""
    errors = plausibility_errors(cfg)
    if len(errors) == 1:
        raise InputError(errors[0])
    if errors:
        raise InputErrors(errors)


def map_value_messages(key: str, max_mg_Fe_per_mL: float, integral_mg: float, units: str) -> list[str]:
    """Concentration-map values (converted to mg Fe/mL from their stated ``units``) against what
    particles can reach: a map in µg/mL declared as mg/mL is 1000× too high."""
    out = []
    slip = "µM" if units == "mM_Fe" else "µg/mL"
    if max_mg_Fe_per_mL > MAX_CONCENTRATION_mg_Fe_per_mL:
        out.append(f"{key}: map maximum {max_mg_Fe_per_mL:.4g} mg Fe/mL (units = {units!r}) is above "
                   f"{MAX_CONCENTRATION_mg_Fe_per_mL:g} mg Fe/mL, more than any magnetic fluid "
                   f"— was the map in {slip}?")
    if integral_mg > LIMITS["nanoparticles.distribution.total_mass_mg"].high:  # type: ignore[operator]
        out.append(f"{key}: the map holds {integral_mg / 1e3:.4g} g of iron (units = {units!r}) "
                   f"— was the map in {slip}?")
    return out


def table_value_messages(key: str, H_peak_A_per_m: list[float], frequency_Hz: list[float],
                         slp_W_per_g: list[float]) -> list[str]:
    """An SLP table's values (converted with the units its header declares) against the plausible
    ranges: a column in A/m labelled ``H_kA_per_m`` gives fields 1000× too high, and so on."""
    checks = (
        ("field H", [h / 1e3 for h in H_peak_A_per_m], LIMITS["applicator.field_kA_per_m"], "the H column's unit"),
        ("frequency f", [f / 1e3 for f in frequency_Hz], LIMITS["applicator.frequency_kHz"], "the f column's unit"),
        ("SLP", list(slp_W_per_g), LIMITS["nanoparticles.constant.slp_W_per_g"], "the SLP column's unit"),
    )
    out = []
    for what, vals, lim, col in checks:
        if not vals:
            continue
        hi, lo = max(vals), min(vals)
        if lim.high is not None and hi > lim.high:
            out.append(f"{key}: {what} up to {hi:g} {lim.unit} after the declared units, "
                       f"above {lim.high:g} {lim.unit} — "
                       f"{lim.high_hint} (check {col} in the header)")
        elif lim.low is not None and lo < lim.low:
            out.append(f"{key}: {what} down to {lo:g} {lim.unit} after the declared units, "
                       f"below {lim.low:g} {lim.unit} — "
                       f"{lim.low_hint} (check {col} in the header)")
    return out


def divergence_hint(cfg, powers_W: dict[str, float]) -> str:
    """What to check when the temperature diverges: the heat source and the keys that set it."""
    parts = [f"{k} {v:.3g} W" for k, v in powers_W.items() if v]
    keys = []
    app = getattr(cfg, "applicator", None)
    if app is not None:
        keys += [f"applicator.field_kA_per_m = {app.field_kA_per_m:g}",
                 f"applicator.frequency_kHz = {app.frequency_kHz:g}"]
    np_sec = getattr(cfg, "nanoparticles", None)
    if np_sec is not None:
        d = np_sec.distribution
        if d.total_mass_mg is not None:
            keys.append(f"nanoparticles.distribution.total_mass_mg = {d.total_mass_mg:g}")
        keys += [f"nanoparticles.distribution.deposits[{i}].mass_mg = {dep.mass_mg:g}"
                 for i, dep in enumerate(d.deposits)]
        if d.file is not None:
            keys.append(f"nanoparticles.distribution.file ({d.units or 'mg_Fe_per_mL'})")
    return (f"heat source {', '.join(parts) or '0 W'} from " + ", ".join(keys)
            + " — likely a unit slip in one of these keys (A/m for kA/m, Hz for kHz, µg for mg, µg/mL for mg/mL)")


__all__ = ["LIMITS", "Limit", "MAX_CELLS", "check_plausibility", "divergence_hint", "estimate_cells", "limit_message",
           "map_value_messages", "plausibility_errors"]
