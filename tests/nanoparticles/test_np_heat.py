"""Heat source on the mesh: SLP × concentration + eddy + implant, field scaling, summary, fields."""
from __future__ import annotations

import json
import types
from pathlib import Path

import numpy as np
import pytest

from planner.config.plan import NanoparticleSection, parse_section
from planner.errors import InputError
from planner.nanoparticles._testing import Library, Losses, UniformField, box_mesh, heat_for_plan
from planner.nanoparticles.materials import MATERIALS
from planner.reporting.fields import write_heat_fields

ROOT = Path(__file__).resolve().parents[2]
SUMMARY_KEYS = {"slp_model", "slp_W_per_g", "ilp_nH_m2_per_kg", "mass_basis", "total_mass_mg", "mapped_mass_mg",
                "mass_conservation_rel_error", "total_power_W", "linear_response_warning"}


def cfg(section: dict, base_dir: Path = ROOT):
    return types.SimpleNamespace(nanoparticles=parse_section(NanoparticleSection, section, "nanoparticles"),
                                 base_dir=base_dir)


@pytest.fixture(scope="module")
def mesh():
    return box_mesh(10, half_size_m=0.05, target_radius_m=0.02)


def gradient_field(H0=12e3):
    # |H| varies linearly along x by ±20 % over the box, like a real coil
    return UniformField(1e5, H0, profile=lambda X: 1.0 + 4.0 * X[:, 0])


LR = {"slp_model": "linear-response",
      "linear_response": {"material": "magnetite", "median_diameter_nm": 14.0, "sigma_ln": 0.2,
                          "shell_thickness_nm": 5.0, "brownian": False},
      "distribution": {"kind": "deposit", "deposits": [
          {"center_mm": [0, 0, 0], "semi_axes_mm": [12, 10, 10], "mass_mg": 20.0}]}}


def test_constant_model_heat_is_slp_times_concentration(mesh):
    c = cfg({"slp_model": "constant", "constant": {"slp_W_per_g": 100.0, "mass_basis": "per_g_Fe"},
             "distribution": {"kind": "uniform-in-target", "total_mass_mg": 10.0}})
    eddy = np.linspace(0, 50, mesh.num_cells)
    h = heat_for_plan(mesh, gradient_field(), Losses(eddy, None), Library(), c)
    np.testing.assert_allclose(h.Q_np_W_per_m3, 100.0 * 1e3 * h.concentration_mg_per_mL, rtol=1e-15)
    assert h.summary_block()["total_power_W"] == pytest.approx(100.0 * 10e-3, rel=1e-12)  # 100 W/g × 10 mg
    np.testing.assert_array_equal(h.Q_implant_W_per_m3, 0.0)
    for a in (0.5, 1.3):  # constant SLP: particle heat independent of the field while on; eddy ∝ a²
        np.testing.assert_allclose(h.Q_W_per_m3(a), h.Q_np_W_per_m3 + a * a * eddy, rtol=1e-15)
    np.testing.assert_array_equal(h.Q_W_per_m3(0.0), 0.0)  # field off: no heat at all


def test_linear_response_heat_and_field_fraction(mesh):
    h = heat_for_plan(mesh, gradient_field(), Losses(np.full(mesh.num_cells, 10.0), np.full(mesh.num_cells, 2.0)),
              Library(), cfg(LR))
    model = h.model
    idx = np.flatnonzero(h.concentration_mg_per_mL > 0)
    H = h.H_peak_A_per_m[idx]
    assert np.ptp(H) > 0.05 * H.mean()  # the field really varies over the deposit
    exp = model.slp_W_per_g(H, 1e5) * 1e3 * h.concentration_mg_per_mL[idx]
    np.testing.assert_allclose(h.Q_np_W_per_m3[idx], exp, rtol=1e-14)
    for a in (0.3, 0.7, 1.5):
        q = h.Q_W_per_m3(a)
        exp_np = model.slp_W_per_g(a * H, 1e5) * 1e3 * h.concentration_mg_per_mL[idx]
        np.testing.assert_allclose(q[idx], exp_np + a * a * 12.0, rtol=1e-13)
        # nonlinear: not a² × nominal (Langevin saturation: grows slower than H²)
        ratio = (q[idx] - a * a * 12.0) / (a * a * h.Q_np_W_per_m3[idx])
        assert np.all(ratio < 1.0) if a > 1 else np.all(ratio > 1.0)
    with pytest.raises(InputError, match="field_fraction"):
        h.Q_W_per_m3(float("nan"))


def test_summary_block_is_complete_and_json(mesh):
    h = heat_for_plan(mesh, gradient_field(), None, Library(), cfg(LR))
    s = h.summary_block()
    assert SUMMARY_KEYS <= set(s)
    json.dumps(s)
    assert s["mass_basis"] == "per_g_Fe"
    assert s["total_mass_mg"] == 20.0 and s["mass_conservation_rel_error"] < 1e-12
    assert s["slp_reference_H_peak_A_per_m"] == 12e3
    assert s["ilp_nH_m2_per_kg"] == pytest.approx(s["slp_W_per_g"] * 1e3 / (1e5 * 12e3**2) * 1e9, rel=1e-12)
    assert s["total_power_W"] == pytest.approx(float(np.dot(h.Q_np_W_per_m3, mesh.cell_volumes_m3())), rel=1e-14)
    assert isinstance(s["linear_response_warning"], bool)
    assert s["eddy_power_W"] == 0.0 and s["implant_power_W"] == 0.0


def test_basis_conversion(mesh):
    w = MATERIALS["magnetite"].iron_mass_fraction
    base = {"distribution": {"kind": "uniform-in-target", "total_mass_mg": 10.0}}
    per_fe = heat_for_plan(mesh, gradient_field(), None, None, cfg(
        {"slp_model": "constant", "constant": {"slp_W_per_g": 100.0, "mass_basis": "per_g_Fe"}, **base}))
    per_p = heat_for_plan(mesh, gradient_field(), None, None, cfg(
        {"slp_model": "constant", "constant": {"slp_W_per_g": 100.0 * w, "mass_basis": "per_g_particle",
                                               "iron_mass_fraction": w}, **base}))
    np.testing.assert_allclose(per_p.Q_np_W_per_m3, per_fe.Q_np_W_per_m3, rtol=1e-14)
    with pytest.raises(InputError, match=r"nanoparticles\.constant\.iron_mass_fraction = None"):
        heat_for_plan(mesh, gradient_field(), None, None, cfg(
            {"slp_model": "constant", "constant": {"slp_W_per_g": 1.0, "mass_basis": "per_g_particle"}, **base}))
    # linear-response knows its iron fraction: particle-mass distribution with a per-Fe model
    lr = dict(LR, distribution={"kind": "uniform-in-target", "total_mass_mg": 10.0, "mass_of": "particle"})
    a = heat_for_plan(mesh, gradient_field(), None, None, cfg(lr))
    lr_fe = dict(LR, distribution={"kind": "uniform-in-target", "total_mass_mg": 10.0 * w})
    b = heat_for_plan(mesh, gradient_field(), None, None, cfg(lr_fe))
    np.testing.assert_allclose(a.Q_np_W_per_m3, b.Q_np_W_per_m3, rtol=1e-12)


def test_table_model_through_heat_source(mesh):
    c = cfg({"slp_model": "table", "table": {"file": "planner/nanoparticles/data/slp_table_illustrative.csv"},
             "distribution": {"kind": "uniform-in-target", "total_mass_mg": 10.0}})
    h = heat_for_plan(mesh, gradient_field(15e3), None, None, c)
    s = h.summary_block()
    assert s["slp_model"] == "table" and s["mass_basis"] == "per_g_Fe"
    assert s["slp_W_per_g"] > 0 and s["model"]["source"].startswith("ILLUSTRATIVE")
    with pytest.raises(InputError, match="outside the SLP table"):
        h.Q_W_per_m3(3.0)  # 45 kA/m: beyond the table's 25 kA/m


def test_no_particles_section_gives_eddy_only(mesh):
    eddy = np.full(mesh.num_cells, 3.0)
    h = heat_for_plan(mesh, gradient_field(), Losses(eddy, None), None, types.SimpleNamespace(nanoparticles=None))
    np.testing.assert_allclose(h.Q_W_per_m3(2.0), 4 * eddy)
    s = h.summary_block()
    assert s["slp_model"] is None and s["total_power_W"] == 0.0
    json.dumps(s)


def test_bad_fields_shape(mesh):
    with pytest.raises(InputError, match="Q_eddy_W_per_m3"):
        heat_for_plan(mesh, gradient_field(), Losses(np.zeros(3), None), None, cfg(LR))


def test_write_fields_vtu(mesh, tmp_path):
    import meshio

    h = heat_for_plan(mesh, gradient_field(), None, Library(), cfg(LR))
    (p,) = write_heat_fields(h, tmp_path, mesh)
    m = meshio.read(p)
    q = m.cell_data["Q_np_W_per_m3"][0]
    np.testing.assert_allclose(q, h.Q_np_W_per_m3)
    assert m.points.shape == mesh.points_m.shape


def test_field_off_gives_no_particle_heat_for_every_model():
    """Schedules switch the field off (fraction 0): particles must stop heating, also with 'constant'."""
    from planner.nanoparticles.slp import ConstantModel

    m = ConstantModel(100.0, "per_g_Fe")
    np.testing.assert_array_equal(m.slp_W_per_g(np.array([0.0, 1.0, 5e3]), 1e5), [0.0, 100.0, 100.0])


def test_particle_heating_uses_the_total_field_where_an_implant_submodel_covers_the_cell(mesh):
    """Cells an implant sub-model covers take |H0 + Σ H_r| (complex reactions, two implants add), the
    rest |H0|; the particle heat follows the SLP at that |H|; the summary counts the particle cells."""
    from planner.nanoparticles.heat import total_H_cells

    app = UniformField(1e5, 10e3)
    near = np.flatnonzero(np.linalg.norm(mesh.cell_centroids_m(), axis=1) < 0.012)  # inside the deposit
    r1 = np.tile([0.0, 0.0, -2e3 + 1e3j], (near.size, 1))  # diamagnetic, lossy reaction of implant 1
    r2 = np.tile([0.0, 0.0, -1e3 + 0j], (near.size // 2, 1))  # a second implant on half of those cells
    tf1 = types.SimpleNamespace(cells=near, H_reaction_cells_peak_A_per_m=r1)
    tf2 = types.SimpleNamespace(cells=near[: near.size // 2], H_reaction_cells_peak_A_per_m=r2)
    implants = (types.SimpleNamespace(total_field=tf1), types.SimpleNamespace(total_field=tf2),
                types.SimpleNamespace(total_field=None))
    H, covered = total_H_cells(app.H_peak_at(mesh.cell_centroids_m()), implants)
    assert covered.sum() == near.size and covered[near].all()
    half = near[: near.size // 2]
    np.testing.assert_allclose(H[half], abs(10e3 - 3e3 + 1e3j), rtol=1e-12)
    np.testing.assert_allclose(H[near[near.size // 2:]], abs(10e3 - 2e3 + 1e3j), rtol=1e-12)
    np.testing.assert_allclose(H[~covered], 10e3, rtol=1e-12)
    fields = types.SimpleNamespace(Q_eddy_W_per_m3=None, Q_implant_W_per_m3=None, implants=implants)
    with_imp = heat_for_plan(mesh, app, fields, Library(), cfg(LR))
    without = heat_for_plan(mesh, app, None, Library(), cfg(LR))
    np.testing.assert_allclose(with_imp.H_peak_A_per_m, H, rtol=1e-12)
    p = near[with_imp.concentration_mg_per_mL[near] > 0]
    assert p.size > 0
    ratio = with_imp.Q_np_W_per_m3[p] / without.Q_np_W_per_m3[p]
    slp = with_imp.model.slp_W_per_g
    np.testing.assert_allclose(ratio, slp(H[p], 1e5) / slp(np.full(p.size, 10e3), 1e5), rtol=1e-12)
    assert ratio.max() < 0.7  # the weaker total field heats less (the check is not vacuous)
    blk = json.loads(json.dumps(with_imp.summary_block()))["implant_total_field"]
    assert blk["particle_cells_total_H"] == p.size and blk["cells_covered"] == near.size
    assert blk["min_total_over_applied_in_particle_cells"] == pytest.approx(abs(7e3 + 1e3j) / 10e3, rel=1e-9)
    assert without.summary_block()["implant_total_field"]["particle_cells_total_H"] == 0
