from types import SimpleNamespace

import numpy as np
import pytest

from planner.config.plan import parse_plan
from planner.errors import SafetyLimitExceeded
from planner.geometry.mesher import mesh_shapes
from planner.planning.safety import check, healthy_vertices

PLAN = {
    "plan": {"name": "s"},
    "mesh": {"max_size_mm": 12.0},
    "geometry": {"bodies": [
        {"name": "body", "shape": "box", "size_mm": [60, 60, 60], "tissue": "muscle"},
        {"name": "t", "shape": "sphere", "radius_mm": 10, "center_mm": [-12, 0, 0], "tissue": "tumour", "role": "target"},
        {"name": "rod", "shape": "cylinder", "radius_mm": 3, "length_mm": 20, "center_mm": [15, 0, 0],
         "tissue": "ti6al4v", "role": "implant"},
    ]},
    "applicator": {"type": "uniform", "frequency_kHz": 100, "field_kA_per_m": 4, "amplitude": "peak"},
    "safety": {},
}


@pytest.fixture(scope="module")
def setup():
    cfg = parse_plan(PLAN)
    return cfg, mesh_shapes(cfg.geometry, cfg.mesh)


def applied(H0, f=1e5):
    return SimpleNamespace(frequency_Hz=f, H_peak_A_per_m_at_target=H0,
                           H_peak_at=lambda p: np.tile([0.0, 0.0, H0], (len(p), 1)) * (1 + 10 * np.abs(p[:, :1])))


def test_hf_uses_the_largest_field_in_the_body(setup):
    cfg, mesh = setup
    H0 = 3000.0  # largest |H| in the body = 3000 × 1.3 → H·f = 3.9e8 < 4.85e8
    res = check(cfg.safety, cfg.applicator, mesh, applied(H0))
    hmax = H0 * (1 + 10 * 0.03)
    assert res.max_H_in_body_A_per_m == pytest.approx(hmax)
    assert res.Hf_A_per_m_s == pytest.approx(hmax * 1e5)
    assert res.Hf_at_target_A_per_m_s == pytest.approx(H0 * 1e5)
    assert res.ok and res.violations == ()


def test_hf_violation_and_rms_convention(setup):
    cfg, mesh = setup
    res = check(cfg.safety, cfg.applicator, mesh, applied(5000.0))
    assert not res.ok and "H·f" in res.violations[0]
    rms = parse_plan({**PLAN, "safety": {"Hf_amplitude": "rms"}}).safety
    res_rms = check(rms, cfg.applicator, mesh, applied(5000.0))
    assert res_rms.Hf_A_per_m_s == pytest.approx(res.Hf_A_per_m_s / np.sqrt(2))
    stop = parse_plan({**PLAN, "safety": {"stop_on_violation": True}}).safety
    with pytest.raises(SafetyLimitExceeded, match="exceeds the limit"):
        check(stop, cfg.applicator, mesh, applied(5000.0))


def test_temperatures_of_healthy_tissue_and_implants(setup):
    cfg, mesh = setup
    healthy = healthy_vertices(mesh)
    base = np.full(mesh.num_vertices, 37.0)
    tmax = base.copy()
    tmax[~healthy] = 50.0  # target and implant very hot: not healthy tissue
    tmax[np.flatnonzero(healthy)[0]] = 43.5
    temps = SimpleNamespace(T_max_C=tmax, T_baseline_C=base)
    E = np.ones(mesh.num_cells)
    res = check(cfg.safety, cfg.applicator, mesh, applied(1000.0), SimpleNamespace(E_peak_V_per_m=E), temps)
    assert res.max_healthy_T_C == pytest.approx(43.5)
    assert res.max_healthy_T_tissue == "muscle"
    assert res.implant_dT_K["rod"] == pytest.approx(13.0)
    assert res.max_E_healthy_V_per_m == pytest.approx(1.0)
    assert len(res.violations) == 2
