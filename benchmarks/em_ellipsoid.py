"""Benchmark: conducting ellipsoids and a finite cylinder in a uniform low-frequency field (ψ ≠ 0).

Closed forms (planner.verification.em): for an ellipsoid with semi-axes a ∥ x, b ∥ y, c ∥ z in H0 ∥ z,
A0 + ∇ψ = μ0 H0 (−a² y, b² x, 0)/(a² + b²) and P = (2π/15) σ ω² μ0² H0² a³b³c/(a² + b²); ψ is the
quadratic ½ μ0 H0 (b² − a²)/(a² + b²) x y, so P1 has a genuine discretisation error (energy O(h²)).
For a circular cylinder with its axis ∥ H0, P = π σ ω² μ0² H0² R⁴ L / 16 exactly (finite length).

Cases (σ = 0.5 S/m, f = 100 kHz, H0 = 10 kA/m peak, gauge centred at an off-centre target point):
  * ``triaxial``   ellipsoid 60 × 40 × 30 mm (P1 and P2),
  * ``thin-disc``  elliptic disc 60 × 30 × 6 mm in the field normal to it (oblate; strong ψ),
  * ``rod``        prolate 20 × 80 × 20 mm (long axis y) in a transverse field (long-cylinder limit;
                   gmsh 4.8 fails to mesh the same rod dilated along x),
  * ``cylinder``   R = 30 mm, L = 80 mm, axis ∥ H0.
Printed: total error vs the closed form and the FE-only error (closed-form field integrated exactly over
the polyhedral mesh). Asserted: least-squares order of the total error ≥ 1.6 over 4 refinements (not for
the P1 rod, where the FE error and the polyhedral volume deficit cancel), for P1 on the ellipsoids also
the order of the FE-only error; total error < 1 % at the finest CI mesh.
Run: ``python -m benchmarks.em_ellipsoid [--full]``.
"""
from __future__ import annotations

import argparse
import math

import numpy as np

from benchmarks.em_common import body_mesh, h_eff_mm, library, plan
from planner.units import MU0_H_per_m
from planner.verification import em as ae
from planner.verification.convergence import Checks, observed_orders, print_table, with_orders

SIGMA, F_HZ, H0 = 0.5, 100e3, 10e3
OMEGA = 2 * math.pi * F_HZ
TARGET = [7.0, -4.0, 2.0]
TOTAL_ORDER_UNRELIABLE = ("rod",)

CASES = {
    # name: (body dict, closed form (W), exact field for FE-only error or None, sizes CI, orders)
    "triaxial": ({"shape": "ellipsoid", "semi_axes_mm": [60.0, 40.0, 30.0]}, (60.0, 40.0, 30.0), (10.0, 7.0, 5.0, 3.5), (1, 2)),
    "thin-disc": ({"shape": "ellipsoid", "semi_axes_mm": [60.0, 30.0, 6.0]}, (60.0, 30.0, 6.0), (4.0, 3.0, 2.2, 1.6), (1,)),
    "rod": ({"shape": "ellipsoid", "semi_axes_mm": [20.0, 80.0, 20.0]}, (20.0, 80.0, 20.0), (8.0, 5.6, 4.0, 2.8), (1,)),
    "cylinder": ({"shape": "cylinder", "radius_mm": 30.0, "length_mm": 80.0, "axis": [0.0, 0.0, 1.0]}, None,
                 (10.0, 7.0, 5.0, 3.5), (1,)),
}


def _closed_form(name, axes):
    if axes is None:
        return ae.cylinder_axial_loss_W(SIGMA, F_HZ, H0, 0.030, 0.080)
    a, b, c = (x * 1e-3 for x in axes)
    return ae.ellipsoid_loss_W(SIGMA, F_HZ, H0, a, b, c)


def run(cases=tuple(CASES), full: bool = False, checks: Checks | None = None, tol_finest: float = 0.01) -> dict:
    from planner.em import applied_field, solve_eddy_currents

    checks = checks or Checks()
    lib = library(muscle=SIGMA)
    out = {}
    for name in cases:
        body, axes, sizes, orders = CASES[name]
        if full:
            sizes = tuple(sizes) + (sizes[-1] / 1.4, sizes[-1] / 2.0)
        P_exact = _closed_form(name, axes)
        for k in orders:
            rows, hs, errs, errs_fe = [], [], [], []
            for h in sizes:
                cfg = plan([{"name": name, "tissue": "muscle", **body}], h,
                           {"type": "uniform", "frequency_kHz": F_HZ / 1e3, "field_kA_per_m": H0 / 1e3,
                            "amplitude": "peak", "target_point_mm": TARGET})
                mesh = body_mesh({"name": name, "tissue": "muscle", **body}, h)  # meshes/<shape>.geo
                fs = solve_eddy_currents(mesh, applied_field(mesh, cfg.applicator), lib, cfg.applicator, element_order=k)
                P = fs.tissue_loss_W
                if axes is None:
                    field = lambda q: 0.5 * MU0_H_per_m * H0 * np.column_stack([-q[:, 1], q[:, 0], 0 * q[:, 0]])
                else:
                    field = lambda q, a=axes: ae.ellipsoid_E_over_jw(q, a[0] * 1e-3, a[1] * 1e-3, H0)
                P_disc = 0.5 * SIGMA * OMEGA ** 2 * ae.tet_integral_of_quadratic(mesh.points_m, mesh.cells, field).sum()
                hs.append(h_eff_mm(mesh))
                errs.append(P / P_exact - 1)
                errs_fe.append(P / P_disc - 1)
                rows.append([h, round(hs[-1], 3), mesh.num_cells, fs.solver["dofs"], fs.solver["iterations"], P,
                             errs[-1], errs_fe[-1]])
            pair, slope = observed_orders(hs, errs)
            pair_fe, slope_fe = observed_orders(hs, errs_fe)
            with_orders(rows, pair)
            with_orders(rows, pair_fe)
            print_table(f"{name}, P{k}, P_exact = {P_exact:.6g} W",
                        ["max_size_mm", "h_eff_mm", "cells", "dofs", "CG its", "P_W", "rel_err", "rel_err_FE_only",
                         "order", "order_FE"], rows)
            print(f"least-squares orders vs h_eff: total {slope:.3f}, FE-only {slope_fe:.3f}")
            if name in TOTAL_ORDER_UNRELIABLE and k == 1:
                print(f"note: {name} P1 — FE error (+) and polyhedral-volume error (−) cancel; the total-error order "
                      "is not meaningful, the FE-only order is asserted")
            else:
                checks.check(slope >= 1.6, f"{name} P{k}: observed order (total error) {slope:.2f} >= 1.6")
            if k == 1 and axes is not None:
                checks.check(slope_fe >= 1.6, f"{name} P{k}: observed order (FE-only error) {slope_fe:.2f} >= 1.6")
            checks.check(abs(errs[-1]) < tol_finest, f"{name} P{k}: finest rel. error {errs[-1]:.2e} < {tol_finest:g}")
            out[(name, k)] = {"h": hs, "err": errs, "err_fe": errs_fe, "order": slope, "order_fe": slope_fe}
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="two more refinements per case")
    ap.add_argument("--case", action="append", choices=sorted(CASES), help="run only these cases")
    a = ap.parse_args(argv)
    checks = Checks()
    run(tuple(a.case or CASES), full=a.full, checks=checks)
    checks.exit()


if __name__ == "__main__":
    main()
