"""Numba kernels of the thermal stage, each beside a plain NumPy reference (``*_np``).

Tests compare every ``*_nb`` kernel with its ``*_np`` reference.

Thermal dose (Sapareto & Dewey, Int. J. Radiat. Oncol. Biol. Phys. 10:787–800, 1984):
    CEM43 = Σ_n Δt_n · R^(43 − T̄_n)  (minutes),  R = 0.5 if T̄_n ≥ 43 °C else 0.25,
with T̄_n = (T_n + T_{n+1})/2 the step's mean temperature (trapezoidal mean of the linear-in-time
interpolant between the integrator's time levels; used for every integrator).
Time above a threshold uses the same linear-in-time interpolant: the exact fraction of the step
during which the line from T_n to T_{n+1} is at or above the threshold.
"""
from __future__ import annotations

import numba
import numpy as np


# --- dose accumulation ------------------------------------------------------------------------
@numba.njit(cache=True, fastmath=False)
def accumulate_dose_nb(cem_min, t_above_s, T_max_C, T0_C, T1_C, dt_s, threshold_C):
    """In place: CEM43 (min), time at/above ``threshold_C`` (s) and running max over one step."""
    n = T0_C.shape[0]
    dt_min = dt_s / 60.0
    for i in range(n):
        a = T0_C[i]
        b = T1_C[i]
        tm = 0.5 * (a + b)
        r = 0.5 if tm >= 43.0 else 0.25
        cem_min[i] += dt_min * r ** (43.0 - tm)
        if a >= threshold_C and b >= threshold_C:
            t_above_s[i] += dt_s
        elif a >= threshold_C:
            t_above_s[i] += dt_s * (a - threshold_C) / (a - b)
        elif b >= threshold_C:
            t_above_s[i] += dt_s * (b - threshold_C) / (b - a)
        if b > T_max_C[i]:
            T_max_C[i] = b


def accumulate_dose_np(cem_min, t_above_s, T_max_C, T0_C, T1_C, dt_s, threshold_C):
    """NumPy reference of :func:`accumulate_dose_nb` (same in-place semantics)."""
    a = np.asarray(T0_C, dtype=float)
    b = np.asarray(T1_C, dtype=float)
    tm = 0.5 * (a + b)
    r = np.where(tm >= 43.0, 0.5, 0.25)
    cem_min += dt_s / 60.0 * r ** (43.0 - tm)
    both = (a >= threshold_C) & (b >= threshold_C)
    down = (a >= threshold_C) & ~both
    up = (b >= threshold_C) & ~both
    frac = np.zeros_like(a)
    frac[both] = 1.0
    frac[down] = (a[down] - threshold_C) / (a[down] - b[down])
    frac[up] = (b[up] - threshold_C) / (b[up] - a[up])
    t_above_s += dt_s * frac
    np.maximum(T_max_C, b, out=T_max_C)


# --- volume weights ---------------------------------------------------------------------------
@numba.njit(cache=True)
def lumped_vertex_volumes_nb(cells, cell_volume_m3, cell_mask, n_vertices):
    """Lumped vertex volumes: each selected cell gives V/4 to each of its 4 vertices (m³)."""
    out = np.zeros(n_vertices)
    for c in range(cells.shape[0]):
        if cell_mask[c]:
            q = 0.25 * cell_volume_m3[c]
            for j in range(4):
                out[cells[c, j]] += q
    return out


def lumped_vertex_volumes_np(cells, cell_volume_m3, cell_mask, n_vertices):
    out = np.zeros(n_vertices)
    sel = np.asarray(cell_mask, dtype=bool)
    np.add.at(out, np.asarray(cells)[sel].ravel(), np.repeat(0.25 * np.asarray(cell_volume_m3)[sel], 4))
    return out


# --- volume-weighted statistics ---------------------------------------------------------------
@numba.njit(cache=True)
def exceeded_by_fraction_nb(values, weights, fraction):
    """The value v_p exceeded by ``fraction`` of the total weight: sort descending and return the
    first value at which the cumulative weight reaches fraction·W (T90: fraction = 0.9)."""
    order = np.argsort(-values, kind="mergesort")
    total = 0.0
    for i in range(weights.shape[0]):
        total += weights[i]
    goal = fraction * total
    acc = 0.0
    for k in range(order.shape[0]):
        acc += weights[order[k]]
        if acc >= goal * (1.0 - 1e-12):
            return values[order[k]]
    return values[order[-1]]


def exceeded_by_fraction_np(values, weights, fraction):
    values = np.asarray(values, dtype=float)
    weights = np.asarray(weights, dtype=float)
    order = np.argsort(-values, kind="mergesort")
    cum = np.cumsum(weights[order])
    k = int(np.searchsorted(cum, fraction * weights.sum() * (1.0 - 1e-12), side="left"))
    return float(values[order[min(k, values.size - 1)]])


@numba.njit(cache=True)
def cumulative_histogram_nb(values, weights, edges):
    """Fraction of the total weight with value ≥ edges[j] (cumulative DVH)."""
    out = np.zeros(edges.shape[0])
    total = 0.0
    for i in range(values.shape[0]):
        total += weights[i]
        for j in range(edges.shape[0]):
            if values[i] >= edges[j]:
                out[j] += weights[i]
            else:
                break
    if total > 0:
        for j in range(edges.shape[0]):
            out[j] /= total
    return out


def cumulative_histogram_np(values, weights, edges):
    values = np.asarray(values, dtype=float)
    weights = np.asarray(weights, dtype=float)
    total = weights.sum()
    out = np.array([weights[values >= e].sum() for e in edges])
    return out / total if total > 0 else out


# --- point location ---------------------------------------------------------------------------
@numba.njit(cache=True)
def locate_points_nb(points_m, cells, queries_m, tol):
    """Containing tetrahedron and barycentric weights of each query point (cell −1: outside)."""
    nq = queries_m.shape[0]
    cell_of = -np.ones(nq, dtype=np.int64)
    bary = np.zeros((nq, 4))
    best = np.full(nq, -np.inf)
    for c in range(cells.shape[0]):
        x0 = points_m[cells[c, 0]]
        x1 = points_m[cells[c, 1]]
        x2 = points_m[cells[c, 2]]
        x3 = points_m[cells[c, 3]]
        lo0 = min(x0[0], x1[0], x2[0], x3[0]); hi0 = max(x0[0], x1[0], x2[0], x3[0])
        lo1 = min(x0[1], x1[1], x2[1], x3[1]); hi1 = max(x0[1], x1[1], x2[1], x3[1])
        lo2 = min(x0[2], x1[2], x2[2], x3[2]); hi2 = max(x0[2], x1[2], x2[2], x3[2])
        for q in range(nq):
            p = queries_m[q]
            if p[0] < lo0 - tol or p[0] > hi0 + tol or p[1] < lo1 - tol or p[1] > hi1 + tol \
                    or p[2] < lo2 - tol or p[2] > hi2 + tol:
                continue
            m = np.empty((3, 3))
            for k in range(3):
                m[k, 0] = x1[k] - x0[k]
                m[k, 1] = x2[k] - x0[k]
                m[k, 2] = x3[k] - x0[k]
            lam = np.linalg.solve(m, p - x0)
            l0 = 1.0 - lam[0] - lam[1] - lam[2]
            mn = min(l0, lam[0], lam[1], lam[2])
            if mn >= -1e-9 and mn > best[q]:
                best[q] = mn
                cell_of[q] = c
                bary[q, 0] = l0
                bary[q, 1] = lam[0]
                bary[q, 2] = lam[1]
                bary[q, 3] = lam[2]
    return cell_of, bary


def locate_points_np(points_m, cells, queries_m, tol):
    """NumPy reference of :func:`locate_points_nb` (all cells at once per query point)."""
    x = np.asarray(points_m)[np.asarray(cells)]  # (M, 4, 3)
    m = np.stack([x[:, 1] - x[:, 0], x[:, 2] - x[:, 0], x[:, 3] - x[:, 0]], axis=2)  # (M, 3, 3)
    minv = np.linalg.inv(m)
    cell_of = -np.ones(len(queries_m), dtype=np.int64)
    bary = np.zeros((len(queries_m), 4))
    for q, p in enumerate(np.asarray(queries_m)):
        lam = np.einsum("mij,mj->mi", minv, p - x[:, 0])
        full = np.column_stack([1.0 - lam.sum(axis=1), lam])
        mn = full.min(axis=1)
        c = int(np.argmax(mn))
        if mn[c] >= -1e-9:
            cell_of[q] = c
            bary[q] = full[c]
    return cell_of, bary
