"""Thermal runs inside reuse_operators(): one solver (matrices, AMG set-ups) reused, same results."""
import dataclasses

import numpy as np
import pytest

from planner.config.plan import ThermalSection
from planner.thermal import reusing_operators, solve_bioheat
from planner.verification.meshes import structured_cube


class _Heat:
    def __init__(self, mesh, q):
        self.q = np.where(np.linalg.norm(mesh.cell_centroids_m(), axis=1) < 0.02, q, 0.0)

    def Q_W_per_m3(self, field_fraction: float = 1.0):
        return field_fraction ** 2 * self.q


@pytest.mark.parametrize("mode", ["transient", "steady"])
def test_reused_operators_give_the_fresh_results_without_new_amg_setups(mode):
    from planner.tissues.library import load_library

    mesh = structured_cube(8, 0.1)
    lib = load_library()
    th = dataclasses.replace(ThermalSection(), mode=mode, duration_min=3.0, time_step_s=60.0)
    fresh = [solve_bioheat(mesh, _Heat(mesh, q), lib, th) for q in (5e4, 1e5)]
    with reusing_operators():
        warm = [solve_bioheat(mesh, _Heat(mesh, q), lib, th) for q in (5e4, 1e5)]
    for f, w in zip(fresh, warm):
        assert f.T_max_C.max() > 37.5  # heated
        np.testing.assert_allclose(w.T_max_C, f.T_max_C, rtol=0, atol=1e-6)
        np.testing.assert_allclose(w.T_final_C, f.T_final_C, rtol=0, atol=1e-6)
    assert fresh[1].solver["pc_setups"] >= 1
    assert warm[1].solver["pc_setups"] == 0  # the second run reused the first one's AMG hierarchy
