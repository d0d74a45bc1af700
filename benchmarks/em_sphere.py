"""Benchmark: conducting sphere in a uniform low-frequency field, P = π σ ω² μ0² H0² a⁵ / 15.

Sphere a = 50 mm, σ = 0.5 S/m (muscle-like), f = 100 kHz, H0 = 10 kA/m peak. The uniform applicator's
gauge is centred on an off-centre target point (25, −15, 10) mm, so A0 is NOT tangential on the sphere
and the solver must produce ψ ≠ 0 (here ψ is linear: A0 differs from the centred gauge by a constant
vector, the gradient of a linear function). Errors are printed against

  * the closed form (total error: FE + the O(h²) volume/shape deficit of straight-sided tetrahedra on a
    curved surface — the sphere's polyhedral mesh is smaller than the sphere), and
  * the closed-form field integrated exactly over the polyhedral mesh ("FE-only" error).

Assertions: the observed order of the total error (least-squares slope over ≥ 4 refinements) ≥ 1.6 for
P1 and P2 (the geometric O(h²) error bounds both), and the total error at the finest CI mesh < 1 %.
Run: ``python -m benchmarks.em_sphere [--full]``.
"""
from __future__ import annotations

import argparse
import math

from benchmarks.em_common import body_mesh, h_eff_mm, library, plan
from planner.verification import em as ae
from planner.verification.convergence import Checks, observed_orders, print_table, with_orders

A_MM, SIGMA, F_HZ, H0 = 50.0, 0.5, 100e3, 10e3
CI_SIZES = (14.0, 10.0, 7.0, 5.0)
FULL_SIZES = (14.0, 10.0, 7.0, 5.0, 3.5, 2.5)


def run(sizes=CI_SIZES, orders=(1, 2), checks: Checks | None = None, tol_finest: float = 0.01) -> dict:
    from planner.em import applied_field, solve_eddy_currents

    checks = checks or Checks()
    lib = library(muscle=SIGMA)
    P_exact = ae.sphere_loss_W(SIGMA, F_HZ, H0, A_MM * 1e-3)
    omega = 2 * math.pi * F_HZ
    results = {}
    for k in orders:
        rows, hs, errs = [], [], []
        for h in sizes:
            body = {"name": "sphere", "shape": "sphere", "tissue": "muscle", "radius_mm": A_MM}
            cfg = plan([body], h,
                       {"type": "uniform", "frequency_kHz": F_HZ / 1e3, "field_kA_per_m": H0 / 1e3,
                        "amplitude": "peak", "target_point_mm": [25.0, -15.0, 10.0]})
            mesh = body_mesh(body, h)  # meshes/sphere.geo
            app = applied_field(mesh, cfg.applicator)
            fs = solve_eddy_currents(mesh, app, lib, cfg.applicator, element_order=k)
            P = fs.tissue_loss_W
            P_disc = 0.5 * SIGMA * omega ** 2 * ae.tet_integral_of_quadratic(
                mesh.points_m, mesh.cells, lambda q: ae.ellipsoid_E_over_jw(q, A_MM * 1e-3, A_MM * 1e-3, H0)).sum()
            he = h_eff_mm(mesh)
            hs.append(he)
            errs.append(P / P_exact - 1)
            rows.append([h, round(he, 3), mesh.num_cells, fs.solver["dofs"], fs.solver["iterations"], P, P / P_exact - 1,
                         P / P_disc - 1])
        pair, slope = observed_orders(hs, errs)
        with_orders(rows, pair)
        print_table(f"sphere a = {A_MM} mm, P{k}, P_exact = {P_exact:.6g} W",
                    ["max_size_mm", "h_eff_mm", "cells", "dofs", "CG its", "P_W", "rel_err", "rel_err_FE_only", "order"], rows)
        print(f"least-squares order of |rel_err| vs h_eff: {slope:.3f}")
        checks.check(slope >= 1.6, f"sphere P{k}: observed order {slope:.2f} >= 1.6")
        checks.check(abs(errs[-1]) < tol_finest, f"sphere P{k}: finest rel. error {errs[-1]:.2e} < {tol_finest:g}")
        results[k] = {"h": hs, "err": errs, "order": slope}
    return results


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="finer meshes (up to h = 2.5 mm)")
    a = ap.parse_args(argv)
    checks = Checks()
    run(FULL_SIZES if a.full else CI_SIZES, checks=checks)
    checks.exit()


if __name__ == "__main__":
    main()
