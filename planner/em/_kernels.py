"""Biot–Savart for piecewise-straight current paths: Numba kernels beside a plain NumPy reference.

A coil is a set of closed polylines. Its vertices ``verts_m`` (V, 3) are shared by consecutive
segments; segment ``k`` runs from ``verts_m[seg_start[k]]`` to ``verts_m[seg_end[k]]`` and carries
the relative current ``seg_current[k]`` (A per ampere of coil current; +1 for every turn of a simple
coil). Closed forms per straight segment (Hanson & Hirshman 2002, "Compact expressions for the
Biot–Savart fields of a filamentary segment", Phys. Plasmas 9, 4410):

    with  R_i = r_i − x,  R_f = r_f − x  (segment ends seen from the field point x),
          L = |r_f − r_i|,  ê = (r_f − r_i)/L,

    H(x) = I/(4π) · (R_i × R_f) (|R_i| + |R_f|) / ( |R_i| |R_f| (|R_i| |R_f| + R_i·R_f) )     [A/m]
    A(x) = μ0 I/(4π) · ê · ln( (|R_i| + |R_f| + L) / (|R_i| + |R_f| − L) )                   [V·s/m]

For a closed path the sum of the segment potentials is the Coulomb-gauge (∇·A = 0) vector potential
of the path, B = ∇×A = μ0 H. On a segment itself both expressions are singular; a field point closer
than ``1e-9 · L`` (relative) to a segment gets no contribution from it (the coils never touch the
body: the applicator checks that).

The Numba kernel walks the segments as one chain of vertices (jumps between separate paths carry
zero current), computes the distances from a field point to every vertex once (each serves two
segments) and runs ``prange`` over blocks of field points; ``cache=True`` keeps the compiled
kernel between runs.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from planner.units import MU0_H_per_m

_FOUR_PI = 4.0 * math.pi
_SQRT2 = math.sqrt(2.0)
_LN2 = math.log(2.0)
_EPS_REL = 1e-9  # field points within this fraction of L of a segment are skipped (singular)


def _as_arrays(points_m, verts_m, seg_start, seg_end, seg_current):
    p = np.ascontiguousarray(points_m, dtype=np.float64).reshape(-1, 3)
    v = np.ascontiguousarray(verts_m, dtype=np.float64).reshape(-1, 3)
    s0 = np.ascontiguousarray(seg_start, dtype=np.int64)
    s1 = np.ascontiguousarray(seg_end, dtype=np.int64)
    cur = np.ascontiguousarray(seg_current, dtype=np.float64)
    return p, v, s0, s1, cur


# --- NumPy reference ---------------------------------------------------------------------------
def biot_savart_numpy(points_m, verts_m, seg_start, seg_end, seg_current, *, want_H=True, want_A=True,
                      chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Reference implementation (vectorised NumPy, chunked over points). Returns (H, A) per unit
    coil current: H in A/m per A, A in V·s/m per A; an array of zeros for the one not wanted."""
    p, v, s0, s1, cur = _as_arrays(points_m, verts_m, seg_start, seg_end, seg_current)
    H = np.zeros_like(p)
    A = np.zeros_like(p)
    ri, rf = v[s0], v[s1]
    seg = rf - ri
    L = np.linalg.norm(seg, axis=1)
    e = seg / np.where(L > 0, L, 1.0)[:, None]
    for a in range(0, p.shape[0], chunk):
        x = p[a:a + chunk, None, :]
        Ri = ri[None] - x
        Rf = rf[None] - x
        ni = np.linalg.norm(Ri, axis=2)
        nf = np.linalg.norm(Rf, axis=2)
        s = ni + nf
        ok = (s - L[None]) > _EPS_REL * L[None]
        if want_H:
            den = ni * nf * (ni * nf + np.einsum("pkj,pkj->pk", Ri, Rf))
            fac = np.where(ok, s / np.where(ok, den, 1.0), 0.0) * cur[None] / _FOUR_PI
            H[a:a + chunk] = np.einsum("pk,pkj->pj", fac, np.cross(Ri, Rf))
        if want_A:
            lg = np.where(ok, np.log(np.where(ok, (s + L[None]) / np.where(ok, s - L[None], 1.0), 1.0)), 0.0)
            A[a:a + chunk] = MU0_H_per_m / _FOUR_PI * (lg * cur[None]) @ e
    return H, A


# --- Numba kernel ------------------------------------------------------------------------------
def _chain(v, s0, s1, cur):
    """Segments → one chain of vertices ``c`` where segment k runs c[k] → c[k+1] with weight w[k];
    a jump between disjoint paths gets weight 0. Contiguous access lets LLVM vectorise the loop."""
    pts = []
    w = []
    last = -1
    for a, b, i in zip(s0.tolist(), s1.tolist(), cur.tolist()):
        if a != last:
            if pts:
                w.append(0.0)
            pts.append(a)
        pts.append(b)
        w.append(i)
        last = b
    return np.ascontiguousarray(v[np.asarray(pts, dtype=np.int64)].T), np.asarray(w, dtype=np.float64)


@numba.njit(parallel=True, fastmath=True, cache=True)
def _bs_kernel(p, c, w, want_H, want_A, H, A):  # pragma: no cover - compiled
    n = p.shape[0]
    nv = c.shape[1]
    ns = nv - 1
    cx = c[0]
    cy = c[1]
    cz = c[2]
    L = np.empty(ns)
    ex = np.empty(ns)
    ey = np.empty(ns)
    ez = np.empty(ns)
    for k in range(ns):
        dx = cx[k + 1] - cx[k]
        dy = cy[k + 1] - cy[k]
        dz = cz[k + 1] - cz[k]
        lk = math.sqrt(dx * dx + dy * dy + dz * dz)
        L[k] = lk
        inv = 1.0 / lk if lk > 0.0 else 0.0
        ex[k] = dx * inv
        ey[k] = dy * inv
        ez[k] = dz * inv
    block = 64
    nblocks = (n + block - 1) // block
    c_h = 1.0 / (4.0 * math.pi)
    c_a = MU0_H_per_m / (4.0 * math.pi)
    tiny = 1e-300
    for b in numba.prange(nblocks):
        rx = np.empty(nv)
        ry = np.empty(nv)
        rz = np.empty(nv)
        rn = np.empty(nv)
        qbuf = np.empty(max(ns, 1))
        ebuf = np.empty(max(ns, 1))
        qbits = qbuf.view(np.int64)
        i_end = min(n, (b + 1) * block)
        for i in range(b * block, i_end):
            x0 = p[i, 0]
            x1 = p[i, 1]
            x2 = p[i, 2]
            for j in range(nv):
                ax = cx[j] - x0
                ay = cy[j] - x1
                az = cz[j] - x2
                rx[j] = ax
                ry[j] = ay
                rz[j] = az
                rn[j] = math.sqrt(ax * ax + ay * ay + az * az)
            if want_H:
                hx = 0.0
                hy = 0.0
                hz = 0.0
                for k in range(ns):
                    ni = rn[k]
                    nf = rn[k + 1]
                    aix = rx[k]
                    aiy = ry[k]
                    aiz = rz[k]
                    afx = rx[k + 1]
                    afy = ry[k + 1]
                    afz = rz[k + 1]
                    s = ni + nf
                    den = ni * nf * (ni * nf + aix * afx + aiy * afy + aiz * afz)
                    # singular on the segment (s - L -> 0): contribution dropped there
                    fac = w[k] * s / max(den, tiny) if s - L[k] > _EPS_REL * L[k] else 0.0
                    hx += fac * (aiy * afz - aiz * afy)
                    hy += fac * (aiz * afx - aix * afz)
                    hz += fac * (aix * afy - aiy * afx)
                H[i, 0] = c_h * hx
                H[i, 1] = c_h * hy
                H[i, 2] = c_h * hz
            if want_A:
                # log((s + L)/(s - L)) by a vectorisable log: q = 2^e · m, m in [1, 2) from the bits,
                # then ln m = 2 atanh(z), z = (m − 1)/(m + 1), |z| <= 0.1716 after m -> m/2 for m > √2,
                # 11-term series (relative error < 1e-16)
                for k in range(ns):
                    s = rn[k] + rn[k + 1]
                    lk = L[k]
                    d = s - lk
                    qbuf[k] = (s + lk) / d if d > _EPS_REL * lk else 1.0
                for k in range(ns):
                    bits = qbits[k]
                    ebuf[k] = float(((bits >> 52) & 0x7FF) - 1023)
                    qbits[k] = (bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000
                bx = 0.0
                by = 0.0
                bz = 0.0
                for k in range(ns):
                    m = qbuf[k]
                    e = ebuf[k]
                    big = m > _SQRT2
                    m = m * 0.5 if big else m
                    e = e + 1.0 if big else e
                    z = (m - 1.0) / (m + 1.0)
                    z2 = z * z
                    pz = 1.0 / 21.0
                    pz = pz * z2 + 1.0 / 19.0
                    pz = pz * z2 + 1.0 / 17.0
                    pz = pz * z2 + 1.0 / 15.0
                    pz = pz * z2 + 1.0 / 13.0
                    pz = pz * z2 + 1.0 / 11.0
                    pz = pz * z2 + 1.0 / 9.0
                    pz = pz * z2 + 1.0 / 7.0
                    pz = pz * z2 + 1.0 / 5.0
                    pz = pz * z2 + 1.0 / 3.0
                    pz = pz * z2 + 1.0
                    lg = w[k] * (2.0 * z * pz + e * _LN2)
                    bx += lg * ex[k]
                    by += lg * ey[k]
                    bz += lg * ez[k]
                A[i, 0] = c_a * bx
                A[i, 1] = c_a * by
                A[i, 2] = c_a * bz


def biot_savart(points_m, verts_m, seg_start, seg_end, seg_current, *, want_H=True, want_A=True
                ) -> tuple[np.ndarray, np.ndarray]:
    """Numba version of :func:`biot_savart_numpy` (same arguments and results)."""
    p, v, s0, s1, cur = _as_arrays(points_m, verts_m, seg_start, seg_end, seg_current)
    H = np.zeros_like(p)
    A = np.zeros_like(p)
    if p.shape[0] and s0.shape[0]:
        c, w = _chain(v, s0, s1, cur)
        _bs_kernel(p, c, w, bool(want_H), bool(want_A), H, A)
    return H, A


# --- voxel sampling of a tetrahedral mesh (10 g cube SAR; NumPy reference: planner.em.sar.locate_points)
@numba.njit(cache=True)
def _rasterize_kernel(pts, cells, lo, s, shape, cell_of, bary):  # pragma: no cover - compiled
    ny, nz = shape[1], shape[2]
    for c in range(cells.shape[0]):
        x0 = pts[cells[c, 0]]
        a = pts[cells[c, 1]] - x0
        b = pts[cells[c, 2]] - x0
        d = pts[cells[c, 3]] - x0
        det = a[0] * (b[1] * d[2] - b[2] * d[1]) - a[1] * (b[0] * d[2] - b[2] * d[0]) + a[2] * (b[0] * d[1] - b[1] * d[0])
        if det == 0.0:
            continue
        # inverse of the matrix with columns a, b, d (rows of the inverse = cofactors / det)
        inv = np.empty((3, 3))
        inv[0, 0] = (b[1] * d[2] - b[2] * d[1]) / det
        inv[0, 1] = (b[2] * d[0] - b[0] * d[2]) / det
        inv[0, 2] = (b[0] * d[1] - b[1] * d[0]) / det
        inv[1, 0] = (d[1] * a[2] - d[2] * a[1]) / det
        inv[1, 1] = (d[2] * a[0] - d[0] * a[2]) / det
        inv[1, 2] = (d[0] * a[1] - d[1] * a[0]) / det
        inv[2, 0] = (a[1] * b[2] - a[2] * b[1]) / det
        inv[2, 1] = (a[2] * b[0] - a[0] * b[2]) / det
        inv[2, 2] = (a[0] * b[1] - a[1] * b[0]) / det
        lo_i = np.empty(3, np.int64)
        hi_i = np.empty(3, np.int64)
        for k in range(3):
            mn = min(x0[k], x0[k] + a[k], x0[k] + b[k], x0[k] + d[k])
            mx = max(x0[k], x0[k] + a[k], x0[k] + b[k], x0[k] + d[k])
            lo_i[k] = max(int(math.ceil((mn - lo[k]) / s - 0.5)), 0)
            hi_i[k] = min(int(math.floor((mx - lo[k]) / s - 0.5)), shape[k] - 1)
        for i in range(lo_i[0], hi_i[0] + 1):
            for j in range(lo_i[1], hi_i[1] + 1):
                for k in range(lo_i[2], hi_i[2] + 1):
                    q0 = lo[0] + s * (i + 0.5) - x0[0]
                    q1 = lo[1] + s * (j + 0.5) - x0[1]
                    q2 = lo[2] + s * (k + 0.5) - x0[2]
                    l1 = inv[0, 0] * q0 + inv[0, 1] * q1 + inv[0, 2] * q2
                    l2 = inv[1, 0] * q0 + inv[1, 1] * q1 + inv[1, 2] * q2
                    l3 = inv[2, 0] * q0 + inv[2, 1] * q1 + inv[2, 2] * q2
                    l0 = 1.0 - l1 - l2 - l3
                    if l0 >= -1e-9 and l1 >= -1e-9 and l2 >= -1e-9 and l3 >= -1e-9:
                        v = (i * ny + j) * nz + k
                        cell_of[v] = c
                        bary[v, 0] = l0
                        bary[v, 1] = l1
                        bary[v, 2] = l2
                        bary[v, 3] = l3


def rasterize_cells(points_m, cells, lo_m, spacing_m: float, shape) -> tuple[np.ndarray, np.ndarray]:
    """(cell index or −1, barycentric (n,4)) of every voxel centre lo + s (i + ½) of a grid of ``shape``
    (C order), by walking each tetrahedron's bounding box of voxels (Numba)."""
    n = int(np.prod(shape))
    cell_of = np.full(n, -1, np.int64)
    bary = np.zeros((n, 4))
    _rasterize_kernel(np.ascontiguousarray(points_m, np.float64), np.ascontiguousarray(cells, np.int64),
                      np.asarray(lo_m, np.float64), float(spacing_m), np.asarray(shape, np.int64), cell_of, bary)
    return cell_of, bary


# --- ICNIRP 2 mm cube averages (planner.em.sar.internal_E_cube_p99): per-sample keys and part sums -----
@numba.njit(cache=True)
def _cube_keys_kernel(cell_of, sel, tissue_id, ny, nz, n, nc1, nc2, n_tissues, key):  # pragma: no cover
    for v in range(cell_of.shape[0]):
        c = cell_of[v]
        if c < 0:
            key[v] = -1
            continue
        ix = v // (ny * nz)
        r = v - ix * ny * nz
        iy = r // nz
        iz = r - iy * nz
        key[v] = (((ix // n) * nc1 + iy // n) * nc2 + iz // n) * n_tissues + tissue_id[sel[c]]


@numba.njit(cache=True)
def _cube_sums_kernel(cell_of, bary, sel, key, pos, Fr, Fi, acc):  # pragma: no cover - compiled
    # columns of acc: the 3 components of Fr, then (if acc has 6) those of Fi; the sums run in sample
    # order, the four vertex terms left to right (as the NumPy bincount they replace)
    two = acc.shape[1] == 6
    for v in range(cell_of.shape[0]):
        kv = key[v]
        if kv < 0:
            continue
        ci = sel[cell_of[v]]
        j = pos[kv]
        b0, b1, b2, b3 = bary[v, 0], bary[v, 1], bary[v, 2], bary[v, 3]
        for q in range(3):
            acc[j, q] += ((b0 * Fr[ci, 0, q] + b1 * Fr[ci, 1, q]) + b2 * Fr[ci, 2, q]) + b3 * Fr[ci, 3, q]
            if two:
                acc[j, 3 + q] += ((b0 * Fi[ci, 0, q] + b1 * Fi[ci, 1, q]) + b2 * Fi[ci, 2, q]) + b3 * Fi[ci, 3, q]


def cube_part_sums(cell_of, bary, sel, tissue_id, shape, n: int, nc1: int, nc2: int, n_tissues: int,
                   F_vertex_cell) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(used keys (sorted), sample count per key, Σ of the sampled F components per key (k, 3): real F,
    (k, 6): real and imaginary parts of complex F) of the voxel samples ``cell_of``/``bary`` of a chunk
    (cells ``sel``), key = (cube, tissue id) = ((ix//n · nc1 + iy//n) · nc2 + iz//n) · n_tissues + tissue."""
    sel = np.ascontiguousarray(sel, np.int64)
    key = np.empty(cell_of.shape[0], np.int64)
    _cube_keys_kernel(cell_of, sel, np.ascontiguousarray(tissue_id, np.int64), int(shape[1]), int(shape[2]),
                      int(n), int(nc1), int(nc2), int(n_tissues), key)
    size = int(shape[0]) // n * nc1 * nc2 * n_tissues
    count = np.bincount(key[key >= 0], minlength=size)
    used = np.flatnonzero(count)
    pos = np.full(size, -1, np.int64)
    pos[used] = np.arange(used.size)
    cplx = np.iscomplexobj(F_vertex_cell)
    Fr = F_vertex_cell.real if cplx else np.asarray(F_vertex_cell, np.float64)
    acc = np.zeros((used.size, 6 if cplx else 3))
    _cube_sums_kernel(cell_of, bary, sel, key, pos, Fr, F_vertex_cell.imag if cplx else Fr, acc)
    return used, count[used], acc


@numba.njit(cache=True)
def _cell_roots(cells: np.ndarray, num_vertices: int) -> np.ndarray:
    """Union-find over vertices joined by cells (path halving, union by index): the root of each cell."""
    parent = np.arange(num_vertices)
    for c in range(cells.shape[0]):
        a = cells[c, 0]
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        for j in range(1, cells.shape[1]):
            b = cells[c, j]
            while parent[b] != b:
                parent[b] = parent[parent[b]]
                b = parent[b]
            if a != b:
                if b < a:
                    a, b = b, a
                parent[b] = a
    out = np.empty(cells.shape[0], np.int64)
    for c in range(cells.shape[0]):
        a = cells[c, 0]
        while parent[a] != a:
            a = parent[a]
        out[c] = a
    return out


def cell_components(cells: np.ndarray, num_vertices: int) -> tuple[int, np.ndarray]:
    """Connected components of cells sharing a vertex: (number, component per cell numbered in the order
    of each component's first cell — scipy.sparse.csgraph.connected_components' order on the cell–vertex
    graph, tested)."""
    roots = _cell_roots(np.ascontiguousarray(cells, dtype=np.int64), int(num_vertices))
    uniq, first, inverse = np.unique(roots, return_index=True, return_inverse=True)
    rank = np.empty(uniq.size, np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(uniq.size)
    return int(uniq.size), rank[inverse]
