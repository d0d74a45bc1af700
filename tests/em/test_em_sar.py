"""10 g cube SAR (IEC/IEEE 62704-1 style) sampled from the FE field, voxel sampling kernel, patch recovery."""
import math

import numpy as np
import pytest

from benchmarks.em_common import structured_box_mesh
from planner.em import sar
from planner.em._kernels import rasterize_cells


def test_rasterize_kernel_matches_numpy_reference():
    m = structured_box_mesh(6, 0.1)
    lo, s, shape = np.array([-0.06, -0.055, -0.052]), 0.0047, (25, 24, 23)
    c, b = rasterize_cells(m.points_m, m.cells, lo, s, shape)
    ax = [lo[d] + s * (np.arange(shape[d]) + 0.5) for d in range(3)]
    X = np.stack(np.meshgrid(*ax, indexing="ij"), axis=-1).reshape(-1, 3)
    c2, b2 = sar.locate_points(m.points_m, m.cells, X)
    assert np.array_equal(c >= 0, c2 >= 0) and (c >= 0).sum() > 0.5 * c.size
    ok = c >= 0
    for cc, bb in ((c, b), (c2, b2)):  # both reproduce the voxel centres from their cell's vertices
        x = np.einsum("nk,nkj->nj", bb[ok], m.points_m[m.cells[cc[ok]]])
        np.testing.assert_allclose(x, X[ok], atol=1e-15)


def test_cube_sar_uniform_hot_voxel_and_linear():
    s = 0.002  # 2 mm voxels; 10 g cube of 1000 kg/m³ has a side of 21.5 mm ≈ 10.8 voxels
    shape = (40, 40, 40)
    rho = np.zeros(shape)
    rho[2:-2, 2:-2, 2:-2] = 1000.0
    uni = sar.cube_sar_10g(np.where(rho > 0, 3.0, 0.0), rho, s)
    np.testing.assert_allclose(uni[rho > 0], 3.0, rtol=1e-9)  # skin voxels too (covered by valid cubes)
    hot = np.zeros(shape)
    hot[20, 20, 20] = 1e4  # W/kg in one voxel of 8 mg: 0.08 W
    out = sar.cube_sar_10g(hot, rho, s)
    assert out.max() == pytest.approx(1e4 * 1000 * s ** 3 / 0.010, rel=1e-9)  # P / 10 g
    i = np.indices(shape)[0] * s
    lin = np.where(rho > 0, 1.0 + 50.0 * i, 0.0)  # linear in x: a centred cube averages to the centre value
    out = sar.cube_sar_10g(lin, rho, s)
    centre = out[20, 20, 20]
    assert centre == pytest.approx(lin[20, 20, 20], rel=1e-9)
    # skin: the max is a cube pushed inside the body (≤ 10 % background), not the surface voxel's value
    assert lin[rho > 0].max() > out[rho > 0].max() > lin[20, 20, 20]


def test_mesh_cube_sar_uniform_field_all_cells():
    m = structured_box_mesh(12, 0.12)
    F = np.zeros((m.num_cells, 4, 3))
    F[..., 2] = 2e-4  # uniform A0 + ∇ψ (V·s/m)
    w = 2 * math.pi * 1e5
    sig, rho = np.full(m.num_cells, 0.5), np.full(m.num_cells, 1000.0)
    out, vox = sar.mesh_cube_sar_10g(m.points_m, m.cells, F, w, sig, rho, np.ones(m.num_cells, bool))
    np.testing.assert_allclose(out, 0.5 * 0.5 * (w * 2e-4) ** 2 / 1000.0, rtol=1e-9)
    assert 0 < vox < 0.003


def test_mesh_cube_sar_with_the_mesh_cached_volumes_and_centroids_is_bitwise_the_same():
    m = structured_box_mesh(10, 0.1)
    rng = np.random.default_rng(5)
    F = rng.normal(size=(m.num_cells, 4, 3)) * 1e-4
    sig, rho = rng.uniform(0.1, 1.0, m.num_cells), rng.uniform(900.0, 1100.0, m.num_cells)
    tissue = m.cell_centroids_m()[:, 0] < 0.03  # a partial body: background cells too
    args = (m.points_m, m.cells, F, 2 * math.pi * 1e5, sig, rho, tissue)
    own, vox = sar.mesh_cube_sar_10g(*args)
    cached, vox2 = sar.mesh_cube_sar_10g(*args, cell_volumes_m3=m.cell_volumes_m3(), cell_centroids_m=m.cell_centroids_m())
    assert vox == vox2 and np.array_equal(own, cached) and own[tissue].min() > 0


# --- ICNIRP internal E: 2 mm cube vector averages, 99th percentile per tissue -------------------------
def _inverted_cdf_p99(v):
    return float(np.percentile(v, 99.0, method="inverted_cdf"))


def test_internal_E_cube_average_of_a_linear_field_is_its_centre_value():
    """A box of 10 × 10 × 10 cubes of 2 mm (two tissues split on a cube face) and a complex linear
    field F = G x + c: the vector average over a full cube is F at its centre, for any sampling, so the
    99th percentile per tissue is that of |F(centres)| ω/√2 (independent NumPy computation)."""
    L, w = 0.02, 2 * math.pi * 1e5
    m = structured_box_mesh(10, L, center_m=(L / 2, L / 2, L / 2))
    rng = np.random.default_rng(3)
    G = rng.normal(size=(3, 3)) + 1j * rng.normal(size=(3, 3))
    c = np.array([0.01, -0.02, 0.005]) + 0.003j
    Fv = np.einsum("ij,mkj->mki", G, m.points_m[m.cells]) + c
    cen = m.cell_centroids_m()
    tid = (cen[:, 0] > 0.012).astype(np.int64)  # tissue 1 in the cubes with x > 12 mm
    g = (np.arange(10) + 0.5) * 2e-3
    X = np.stack(np.meshgrid(g, g, g, indexing="ij"), axis=-1).reshape(-1, 3)
    E = w * np.linalg.norm(X @ G.T + c, axis=1) / math.sqrt(2)
    for n in (1, 2, 3):
        p99, n_used = sar.internal_E_cube_p99(m.points_m, m.cells, Fv, w, tid, 2, samples=n)
        assert n_used == n
        for t, sel in ((0, X[:, 0] < 0.012), (1, X[:, 0] > 0.012)):
            assert p99[t] == pytest.approx(_inverted_cdf_p99(E[sel]), rel=1e-12)
    # a tissue boundary through the middle of cubes: each cube's part in a tissue is averaged on its own
    m2 = structured_box_mesh(20, L, center_m=(L / 2, L / 2, L / 2))  # 1 mm cells: a cell face at x = 11 mm
    tid2 = (m2.cell_centroids_m()[:, 0] > 0.011).astype(np.int64)
    Fv2 = np.einsum("ij,mkj->mki", G, m2.points_m[m2.cells]) + c
    p99, _ = sar.internal_E_cube_p99(m2.points_m, m2.cells, Fv2, w, tid2, 2, samples=2)
    s = (np.arange(20) + 0.5) * 1e-3  # the 1 mm sample points (2 per cube edge)
    P = np.stack(np.meshgrid(s, s, s, indexing="ij"), axis=-1).reshape(-1, 3)
    t = (P[:, 0] > 0.011).astype(int)
    key = np.ravel_multi_index(tuple((P // 2e-3).astype(int).T), (10, 10, 10)) * 2 + t
    FP = P @ G.T + c
    for tt in (0, 1):
        ks = np.unique(key[t == tt])
        avg = np.array([FP[key == k].mean(axis=0) for k in ks])
        wts = np.array([(key == k).sum() for k in ks])
        e = w * np.linalg.norm(avg, axis=1) / math.sqrt(2)
        o = np.argsort(e)
        ref = e[o][np.searchsorted(np.cumsum(wts[o]) / wts.sum(), 0.99)]
        assert p99[tt] == pytest.approx(ref, rel=1e-12)


def test_internal_E_of_a_sphere_in_a_uniform_field_matches_the_closed_form():
    """|E| = ω μ0 H0 ρ/2 in a sphere: 99th volume percentile at ρ = 0.9765 a (planner.verification.em);
    the 2 mm cube values of the FE field (P1, exact for this linear field) converge to it."""
    from benchmarks.em_common import library, mesh_of, plan
    from planner.em import applied_field, solve_eddy_currents
    from planner.verification import em as ae

    cfg = plan([{"name": "b", "shape": "sphere", "tissue": "muscle", "radius_mm": 50.0}], 8.0,
               {"type": "uniform", "frequency_kHz": 100.0, "field_kA_per_m": 5.0, "amplitude": "peak"})
    m = mesh_of(cfg)
    fs = solve_eddy_currents(m, applied_field(m, cfg.applicator), library(muscle=0.5), cfg.applicator)
    ref = ae.sphere_internal_E_rms_percentile(1e5, 5e3, 0.05)
    assert fs.internal_E_rms_p99_V_per_m_by_tissue["muscle"] == pytest.approx(ref, rel=5e-3)
    blk = fs.summary_block()
    assert "2 x 2 x 2 mm cubes" in blk["internal_E_definition"] and fs.solver["internal_E_samples_per_cube_edge"] >= 1
    # the cell-based percentile it replaces sits lower (coarse periphery cells average the peak away)
    vol = m.cell_volumes_m3()
    e = fs.E_peak_V_per_m / math.sqrt(2)
    o = np.argsort(e)
    cells_p99 = e[o][np.searchsorted(np.cumsum(vol[o]) / vol.sum(), 0.99)]
    assert abs(cells_p99 / ref - 1) > abs(fs.internal_E_rms_p99_V_per_m_by_tissue["muscle"] / ref - 1)
