"""Point location of voxel centres in a tetrahedral mesh (Numba kernel + NumPy reference).

Both work in *continuous voxel-index space* (i, j, k): the map LPS → index is affine, and barycentric
coordinates are invariant under affine maps, so locating voxel centres (integer i, j, k) in the
mesh mapped to index space is the same as locating them in LPS, and a cell's bounding box gives the
voxel range to test directly. A voxel centre belongs to the cell whose smallest barycentric
coordinate is largest (≥ −tol); ties on shared faces go to the first such cell in cell order.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def locate_voxels_nb(points_ijk, cells, nk, nj, ni, tol):
    """Cell of each voxel centre of an (nk, nj, ni) grid, −1 outside the mesh (flat, k-major)."""
    n = nk * nj * ni
    cell_of = -np.ones(n, dtype=np.int32)
    best = np.full(n, -np.inf)
    m = np.empty((3, 3))
    for c in range(cells.shape[0]):
        x0 = points_ijk[cells[c, 0]]
        for r in range(3):
            for s in range(3):
                m[r, s] = points_ijk[cells[c, s + 1], r] - x0[r]
        det = (
            m[0, 0] * (m[1, 1] * m[2, 2] - m[1, 2] * m[2, 1])
            - m[0, 1] * (m[1, 0] * m[2, 2] - m[1, 2] * m[2, 0])
            + m[0, 2] * (m[1, 0] * m[2, 1] - m[1, 1] * m[2, 0])
        )
        if abs(det) < 1e-300:
            continue
        minv = np.linalg.inv(m)
        lo = np.empty(3, dtype=np.int64)
        hi = np.empty(3, dtype=np.int64)
        for r in range(3):
            a = min(
                points_ijk[cells[c, 0], r],
                points_ijk[cells[c, 1], r],
                points_ijk[cells[c, 2], r],
                points_ijk[cells[c, 3], r],
            )
            b = max(
                points_ijk[cells[c, 0], r],
                points_ijk[cells[c, 1], r],
                points_ijk[cells[c, 2], r],
                points_ijk[cells[c, 3], r],
            )
            lo[r] = max(int(np.ceil(a - 1e-9)), 0)
            hi[r] = min(int(np.floor(b + 1e-9)), (ni, nj, nk)[r] - 1)
        for k in range(lo[2], hi[2] + 1):
            for j in range(lo[1], hi[1] + 1):
                for i in range(lo[0], hi[0] + 1):
                    d0 = i - x0[0]
                    d1 = j - x0[1]
                    d2 = k - x0[2]
                    l1 = minv[0, 0] * d0 + minv[0, 1] * d1 + minv[0, 2] * d2
                    l2 = minv[1, 0] * d0 + minv[1, 1] * d1 + minv[1, 2] * d2
                    l3 = minv[2, 0] * d0 + minv[2, 1] * d1 + minv[2, 2] * d2
                    score = min(1.0 - l1 - l2 - l3, l1, l2, l3)
                    v = (k * nj + j) * ni + i
                    if score >= -tol and score > best[v]:
                        best[v] = score
                        cell_of[v] = c
    return cell_of


def locate_voxels_np(points_ijk: np.ndarray, cells: np.ndarray, nk: int, nj: int, ni: int, tol: float) -> np.ndarray:
    """NumPy reference of :func:`locate_voxels_nb` (every cell for every voxel; tiny meshes only)."""
    x = np.asarray(points_ijk, float)[np.asarray(cells)]  # (M, 4, 3)
    m = np.stack([x[:, 1] - x[:, 0], x[:, 2] - x[:, 0], x[:, 3] - x[:, 0]], axis=2)
    minv = np.linalg.inv(m)
    k, j, i = np.meshgrid(np.arange(nk), np.arange(nj), np.arange(ni), indexing="ij")
    q = np.column_stack([i.ravel(), j.ravel(), k.ravel()]).astype(float)
    out = -np.ones(q.shape[0], dtype=np.int32)
    for v, p in enumerate(q):
        lam = np.einsum("mij,mj->mi", minv, p - x[:, 0])
        score = np.column_stack([1.0 - lam.sum(axis=1), lam]).min(axis=1)
        c = int(np.argmax(score))
        if score[c] >= -tol:
            out[v] = c
    return out


@numba.njit(cache=True)
def interpolate_vertex_nb(points_ijk, cells, cell_of, nj, ni, values):
    """P1 interpolant of per-vertex ``values`` at every voxel centre (flat, k-major; 0 where cell_of < 0)."""
    out = np.zeros(cell_of.shape[0], dtype=np.float32)
    for v in range(cell_of.shape[0]):
        c = cell_of[v]
        if c < 0:
            continue
        i = v % ni
        j = (v // ni) % nj
        k = v // (ni * nj)
        l1, l2, l3 = _solve3(points_ijk, cells, c, i, j, k)
        out[v] = (
            (1.0 - l1 - l2 - l3) * values[cells[c, 0]]
            + l1 * values[cells[c, 1]]
            + l2 * values[cells[c, 2]]
            + l3 * values[cells[c, 3]]
        )
    return out


@numba.njit(cache=True, inline="always")
def _solve3(p, cells, c, x, y, z):
    """Barycentric (λ1, λ2, λ3) of point (x, y, z) in cell c by Cramer's rule."""
    a0, a1, a2, a3 = cells[c, 0], cells[c, 1], cells[c, 2], cells[c, 3]
    m00 = p[a1, 0] - p[a0, 0]
    m01 = p[a2, 0] - p[a0, 0]
    m02 = p[a3, 0] - p[a0, 0]
    m10 = p[a1, 1] - p[a0, 1]
    m11 = p[a2, 1] - p[a0, 1]
    m12 = p[a3, 1] - p[a0, 1]
    m20 = p[a1, 2] - p[a0, 2]
    m21 = p[a2, 2] - p[a0, 2]
    m22 = p[a3, 2] - p[a0, 2]
    d0 = x - p[a0, 0]
    d1 = y - p[a0, 1]
    d2 = z - p[a0, 2]
    det = m00 * (m11 * m22 - m12 * m21) - m01 * (m10 * m22 - m12 * m20) + m02 * (m10 * m21 - m11 * m20)
    l1 = (d0 * (m11 * m22 - m12 * m21) - m01 * (d1 * m22 - m12 * d2) + m02 * (d1 * m21 - m11 * d2)) / det
    l2 = (m00 * (d1 * m22 - m12 * d2) - d0 * (m10 * m22 - m12 * m20) + m02 * (m10 * d2 - d1 * m20)) / det
    l3 = (m00 * (m11 * d2 - d1 * m21) - m01 * (m10 * d2 - d1 * m20) + d0 * (m10 * m21 - m11 * m20)) / det
    return l1, l2, l3


def interpolate_vertex_np(
    points_ijk: np.ndarray, cells: np.ndarray, cell_of: np.ndarray, nj: int, ni: int, values: np.ndarray
) -> np.ndarray:
    """NumPy reference of :func:`interpolate_vertex_nb`."""
    out = np.zeros(cell_of.shape[0], dtype=np.float32)
    v = np.flatnonzero(cell_of >= 0)
    c = cell_of[v]
    q = np.column_stack([v % ni, (v // ni) % nj, v // (ni * nj)]).astype(float)
    x = np.asarray(points_ijk)[cells[c]]
    m = np.stack([x[:, 1] - x[:, 0], x[:, 2] - x[:, 0], x[:, 3] - x[:, 0]], axis=2)
    lam = np.linalg.solve(m, (q - x[:, 0])[..., None])[..., 0]
    bary = np.column_stack([1.0 - lam.sum(axis=1), lam])
    out[v] = np.einsum("ij,ij->i", bary, np.asarray(values, float)[cells[c]])
    return out
