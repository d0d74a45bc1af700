"""Benchmark: a long cylinder cut to a slab (issue 11, cut faces are not skin), against the uncut closed form.

A tissue cylinder R = 50 mm, σ = 0.5 S/m, cut to a slab of length L = 60 mm (both end discs tagged as
cut faces, like the first and last slice of a CT slab), f = 100 kHz, uniform H0 = 4 kA/m peak:
  * H0 along the axis: E_φ = ½ωμ0H0 r, n·J = 0 on the ends anyway, P = π σ ω² μ0² H0² R⁴ L / 16;
  * H0 across the axis (x): the infinite body's currents run along the axis and cross the cut planes,
    E_z = −jωμ0H0 y, P = π σ ω² μ0² H0² R⁴ L / 8, |E|max = ωμ0H0R ≈ 158 V/m
    (:func:`planner.verification.em.cylinder_transverse_loss_W`).
Printed per refinement and orientation: loss and max |E| with the cut condition (the undisturbed
long-body current through the cut planes), and with the old treatment (ends as skin, n·J = 0), against
the closed forms. Assertions: observed order of the loss error ≥ 1.6 (O(h²) polygonal cross-section)
over ≥ 3 refinements and < 2.5 % (CI, h_eff 4.7 mm) / < 1 % (--full) at the finest level, for both
orientations; the skin treatment of the
ends is far off across the axis (it is what the cut condition fixes).
Run: ``python -m benchmarks.em_cut_slab [--full]``.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import math
import os
import platform

import numpy as np

from benchmarks.em_common import h_eff_mm, library, mesh_of, plan
from planner.artefacts import boundary_facets
from planner.verification import em as ae
from planner.verification.convergence import Checks, observed_orders, print_table

R_MM, L_MM, SIGMA, F_HZ, H0 = 50.0, 60.0, 0.5, 100e3, 4e3
CI_SIZES = (16.0, 11.0, 8.0)
FULL_SIZES = (16.0, 11.0, 8.0, 5.5, 4.0)


def slab_mesh(h_mm: float, *, cut: bool = True):
    cfg = plan([{"name": "body", "shape": "cylinder", "tissue": "muscle", "radius_mm": R_MM, "length_mm": L_MM}], h_mm)
    mesh = mesh_of(cfg)
    b = boundary_facets(mesh.cells)
    ends = np.abs(np.abs(mesh.points_m[b][:, :, 2]) - L_MM / 2e3).max(axis=1) < 1e-9
    if not cut:
        return mesh
    return dataclasses.replace(mesh, skin_facets=b[~ends], cut_facets=b[ends], _cache={})


def run(sizes=CI_SIZES, order: int = 1, checks: Checks | None = None, tol_finest: float = 0.025) -> dict:
    from planner.em import applied_field, solve_eddy_currents

    checks = checks or Checks()
    lib = library(muscle=SIGMA)
    w = 2 * math.pi * F_HZ
    out = {}
    for name, direction, exact in (("along", (0.0, 0.0, 1.0), ae.cylinder_axial_loss_W),
                                   ("across", (1.0, 0.0, 0.0), ae.cylinder_transverse_loss_W)):
        P_ex = exact(SIGMA, F_HZ, H0, R_MM * 1e-3, L_MM * 1e-3)
        E_ex = w * 4e-7 * math.pi * H0 * R_MM * 1e-3 * (0.5 if name == "along" else 1.0)
        rows, hs, errs = [], [], []
        for h in sizes:
            res = {}
            for cut in (True, False):
                mesh = slab_mesh(h, cut=cut)
                cfg = plan([{"name": "body", "shape": "cylinder", "tissue": "muscle", "radius_mm": R_MM,
                             "length_mm": L_MM}], h,
                           {"type": "uniform", "frequency_kHz": F_HZ / 1e3, "field_kA_per_m": H0 / 1e3,
                            "amplitude": "peak", "direction": list(direction)})
                fs = solve_eddy_currents(mesh, applied_field(mesh, cfg.applicator), lib, cfg.applicator, element_order=order)
                res[cut] = (fs.tissue_loss_W, float(fs.E_vertex_max_V_per_m.max()), fs.solver["iterations"], mesh)
            P, Emax, its, mesh = res[True]
            hs.append(h_eff_mm(mesh))
            errs.append(P / P_ex - 1)
            rows.append([h, round(hs[-1], 3), mesh.num_cells, its, P, P_ex, P / P_ex - 1, Emax, E_ex,
                         res[False][0] / P_ex - 1, res[False][1]])
        pair, slope = observed_orders(hs, errs)
        for r, o in zip(rows, [float("nan")] + pair):
            r.append(o)
        print_table(f"slab of a cylinder R = {R_MM} mm, L = {L_MM} mm, H0 {name} the axis, P{order}",
                    ["max_size_mm", "h_eff_mm", "cells", "CG its", "P_cut_W", "P_uncut_exact_W", "rel_err",
                     "Emax_cut_V_per_m", "Emax_exact", "rel_err_ends_as_skin", "Emax_ends_as_skin", "order"], rows)
        print(f"least-squares order of |rel_err| vs h_eff: {slope:.3f}")
        checks.check(slope >= 1.6 or abs(errs[-1]) < 1e-6, f"slab, H {name} axis: observed order {slope:.2f} >= 1.6")
        checks.check(abs(errs[-1]) < tol_finest,
                     f"slab, H {name} axis: loss within {tol_finest:.1%} of the uncut body ({errs[-1]:+.3%})")
        if name == "across":
            checks.check(rows[-1][9] < -0.3,
                         f"slab, H across: ends as skin lose {rows[-1][9]:+.1%} of the loss (cut fixes it)")
        out[name] = {"h": hs, "err": errs, "order": slope, "err_ends_as_skin": rows[-1][9]}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--full", action="store_true")
    args = ap.parse_args()
    print(f"# em_cut_slab  {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC  {platform.node()}  "
          f"load {os.getloadavg()[0]:.2f}")
    checks = Checks()
    run(FULL_SIZES, checks=checks, tol_finest=0.01) if args.full else run(checks=checks)
    checks.exit()


if __name__ == "__main__":
    main()
