"""Temperature and dose metrics over target and tissues (pure NumPy + Numba kernels).

Volume weighting: lumped vertex volumes — every cell of the selected regions gives a quarter of
its volume to each of its four vertices; a vertex's weight counts only cells of the selection.

- T90/T50/T10: the temperature reached or exceeded by 90/50/10 % of the target volume, applied to
  the per-vertex *maximum temperature over the session* (``T_max_C``); for a steady run this is the
  steady heated temperature.
- CEM43T90: the CEM43 (minutes) reached or exceeded by 90 % of the target volume.
- time_above_42C_min: the time at or above 42 °C (minutes) reached or exceeded by 90 % of the
  target volume (per-vertex times from the linear-in-time interpolant of each step).
- Cumulative DVH-style histogram: fraction of a region's volume with T_max ≥ each bin edge.
"""
from __future__ import annotations

import numpy as np

from planner.artefacts import Role, TissueMesh
from planner.thermal._kernels import cumulative_histogram_nb, exceeded_by_fraction_nb, lumped_vertex_volumes_nb


def vertex_volumes_m3(mesh: TissueMesh, cell_mask: np.ndarray) -> np.ndarray:
    """Lumped vertex volumes (m³) of the cells selected by ``cell_mask``."""
    return lumped_vertex_volumes_nb(mesh.cells.astype(np.int64), mesh.cell_volumes_m3(),
                                    np.asarray(cell_mask, dtype=np.bool_), mesh.num_vertices)


def exceeded_by_fraction(values: np.ndarray, weights: np.ndarray, fraction: float) -> float:
    """Value reached or exceeded by ``fraction`` of the weight (only weights > 0 count)."""
    sel = weights > 0
    if not np.any(sel):
        return float("nan")
    return float(exceeded_by_fraction_nb(np.ascontiguousarray(values[sel], dtype=float),
                                         np.ascontiguousarray(weights[sel], dtype=float), float(fraction)))


def target_cell_mask(mesh: TissueMesh) -> np.ndarray:
    tags = [r.tag for r in mesh.regions_with_role(Role.TARGET)]
    return np.isin(mesh.cell_region, tags)


def target_metrics(mesh: TissueMesh, T_max_C: np.ndarray, CEM43_min: np.ndarray,
                   time_above_42C_min: np.ndarray) -> dict | None:
    """The ``thermal.target`` block, or None if the mesh has no target region."""
    mask = target_cell_mask(mesh)
    if not np.any(mask):
        return None
    w = vertex_volumes_m3(mesh, mask)
    sel = w > 0
    return {
        "T90_C": exceeded_by_fraction(T_max_C, w, 0.9),
        "T50_C": exceeded_by_fraction(T_max_C, w, 0.5),
        "T10_C": exceeded_by_fraction(T_max_C, w, 0.1),
        "max_C": float(T_max_C[sel].max()),
        "min_C": float(T_max_C[sel].min()),
        "CEM43T90_min": exceeded_by_fraction(CEM43_min, w, 0.9),
        "CEM43T50_min": exceeded_by_fraction(CEM43_min, w, 0.5),
        "time_above_42C_min": exceeded_by_fraction(time_above_42C_min, w, 0.9),
        "volume_m3": float(w.sum()),
    }


def tissue_metrics(mesh: TissueMesh, T_max_C: np.ndarray, CEM43_min: np.ndarray) -> dict[str, dict]:
    """Per tissue name: max temperature and max CEM43 over its vertices."""
    out: dict[str, dict] = {}
    for tissue in sorted({r.tissue for r in mesh.regions}):
        cells = mesh.cells_of_tissue(tissue)
        verts = np.unique(mesh.cells[cells])
        if verts.size == 0:  # a region without cells (e.g. meshed away)
            continue
        out[tissue] = {"max_C": float(T_max_C[verts].max()), "CEM43_max_min": float(CEM43_min[verts].max())}
    return out


def dvh(mesh: TissueMesh, T_max_C: np.ndarray, bin_K: float = 0.5) -> dict:
    """Cumulative temperature-volume histograms of T_max per tissue (and the target)."""
    lo = np.floor(float(T_max_C.min()) / bin_K) * bin_K
    hi = np.ceil(float(T_max_C.max()) / bin_K) * bin_K
    edges = np.arange(lo, hi + 0.5 * bin_K, bin_K)
    if edges.size < 2:
        edges = np.array([lo, lo + bin_K])
    groups: dict[str, np.ndarray] = {t: mesh.cells_of_tissue(t) for t in sorted({r.tissue for r in mesh.regions})}
    tmask = target_cell_mask(mesh)
    if np.any(tmask):
        groups["target"] = tmask
    out = {"edges_C": edges.tolist(), "fraction_at_or_above": {}}
    for name, mask in groups.items():
        if not np.any(mask):
            continue
        w = vertex_volumes_m3(mesh, mask)
        sel = w > 0
        out["fraction_at_or_above"][name] = cumulative_histogram_nb(
            np.ascontiguousarray(T_max_C[sel]), np.ascontiguousarray(w[sel]), edges).tolist()
    return out


def target_T90_history(mesh: TissueMesh, fields_C: np.ndarray) -> np.ndarray:
    """Target T90 of each instantaneous temperature field (rows of ``fields_C``, e.g. snapshots)."""
    mask = target_cell_mask(mesh)
    if not np.any(mask):
        return np.full(len(fields_C), np.nan)
    w = vertex_volumes_m3(mesh, mask)
    return np.array([exceeded_by_fraction(np.asarray(T, dtype=float), w, 0.9) for T in fields_C])


def time_to_reach_s(times_s: np.ndarray, values: np.ndarray, goal: float) -> float | None:
    """First time the piecewise-linear series reaches ``goal`` (None: never)."""
    t = np.asarray(times_s, dtype=float)
    v = np.asarray(values, dtype=float)
    hit = np.flatnonzero(v >= goal)
    if hit.size == 0:
        return None
    i = int(hit[0])
    if i == 0:
        return float(t[0])
    return float(t[i - 1] + (goal - v[i - 1]) / (v[i] - v[i - 1]) * (t[i] - t[i - 1]))
