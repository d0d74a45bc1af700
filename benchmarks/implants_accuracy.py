"""Implant eddy-current solver against closed forms (issue 4, item 4).

1. Sphere (a = 10 mm, σ = 5.6e5 S/m, Ti-6Al-4V) in a uniform field H0 = 1 kA/m: full skin-effect
   solution of Landau & Lifshitz §59 (planner.verification.implants) over a/δ = 0.3 … 5 at the automatic
   sizes — every point within 2 %;
   (CI: a/δ = 0.3, 1, 2 at refinement 0.5; a/δ = 5 is covered by item 2; --full: 0.3 … 5 at 1.0);
2. the same sphere at a/δ = 5 (and 2 in --full) over ≥ 3 uniform refinements of all mesh sizes: error, observed
   order against h_eff = (dofs)^(−1/3) (relative), least-squares order ≥ 2, finest error < 2 %;
3. infinite cylinder (a = 10 mm) in an axial field: a slab of length 5 mm with natural boundary
   conditions (H_r = 0 outside an infinite cylinder, so n × curl A_r = 0 is exact), Bessel solution of
   the power per unit length, over ≥ 3 refinements at a/δ = 5;
4. a/δ ≪ 1: a 10 mm cube (off-centre gauge, so ∇ψ ≠ 0) against the tissue scalar-potential model
   (E = −jω(A0 + ∇ψ), ∇·σ(∇ψ + A0) = 0) on the same mesh; the difference must fall like (a/δ)⁴.

CI size by default (≈ 1–2 min on 2 loaded cores), ``--full`` adds finer levels and more a/δ values.
Exit status 1 if any check fails. Run: ``python -m benchmarks.implants_accuracy [--full]``.
"""
from __future__ import annotations

import argparse
import time

from benchmarks.implants_common import H0, SIGMA_TI64, frequency_for
from planner.verification import implants as an
from planner.verification.convergence import Checks, observed_orders, print_table, with_orders

A_MM = 10.0


def _sphere(occ):
    return [(3, occ.addSphere(0.0, 0.0, 0.0, A_MM))]


def sphere_solve(a_over_delta: float, refinement: float, degree: int = 2):
    from planner.fem import implant_eddy as ec
    from planner.geometry.submodel import SubModelGeometry, SubModelSizing

    f = frequency_for(a_over_delta, A_MM * 1e-3, SIGMA_TI64)
    t = time.perf_counter()
    r = ec.solve_implant(SubModelGeometry(_sphere, sizing=SubModelSizing(refinement=refinement)),
                         ec.ImplantSolveOptions(sigma_S_per_m=SIGMA_TI64, frequency_Hz=f, degree=degree,
                                                A0_peak_at=ec.uniform_A0((0.0, 0.0, H0)), collect_cells=False))
    wall = time.perf_counter() - t
    P_ex = an.sphere_uniform_field_loss_W(radius_m=A_MM * 1e-3, sigma_S_per_m=SIGMA_TI64, frequency_Hz=f, H0_peak_A_per_m=H0)
    P_lf = an.sphere_low_frequency_loss_W(radius_m=A_MM * 1e-3, sigma_S_per_m=SIGMA_TI64, frequency_Hz=f, H0_peak_A_per_m=H0)
    return r, P_ex, P_lf, wall


def sphere_sweep(ads=(0.3, 1.0, 2.0), refinement: float = 0.5, checks: Checks | None = None, tol: float = 0.02):
    checks = checks or Checks()
    rows = []
    for ad in ads:
        r, P_ex, P_lf, wall = sphere_solve(ad, refinement)
        err = r.loss_W / P_ex - 1.0
        sz = r.submodel.sizes
        rows.append([ad, round(sz.skin_depth_mm, 4), round(sz.surface_size_mm, 4), round(sz.elements_per_skin_depth, 2),
                     r.dofs, r.iterations, r.loss_W, P_ex, err, P_ex / P_lf,
                     round(wall, 1)])
        checks.check(abs(err) < tol, f"sphere a/δ = {ad}: |rel err| = {abs(err):.2e} < {tol}")
    print_table(f"sphere a = {A_MM} mm, σ = {SIGMA_TI64:g} S/m, H0 = {H0:g} A/m peak, N1curl 2 on curved P2 tets, "
                f"refinement {refinement} (Landau & Lifshitz §59)",
                ["a/delta", "delta_mm", "h_s_mm", "el/delta", "dofs", "its", "P_FE_W", "P_exact_W", "rel_err",
                 "P_exact/P_lowfreq", "wall_s"], rows)
    return rows


def sphere_convergence(a_over_delta: float = 5.0, refinements=(0.35, 0.5, 0.7), checks: Checks | None = None,
                       min_order: float = 2.0, tol: float = 0.02):
    checks = checks or Checks()
    rows, hs, errs = [], [], []
    for ref in refinements:
        r, P_ex, _, wall = sphere_solve(a_over_delta, ref)
        err = r.loss_W / P_ex - 1.0
        h = r.dofs ** (-1.0 / 3.0)
        hs.append(h)
        errs.append(err)
        rows.append([ref, round(r.submodel.sizes.surface_size_mm, 4), r.num_cells, r.dofs, r.iterations, r.loss_W, err,
                     r.fe_volume_m3 / r.exact_volume_m3 - 1.0, round(wall, 1)])
    pair, slope = observed_orders(hs, errs)
    with_orders(rows, pair)
    print_table(f"sphere convergence at a/δ = {a_over_delta}: P_exact = {P_ex:.6g} W; h_eff = dofs^(-1/3)",
                ["refinement", "h_s_mm", "cells", "dofs", "its", "P_FE_W", "rel_err", "vol_err", "wall_s", "order"],
                rows)
    print(f"least-squares observed order of |rel_err| vs h_eff: {slope:.2f}")
    checks.check(slope >= min_order, f"sphere a/δ = {a_over_delta}: observed order {slope:.2f} >= {min_order}")
    checks.check(abs(errs[-1]) < tol, f"sphere a/δ = {a_over_delta}: finest |rel err| {abs(errs[-1]):.2e} < {tol}")
    return rows, slope


CYL_L_MM = 5.0


def cylinder_solve(a_over_delta: float, refinement: float):
    from planner.fem import implant_eddy as ec
    from planner.geometry.submodel import SubModelGeometry, SubModelSizing

    a, L, R = A_MM, CYL_L_MM, 2.0 * A_MM
    f = frequency_for(a_over_delta, a * 1e-3, SIGMA_TI64)

    def rod(occ):
        return [(3, occ.addCylinder(0.0, 0.0, -L / 2, 0.0, 0.0, L, a))]

    def slab(occ, centre, _R):
        return occ.addBox(-R, -R, -L / 2, 2 * R, 2 * R, L)

    t = time.perf_counter()
    geo = SubModelGeometry(rod, sizing=SubModelSizing(refinement=refinement, box_half_size_mm=R), domain=slab)
    r = ec.solve_implant(geo, ec.ImplantSolveOptions(sigma_S_per_m=SIGMA_TI64, frequency_Hz=f,
                                                     A0_peak_at=ec.uniform_A0((0.0, 0.0, H0)), dirichlet=False,
                                                     collect_cells=False))
    wall = time.perf_counter() - t
    Pl_ex = an.cylinder_axial_loss_per_length_W_per_m(radius_m=a * 1e-3, sigma_S_per_m=SIGMA_TI64, frequency_Hz=f,
                                                      H0_peak_A_per_m=H0)
    return r, r.loss_W / (L * 1e-3), Pl_ex, wall


def cylinder_convergence(a_over_delta: float = 5.0, refinements=(0.35, 0.5, 0.7), checks: Checks | None = None,
                         min_order: float = 2.0, tol: float = 0.02):
    checks = checks or Checks()
    rows, hs, errs = [], [], []
    for ref in refinements:
        r, Pl, Pl_ex, wall = cylinder_solve(a_over_delta, ref)
        err = Pl / Pl_ex - 1.0
        hs.append(r.dofs ** (-1.0 / 3.0))
        errs.append(err)
        rows.append([ref, round(r.submodel.sizes.surface_size_mm, 4), r.dofs, r.iterations, Pl, err, round(wall, 1)])
    pair, slope = observed_orders(hs, errs)
    with_orders(rows, pair)
    print_table(f"infinite cylinder a = {A_MM} mm in an axial field at a/δ = {a_over_delta}: P'_exact = {Pl_ex:.6g} W/m "
                f"(Bessel); slab {CYL_L_MM} mm, natural BCs", ["refinement", "h_s_mm", "dofs", "its", "P'_FE_W_per_m",
                                                             "rel_err", "wall_s", "order"], rows)
    print(f"least-squares observed order of |rel_err| vs h_eff: {slope:.2f}")
    checks.check(slope >= min_order, f"cylinder a/δ = {a_over_delta}: observed order {slope:.2f} >= {min_order}")
    checks.check(abs(errs[-1]) < tol, f"cylinder a/δ = {a_over_delta}: finest |rel err| {abs(errs[-1]):.2e} < {tol}")
    return rows, slope


def low_frequency_agreement(ads=(0.05, 0.1, 0.3), checks: Checks | None = None, refinement: float = 0.5):
    """Cube (10 mm, off-centre gauge) full solver vs scalar-potential (tissue) model on the same mesh."""
    from planner.fem import implant_eddy as ec
    from planner.geometry.submodel import SubModelGeometry, SubModelSizing

    checks = checks or Checks()
    s = 10.0
    rows, diffs = [], []
    A0 = ec.uniform_A0((0.0, 0.0, H0), centre_m=(0.002, -0.001, 0.0))
    for ad in ads:
        f = frequency_for(ad, s / 2 * 1e-3, SIGMA_TI64)
        delta_mm = s / 2 / ad
        cube = SubModelGeometry(lambda occ: [(3, occ.addBox(-s / 2, -s / 2, -s / 2, s, s, s))],
                                sizing=SubModelSizing(refinement=refinement))
        msh, ct, _ = ec.mesh_submodel(lambda cube=cube, delta_mm=delta_mm: cube.open(delta_mm, 2))
        P_lf = ec.low_frequency_loss_W(msh, ct, sigma_S_per_m=SIGMA_TI64, frequency_Hz=f, A0_peak_at=A0)
        opts = ec.ImplantSolveOptions(sigma_S_per_m=SIGMA_TI64, frequency_Hz=f, A0_peak_at=A0, rtol=1e-7,
                                      max_iterations=1000, collect_cells=False)
        r = ec.solve_reduced_field(msh, ct, opts)
        d = r.loss_W / P_lf - 1.0
        diffs.append(d)
        rows.append([ad, r.dofs, r.iterations, r.loss_W, P_lf, d])
    pair, slope = observed_orders(ads, diffs)
    with_orders(rows, pair)
    print_table("10 mm cube, off-centre gauge: full eddy-current loss vs tissue scalar-potential loss (same mesh); "
                "difference ~ (a/δ)^4", ["a/delta (a = half side)", "dofs", "its", "P_full_W", "P_tissue_W",
                                          "rel_diff", "order in a/delta"], rows)
    checks.check(abs(diffs[0]) < 1e-4, f"cube a/δ = {ads[0]}: |full/tissue − 1| = {abs(diffs[0]):.1e} < 1e-4")
    checks.check(slope > 3.0, f"cube: difference falls like (a/δ)^{slope:.2f}, expected ≈ 4 (> 3)")
    return rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="finer levels and more a/δ values")
    args = ap.parse_args(argv)
    checks = Checks()
    if args.full:
        sphere_sweep(ads=(0.3, 0.5, 1.0, 2.0, 3.0, 5.0), refinement=1.0, checks=checks)
        sphere_convergence(5.0, refinements=(0.5, 0.7, 1.0, 1.4), checks=checks)
        sphere_convergence(2.0, refinements=(0.5, 0.7, 1.0, 1.4), checks=checks)
        cylinder_convergence(5.0, refinements=(0.35, 0.5, 0.7, 1.0, 1.4), checks=checks)
        low_frequency_agreement(checks=checks, refinement=1.0)
    else:
        sphere_sweep(checks=checks)
        sphere_convergence(5.0, checks=checks)
        cylinder_convergence(5.0, checks=checks)
        low_frequency_agreement(checks=checks)
    checks.exit()


if __name__ == "__main__":
    main()
