"""Pennes FE solver through the stage API: closed forms on small meshes, perfusion models, dose,
probes, outputs, bad inputs and non-physical temperatures (DOLFINx, small meshes)."""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from scipy.optimize import brentq

pytest.importorskip("dolfinx")

from benchmarks.thermal_performance import structured_box  # noqa: E402
from benchmarks.thermal_verification import MockLibrary, RegionHeat, _Tissue, lumped, sphere_steady  # noqa: E402
from planner.config.plan import ProbeSpec, ScheduleSegment, ThermalSection  # noqa: E402
from planner.errors import InputError, SolverError  # noqa: E402
from planner.reporting.fields import write_thermal_fields
from planner.thermal import perfusion as pf  # noqa: E402
from planner.thermal import solve_bioheat  # noqa: E402
from planner.verification import thermal as an  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _box(n=5):
    return structured_box(n, size_m=0.06, target_radius_m=0.015)  # regions: 1 muscle (body), 2 tumour (target)


def _lib(**over):
    muscle = _Tissue("muscle", 6e-4, 1.0)
    tumour = _Tissue("tumour", 3e-4, 1.0)
    for k, v in over.items():
        name, attr = k.split("__")
        setattr(muscle if name == "muscle" else tumour, attr, v)
    return MockLibrary(muscle=muscle, tumour=tumour)


def _run(mesh, heat, lib, **th):
    th.setdefault("field_output_interval_s", 0.0)
    th.setdefault("systemic", "off")
    return solve_bioheat(mesh, heat, lib, ThermalSection(**th))


def test_lumped_pennes_each_scheme_converges_at_its_order():
    for scheme, p in (("implicit-euler", 1), ("crank-nicolson", 2), ("bdf2", 2)):
        rows = lumped([100.0, 50.0], scheme=scheme, mesh=structured_box(2, 0.01, 0.0))
        ratio = rows[0]["max_err_K"] / rows[1]["max_err_K"]
        assert ratio == pytest.approx(2**p, rel=0.1), scheme
        assert rows[1]["max_err_K"] < (0.05 if p == 1 else 0.002)
        assert rows[0]["baseline_err_K"] < 1e-6


def test_steady_sphere_p1_and_p2_against_closed_form():
    p1 = sphere_steady([4.0], perfused=True, order=1)[0]
    p2 = sphere_steady([4.0], perfused=True, order=2)[0]
    assert p1["max_err_K"] < 0.3
    assert p2["max_err_K"] < 0.5 * p1["max_err_K"]


def test_lang1999_perfusion_steady_matches_scalar_root_and_picard_iterates():
    mesh = structured_box(2, 0.01, 0.0)
    mesh = type(mesh)(mesh.points_m, mesh.cells, np.ones(mesh.num_cells, np.int32),
                      (mesh.regions[0],), mesh.skin_facets)  # all muscle
    lib = MockLibrary(muscle=_Tissue("muscle", 5e-4, 0.0))
    Q = 3e4
    res = _run(mesh, RegionHeat(mesh, Q, tag=None), lib, mode="steady", skin_h_W_per_m2_K=0.0,
               perfusion_model="lang1999", picard_tol_K=1e-6, duration_min=10.0)
    rho_c_b = 4e6
    w = lambda T: 5e-4 * pf.lang1999_muscle(T) / pf.lang1999_muscle(37.0)
    T_exact = brentq(lambda T: w(T) * rho_c_b * (T - 37.0) - Q, 37.0, 80.0)
    np.testing.assert_allclose(res.T_final_C, T_exact, atol=1e-5)
    assert res.solver["picard_max_iterations"] > 2
    # steady mode: dose = duration × R^(43 − T)
    assert res.CEM43_min.max() == pytest.approx(an.cem43_constant(T_exact, 10.0), rel=1e-4)
    defs = res.summary_block()["definitions"]
    assert "upper bound" in defs["CEM43"] and "steady state" in defs["T90_C"]


def test_picard_not_converged_raises_solver_error():
    mesh = _box(3)
    with pytest.raises(SolverError, match="Picard"):
        _run(mesh, RegionHeat(mesh, 1e5, tag=2), _lib(), mode="steady", perfusion_model="lang1999",
             picard_max_iter=1, picard_tol_K=1e-9)


def test_transient_schedule_probes_dose_summary_and_fields(tmp_path):
    mesh = _box(6)
    sched = (ScheduleSegment("ramp", 2.0, 1.0), ScheduleSegment("hold", 6.0), ScheduleSegment("off", 4.0))
    probes = (ProbeSpec("centre", (0.0, 0.0, 0.0)), ProbeSpec("rim", (20.0, 0.0, 0.0)))
    res = _run(mesh, RegionHeat(mesh, 2e5, tag=2), _lib(), time_step_s=30.0, schedule=sched, probes=probes,
               field_output_interval_s=120.0, perfusion_model="lang1999", dvh_bin_K=1.0)
    t = res.times_s
    assert t[-1] == pytest.approx(720.0) and res.field_fraction[-1] == 0.0
    c = res.probe_T_C[0]
    i_end_heat = int(np.argmin(np.abs(t - 480.0)))
    assert np.all(np.diff(c[: i_end_heat + 1]) > 0)  # heating: rising
    assert np.all(np.diff(c[i_end_heat:]) < 0)  # cool-down: falling
    assert c[0] == pytest.approx(res.probe_T_C[0][0]) and c.max() > 41.0
    assert c[0] > res.probe_T_C[1][0] - 1.0
    assert np.all(res.T_max_C >= res.T_final_C - 1e-12) and np.all(res.T_max_C >= res.T_baseline_C - 1e-12)
    assert np.all(res.CEM43_min > 0)
    tg = res.target
    assert tg["T10_C"] >= tg["T50_C"] >= tg["T90_C"] > 37.0 and tg["max_C"] >= tg["T10_C"]
    assert tg["max_C"] == pytest.approx(res.tissues["tumour"]["max_C"])
    block = res.summary_block()
    text = json.dumps(block)
    back = json.loads(text)
    assert set(back["target"]) >= {"T90_C", "T50_C", "T10_C", "max_C", "CEM43T90_min", "time_above_42C_min"}
    assert set(back["tissues"]) == {"muscle", "tumour"}
    assert back["probes"]["centre"][0][-1] == pytest.approx(720.0) and len(back["probes"]["rim"][1]) == t.size
    assert res.snapshot_times_s.tolist() == [0.0, 120.0, 240.0, 360.0, 480.0, 600.0, 720.0]
    paths = write_thermal_fields(res, tmp_path, mesh)
    import meshio
    dose = meshio.read(tmp_path / "thermal_dose.vtu")
    np.testing.assert_allclose(dose.point_data["CEM43_min"], res.CEM43_min)
    pvd = (tmp_path / "thermal_temperature.pvd").read_text()
    assert pvd.count("<DataSet") == 7 and all(p.exists() for p in paths)
    last = meshio.read(tmp_path / "thermal_temperature_0006.vtu")
    np.testing.assert_allclose(last.point_data["T_C"], res.T_final_C)


def test_p2_transient_runs_and_agrees_with_p1():
    mesh = _box(4)
    kw = dict(time_step_s=60.0, duration_min=5.0, scheme="crank-nicolson")
    r1 = _run(mesh, RegionHeat(mesh, 1e5, tag=2), _lib(), **kw)
    r2 = _run(mesh, RegionHeat(mesh, 1e5, tag=2), _lib(), element_order=2, **kw)
    assert r2.solver["dofs"] > 4 * r1.solver["dofs"]
    # very coarse mesh (15 mm cells): P1 and P2 differ by discretisation error only
    assert 37.5 < r1.target["T50_C"] and abs(r2.target["T50_C"] - r1.target["T50_C"]) < 1.5
    assert r2.probe_T_C.shape == r1.probe_T_C.shape


@pytest.mark.parametrize("over, key", [
    ({"muscle__thermal_conductivity_W_per_m_K": 0.0}, "tissues.muscle.thermal_conductivity_W_per_m_K"),
    ({"tumour__thermal_conductivity_W_per_m_K": -0.5}, "tissues.tumour.thermal_conductivity_W_per_m_K"),
    ({"muscle__density_kg_per_m3": 0.0}, "tissues.muscle.density_kg_per_m3"),
    ({"muscle__heat_capacity_J_per_kg_K": -1.0}, "tissues.muscle.heat_capacity_J_per_kg_K"),
    ({"tumour__perfusion_per_s": -1e-4}, "tissues.tumour.perfusion_per_s"),
    ({"tumour__perfusion_per_s": float("nan")}, "tissues.tumour.perfusion_per_s"),
])
def test_bad_tissue_properties_are_input_errors(over, key):
    mesh = _box(2)
    with pytest.raises(InputError) as exc:
        _run(mesh, RegionHeat(mesh, 1e4, tag=2), _lib(**over), mode="steady")
    assert key in str(exc.value)


@pytest.mark.parametrize("th, key", [
    ({"time_step_s": 0.0}, "thermal.time_step_s"),
    ({"time_step_s": -1.0}, "thermal.time_step_s"),
    ({"time_step_s": 700.0, "duration_min": 10.0}, "thermal.time_step_s"),
    ({"probes": (ProbeSpec("out", (500.0, 0.0, 0.0)),)}, "thermal.probes[0].position_mm"),
])
def test_bad_run_parameters_are_input_errors(th, key):
    mesh = _box(2)
    with pytest.raises(InputError) as exc:
        _run(mesh, RegionHeat(mesh, 1e4, tag=2), _lib(), **th)  # sections built in code skip plan validation
    assert key in str(exc.value)


def test_heat_with_wrong_shape_is_input_error():
    mesh = _box(2)

    class Bad:
        def Q_W_per_m3(self, field_fraction=1.0):
            return np.zeros(3)

    with pytest.raises(InputError, match="heat.Q_W_per_m3"):
        _run(mesh, Bad(), _lib(), mode="steady")


def test_non_physical_temperature_stops_with_tissue_and_time():
    mesh = _box(3)
    with pytest.raises(SolverError) as exc:
        _run(mesh, RegionHeat(mesh, 5e7, tag=2), _lib(), time_step_s=60.0, duration_min=10.0)
    msg = str(exc.value)
    assert "tumour" in msg and "t = " in msg and "100" in msg


def test_unperfused_insulated_steady_problem_is_rejected():
    mesh = _box(2)
    lib = MockLibrary(muscle=_Tissue("muscle", 0.0), tumour=_Tissue("tumour", 0.0))
    with pytest.raises(SolverError, match="skin_h_W_per_m2_K"):
        _run(mesh, RegionHeat(mesh, 1e4, tag=2), lib, mode="steady", skin_h_W_per_m2_K=0.0)


def test_metal_region_is_not_perfused():
    mesh = _box(3)
    lib = _lib()
    metal = _Tissue("tumour", 1e-2, 5.0, k=15.0)
    metal.kind = "metal"
    lib["tumour"] = metal
    res = _run(mesh, RegionHeat(mesh, 0.0, tag=2), lib, mode="steady", skin_h_W_per_m2_K=0.0)
    # no source, no metabolic heat in metal, insulated skin: everything at the arterial temperature
    # except the muscle's own metabolic rise 1 W/kg·ρ/β
    assert res.T_baseline_C.min() >= 37.0 - 1e-9
    assert res.T_baseline_C.max() <= 37.0 + 1000.0 / (6e-4 * 4e6) + 1e-6


_MPI_SCRIPT = textwrap.dedent("""
    import json, sys
    from types import SimpleNamespace
    sys.path.insert(0, {root!r})
    from mpi4py import MPI
    from benchmarks.thermal_performance import structured_box
    from benchmarks.thermal_verification import MockLibrary, RegionHeat, _Tissue
    from planner.config.plan import ProbeSpec, ThermalSection
    from planner.thermal import solve_bioheat
    mesh = structured_box(8, size_m=0.06, target_radius_m=0.015)
    lib = MockLibrary(muscle=_Tissue("muscle", 6e-4, 1.0), tumour=_Tissue("tumour", 3e-4, 1.0))
    th = ThermalSection(time_step_s=60.0, duration_min=10.0, field_output_interval_s=0.0,
                        probes=(ProbeSpec("c", (0.0, 0.0, 0.0)),), perfusion_model="lang1999",
                        picard_tol_K=1e-7)
    res = solve_bioheat(mesh, RegionHeat(mesh, 1.2e5, tag=2), lib, th)
    out = dict(T90=res.target["T90_C"], CEM=res.target["CEM43T90_min"], probe=res.probe_T_C[0].tolist(),
               ranks=res.solver["ranks"], Tmax=float(res.T_max_C.max()))
    if MPI.COMM_WORLD.rank == 0:
        print("RESULT" + json.dumps(out))
""")


def _run_case(tmp_path, nproc: int) -> dict:
    script = tmp_path / "case.py"
    script.write_text(_MPI_SCRIPT.format(root=str(ROOT)))
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OPENBLAS_NUM_THREADS="1")
    cmd = [sys.executable, str(script)]
    if nproc > 1:
        cmd = ["mpirun", "-n", str(nproc), "--oversubscribe"] + cmd
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT")][0]
    return json.loads(line[6:])


@pytest.mark.mpi
def test_two_ranks_give_the_same_T90(tmp_path):
    serial = _run_case(tmp_path, 1)
    par = _run_case(tmp_path, 2)
    assert serial["ranks"] == 1 and par["ranks"] == 2
    # same discrete problem; differences only from the Picard (1e-7 K) and CG (rtol 1e-10) tolerances
    assert par["T90"] == pytest.approx(serial["T90"], abs=1e-6)
    assert par["CEM"] == pytest.approx(serial["CEM"], rel=1e-5)
    np.testing.assert_allclose(par["probe"], serial["probe"], atol=1e-6)
    assert serial["T90"] > 38.0


@pytest.mark.parametrize("scheme", ["bdf2", "crank-nicolson"])
def test_second_order_in_time_across_schedule_jumps(scheme):
    # a 0.1-min segment (6 s steps, then step ratio 5), a hold at 0.8 and a switch-off: the source
    # jumps at every boundary; BDF2 restarts there with one implicit-Euler step and stays 2nd order
    mesh = _box(3)
    sched = (ScheduleSegment("hold", 0.1), ScheduleSegment("hold", 5.0, 0.8), ScheduleSegment("off", 2.0))
    run = lambda dt: _run(mesh, RegionHeat(mesh, 1e5, tag=2), _lib(), scheme=scheme, time_step_s=dt, schedule=sched)
    ref = run(1.0)
    errs = [np.abs(r.T_final_C - ref.T_final_C).max() for r in (run(30.0), run(15.0))]
    assert errs[0] < 0.01
    assert errs[0] / errs[1] > 3.0  # ≈ 4 for second order


def test_adaptive_crank_nicolson_controls_the_error_with_few_steps():
    mesh = _box(4)
    sched = (ScheduleSegment("ramp", 2.0, 1.0), ScheduleSegment("hold", 20.0), ScheduleSegment("off", 10.0))
    heat = RegionHeat(mesh, 1e5, tag=2)
    ref = _run(mesh, heat, _lib(), scheme="crank-nicolson", time_step_s=2.0, schedule=sched)
    errs, steps = [], []
    for tol in (0.05, 0.002):
        r = _run(mesh, heat, _lib(), scheme="crank-nicolson", time_step_s=10.0, schedule=sched, adaptive=True,
                 adaptive_tol_K=tol, max_time_step_s=320.0)
        ad = r.solver["adaptive"]
        assert ad["accepted_steps"] == r.times_s.size - 1 and ad["min_step_s"] >= 0.5
        # segment boundaries are step ends
        for b in (120.0, 1320.0, 1920.0):
            assert np.min(np.abs(r.times_s - b)) < 1e-6
        errs.append(max(np.abs(r.T_final_C - ref.T_final_C).max(), np.abs(r.T_max_C - ref.T_max_C).max()))
        steps.append(ad["accepted_steps"])
    assert errs[0] < 0.05 and errs[1] < 0.005 and errs[1] < errs[0]
    assert steps[0] < steps[1] < 1920 / 10.0  # far fewer steps than the fixed 10 s grid


def test_adaptive_requires_crank_nicolson():
    mesh = _box(2)
    with pytest.raises(InputError, match="thermal.scheme"):
        _run(mesh, RegionHeat(mesh, 1e4, tag=2), _lib(), scheme="bdf2", adaptive=True)


def test_fem_bioheat_imports_no_stage_package_and_dose_is_injected():
    import ast

    stages = ("planner.thermal", "planner.em", "planner.nanoparticles", "planner.planning", "planner.imaging",
              "planner.geometry", "planner.reporting", "planner.tissues", "planner.config")
    for p in (ROOT / "planner" / "fem" / "bioheat").glob("*.py"):
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith(stages), (p.name, node.module)
    # without an injected dose kernel the solver keeps the running maximum only
    from planner.fem.bioheat import PennesRun, solve_pennes
    from planner.thermal.stage import build_inputs

    mesh = _box(2)
    inp, _ = build_inputs(mesh, RegionHeat(mesh, 1e5, tag=None), _lib(), ThermalSection())
    res = solve_pennes(mesh, inp, PennesRun(mode="steady", scheme="bdf2", element_order=1, steady_duration_s=60.0))
    assert np.all(res.CEM43_min == 0.0) and np.all(res.T_max_C == res.T_final_C)
    assert res.T_final_C.max() > res.T_baseline_C.max() + 0.1


@pytest.mark.parametrize("kw", [dict(scheme="implicit-euler"), dict(scheme="bdf2", perfusion_model="lang1999"),
                                dict(scheme="crank-nicolson", adaptive=True, perfusion_model="lang1999")])
def test_blood_pool_conserves_energy_exactly_without_losses(kw):
    """h = 0, G = 0: every watt put in stays in tissue (∫ρc ΔT dV) or in the pool (C_p ΔT_a), for every
    scheme, also with Picard-lagged Lang perfusion and adaptive steps (discrete energy identity)."""
    mesh = _box(4)
    Q, minutes = 2e5, 6.0
    heat = RegionHeat(mesh, Q, tag=2)
    res = _run(mesh, heat, _lib(), systemic="blood-pool", skin_h_W_per_m2_K=0.0, thermoregulation_W_per_K=0.0,
               body_mass_kg=1.0, duration_min=minutes, time_step_s=20.0, picard_tol_K=1e-7, **kw)
    vol = mesh.cell_volumes_m3()
    dT_cell = (res.T_final_C - res.T_baseline_C)[mesh.cells].mean(axis=1)
    stored_tissue = float((4e6 * vol * dT_cell).sum())
    C_p = res.systemic["pool_heat_capacity_J_per_K"]
    assert C_p == pytest.approx((1.0 - 1000.0 * vol.sum()) * 3500.0)
    stored_pool = C_p * (res.arterial_T_C[-1] - res.arterial_T_C[0])
    E_in = float((heat.Q_W_per_m3(1.0) * vol).sum()) * minutes * 60.0
    assert res.arterial_T_C[0] == 37.0 and res.arterial_T_C[-1] > 37.0 + 1e-3
    assert stored_tissue + stored_pool == pytest.approx(E_in, rel=1e-6)
    block = res.summary_block()["arterial_T_C"]
    assert block["start"] == 37.0 and block["max"] == pytest.approx(block["end"]) and block["end"] > 37.0


def test_blood_pool_body_mass_below_meshed_mass_is_input_error():
    mesh = structured_box(2, size_m=0.2, target_radius_m=0.03)  # 8 kg of tissue
    with pytest.raises(InputError, match=r"thermal.body_mass_kg = 5.0.*more than the meshed 8 kg"):
        _run(mesh, RegionHeat(mesh, 1e4, tag=2), _lib(), systemic="blood-pool", mode="steady", body_mass_kg=5.0)


def _box_with_implant(n=6):
    """_box plus a metal block (region 3, role implant) off the tumour, 15 mm from the centre."""
    from planner.artefacts import Region, Role

    mesh = _box(n)
    cen = mesh.cell_centroids_m()
    region = mesh.cell_region.copy()
    region[(np.abs(cen[:, 0] - 0.02) < 0.006) & (np.abs(cen[:, 1]) < 0.006) & (np.abs(cen[:, 2]) < 0.006)] = 3
    regions = mesh.regions + (Region(3, "stem", "metal", Role.IMPLANT),)
    return type(mesh)(mesh.points_m, mesh.cells, region, regions, mesh.skin_facets)


class _TwoSources:
    def __init__(self, mesh, Q_tumour, Q_implant):
        self.tumour = np.where(mesh.cell_region == 2, Q_tumour, 0.0)
        self.Q_implant_W_per_m3 = np.where(mesh.cell_region == 3, Q_implant, 0.0)

    def Q_W_per_m3(self, f=1.0):
        return f * f * (self.tumour + self.Q_implant_W_per_m3)


def test_implant_self_heating_is_the_implant_only_superposition_part():
    """Constant perfusion (+ blood pool): the Pennes problem is linear, so the rise with both sources
    is the sum of the tumour-only and implant-only rises at every vertex and time; the stage's
    self-heating figure is the implant-only rise at the implant."""
    mesh = _box_with_implant()
    metal = _Tissue("metal", 0.0, 0.0, k=7.0)
    metal.kind = "metal"
    lib = MockLibrary(muscle=_Tissue("muscle", 6e-4, 1.0), tumour=_Tissue("tumour", 3e-4, 1.0), metal=metal)
    kw = dict(systemic="blood-pool", body_mass_kg=2.0, duration_min=5.0, time_step_s=30.0)
    both = _TwoSources(mesh, 2e5, 5e5)
    r_both = _run(mesh, both, lib, **kw)
    r_tum = _run(mesh, _TwoSources(mesh, 2e5, 0.0), lib, **kw)
    r_imp = _run(mesh, _TwoSources(mesh, 0.0, 5e5), lib, **kw)
    rise = lambda r: r.T_final_C - r.T_baseline_C
    np.testing.assert_allclose(rise(r_both), rise(r_tum) + rise(r_imp), atol=1e-6)  # CG rtol 1e-10 per solve
    np.testing.assert_allclose(r_both.arterial_T_C - 37.0, (r_tum.arterial_T_C - 37.0) + (r_imp.arterial_T_C - 37.0), atol=1e-9)
    v = np.unique(mesh.cells[mesh.cell_region == 3])
    own = r_both.implant_self_heating_dT_K["stem"]
    assert own == pytest.approx(float((r_imp.T_max_C - r_imp.T_baseline_C)[v].max()), abs=1e-10)
    total = float((r_both.T_max_C - r_both.T_baseline_C)[v].max())
    assert 0.05 < own < total  # the tumour conducts part of the implant's total rise
    assert r_tum.implant_self_heating_dT_K is None  # no implant loss: no split


def _half_and_mirrored_box(n=4, size=0.06):
    from planner.verification.meshes import half_and_mirrored_box

    return half_and_mirrored_box(n, size)


@pytest.mark.parametrize("mode", ["steady", "transient"])
def test_cut_face_is_adiabatic_like_the_mirror_plane_of_the_uncut_body(mode):
    """Heat: a cut face carries no skin cooling (zero flux). The half box with its x = 0 face cut
    solves exactly the full, mirror-symmetric box restricted to x ≥ 0 (the symmetry plane has zero
    flux); treating that face as skin instead cools it."""
    half, full = _half_and_mirrored_box()
    kw = dict(mode=mode, duration_min=4.0, time_step_s=60.0, skin_h_W_per_m2_K=20.0)
    r_half = _run(half, RegionHeat(half, 1e5, tag=2), _lib(), **kw)
    r_full = _run(full, RegionHeat(full, 1e5, tag=2), _lib(), **kw)
    N = half.num_vertices
    np.testing.assert_allclose(r_half.T_baseline_C, r_full.T_baseline_C[:N], atol=1e-7)
    np.testing.assert_allclose(r_half.T_final_C, r_full.T_final_C[:N], atol=1e-7)
    as_skin = type(half)(half.points_m, half.cells, half.cell_region, half.regions,
                         np.vstack([half.skin_facets, half.cut_facets]))
    r_skin = _run(as_skin, RegionHeat(half, 1e5, tag=2), _lib(), **kw)
    plane = np.abs(half.points_m[:, 0]) < 1e-12
    assert (r_half.T_final_C - r_skin.T_final_C)[plane].min() > 0.5  # skin cooling would bias the cut face low


@pytest.mark.parametrize("systemic", ["off", "blood-pool"])
def test_cut_faces_held_at_baseline_option(systemic):
    """thermal.cut_faces = 'baseline': the cut plane keeps its no-field baseline temperature during the
    session (also with the blood pool); between the adiabatic and the skin-cooled face."""
    half, _ = _half_and_mirrored_box()
    kw = dict(duration_min=4.0, time_step_s=60.0, skin_h_W_per_m2_K=20.0, systemic=systemic, body_mass_kg=2.0)
    r_ad = _run(half, RegionHeat(half, 1e5, tag=2), _lib(), **kw)
    r_bl = _run(half, RegionHeat(half, 1e5, tag=2), _lib(), cut_faces="baseline", **kw)
    plane = np.abs(half.points_m[:, 0]) < 1e-12
    np.testing.assert_allclose(r_bl.T_baseline_C, r_ad.T_baseline_C, atol=1e-10)  # same (adiabatic) baseline
    np.testing.assert_allclose(r_bl.T_final_C[plane], r_bl.T_baseline_C[plane], atol=1e-8)
    # near the heated hemisphere the held face is much cooler than the adiabatic one (far from it the
    # coarse consistent-mass P1 solution undershoots the baseline slightly on the adiabatic face)
    assert (r_ad.T_final_C - r_bl.T_final_C)[plane].max() > 2.0
    with pytest.raises(InputError, match="thermal.cut_faces"):
        _run(half, RegionHeat(half, 1e5, tag=2), _lib(), cut_faces="baseline", adaptive=True, scheme="crank-nicolson",
             duration_min=4.0)
