from types import SimpleNamespace

import numpy as np
import pytest

from planner.artefacts import Role
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
    # healthy max, implant rise (no self-heating split available → total) and the tissue touching the rod
    assert len(res.violations) == 3
    assert any("tissue touching implant 'rod' reaches 50.00" in v for v in res.violations)
    imp = res.summary_block()["implants"][0]
    assert imp["name"] == "rod" and imp["self_heating_dT_K"] is None and imp["total_dT_K"] == pytest.approx(13.0)
    assert imp["limit_K"] == 2.0 and imp["limit_applies_to"] == "total_dT_K"


def test_implant_limit_applies_to_self_heating_part(setup):
    cfg, mesh = setup
    base = np.full(mesh.num_vertices, 37.0)
    tmax = base + 3.0  # total rise 3 K everywhere (conducted from the tumour)
    temps = SimpleNamespace(T_max_C=tmax, T_baseline_C=base, CEM43_min=np.zeros(mesh.num_vertices),
                            implant_self_heating_dT_K={"rod": 0.4})
    res = check(cfg.safety, cfg.applicator, mesh, applied(1000.0), None, temps)
    imp = res.implants[0]
    assert imp.self_heating_dT_K == 0.4 and imp.total_dT_K == pytest.approx(3.0)
    assert not any("implant" in v for v in res.violations)  # 0.4 K own heating < 2 K, although 3 K in total
    temps2 = SimpleNamespace(**{**temps.__dict__, "implant_self_heating_dT_K": {"rod": 2.5}})
    res2 = check(cfg.safety, cfg.applicator, mesh, applied(1000.0), None, temps2)
    assert any("self-heating 2.50 K (total 3.00 K)" in v for v in res2.violations)


def test_whole_and_partial_body_sar_against_iec_limits(setup):
    cfg, mesh = setup
    vol = mesh.cell_volumes_m3()
    rho = np.full(mesh.num_cells, 1000.0)
    m_exposed = float((rho * vol).sum())  # 0.216 kg
    q = np.full(mesh.num_cells, 1.0)
    P = float(vol.sum())  # 1 W/m³ everywhere
    fields = SimpleNamespace(E_peak_V_per_m=np.ones(mesh.num_cells), Q_eddy_W_per_m3=q * 1e4 / 1.0,
                             density_kg_per_m3=rho, Q_implant_W_per_m3=np.zeros(mesh.num_cells))
    res = check(cfg.safety, cfg.applicator, mesh, applied(1000.0), fields, patient_mass_kg=70.0, field_scale=2.0)
    sar = res.sar
    assert sar.absorbed_W == pytest.approx(4.0 * 1e4 * P)
    assert sar.whole_body_W_per_kg == pytest.approx(4e4 * P / 70.0)
    assert sar.partial_body_W_per_kg == pytest.approx(4e4 * P / m_exposed)
    assert sar.whole_body_limit_W_per_kg == 2.0
    assert sar.partial_body_limit_W_per_kg == pytest.approx(10.0 - 8.0 * m_exposed / 70.0)
    assert any(v.startswith("partial-body SAR") for v in res.violations)  # 40 W/kg > ~10 W/kg
    assert not any(v.startswith("whole-body SAR") for v in res.violations)  # 0.12 W/kg
    first = parse_plan({**PLAN, "safety": {"sar_operating_mode": "first-level"}}).safety
    assert check(first, cfg.applicator, mesh, applied(1000.0), fields).sar.partial_body_limit_W_per_kg == \
        pytest.approx(10.0 - 6.0 * m_exposed / 70.0)
    assert res.em_block()["whole_body_SAR_W_per_kg"] == sar.whole_body_W_per_kg


def test_arterial_rise_limit(setup):
    cfg, mesh = setup
    base = np.full(mesh.num_vertices, 37.0)
    temps = SimpleNamespace(T_max_C=base, T_baseline_C=base, arterial_T_C=np.array([37.0, 37.3, 37.6, 37.5]))
    res = check(cfg.safety, cfg.applicator, mesh, applied(1000.0), None, temps)
    assert res.arterial_rise_K == pytest.approx(0.6) and res.arterial_rise_limit_K == 0.5
    assert any("arterial (core) temperature rises by 0.60 K" in v for v in res.violations)


def test_implant_adjacent_cem43_limit_when_configured(setup):
    cfg, mesh = setup
    base = np.full(mesh.num_vertices, 37.0)
    cem = np.zeros(mesh.num_vertices)
    v = np.unique(mesh.cells[mesh.cell_region == mesh.regions_with_role(Role.IMPLANT)[0].tag])
    cem[v] = 500.0
    temps = SimpleNamespace(T_max_C=base + 1.0, T_baseline_C=base, CEM43_min=cem,
                            implant_self_heating_dT_K={"rod": 0.5})
    res = check(cfg.safety, cfg.applicator, mesh, applied(1000.0), None, temps)
    assert res.implants[0].adjacent_CEM43_min == 500.0 and res.ok  # reported, not limited by default
    lim = parse_plan({**PLAN, "safety": {"max_implant_adjacent_CEM43_min": 240.0}}).safety
    res2 = check(lim, cfg.applicator, mesh, applied(1000.0), None, temps)
    assert res2.violations == ("tissue touching implant 'rod' receives CEM43 = 500 min, above the limit 240.0 min",)
