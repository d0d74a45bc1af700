"""Tissue eddy-current stage: analytic sphere/ellipsoid, per-tissue outputs, exclusions, islands,
10 g SAR, bad inputs, ParaView output, and the same total loss on 2 MPI ranks."""
import json
import math

import numpy as np
import pytest

from benchmarks.em_common import ConstantTissue, library, mesh_of, plan, structured_box_mesh
from planner.em import applied_field, solve_eddy_currents
from planner.em.applicators import AppliedField
from planner.em.eddy import insulated_bodies
from planner.em.sar import mass_averaged_sar
from planner.errors import InputError
from planner.reporting.fields import write_em_fields
from planner.verification import em as ae

F, H0 = 100e3, 10e3
W = 2 * math.pi * F


def uniform(target=(0.0, 0.0, 0.0), direction=(0, 0, 1), f=F, H=H0):
    d = np.asarray(direction, float)
    return AppliedField("uniform", f, H, None, "peak", H, np.asarray(target, float),
                        uniform_H_peak_A_per_m=H * d / np.linalg.norm(d))


@pytest.fixture(scope="module")
def ellipsoid_mesh():
    return mesh_of(plan([{"name": "e", "shape": "ellipsoid", "tissue": "muscle", "semi_axes_mm": [60.0, 40.0, 30.0]}], 7.0))


def test_ellipsoid_P1_and_P2_against_closed_form(ellipsoid_mesh):
    m = ellipsoid_mesh
    lib = library(muscle=0.5)
    exact = ae.ellipsoid_loss_W(0.5, F, H0, 0.06, 0.04, 0.03)
    disc = 0.25 * W ** 2 * ae.tet_integral_of_quadratic(m.points_m, m.cells,
                                                        lambda q: ae.ellipsoid_E_over_jw(q, 0.06, 0.04, H0)).sum()
    p1 = solve_eddy_currents(m, uniform((0.01, -0.005, 0.002)), lib)
    p2 = solve_eddy_currents(m, uniform((0.01, -0.005, 0.002)), lib, element_order=2)
    assert p1.tissue_loss_W == pytest.approx(exact, rel=0.03)
    assert p1.tissue_loss_W / disc - 1 == pytest.approx(0.0, abs=5e-3)  # P1 FE error at h = 7 mm
    assert abs(p2.tissue_loss_W / disc - 1) < 1e-4  # P2 holds the quadratic ψ
    assert abs(p2.tissue_loss_W / disc - 1) < 0.1 * abs(p1.tissue_loss_W / disc - 1)
    # cell-wise field vs closed form (P2: |E| is exact up to the polyhedral boundary)
    Ex = W * np.linalg.norm(ae.ellipsoid_E_over_jw(m.cell_centroids_m(), 0.06, 0.04, H0), axis=1)
    rel = np.abs(p2.E_peak_V_per_m - Ex) / Ex.max()
    assert np.median(rel) < 5e-3
    assert p2.solver["element_order"] == 2 and p2.solver["iterations"] > 0


def test_outputs_are_consistent_and_serialisable(ellipsoid_mesh, tmp_path):
    import meshio

    m = ellipsoid_mesh
    fs = solve_eddy_currents(m, uniform(), library(muscle=0.5))
    v = m.cell_volumes_m3()
    np.testing.assert_allclose(fs.Q_eddy_W_per_m3, 0.5 * fs.sigma_S_per_m * fs.E_peak_V_per_m ** 2)
    np.testing.assert_allclose(fs.J_peak_A_per_m2, fs.sigma_S_per_m * fs.E_peak_V_per_m)
    np.testing.assert_allclose(fs.SAR_W_per_kg, fs.Q_eddy_W_per_m3 / 1000.0)
    assert (fs.Q_eddy_W_per_m3 * v).sum() == pytest.approx(fs.tissue_loss_W)
    assert fs.tissue_loss_W == pytest.approx(fs.solver["total_loss_assembled_W"], rel=1e-10)
    assert np.all(fs.Q_implant_W_per_m3 == 0) and fs.implants == ()
    assert np.all(fs.SAR10g_W_per_kg <= fs.SAR_W_per_kg.max() * (1 + 1e-12))
    assert 0 < fs.max_SAR10g_W_per_kg_by_tissue["muscle"] < fs.max_SAR_W_per_kg_by_tissue["muscle"]
    s = fs.summary_block()
    json.dumps(s)
    for k in ("frequency_Hz", "H_peak_A_per_m_at_target", "tissue_loss_W", "tissue_loss_W_by_tissue",
              "max_E_V_per_m_by_tissue", "max_SAR_W_per_kg_by_tissue", "max_SAR10g_W_per_kg_by_tissue",
              "amplitude_convention", "sar10g_averaging"):
        assert k in s
    paths = write_em_fields(fs, tmp_path, m)
    r = meshio.read(paths[0])
    np.testing.assert_allclose(r.cell_data["SAR_W_per_kg"][0], fs.SAR_W_per_kg)
    np.testing.assert_allclose(r.point_data["H0_peak_magnitude_A_per_m"], H0)
    # loss scales with f² and H²
    fs2 = solve_eddy_currents(m, uniform(f=2 * F, H=0.5 * H0), library(muscle=0.5))
    assert fs2.tissue_loss_W == pytest.approx(fs.tissue_loss_W, rel=1e-8)


def test_two_disjoint_spheres_each_match_the_closed_form():
    """Two conducting islands (two null-space constants): the gauge centre lies outside both."""
    m = mesh_of(plan([{"name": "air", "shape": "box", "tissue": "air", "size_mm": [200.0, 100.0, 100.0]},
                      {"name": "s1", "shape": "sphere", "tissue": "muscle", "role": "organ", "radius_mm": 30.0,
                       "center_mm": [-50.0, 0.0, 0.0]},
                      {"name": "s2", "shape": "sphere", "tissue": "fat", "role": "organ", "radius_mm": 25.0,
                       "center_mm": [50.0, 0.0, 0.0]}], 5.0))
    lib = {**library(muscle=0.5, fat=0.05), "air": ConstantTissue("air", 0.0, 1.2, kind="air")}
    fs = solve_eddy_currents(m, uniform((0.0, 0.03, 0.0)), lib)
    assert fs.solver["conducting_components"] == 2 and fs.excluded_regions == ("air",)
    by = fs.tissue_loss_W_by_tissue
    assert by["muscle"] == pytest.approx(ae.sphere_loss_W(0.5, F, H0, 0.03), rel=0.03)
    assert by["fat"] == pytest.approx(ae.sphere_loss_W(0.05, F, H0, 0.025), rel=0.03)
    assert np.all(fs.Q_eddy_W_per_m3[~fs.conducting] == 0) and "air" not in by


def _rod_plan(insulated: bool):
    rod = {"name": "rod", "shape": "cylinder", "tissue": "titanium", "role": "implant", "radius_mm": 6.0,
           "length_mm": 40.0, "center_mm": [15.0, 0.0, 0.0], "axis": [0.0, 1.0, 0.0]}
    if insulated:
        rod["insulated"] = True
    return plan([{"name": "body", "shape": "sphere", "tissue": "muscle", "radius_mm": 50.0}, rod], 9.0,
                implant_size_mm=3.0)


def test_insulated_implant_is_a_hole_like_air():
    """An implant declared insulated is excluded like an air cavity: same tissue loss, zero E/Q in it."""
    cfg = _rod_plan(True)
    m = mesh_of(cfg)
    lib_metal = {**library(muscle=0.5), "titanium": ConstantTissue("titanium", 2e6, 4500.0, kind="metal")}
    lib_air = {**library(muscle=0.5), "titanium": ConstantTissue("titanium", 0.0, 4500.0, kind="air")}
    a = solve_eddy_currents(m, uniform(), lib_metal, cfg.applicator, insulated=insulated_bodies(cfg.geometry))
    b = solve_eddy_currents(m, uniform(), lib_air)
    assert a.excluded_regions == ("rod",) and a.solver["floating_conductors"] == 0
    assert a.tissue_loss_W == pytest.approx(b.tissue_loss_W, rel=1e-12)
    rod = m.cell_region == m.region("rod").tag
    assert np.all(a.E_peak_V_per_m[rod] == 0) and np.all(a.Q_eddy_W_per_m3[rod] == 0)
    assert a.tissue_loss_W < ae.sphere_loss_W(0.5, F, H0, 0.05)  # the hole blocks current
    blk = a.summary_block()["implants"]
    assert blk[0]["name"] == "rod" and blk[0]["model_in_tissue_solve"] == "insulator"


def test_implant_is_a_floating_conductor_by_default():
    """Default: the metal short-circuits the tissue currents (more loss than the homogeneous sphere,
    E concentrated at the rod's ends), zero E/Q reported inside it, near-implant metrics in the summary."""
    cfg = _rod_plan(False)
    m = mesh_of(cfg)
    lib = {**library(muscle=0.5), "titanium": ConstantTissue("titanium", 2e6, 4500.0, kind="metal")}
    a = solve_eddy_currents(m, uniform(), lib, cfg.applicator, insulated=insulated_bodies(cfg.geometry), element_order=2)
    rod = _rod_plan(True)
    ins = solve_eddy_currents(m, uniform(), lib, rod.applicator, insulated=insulated_bodies(rod.geometry), element_order=2)
    assert a.solver["floating_conductors"] == 1
    rod = m.cell_region == m.region("rod").tag
    assert np.all(a.E_peak_V_per_m[rod] == 0) and np.all(a.Q_eddy_W_per_m3[rod] == 0)
    assert a.tissue_loss_W > ae.sphere_loss_W(0.5, F, H0, 0.05) > ins.tissue_loss_W
    near = a.summary_block()["implants"][0]
    assert near["model_in_tissue_solve"] == "conductor"
    tn, tn_ins = near["tissue_near"], ins.summary_block()["implants"][0]["tissue_near"]
    assert tn["distance_mm"] == 5 and set(tn) >= {"E_peak_V_per_m", "E_p99_V_per_m", "SAR_peak_W_per_kg", "SAR10g_W_per_kg"}
    # the rod's ends (along y, across the induced E of H ∥ z at x = 15 mm): the shorted rod raises the peak E
    assert tn["E_peak_V_per_m"] > 1.5 * tn_ins["E_peak_V_per_m"]
    assert tn["E_peak_V_per_m"] >= tn["E_p99_V_per_m"] > 0 and tn["SAR_peak_W_per_kg"] > 0
    # the verdict sees the implant-adjacent tissue: an E limit between the two models flags only the conductor
    from planner.config.plan import SafetySection, parse_plan
    from planner.planning import safety

    lim = 0.5 * (tn["E_peak_V_per_m"] + tn_ins["E_peak_V_per_m"])
    app_cfg = parse_plan({"plan": {"name": "t"}, "mesh": {"max_size_mm": 9.0}, "geometry": {"bodies": [
        {"name": "b", "shape": "sphere", "tissue": "muscle", "radius_mm": 50.0}]}, "applicator": {
        "type": "uniform", "frequency_kHz": 100.0, "field_kA_per_m": 10.0, "amplitude": "peak"}}).applicator
    chk = safety.check(SafetySection(max_E_V_per_m=lim), app_cfg, m, a.applied, a)
    assert any("implant 'rod'" in v for v in chk.violations)
    assert not any("implant 'rod'" in v for v in safety.check(SafetySection(max_E_V_per_m=lim), app_cfg, m,
                                                                  ins.applied, ins).violations)


def test_mass_averaged_sar_uniform_and_hotspot():
    m = structured_box_mesh(30, 0.15)  # 15 cm cube, 5 mm cells
    c, v = m.cell_centroids_m(), m.cell_volumes_m3()
    rho = np.full(m.num_cells, 1000.0)
    q = np.full(m.num_cells, 2000.0)  # 2 W/kg everywhere
    s = mass_averaged_sar(c, v, q, rho)
    np.testing.assert_allclose(s, 2.0, rtol=1e-9)
    # a single hot cell deposits P: the 10 g average over it is P / (mass of the averaging sphere) ≈ P / 10 g
    q = np.zeros(m.num_cells)
    hot = np.argmin(np.linalg.norm(c, axis=1))
    q[hot] = 1e3 / v[hot]  # 1000 W in one cell
    s = mass_averaged_sar(c, v, q, rho)
    assert s.max() == pytest.approx(1e3 / 0.010, rel=0.02)  # heat in exactly 10 g (interpolated in mass)
    assert s[hot] == pytest.approx(s.max(), rel=1e-9)
    assert mass_averaged_sar(c, v, q, np.zeros(m.num_cells)).max() == 0


def test_bad_inputs():
    m = structured_box_mesh(4, 0.1)
    with pytest.raises(InputError, match="conductivity.*expected a positive conductivity"):
        solve_eddy_currents(m, uniform(), library(muscle=0.0))
    with pytest.raises(InputError, match="conductivity"):
        solve_eddy_currents(m, uniform(), library(muscle=-1.0))
    with pytest.raises(InputError, match="no region conducts"):
        solve_eddy_currents(m, uniform(), {"muscle": ConstantTissue("muscle", 0.0, 1.2, kind="air")})
    with pytest.raises(InputError, match="frequency"):
        solve_eddy_currents(m, uniform(f=0.0), library(muscle=0.5))
    with pytest.raises(InputError, match="field_kA_per_m"):
        solve_eddy_currents(m, uniform(H=-1.0), library(muscle=0.5))
    with pytest.raises(InputError, match="element_order"):
        solve_eddy_currents(m, uniform(), library(muscle=0.5), element_order=3)
    with pytest.raises(InputError, match="tissue"):
        solve_eddy_currents(m, uniform(), library(fat=0.5))  # mesh tissue 'muscle' missing


def test_solenoid_torso_phantom_end_to_end(tmp_path):
    """Solenoid around a primitive torso phantom (muscle, fat shell, tumour): stage functions end to end."""
    cfg = plan([{"name": "fat", "shape": "cylinder", "tissue": "fat", "radius_mm": 120.0, "length_mm": 240.0},
                {"name": "muscle", "shape": "cylinder", "tissue": "muscle", "role": "organ", "radius_mm": 105.0,
                 "length_mm": 220.0},
                {"name": "tumour", "shape": "sphere", "tissue": "tumour", "role": "target", "radius_mm": 15.0,
                 "center_mm": [30.0, 0.0, 0.0]}], 20.0,
               {"type": "solenoid", "frequency_kHz": 100.0, "field_kA_per_m": 8.0, "amplitude": "rms",
                "radius_mm": 180.0, "turns": 10, "length_mm": 400.0}, target_size_mm=6.0)
    m = mesh_of(cfg)
    app = applied_field(m, cfg.applicator)
    assert np.linalg.norm(app.H_peak_at(app.target_point_m[None])) == pytest.approx(8e3 * math.sqrt(2))
    from planner.tissues.library import load_library

    lib = load_library(None)  # the packaged library (Gabriel 1996 Cole–Cole conductivities)
    fs = solve_eddy_currents(m, app, lib, cfg.applicator, insulated=insulated_bodies(cfg.geometry))
    s = fs.summary_block()
    assert s["coil_current_A"] == pytest.approx(app.coil_current_peak_A)
    assert set(s["tissue_loss_W_by_tissue"]) == {"muscle", "fat", "tumour"}
    # E grows towards the periphery: max E in the fat shell exceeds max E in the central tumour
    assert s["max_E_V_per_m_by_tissue"]["fat"] > s["max_E_V_per_m_by_tissue"]["tumour"]
    # order of magnitude: long cylinder in an axial field, muscle core dominates (π σ ω² μ0² H² R⁴ L / 16)
    est = ae.cylinder_axial_loss_W(lib["muscle"].conductivity_S_per_m(1e5), 1e5, 8e3 * math.sqrt(2), 0.105, 0.22)
    assert 0.5 * est < s["tissue_loss_W"] < 2.0 * est
    assert write_em_fields(fs, tmp_path, m)[0].exists()


def test_plan_element_order_is_the_default():
    from types import SimpleNamespace

    m = structured_box_mesh(4, 0.1)
    fs = solve_eddy_currents(m, uniform((0.01, 0.0, 0.0)), library(muscle=0.5),
                             SimpleNamespace(element_order=2))
    assert fs.solver["element_order"] == 2
    # ψ minimises the loss functional ½∫σω²|A0 + ∇ψ|² over the FE space and P1 ⊂ P2 on the same mesh:
    # the P1 loss is an upper bound of the P2 loss (and both of the exact loss)
    p1 = solve_eddy_currents(m, uniform((0.01, 0.0, 0.0)), library(muscle=0.5), element_order=1)
    assert fs.tissue_loss_W < p1.tissue_loss_W < 1.1 * fs.tissue_loss_W


def test_long_solenoid_matches_the_uniform_field_loss():
    """Biot–Savart A0 of a long solenoid (its own Coulomb gauge, centred on the coil axis, 30 mm from the
    sphere's centre) gives the uniform-field loss of a sphere inside it."""
    cfg = plan([{"name": "s", "shape": "sphere", "tissue": "muscle", "radius_mm": 40.0, "center_mm": [30.0, 0.0, 0.0]}],
               8.0, {"type": "solenoid", "frequency_kHz": 100.0, "field_kA_per_m": 10.0, "amplitude": "peak",
                     "radius_mm": 400.0, "turns": 80, "length_mm": 2000.0})
    m = mesh_of(cfg)
    app = applied_field(m, cfg.applicator)
    H = app.H_peak_at(m.points_m)
    assert np.abs(np.linalg.norm(H, axis=1) / 1e4 - 1).max() < 2e-3  # uniform inside the bore
    lib = library(muscle=0.5)
    coil = solve_eddy_currents(m, app, lib)
    uni = solve_eddy_currents(m, uniform(app.target_point_m), lib)
    assert coil.tissue_loss_W == pytest.approx(uni.tissue_loss_W, rel=3e-3)
    assert coil.tissue_loss_W == pytest.approx(ae.sphere_loss_W(0.5, F, H0, 0.04), rel=0.03)


def test_repeated_solves_reuse_the_mesh_and_scale_with_f_squared():
    m = structured_box_mesh(6, 0.1)
    a = solve_eddy_currents(m, uniform(f=50e3), library(muscle=0.5))
    b = solve_eddy_currents(m, uniform(f=200e3), library(muscle=0.5))
    assert b.solver["timings_s"]["mesh_s"] < 1e-3  # DOLFINx mesh reused for the same TissueMesh
    assert b.tissue_loss_W == pytest.approx(16 * a.tissue_loss_W, rel=1e-9)
    c = solve_eddy_currents(structured_box_mesh(6, 0.1), uniform(f=50e3), library(muscle=0.5))
    assert c.solver["timings_s"]["mesh_s"] > 0.0 and c.tissue_loss_W == pytest.approx(a.tissue_loss_W, rel=1e-12)


def test_bad_implant_input_one_line_errors():
    """An implant touching a cut face, ``insulated`` on a non-implant, a misspelt implant option."""
    import dataclasses

    from planner.artefacts import boundary_facets
    from planner.errors import InputError, PlannerError

    cfg = plan([{"name": "body", "shape": "box", "tissue": "muscle", "size_mm": [60.0, 60.0, 60.0]},
                {"name": "rod", "shape": "cylinder", "tissue": "titanium", "role": "implant", "radius_mm": 5.0,
                 "length_mm": 60.0}], 12.0)
    m = mesh_of(cfg)
    b = boundary_facets(m.cells)
    top = np.abs(m.points_m[b][:, :, 2] - 0.03).max(axis=1) < 1e-9  # the rod reaches the cut plane z = 30 mm
    m = dataclasses.replace(m, skin_facets=b[~top], cut_facets=b[top], _cache={})
    lib = {**library(muscle=0.5), "titanium": ConstantTissue("titanium", 2e6, 4500.0, kind="metal")}
    with pytest.raises(InputError, match=r"implant region 'rod' touches a cut face.*imaging.crop_margin_mm") as e:
        solve_eddy_currents(m, uniform(), lib, cfg.applicator, insulated=insulated_bodies(cfg.geometry))
    assert "\n" not in str(e.value)
    with pytest.raises(InputError, match=r"insulated = true: only bodies with role = 'implant'"):
        plan([{"name": "body", "shape": "sphere", "tissue": "muscle", "radius_mm": 50.0, "insulated": True}], 9.0)
    with pytest.raises(PlannerError, match="insulatd"):
        plan([{"name": "body", "shape": "sphere", "tissue": "muscle", "radius_mm": 50.0},
              {"name": "rod", "shape": "sphere", "tissue": "titanium", "role": "implant", "radius_mm": 5.0,
               "insulatd": True}], 9.0)
