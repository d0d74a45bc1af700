"""Field-free-region planning: the FFR position as a setting of the search, and off-target temperatures.

``[selection_field] search_offsets_mm`` lists offsets δ; the FFR is tried at its planned position and
at δ along x, y and z (1 + 6·len(δ) positions). At each position the static bias is recomputed
(magpylib, the assembly translated) and the field-amplitude search of :mod:`planner.planning.search`
runs; the best position reaches the goal T90 safely with the most headroom (smallest goal field /
largest safe field), ties and unreachable goals broken by the particle-power selectivity (target /
off-target).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from planner.artefacts import Progress, Role, TissueMesh, no_progress
from planner.units import MM


def off_target_temperatures(mesh: TissueMesh, heat: Any, T_max_C: np.ndarray) -> dict[str, float]:
    """Region name → the maximum temperature (°C, per-vertex session maximum) of every non-target region
    that holds particles."""
    out: dict[str, float] = {}
    c = np.asarray(heat.concentration_mg_per_mL)
    for reg in mesh.regions:
        if reg.role == Role.TARGET:
            continue
        cells = mesh.cell_region == reg.tag
        if not np.any(c[cells] > 0):
            continue
        verts = np.unique(mesh.cells[cells])
        out[reg.name] = float(np.max(T_max_C[verts]))
    return out


def ffr_width_block(gradient_T_per_m: float, heat: Any) -> dict:
    """The model's FFR half-power bias at the nominal AC field and the FWHM estimate 2 μ0 H_½ / G."""
    from planner.units import MU0_H_per_m

    model = getattr(heat, "model", None)
    H_ref = getattr(heat, "reference_H_peak_A_per_m", None)
    if model is None or not hasattr(model, "half_power_bias_A_per_m") or H_ref is None:
        return {}
    h_half = model.half_power_bias_A_per_m(H_ref, heat.frequency_Hz)
    return {"half_power_bias_kA_per_m": h_half / 1e3, "half_power_B_mT": MU0_H_per_m * h_half * 1e3,
            "ffr_fwhm_estimate_mm": 2.0 * MU0_H_per_m * h_half / gradient_T_per_m / MM if gradient_T_per_m > 0 else None,
            "at_H_ac_peak_kA_per_m": H_ref / 1e3}


@dataclass(frozen=True)
class FFROption:
    offset_mm: tuple[float, float, float]
    ffr_position_mm: tuple[float, float, float]
    selectivity_ratio: float | None
    field_for_goal_kA_per_m: float | None
    max_safe_field_kA_per_m: float
    goal_reachable_safely: bool
    T90_at_max_safe_C: float | None


def candidate_offsets_m(offsets_mm: tuple[float, ...]) -> list[np.ndarray]:
    out = [np.zeros(3)]
    for d in offsets_mm:
        if d == 0.0:
            continue
        for k in range(3):
            for sgn in (1.0, -1.0):
                v = np.zeros(3)
                v[k] = sgn * d * MM
                out.append(v)
    return out


def _rank(o: FFROption) -> tuple:
    sel = o.selectivity_ratio if o.selectivity_ratio is not None else 0.0
    if o.goal_reachable_safely and o.field_for_goal_kA_per_m is not None:
        return (0, o.field_for_goal_kA_per_m / o.max_safe_field_kA_per_m, -sel)
    return (1, -(o.T90_at_max_safe_C or -np.inf), -sel)


def search_ffr(sections: Any, mesh: TissueMesh, applied: Any, fields: Any, heat: Any, lib: Any,
               bias_at: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]], offsets_mm: tuple[float, ...], *,
               progress: Progress = no_progress) -> tuple[Any, list[FFROption], int]:
    """The amplitude search at every candidate FFR position (module docstring).

    ``bias_at(offset_m) -> (H_dc per cell (M, 3), FFR position m)``. Returns the search result at the best
    position, every option and the index of the best one."""
    import logging

    from planner.planning.search import _search_at

    if getattr(sections.search, "frequencies_kHz", ()):
        logging.getLogger(__name__).warning(
            "[search] frequencies_kHz ignored: with [selection_field] search_offsets_mm the search varies the FFR "
            "position and the field amplitude at the plan's frequency")
    results, options = [], []
    for off in candidate_offsets_m(offsets_mm):
        H_dc, pos = bias_at(off)
        h = heat.with_bias(np.linalg.norm(H_dc, axis=1))
        r = _search_at(sections, mesh, applied, fields, h, lib, progress,
                       f"search, FFR offset {[round(v / MM, 1) for v in off]} mm")
        sel = h.selectivity()
        results.append(r)
        options.append(FFROption(tuple(float(v / MM) for v in off), tuple(float(v / MM) for v in pos),  # type: ignore[arg-type]
                                 None if sel is None else sel["ratio"], r.field_for_goal_kA_per_m,
                                 r.max_safe_field_kA_per_m, r.goal_reachable_safely, r.T90_at_max_safe_C))
    best = min(range(len(options)), key=lambda i: _rank(options[i]))
    return results[best], options, best


def ffr_search_block(options: list[FFROption], best: int) -> dict:
    return {"ffr_options": [dataclasses.asdict(o) for o in options], "best_ffr_offset_mm": list(options[best].offset_mm),
            "best_ffr_position_mm": list(options[best].ffr_position_mm),
            "ffr_rule": "goal reached safely with the most headroom, then the highest selectivity"}
