"""Dosimetry: 10 g SAR and the tissue field near implants.

The planner reports the IEC/IEEE 62704-1-style 10 g **cube** SAR sampled from the FE field
(:func:`mesh_cube_sar_10g`, definition :data:`CUBE_SAR_DEFINITION`) and the tissue E/SAR within a
distance of an implant (:func:`tissue_near_region`). :func:`mass_averaged_sar` (spheres around cell
centroids, below) was its 10 g SAR until issue 11 and is kept as an independent comparison.

Mass-averaged SAR over ~10 g of tissue (spherical averaging volume on a voxel grid, FFT convolution).

Averaging used (state it wherever the number is reported): the heat Q·V (W) and mass ρ·V (kg) of each
conducting cell are deposited at its centroid into a cubic voxel grid of spacing s ≈ r0/3, where
r0 = (3 m / (4π ρ̄))^{1/3} is the radius of a sphere of mass m = 10 g at the volume-mean density ρ̄
(r0 ≈ 13.4 mm at 1000 kg/m³). For every voxel, heat P_k and mass M_k inside voxelised spheres of
radii r0·2^{(k−1)/3} (k = 0…4: nominal masses m/2 … 8m) are taken by FFT convolution; between the two
spheres that bracket M = m (the empty sphere is level −1) P is interpolated linearly in M, and the
averaged SAR is P(m)/m — the heat in exactly 10 g of surrounding tissue. Where even the largest
sphere holds less than m (a body smaller than ~10 g, a thin appendage) it is ΣQV/ΣρV over that sphere.
Air and implants carry no mass and no heat. A cell reports the value of the voxel holding its centroid.
This is a sphere analogue of the 10 g cube
of IEEE/IEC 62704-1 (2017), with the averaging mass grown near the skin instead of shifting the cube;
it is cheap (O(V log V) on ≤ ``max_voxels`` voxels) and resolves the averaging volume with ≈ 113 voxels.
"""
from __future__ import annotations

import math

import numpy as np


def mass_averaged_sar(centroids_m: np.ndarray, volumes_m3: np.ndarray, Q_W_per_m3: np.ndarray,
                      density_kg_per_m3: np.ndarray, *, mass_kg: float = 0.010,
                      max_voxels: int = 2_000_000) -> np.ndarray:
    """Per-cell mass-averaged SAR (W/kg) over ``mass_kg`` (see the module docstring).

    Cells with zero density (non-conducting or excluded) get 0.
    """
    from scipy import fft

    x = np.asarray(centroids_m, dtype=float)
    w = np.asarray(volumes_m3, dtype=float)
    q = np.asarray(Q_W_per_m3, dtype=float)
    rho = np.asarray(density_kg_per_m3, dtype=float)
    out = np.zeros(x.shape[0])
    sel = rho > 0
    if not sel.any():
        return out
    xs, P, m = x[sel], (q * w)[sel], (rho * w)[sel]
    rho_mean = m.sum() / w[sel].sum()
    r0 = (3.0 * mass_kg / (4.0 * math.pi * rho_mean)) ** (1.0 / 3.0)
    radii = r0 * 2.0 ** ((np.arange(5) - 1) / 3.0)
    lo = xs.min(axis=0)
    ext = xs.max(axis=0) - lo
    s = r0 / 3.0
    box = np.prod(ext + 2 * radii[-1])
    if box / s ** 3 > max_voxels:
        s = (box / max_voxels) ** (1.0 / 3.0)
    pad = int(math.ceil(radii[-1] / s))
    idx = np.floor((xs - lo) / s).astype(np.int64) + pad
    shape = tuple(int(v) for v in idx.max(axis=0) + pad + 1)
    flat = np.ravel_multi_index(idx.T, shape)
    n = int(np.prod(shape))
    Pg = np.bincount(flat, weights=P, minlength=n).reshape(shape)
    Mg = np.bincount(flat, weights=m, minlength=n).reshape(shape)
    # FFT sizes: grid + kernel, linear (not circular) convolution
    kr = pad
    fshape = [fft.next_fast_len(d + 2 * kr, real=True) for d in shape]
    FP = fft.rfftn(Pg, fshape)
    FM = fft.rfftn(Mg, fshape)
    occupied = np.unique(flat)
    g = np.arange(-kr, kr + 1) * s
    X, Y, Z = np.meshgrid(g, g, g, indexing="ij")
    R2 = X * X + Y * Y + Z * Z
    oi = tuple(a + kr for a in np.unravel_index(occupied, shape))
    # masses and heats in growing spheres; (0, 0) is the empty sphere
    Ps = [np.zeros(occupied.size)]
    Ms = [np.zeros(occupied.size)]
    for r in radii:
        FK = fft.rfftn((R2 <= r * r).astype(float), fshape)
        Ps.append(fft.irfftn(FP * FK, fshape)[oi])
        Ms.append(np.maximum(fft.irfftn(FM * FK, fshape)[oi], 0.0))
    best_P = Ps[-1].copy()  # no sphere reaches the mass: average over the largest
    best_M = Ms[-1].copy()
    done = np.zeros(occupied.size, bool)
    for k in range(1, len(Ms)):
        hit = ~done & (Ms[k] >= mass_kg)
        if hit.any():
            m0, m1, p0, p1 = Ms[k - 1][hit], Ms[k][hit], Ps[k - 1][hit], Ps[k][hit]
            t = np.clip((mass_kg - m0) / np.where(m1 > m0, m1 - m0, 1.0), 0.0, 1.0)
            best_P[hit] = p0 + t * (p1 - p0)
            best_M[hit] = mass_kg
            done |= hit
    sar_vox = np.where(best_M > 0, best_P / np.where(best_M > 0, best_M, 1.0), 0.0)
    pos = np.searchsorted(occupied, flat)
    out[np.flatnonzero(sel)] = np.maximum(sar_vox[pos], 0.0)
    return out


def tissue_near_region(points_m: np.ndarray, cells: np.ndarray, region_cells: np.ndarray, tissue_cells: np.ndarray,
                       distance_m: float, *, E_cell: np.ndarray, E_vertex_max: np.ndarray, SAR_vertex_max: np.ndarray,
                       SAR10g: np.ndarray, volumes_m3: np.ndarray) -> tuple[float, float, float, float]:
    """(E_peak, E_p99, SAR_peak, SAR10g max) over the ``tissue_cells`` with a vertex within
    ``distance_m`` of the surface of ``region_cells`` (its vertices shared with other cells).
    E_peak/SAR_peak: max of the per-cell vertex maxima; E_p99: volume-weighted 99th percentile of the
    cell values ``E_cell``; zeros if no tissue cell is that close."""
    from scipy.spatial import cKDTree

    reg_v = np.unique(cells[region_cells])
    other_v = np.unique(cells[~region_cells])
    surf = np.intersect1d(reg_v, other_v)
    if surf.size == 0 or not tissue_cells.any():
        return 0.0, 0.0, 0.0, 0.0
    tc = np.flatnonzero(tissue_cells)
    d, _ = cKDTree(points_m[surf]).query(points_m[cells[tc]].reshape(-1, 3), distance_upper_bound=distance_m * 1.0001)
    near = tc[np.isfinite(d.reshape(-1, 4)).any(axis=1)]
    if near.size == 0:
        return 0.0, 0.0, 0.0, 0.0
    e, w = E_cell[near], volumes_m3[near]
    o = np.argsort(e)
    cw = np.cumsum(w[o]) / w.sum()
    p99 = float(e[o][min(int(np.searchsorted(cw, 0.99)), e.size - 1)])
    return float(E_vertex_max[near].max()), p99, float(SAR_vertex_max[near].max()), float(SAR10g[near].max())


# --- IEC/IEEE 62704-1 10 g cube averaging, sampled from the FE field -------------------------------
CUBE_SAR_DEFINITION = (
    "IEC/IEEE 62704-1:2017-style 10 g cube SAR: the FE field is sampled at the centres of a cubic voxel grid "
    "(spacing ~ cube side / 10, capped by the voxel budget; SAR = sigma |E(x)|^2 / (2 rho) with E the cell's "
    "polynomial at x); around every tissue voxel a voxel-centred cube grows until it holds 10 g (heat and side "
    "interpolated linearly in mass between whole-voxel sizes); a cube is valid if at most 10 % of its volume is "
    "background (air, implants, outside the body); a voxel at the centre of a valid cube takes its average, any "
    "other voxel the max over the valid cubes containing it, a voxel in no valid cube its own cube's average; a cell "
    "reports the voxel value at its centroid (nearest assigned voxel if none)")


def locate_points(points_m: np.ndarray, cells: np.ndarray, query_m: np.ndarray, *, candidates: int = 24
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(cell index or −1, barycentric coordinates (n,4)) of each query point in a tetrahedral mesh:
    the ``candidates`` cells with the nearest centroids are tested (tolerance 1e-9)."""
    from scipy.spatial import cKDTree

    x = points_m[cells]
    T = np.stack([x[:, 1] - x[:, 0], x[:, 2] - x[:, 0], x[:, 3] - x[:, 0]], axis=2)  # (M,3,3)
    Tinv = np.linalg.inv(T)
    cen = x.mean(axis=1)
    reach = float(np.linalg.norm(x - cen[:, None, :], axis=2).max())  # no point farther from every centroid is inside
    tree = cKDTree(cen)
    found = np.full(len(query_m), -1, np.int64)
    bary = np.zeros((len(query_m), 4))
    d1, _ = tree.query(query_m, k=1)
    maybe = np.flatnonzero(d1 <= reach * (1 + 1e-9))
    for k in (4, min(candidates, len(cells))):
        for s0 in range(0, maybe.size, 200_000):
            rows = maybe[s0:s0 + 200_000]
            rows = rows[found[rows] < 0]
            if rows.size == 0:
                continue
            _, cand = tree.query(query_m[rows], k=k)
            cand = cand.reshape(len(rows), -1)
            for j in range(cand.shape[1]):
                todo = np.flatnonzero(found[rows] < 0)
                if todo.size == 0:
                    break
                c = cand[todo, j]
                lam = np.einsum("nij,nj->ni", Tinv[c], query_m[rows[todo]] - x[c, 0])
                b = np.column_stack([1.0 - lam.sum(axis=1), lam])
                ok = (b >= -1e-9).all(axis=1)
                found[rows[todo[ok]]] = c[ok]
                bary[rows[todo[ok]]] = b[ok]
    return found, bary


def _vertex_bounds(points_m: np.ndarray, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) corner of the vertices of ``cells`` (a vertex mask, not a sort of every index)."""
    used = np.zeros(len(points_m), bool)
    used[cells.reshape(-1)] = True
    p = points_m[used]
    return p.min(axis=0), p.max(axis=0)


def _box_sums(g: np.ndarray, k: int) -> np.ndarray:
    """Sum of g over the (2k+1)³ voxel cube centred on every voxel (zero outside): separable running means."""
    from scipy.ndimage import uniform_filter

    n = 2 * k + 1
    return uniform_filter(g, size=n, mode="constant", cval=0.0) * float(n ** 3)


def cube_sar_10g(sar_vox: np.ndarray, rho_vox: np.ndarray, spacing_m: float, *, mass_kg: float = 0.010,
                 max_background: float = 0.10) -> np.ndarray:
    """Voxel grid of 10 g cube SAR per :data:`CUBE_SAR_DEFINITION` (tissue voxels have rho > 0)."""
    from scipy.ndimage import maximum_filter

    tissue = rho_vox > 0
    v = spacing_m ** 3
    P, Mv, T = sar_vox * rho_vox * v, rho_vox * v, tissue.astype(float)
    rho_mean = float(Mv[tissue].sum() / (tissue.sum() * v))
    k_max = int(math.ceil(((mass_kg / rho_mean) ** (1 / 3) / spacing_m - 1) / 2 * 1.6)) + 2
    avg = np.zeros(sar_vox.shape)
    bg = np.full(sar_vox.shape, np.inf)
    kk = np.full(sar_vox.shape, -1)
    P0, M0, T0 = P, Mv, T  # k = 0: the voxel itself
    todo = tissue.copy()  # tissue voxels without their 10 g cube yet
    for k in range(1, k_max + 1):
        if not todo.any():  # every voxel has its cube: the larger ones are not needed
            break
        P1, M1, T1 = _box_sums(P, k), _box_sums(Mv, k), _box_sums(T, k)
        hit = todo & (M1 >= mass_kg)
        todo &= ~hit
        t = np.clip((mass_kg - M0[hit]) / np.maximum(M1[hit] - M0[hit], 1e-300), 0.0, 1.0)
        avg[hit] = (P0[hit] + t * (P1[hit] - P0[hit])) / mass_kg
        n0, n1 = (2 * k - 1) ** 3, (2 * k + 1) ** 3
        bg[hit] = 1.0 - (T0[hit] + t * (T1[hit] - T0[hit])) / (n0 + t * (n1 - n0))
        kk[hit] = k
        P0, M0, T0 = P1, M1, T1
    left = todo  # the largest cube holds less than 10 g (small body): average over it
    avg[left] = P0[left] / np.maximum(M0[left], 1e-300)
    bg[left] = 1.0 - T0[left] / (2 * k_max + 1) ** 3
    kk[left] = k_max
    valid = tissue & (bg <= max_background)
    out = np.zeros(sar_vox.shape)
    for k in np.unique(kk[valid]):
        sel = valid & (kk == k)
        out = np.maximum(out, maximum_filter(np.where(sel, avg, 0.0), size=2 * int(k) + 1, mode="constant"))
    out[valid] = avg[valid]  # the centre of a valid cube keeps its own average
    orphan = tissue & (out == 0) & ~valid
    out[orphan] = avg[orphan]  # in no valid cube: its own cube, whatever its background
    return out


def mesh_cube_sar_10g(points_m: np.ndarray, cells: np.ndarray, F_vertex_cell: np.ndarray, omega_rad_per_s: float,
                      sigma_S_per_m: np.ndarray, density_kg_per_m3: np.ndarray, tissue: np.ndarray, *,
                      mass_kg: float = 0.010, max_voxels: int = 2_000_000, cell_volumes_m3: np.ndarray | None = None,
                      cell_centroids_m: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """(per-cell 10 g cube SAR, voxel spacing m) per :data:`CUBE_SAR_DEFINITION`.

    ``F_vertex_cell`` (M,4,3): A0 + ∇ψ of each cell at its vertices (E = −jω F, linear in the cell; complex
    with the complex admittivity: |F|² = |Re F|² + |Im F|²);
    ``tissue`` (M,) the conducting cells (others are background); ``cell_volumes_m3``/``cell_centroids_m``:
    the mesh's own (cached) values, computed here if not given."""
    from scipy.ndimage import distance_transform_edt

    out = np.zeros(len(cells))
    if not tissue.any():
        return out, 0.0
    vol_c = cell_volumes_m3
    if vol_c is None:
        x = points_m[cells]
        vol_c = np.abs(np.einsum("ij,ij->i", np.cross(x[:, 1] - x[:, 0], x[:, 2] - x[:, 0]), x[:, 3] - x[:, 0])) / 6.0
    rho_mean = float((density_kg_per_m3 * vol_c)[tissue].sum() / vol_c[tissue].sum())
    side = (mass_kg / rho_mean) ** (1.0 / 3.0)
    lo, hi = _vertex_bounds(points_m, cells[tissue])
    s = side / 10.0
    if np.prod((hi - lo) / s + 1) > max_voxels:
        s = (np.prod(hi - lo) / max_voxels) ** (1.0 / 3.0)
    shape = tuple(int(v) for v in np.floor((hi - lo) / s).astype(int) + 1)
    from planner.em._kernels import rasterize_cells

    c, b = rasterize_cells(points_m, cells, lo, s, shape)
    inside = c >= 0
    inside[inside] = tissue[c[inside]]
    ci = c[inside]
    F = np.einsum("nk,nkj->nj", b[inside], F_vertex_cell[ci])
    sar = np.zeros(c.size)
    rho = np.zeros(c.size)
    rho[inside] = density_kg_per_m3[ci]
    F2 = np.einsum("ij,ij->i", F, F) if not np.iscomplexobj(F) else np.einsum("ij,ij->i", F, F.conj()).real
    sar[inside] = 0.5 * sigma_S_per_m[ci] * omega_rad_per_s ** 2 * F2 / rho[inside]
    grid = cube_sar_10g(sar.reshape(shape), rho.reshape(shape), s, mass_kg=mass_kg)
    assigned = grid > 0
    if assigned.any() and not assigned.all():
        _, ind = distance_transform_edt(~assigned, return_indices=True)
        grid = grid[tuple(ind)]
    cen = points_m[cells[tissue]].mean(axis=1) if cell_centroids_m is None else cell_centroids_m[tissue]
    ijk = np.clip(np.floor((cen - lo) / s).astype(int), 0, np.array(shape) - 1)
    out[tissue] = grid[ijk[:, 0], ijk[:, 1], ijk[:, 2]]
    return out, float(s)


# --- ICNIRP (2010) internal electric field: 2 mm cube averages, 99th percentile per tissue -----------
INTERNAL_E_CUBE_M = 2e-3

INTERNAL_E_DEFINITION = (
    "ICNIRP (2010)-style internal electric field: rms (= peak/sqrt 2) of the vector average of the FE field E "
    "over 2 x 2 x 2 mm cubes (an axis-aligned grid of contiguous cubes from the body's lower corner; the part of "
    "a cube in one tissue is averaged on its own, the contiguous tissue volume, from n^3 sample points at the "
    "centres of the cube's sub-cubes, E the cell's polynomial there, n in internal_E_samples_per_cube_edge); per "
    "tissue the 99th percentile of these cube values, weighted by the tissue volume in each cube")


def _chunk_cube_values(points_m, cells, F_vertex_cell, tissue_id, n_tissues, xrange, lo, nc, n, i0, i1, side):
    """(tissue id, |vector average of F|, sample count) of each (cube, tissue) part of the cubes with x index
    i0 ≤ i < i1 (every such cube lies wholly in this chunk); ``xrange`` (M,2) the cells' x extent."""
    from planner.em._kernels import cube_part_sums, rasterize_cells

    lo_c = lo + np.array([i0 * side, 0.0, 0.0])
    sel = np.flatnonzero((tissue_id >= 0) & (xrange[:, 1] >= lo_c[0]) & (xrange[:, 0] <= lo[0] + i1 * side))
    shape = ((i1 - i0) * n, int(nc[1]) * n, int(nc[2]) * n)
    c, b = rasterize_cells(points_m, cells[sel], lo_c, side / n, shape)
    used, count, sums = cube_part_sums(c, b, sel, tissue_id, shape, n, int(nc[1]), int(nc[2]), n_tissues,
                                       F_vertex_cell)
    mag2 = np.zeros(used.size)
    for q in range(sums.shape[1]):  # |Σ F|² over the cube part: real components, then imaginary ones
        mag2 += sums[:, q] ** 2
    return used % n_tissues, np.sqrt(mag2) / count, count


def internal_E_cube_p99(points_m: np.ndarray, cells: np.ndarray, F_vertex_cell: np.ndarray, omega_rad_per_s: float,
                        tissue_id: np.ndarray, n_tissues: int, *, side_m: float = INTERNAL_E_CUBE_M, samples: int = 2,
                        max_samples: int = 8_000_000, chunk_samples: int = 1_000_000) -> tuple[np.ndarray, int]:
    """(99th-percentile rms cube E per tissue id (V/m; 0 where a tissue has no cube), samples per cube edge)
    per :data:`INTERNAL_E_DEFINITION`. ``F_vertex_cell`` (M,4,3): A0 + ∇ψ at each cell's vertices (E = −jωF,
    real or complex); ``tissue_id`` (M,) 0…n_tissues−1 for conducting tissue, −1 elsewhere. ``samples``
    per cube edge, lowered until the body takes at most ``max_samples`` points (1: the cube centre)."""
    out = np.zeros(n_tissues)
    tis = tissue_id >= 0
    if not tis.any():
        return out, 0
    lo, hi = _vertex_bounds(points_m, cells[tis])
    nc = np.maximum(np.ceil((hi - lo) / side_m).astype(np.int64), 1)
    n = max(int(samples), 1)
    while n > 1 and np.prod(nc) * n ** 3 > max_samples:
        n -= 1
    per_x = max(int(chunk_samples // (int(nc[1]) * int(nc[2]) * n ** 3)), 1)
    xs = points_m[:, 0][cells]
    xrange = np.column_stack([xs.min(axis=1), xs.max(axis=1)])
    parts = [_chunk_cube_values(points_m, cells, F_vertex_cell, tissue_id, n_tissues, xrange, lo, nc, n, i0,
                                min(i0 + per_x, int(nc[0])), side_m) for i0 in range(0, int(nc[0]), per_x)]
    tid = np.concatenate([p[0] for p in parts])
    E_rms = omega_rad_per_s / math.sqrt(2.0) * np.concatenate([p[1] for p in parts])
    count = np.concatenate([p[2] for p in parts])
    for t in range(n_tissues):
        sel = tid == t
        if sel.any():
            e, w = E_rms[sel], count[sel].astype(float)
            o = np.argsort(e)
            cw = np.cumsum(w[o]) / w.sum()
            out[t] = float(e[o][min(int(np.searchsorted(cw, 0.99)), e.size - 1)])
    return out, n
