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
