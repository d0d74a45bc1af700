"""Biot–Savart kernels: Numba vs NumPy reference, closed forms (loop, finite solenoid, Helmholtz),
B = ∇×A and ∇·A = 0 by finite differences, singular points."""
import math

import numpy as np
import pytest

from planner.em._kernels import biot_savart, biot_savart_numpy
from planner.em.applicators import coaxial_loops, polyline_coil
from planner.units import MU0_H_per_m as MU0
from planner.verification import em as ae


def _random_coil(rng, n=40):
    t = np.sort(rng.uniform(0, 2 * np.pi, n))
    r = 0.1 + 0.02 * rng.standard_normal(n)
    v = np.column_stack([r * np.cos(t), r * np.sin(t), 0.02 * rng.standard_normal(n)])
    return polyline_coil(v, turns=3)


def test_numba_matches_numpy_reference():
    rng = np.random.default_rng(0)
    c = _random_coil(rng)
    # two disjoint loops as well (chain with a zero-current jump)
    c2 = coaxial_loops([0.05, 0.08], [0.01, -0.03], [1.0, -2.0], axis=(1, 1, 0))
    pts = rng.normal(scale=0.07, size=(3000, 3))
    for coil in (c, c2):
        H, A = biot_savart(pts, coil.verts_m, coil.seg_start, coil.seg_end, coil.seg_current)
        Hr, Ar = biot_savart_numpy(pts, coil.verts_m, coil.seg_start, coil.seg_end, coil.seg_current)
        assert np.abs(H - Hr).max() <= 1e-11 * np.abs(Hr).max()
        assert np.abs(A - Ar).max() <= 1e-11 * np.abs(Ar).max()
    # want flags give zeros for the other field
    H, A = biot_savart(pts[:5], c.verts_m, c.seg_start, c.seg_end, c.seg_current, want_A=False)
    assert np.all(A == 0) and np.any(H != 0)


def test_loop_on_axis_converges_with_second_order_in_segments():
    R, I = 0.1, 1.0
    z = np.array([0.0, 0.03, 0.1, 0.25])
    pts = np.column_stack([0 * z, 0 * z, z])
    exact = ae.loop_on_axis_H(I, R, z)
    errs = []
    for n in (16, 32, 64, 128):
        coil = coaxial_loops([R], [0.0], [I], segments_per_turn=n)
        H = coil.H_per_A(pts)
        assert np.abs(H[:, :2]).max() < 1e-12 * exact.max()
        errs.append(np.abs(H[:, 2] / exact - 1).max())
    orders = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all(np.abs(orders - 2.0) < 0.1), orders  # inscribed polygon: error ∝ (π/n)²
    assert errs[-1] < 5e-4  # 128-gon: ≈ (π/128)²/3 at the centre, a little more off-plane


def test_finite_solenoid_on_axis_matches_current_sheet():
    N, R, L = 400, 0.12, 0.3
    z = -L / 2 + (np.arange(N) + 0.5) * L / N
    coil = coaxial_loops(np.full(N, R), z, np.ones(N), segments_per_turn=256)
    zz = np.array([0.0, 0.05, 0.1, 0.15, 0.2, 0.4])
    H = coil.H_per_A(np.column_stack([0 * zz, 0 * zz, zz]))[:, 2]
    exact = ae.solenoid_on_axis_H(N, 1.0, R, L, zz)
    np.testing.assert_allclose(H, exact, rtol=2e-4)


def test_helmholtz_centre_field():
    R, N = 0.2, 10
    coil = coaxial_loops([R, R], [-R / 2, R / 2], [N, N], segments_per_turn=512)
    H = coil.H_per_A(np.zeros((1, 3)))[0]
    assert H[2] == pytest.approx(ae.helmholtz_centre_H(N, 1.0, R), rel=2e-5)
    assert ae.helmholtz_centre_H(N, 1.0, R) == pytest.approx((4 / 5) ** 1.5 * N / R)
    # the field is uniform to 4th order: 1 cm off-centre along the axis changes it by < 1e-5 relative
    H1 = coil.H_per_A(np.array([[0.0, 0.0, 0.01]]))[0, 2]
    assert abs(H1 / H[2] - 1) < 1e-5


def test_curl_A_is_mu0_H_and_A_is_divergence_free():
    coil = _random_coil(np.random.default_rng(3))
    x0 = np.array([0.02, -0.01, 0.015])
    h = 1e-5
    J = np.empty((3, 3))  # J[i, j] = dA_j / dx_i
    for i in range(3):
        e = np.eye(3)[i] * h
        J[i] = (coil.A_per_A((x0 + e)[None])[0] - coil.A_per_A((x0 - e)[None])[0]) / (2 * h)
    curl = np.array([J[1, 2] - J[2, 1], J[2, 0] - J[0, 2], J[0, 1] - J[1, 0]])
    H = coil.H_per_A(x0[None])[0]
    np.testing.assert_allclose(curl / MU0, H, rtol=1e-6, atol=1e-6 * np.abs(H).max())
    assert abs(np.trace(J)) < 1e-6 * np.abs(J).max()


def test_points_on_the_wire_give_finite_values():
    coil = coaxial_loops([0.1], [0.0], [1.0], segments_per_turn=8)
    pts = np.vstack([coil.verts_m[:2], 0.5 * (coil.verts_m[0] + coil.verts_m[1])])
    for fn in (biot_savart, biot_savart_numpy):
        H, A = fn(pts, coil.verts_m, coil.seg_start, coil.seg_end, coil.seg_current)
        assert np.all(np.isfinite(H)) and np.all(np.isfinite(A))


def test_uniform_field_vector_potential_closed_form_of_big_loop():
    """Near the centre of a large loop, A ≈ ½ μ0 H × r (the uniform applicator's gauge)."""
    R = 1.0
    coil = coaxial_loops([R], [0.0], [1.0], segments_per_turn=1024)
    p = np.array([[0.01, -0.02, 0.005]])
    H0 = coil.H_per_A(np.zeros((1, 3)))[0]
    np.testing.assert_allclose(coil.A_per_A(p)[0], 0.5 * MU0 * np.cross(H0, p[0]), rtol=1e-3, atol=1e-12)
    assert math.isclose(H0[2], 0.5 / R, rel_tol=1e-4)


def test_vector_potential_log_is_accurate_over_all_distances():
    """The kernel's own vectorised log (exponent bits + atanh series) vs NumPy's log, near and far."""
    v = np.array([[0.0, 0.0, 0.0], [0.01, 0.0, 0.0]])
    d = np.logspace(-8, 2, 200)
    pts = np.column_stack([0.005 + 0 * d, d, 0 * d])
    pts = np.vstack([pts, np.column_stack([0.01 + d, 0 * d, 0 * d])])  # along the axis beyond the end
    _, A = biot_savart(pts, v, [0], [1], [1.0], want_H=False)
    _, Ar = biot_savart_numpy(pts, v, [0], [1], [1.0], want_H=False)
    np.testing.assert_allclose(A, Ar, rtol=1e-13, atol=0)


def test_cell_components_union_find_equals_scipy_on_the_cell_vertex_graph():
    """Union-find over shared vertices vs scipy.sparse.csgraph.connected_components on the bipartite
    cell–vertex graph (the former implementation): same count and the same ids, on a mesh split into
    separate blocks in scrambled cell order, with unused vertices and single-vertex contacts."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from planner.em._kernels import cell_components

    rng = np.random.default_rng(11)
    blocks, offset = [], 0
    for n in (5, 1, 12, 3, 7):  # chains of tetrahedra sharing vertices, disjoint from each other
        base = offset + np.arange(n)[:, None] + np.arange(4)[None, :]
        blocks.append(base)
        offset += n + 3 + 2  # + 2 unused vertices between blocks
    cells = np.vstack(blocks)
    cells = np.vstack([cells, [[cells[0, 0], offset, offset + 1, offset + 2]]])  # joins block 0 by one vertex
    cells = cells[rng.permutation(len(cells))]
    nv = offset + 3
    M = len(cells)
    G = coo_matrix((np.ones(4 * M, np.int8), (np.repeat(np.arange(M), 4), cells.ravel() + M)), shape=(M + nv, M + nv))
    _, lab = connected_components(G, directed=False)
    uniq, ref = np.unique(lab[:M], return_inverse=True)
    n, got = cell_components(cells, nv)
    assert n == uniq.size == 5 and np.array_equal(got, ref)
