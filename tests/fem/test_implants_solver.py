"""Implant eddy-current solver (planner.fem.implant_eddy) and the stage end to end, on small meshes."""
from __future__ import annotations

import json
import math
import textwrap

import numpy as np
import pytest

pytest.importorskip("dolfinx")

from planner.artefacts import Role  # noqa: E402
from planner.em import implants as im  # noqa: E402
from planner.errors import SolverError  # noqa: E402
from planner.fem import implant_eddy as ec  # noqa: E402
from planner.geometry import submodel as sm  # noqa: E402
from planner.units import MU0_H_per_m
from planner.verification import implants as an  # noqa: E402
from tests.em.test_implants_stage import LIB, grid_mesh  # noqa: E402

SIG, H0, A_MM = 5.6e5, 1000.0, 10.0


def _f(ad, a_m=A_MM * 1e-3, sigma=SIG):
    d = a_m / ad
    return 2.0 / (d**2 * MU0_H_per_m * sigma) / (2 * math.pi)


def _sphere(occ):
    return [(3, occ.addSphere(0.0, 0.0, 0.0, A_MM))]


def sphere_loss(ad=1.0, refinement=0.5, **kw):
    f = _f(ad)
    geo = sm.SubModelGeometry(_sphere, sizing=sm.SubModelSizing(refinement=refinement))
    r = ec.solve_implant(geo, ec.ImplantSolveOptions(sigma_S_per_m=SIG, frequency_Hz=f,
                                                     A0_peak_at=ec.uniform_A0((0, 0, H0)), **kw))
    P = an.sphere_uniform_field_loss_W(radius_m=A_MM * 1e-3, sigma_S_per_m=SIG, frequency_Hz=f, H0_peak_A_per_m=H0)
    return r, P


def test_sphere_a_over_delta_1_coarse_matches_landau_lifshitz():
    r, P = sphere_loss(1.0, 0.5, solver="ams")
    assert r.loss_W == pytest.approx(P, rel=0.01)
    assert 3 <= r.iterations <= 30  # tuned AMS (no aggressive coarsening), rtol 1e-4
    assert r.submodel.sizes.box_half_size_mm > 5 * A_MM
    assert r.geometry_order == r.submodel.geometry_order == 2
    # |J| at the surface: low-frequency estimate σ ω μ0 H0 a / 2 at the equator, reduced by the reaction
    J_lf = SIG * 2 * math.pi * r.frequency_Hz * MU0_H_per_m * H0 * A_MM * 1e-3 / 2
    assert 0.7 * J_lf < r.peak_J_A_per_m2 < 1.1 * J_lf
    # per-cell losses sum to the loss
    assert r.metal_cell_loss_W.sum() == pytest.approx(r.loss_W, rel=1e-10)
    assert r.fe_volume_m3 == pytest.approx(r.exact_volume_m3, rel=1e-2)  # curved P2 tets, h ≈ 0.5 a


def test_gauge_invariance_of_the_loss():
    r0, _ = sphere_loss(1.0, 0.5, collect_cells=False)
    f = r0.frequency_Hz
    geo = sm.SubModelGeometry(_sphere, sizing=sm.SubModelSizing(refinement=0.5))
    r1 = ec.solve_implant(geo, ec.ImplantSolveOptions(
        sigma_S_per_m=SIG, frequency_Hz=f, collect_cells=False, rtol=1e-8,
        A0_peak_at=ec.uniform_A0((0, 0, H0), centre_m=(0.004, -0.002, 0.001))))
    assert r1.loss_W == pytest.approx(r0.loss_W, rel=1e-4)


def test_non_convergence_raises_solver_error_with_reason():
    with pytest.raises(SolverError, match="DIVERGED_MAX_IT"):
        sphere_loss(1.0, 0.5, max_iterations=2, rtol=1e-12, collect_cells=False, solver="ams")


def test_direct_solve_equals_ams_minres_and_is_the_default_for_small_models():
    """MUMPS LDLᵀ of the gauged block system vs AMS (GMRES + PRESB, the default, and MINRES) at rtol 1e-9 on
    the same mesh: the same gauged system, so the loss agrees to 1e-7; against Landau–Lifshitz; "auto" picks the direct solve here and AMS
    above ``direct_max_dofs``; the direct loss is quadratic in H0 to rounding (the linear problem)."""
    from planner.fem.implant_eddy.direct import mumps_available

    if not mumps_available():
        pytest.skip("PETSc without MUMPS")
    f = _f(2.0)
    geo = sm.SubModelGeometry(_sphere, sizing=sm.SubModelSizing(refinement=0.4))
    msh, ct, _ = ec.mesh_submodel(lambda: geo.open(A_MM / 2.0, 2))

    def solve(H, **kw):
        return ec.solve_reduced_field(msh, ct, ec.ImplantSolveOptions(
            sigma_S_per_m=SIG, frequency_Hz=f, A0_peak_at=ec.uniform_A0((0, 0, H)), collect_cells=False, **kw))

    direct, auto, ams = solve(H0, solver="direct"), solve(H0, direct_max_dofs=10**9), solve(H0, solver="ams", rtol=1e-9)
    above, default = solve(H0, direct_max_dofs=10), solve(H0, solver="ams")
    minres, minres_tight = solve(H0, solver="ams", krylov="minres"), solve(H0, solver="ams", krylov="minres", rtol=1e-9)
    assert direct.iterations == auto.iterations == 0 and auto.loss_W == direct.loss_W
    assert ams.iterations > 0 and above.iterations > 0 and minres.iterations > 0
    # direct and both Krylov methods solve the same gauged system: tight tolerances agree to rounding
    assert direct.loss_W == pytest.approx(ams.loss_W, rel=1e-7)
    assert direct.loss_W == pytest.approx(minres_tight.loss_W, rel=1e-7)
    assert default.loss_W == pytest.approx(direct.loss_W, rel=1e-4)  # the default rtol 1e-4 is enough for the loss
    assert minres.loss_W == pytest.approx(direct.loss_W, rel=1e-4)
    assert default.iterations < minres.iterations  # PRESB: fewer iterations (two AMS cycles each, as MINRES)
    P = an.sphere_uniform_field_loss_W(radius_m=A_MM * 1e-3, sigma_S_per_m=SIG, frequency_Hz=f, H0_peak_A_per_m=H0)
    assert direct.loss_W == pytest.approx(P, rel=0.02)
    assert solve(3.0 * H0, solver="direct").loss_W == pytest.approx(9.0 * direct.loss_W, rel=1e-10)


def test_failed_factorisation_is_retried_then_auto_falls_back_to_ams(caplog):
    """MUMPS refusing to factor (here: its working memory capped at 1 MB, INFOG(1) < 0) — as a rare
    partition-dependent pivot growth did once on 2 ranks: 'direct' raises naming MUMPS' INFOG after the
    retry, 'auto' logs it and solves with AMS-MINRES (same loss)."""
    from petsc4py import PETSc

    from planner.fem.implant_eddy.direct import PREFIX, mumps_available

    if not mumps_available():
        pytest.skip("PETSc without MUMPS")
    f = _f(2.0)
    geo = sm.SubModelGeometry(_sphere, sizing=sm.SubModelSizing(refinement=0.4))
    msh, ct, _ = ec.mesh_submodel(lambda: geo.open(A_MM / 2.0, 2))

    def solve(**kw):
        return ec.solve_reduced_field(msh, ct, ec.ImplantSolveOptions(
            sigma_S_per_m=SIG, frequency_Hz=f, A0_peak_at=ec.uniform_A0((0, 0, H0)), collect_cells=False, **kw))

    good = solve(solver="direct")
    opts = PETSc.Options()
    opts[f"{PREFIX}mat_mumps_icntl_23"] = 1
    try:
        with pytest.raises(SolverError, match=r"MUMPS INFOG\(1\) = -\d+"):
            solve(solver="direct")
        with caplog.at_level("WARNING"):
            auto = solve(solver="auto", direct_max_dofs=10**9)
    finally:
        opts.delValue(f"{PREFIX}mat_mumps_icntl_23")
    assert auto.iterations > 0 and auto.loss_W == pytest.approx(good.loss_W, rel=1e-4)
    assert any("continues with AMS-PRESB" in r.getMessage() for r in caplog.records)


def test_presb_iterations_flat_over_a_over_delta_and_alpha_poisson_changes_no_result():
    """GMRES + PRESB (AMS cycles on P = K + κ M) on ONE mesh, σ scaled for a/δ = 0.3 … 10: the iteration
    count stays bounded (PRESB's spectrum lies in [1/2, 1] whatever κh²; with an exact inner solve GMRES
    would need ~4 iterations at rtol 1e-4, AMS adds at most a few). The AMS "alpha Poisson" matrix
    (hypre's vector auxiliary problem on a scalar P2 matrix instead of Πᵀ P Π) must not change the loss
    beyond the tolerance; it relies on the scalar and vector Lagrange spaces numbering their nodes alike."""
    from petsc4py import PETSc

    from planner.fem import _compat

    geo = sm.SubModelGeometry(_sphere, sizing=sm.SubModelSizing(refinement=0.35))
    msh, ct, _ = ec.mesh_submodel(lambda: geo.open(A_MM / 2.0, 2))
    xs = _compat.function_space(msh, "Lagrange", 2).tabulate_dof_coordinates()
    xv = _compat.function_space(msh, "Lagrange", 2, (3,)).tabulate_dof_coordinates()
    assert np.array_equal(xs, xv)
    its = {}
    for ad in (0.3, 1.0, 3.0, 10.0):
        sigma = SIG * (ad / 2.0) ** 2  # a/δ = 2 at SIG on this mesh's design frequency
        opts = ec.ImplantSolveOptions(sigma_S_per_m=sigma, frequency_Hz=_f(2.0), A0_peak_at=ec.uniform_A0((0, 0, H0)),
                                      collect_cells=False, solver="ams")
        its[ad] = ec.solve_reduced_field(msh, ct, opts).iterations
    assert all(1 <= n <= 8 for n in its.values()), its
    assert max(its.values()) - min(its.values()) <= 4, its
    opts = ec.ImplantSolveOptions(sigma_S_per_m=SIG, frequency_Hz=_f(2.0), A0_peak_at=ec.uniform_A0((0, 0, H0)),
                                  collect_cells=False, solver="ams")
    with_alpha = ec.solve_reduced_field(msh, ct, opts)
    PETSc.Options()["implant_ams_alpha_poisson"] = 0
    try:
        without = ec.solve_reduced_field(msh, ct, opts)
    finally:
        PETSc.Options().delValue("implant_ams_alpha_poisson")
    assert with_alpha.loss_W == pytest.approx(without.loss_W, rel=1e-4)
    assert with_alpha.iterations <= 8 and without.iterations > 0  # a cheaper cycle, 0–2 more iterations here


def test_options_are_validated_and_cell_tags_agree_with_the_mesher():
    from planner.errors import InputError

    with pytest.raises(InputError, match="krylov = 'cg'"):
        ec.ImplantSolveOptions(sigma_S_per_m=SIG, frequency_Hz=1e5, A0_peak_at=ec.uniform_A0((0, 0, H0)), krylov="cg")

    with pytest.raises(InputError, match="degree = 3"):
        ec.ImplantSolveOptions(sigma_S_per_m=SIG, frequency_Hz=1e5, A0_peak_at=ec.uniform_A0((0, 0, H0)), degree=3)
    with pytest.raises(InputError, match="sigma_S_per_m"):
        ec.ImplantSolveOptions(sigma_S_per_m=0.0, frequency_Hz=1e5, A0_peak_at=ec.uniform_A0((0, 0, H0)))
    with pytest.raises(InputError, match="geometry_order"):
        sm.SubModelGeometry(_sphere, geometry_order=3)
    assert (ec.METAL_TAG, ec.SURROUNDING_TAG) == (sm.METAL_TAG, sm.SURROUNDING_TAG)


def test_mesh_errors_of_the_submodel_reach_the_caller():
    from planner.errors import InputError

    geo = sm.SubModelGeometry(_sphere, sizing=sm.SubModelSizing(box_half_size_mm=A_MM))  # box inside the implant
    with pytest.raises(InputError, match="box_half_size_mm"):
        ec.solve_implant(geo, ec.ImplantSolveOptions(sigma_S_per_m=SIG, frequency_Hz=_f(1.0),
                                                     A0_peak_at=ec.uniform_A0((0, 0, H0))))


def test_stage_with_plan_primitive_sphere():
    from planner.config.plan import BodySpec, GeometrySection, MeshSection
    from planner.geometry.mesher import mesh_shapes
    from planner.tissues.library import load_library

    geo = GeometrySection(bodies=(
        BodySpec(name="body", shape="box", tissue="muscle", size_mm=(120.0, 120.0, 120.0)),
        BodySpec(name="ball", shape="sphere", tissue="ti6al4v", role="implant", radius_mm=A_MM, center_mm=(5.0, 0, 0))))
    mesh = mesh_shapes(geo, MeshSection(max_size_mm=30.0, implant_size_mm=4.0))
    lib = load_library()
    sig = lib["ti6al4v"].conductivity_S_per_m(1e4)
    f = _f(1.5, sigma=sig)
    H = np.array([0.0, 0.0, H0])
    (L,) = im.implant_losses(mesh, mesh.regions_with_role(Role.IMPLANT), A_peak_at=ec.uniform_A0(H),
                             H_peak_at=lambda p: np.tile(H, (len(p), 1)), frequency_Hz=f, lib=lib, geometry=geo,
                             options=im.ImplantOptions(refinement=0.4))
    P = an.sphere_uniform_field_loss_W(radius_m=A_MM * 1e-3, sigma_S_per_m=sig, frequency_Hz=f, H0_peak_A_per_m=H0)
    assert L.loss_W == pytest.approx(P, rel=0.01)  # the gauge centre (origin) is off the sphere centre
    vol = mesh.cell_volumes_m3()
    reg = mesh.region("ball").tag
    assert (L.Q_on_mesh_W_per_m3 * vol).sum() == pytest.approx(L.loss_W, rel=1e-12)
    assert np.all(L.Q_on_mesh_W_per_m3[mesh.cell_region != reg] == 0)
    assert L.H_peak_at_centre_A_per_m == pytest.approx(H0)
    assert "plan primitive 'sphere'" in L.geometry and not L.warnings
    b = json.loads(json.dumps(L.summary_block()))
    assert b["material"] == "ti6al4v" and b["loss_W"] == pytest.approx(L.loss_W)
    assert b["skin_depth_mm"] == pytest.approx(an.skin_depth_m(sigma_S_per_m=sig, frequency_Hz=f) * 1e3)


def test_region_fallback_matches_the_exact_box():
    """A cube implant known only as mesh cells (faceted = exact for a cube) vs the same cube as a primitive."""
    from planner.config.plan import BodySpec, GeometrySection

    mesh = grid_mesh(n=8, L=0.08, implant=((3, 5), (3, 5), (3, 5)))  # 20 mm cube at the centre
    f = _f(1.0, a_m=0.01)
    kw = dict(A_peak_at=ec.uniform_A0((0.0, 0.0, H0)), H_peak_at=None, frequency_Hz=f, lib=LIB,
              options=im.ImplantOptions(refinement=0.4))
    (Lf,) = im.implant_losses(mesh, mesh.regions_with_role(Role.IMPLANT), geometry=None, **kw)
    geo = GeometrySection(bodies=(BodySpec(name="body", shape="box", tissue="muscle", size_mm=(80.0, 80.0, 80.0)),
                                  BodySpec(name="stem", shape="box", tissue="ti6al4v", role="implant",
                                           size_mm=(20.0, 20.0, 20.0))))
    (Lp,) = im.implant_losses(mesh, mesh.regions_with_role(Role.IMPLANT), geometry=geo, **kw)
    assert Lf.warnings and "faceted" in Lf.geometry
    assert Lf.loss_W == pytest.approx(Lp.loss_W, rel=0.01)


def test_search_scales_the_implant_loss_as_a_re_solve_at_the_scaled_field():
    """The search never re-solves an implant: ScaledHeat gives s² × the nominal loss density; the sub-model
    re-solved at s·H (same mesh: deterministic gmsh, direct solve) gives the same field to 1e-10."""
    from types import SimpleNamespace

    from planner.planning.search import ScaledHeat

    mesh = grid_mesh(n=8, L=0.08, implant=((3, 5), (3, 5), (3, 5)))
    f, s = _f(1.0, a_m=0.01), 2.7

    def losses(H):
        (L,) = im.implant_losses(mesh, mesh.regions_with_role(Role.IMPLANT), A_peak_at=ec.uniform_A0((0.0, 0.0, H)),
                                 H_peak_at=None, frequency_Hz=f, lib=LIB, geometry=None,
                                 options=im.ImplantOptions(refinement=0.4, solver="direct"))
        return L

    nominal, resolved = losses(H0), losses(s * H0)
    scaled = ScaledHeat(SimpleNamespace(Q_implant_W_per_m3=nominal.Q_on_mesh_W_per_m3), s).Q_implant_W_per_m3
    assert resolved.loss_W == pytest.approx(s**2 * nominal.loss_W, rel=1e-10)
    assert np.max(np.abs(scaled - resolved.Q_on_mesh_W_per_m3)) <= 1e-10 * np.max(resolved.Q_on_mesh_W_per_m3)


@pytest.mark.mpi
def test_mpi_two_ranks_same_loss(tmp_path):
    from tests.conftest import run_mpi

    script = tmp_path / "mpi_implant.py"
    script.write_text(textwrap.dedent("""
        import json
        from mpi4py import MPI
        from tests.fem.test_implants_solver import sphere_loss
        r, P = sphere_loss(1.0, 0.5, rtol=1e-9)
        if MPI.COMM_WORLD.rank == 0:
            cells = r.metal_cell_loss_W
            print("RESULT", json.dumps(dict(loss=r.loss_W, n=len(cells), s=float(cells.sum()))))
    """))
    p = run_mpi(script, n=2, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    res = json.loads([ln for ln in p.stdout.splitlines() if ln.startswith("RESULT")][0][7:])
    r1, _ = sphere_loss(1.0, 0.5, rtol=1e-9)
    assert res["loss"] == pytest.approx(r1.loss_W, rel=1e-6)
    assert res["n"] == len(r1.metal_cell_loss_W)
    assert res["s"] == pytest.approx(r1.loss_W, rel=1e-6)


def test_implant_eddy_imports_no_stage_package():
    """DESIGN.md §3: fem imports no stage package (gmsh sub-model building lives in planner.geometry)."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    # what importing the solver adds to what ``import planner`` itself loads (the registry hook)
    code = ("import sys, planner\n"
            "before = set(sys.modules)\n"
            "import planner.fem.implant_eddy\n"
            "stages = {'config', 'tissues', 'geometry', 'imaging', 'em', 'nanoparticles', 'thermal', 'planning',"
            " 'reporting', 'verification'}\n"
            "new = set(sys.modules) - before\n"
            "print(sorted(m for m in new if m.startswith('planner.') and m.split('.')[1] in stages))")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip().splitlines()[-1] == "[]"
