"""Benchmark: complex admittivity σ* = σ + jωε0εr (issue 11) against a closed form, real σ for contrast.

A core sphere (a = 35 mm, wet skin: σ = 0.066 S/m, ωε0εr/σ = 1.30 at 100 kHz — the library's Cole–Cole
values, checked in the run) inside a shell (b = 60 mm, fat: 0.024 S/m, ωε0εr/σ = 0.02) carries a
locally uniform induced field E_loc = −jωF0 ẑ (uniform A0 = F0 ẑ, the undisturbed current entering
through the outer surface: ``BoundaryFlux``). Closed form (:func:`planner.verification.em.
coated_sphere_admittivity_field`): uniform core field E_core = κ E_loc with the complex contrast factor
κ = 3σ2*/(σ1* + 2σ2*)/(1 + 2β(a/b)³); here |κ| = 0.412 at −41.3°, while real σ gives κ = 0.559 (0°),
36 % too high in magnitude.

Printed per refinement (max element size h, P1 and, with ``--full``, P2): the FE core field (volume mean
of A0 + ∇ψ over the core cells / F0, magnitude and phase) and its relative error against κ; the
relative L2 error of the cell means of F over the whole body (closed form by a degree-2 rule per cell);
the observed orders; GMRES/PRESB iterations and time against the real CG solve of the same mesh (and
the real-σ core field, whose error against the complex truth does not converge away).
Assertions (CI sizes): least-squares order of the core-field error ≥ 1.5 and of the L2 error ≥ 0.8
(P1) over ≥ 3 refinements, core-field error < 1 % at the finest level, real σ off by > 30 %.
Run: ``python -m benchmarks.em_admittivity [--full]``.
"""
from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import time

import numpy as np

from planner.artefacts import boundary_facets
from planner.units import EPS0_F_per_m
from planner.verification import em as ae
from planner.verification.convergence import Checks, observed_orders, print_table
from planner.verification.meshes import reference_mesh

A_MM, B_MM = 35.0, 60.0
CORE, SHELL = "skin", "fat"
F_HZ, F0 = 100e3, 1.0  # F0 = |A0| (V·s/m): E_loc = ω F0
CI_SIZES = (8.5, 6.0, 4.2)
FULL_SIZES = (8.5, 6.0, 4.2, 3.0, 2.1)


def admittivities(frequency_Hz: float = F_HZ) -> dict[str, complex]:
    """σ* = σ + jωε0εr of the core and shell tissues from the tissue library (Cole–Cole)."""
    from planner.tissues.library import load_library

    lib, w = load_library(), 2.0 * math.pi * frequency_Hz
    return {t: complex(lib[t].conductivity_S_per_m(frequency_Hz), w * EPS0_F_per_m * lib[t].relative_permittivity(frequency_Hz))
            for t in (CORE, SHELL, "muscle")}


def _mesh(h: float):
    return reference_mesh("two_spheres.geo", {"R_mm": B_MM, "r_mm": A_MM, "h_mm": h},
                          tissues={"fat": SHELL, "core": CORE}, roles={"core": "organ"})


def solve(mesh, s: dict[str, complex], order: int = 1, complex_model: bool = True):
    """(ScalarPotentialResult, core cell mask, wall time s) of the coated sphere (module docstring)."""
    from planner.fem.scalar_potential import BoundaryFlux, solve_scalar_potential

    core = mesh.cell_region == mesh.region("core").tag
    sig = np.where(core, s[CORE].real, s[SHELL].real)
    tau = np.where(core, s[CORE].imag, s[SHELL].imag) if complex_model else None
    uniform = lambda x: np.tile([0.0, 0.0, F0], (len(x), 1))
    t0 = time.perf_counter()
    res = solve_scalar_potential(mesh, sig, uniform, 2 * math.pi * F_HZ, element_order=order,
                                 cut_flux=[BoundaryFlux(boundary_facets(mesh.cells), uniform)], cell_field_means=True,
                                 sigma_imag_cell_S_per_m=tau)
    return res, core, time.perf_counter() - t0


def errors(mesh, core: np.ndarray, F_cell: np.ndarray, s: dict[str, complex]) -> tuple[complex, float, float]:
    """(FE core field / F0, its relative error against κ, relative L2 error of the cell means of F)."""
    a, b = A_MM * 1e-3, B_MM * 1e-3
    kappa = ae.coated_sphere_contrast(s[CORE], s[SHELL], a, b)
    vol = mesh.cell_volumes_m3()
    k_fe = complex((F_cell[core, 2] * vol[core]).sum() / vol[core].sum()) / F0
    x = mesh.points_m[mesh.cells]
    al, be = 0.5854101966249685, 0.1381966011250105
    Fe = np.zeros((mesh.num_cells, 3), complex)
    for k in range(4):
        lam = np.full(4, be)
        lam[k] = al
        Fe += ae.coated_sphere_admittivity_field(np.einsum("i,mij->mj", lam, x), s[CORE], s[SHELL], a, b, F0,
                                                 in_core=core) / 4.0
    l2 = math.sqrt(float((vol * (np.abs(F_cell - Fe) ** 2).sum(axis=1)).sum() / (vol * (np.abs(Fe) ** 2).sum(axis=1)).sum()))
    return k_fe, abs(k_fe / kappa - 1.0), l2


def run(sizes=CI_SIZES, orders=(1,), checks: Checks | None = None) -> dict:
    checks = checks or Checks()
    s = admittivities()
    a, b = A_MM * 1e-3, B_MM * 1e-3
    kappa = ae.coated_sphere_contrast(s[CORE], s[SHELL], a, b)
    kappa_real = ae.coated_sphere_contrast(s[CORE].real, s[SHELL].real, a, b)
    ratio = {t: v.imag / v.real for t, v in s.items()}
    print(f"date {datetime.datetime.now().isoformat(timespec='seconds')}, {platform.node()}, load "
          f"{os.getloadavg()[0]:.1f}; f = {F_HZ / 1e3:g} kHz; omega eps0 eps_r / sigma: "
          + ", ".join(f"{t} {r:.3f}" for t, r in ratio.items()))
    checks.check(abs(ratio["skin"] - 1.3) < 0.05, f"library: skin omega eps0 eps_r/sigma at 100 kHz = {ratio['skin']:.3f} ~ 1.3")
    print(f"closed form: kappa = {abs(kappa):.5f} at {math.degrees(np.angle(kappa)):.2f} deg (complex); "
          f"real sigma: {kappa_real.real:.5f} (|kappa_real/kappa| - 1 = {abs(kappa_real / kappa) - 1:+.3f})")
    out = {}
    for order in orders:
        rows, hs, e_core, e_l2 = [], [], [], []
        for h in sizes:
            mesh = _mesh(h)
            res, core, t_c = solve(mesh, s, order)
            real, _, t_r = solve(mesh, s, order, complex_model=False)
            k_fe, ek, l2 = errors(mesh, core, res.F_mean_cell_V_s_per_m, s)
            k_real = complex((real.F_mean_cell_V_s_per_m[core, 2] * mesh.cell_volumes_m3()[core]).sum()
                             / mesh.cell_volumes_m3()[core].sum()) / F0
            hs.append(h)
            e_core.append(ek)
            e_l2.append(l2)
            rows.append([h, mesh.num_cells, res.dofs, abs(k_fe), math.degrees(np.angle(k_fe)), ek, l2, res.iterations,
                         real.iterations, t_c / t_r, abs(k_real / kappa) - 1.0])
        p_core, s_core = observed_orders(hs, e_core)
        p_l2, s_l2 = observed_orders(hs, e_l2)
        for r, o1, o2 in zip(rows, [float("nan")] + p_core, [float("nan")] + p_l2):
            r[7:7] = [o1, o2]
        print_table(f"coated sphere, core {CORE} a = {A_MM} mm in {SHELL} b = {B_MM} mm, P{order}; closed-form "
                    f"|kappa| = {abs(kappa):.5f} at {math.degrees(np.angle(kappa)):.2f} deg",
                    ["max_size_mm", "cells", "dofs", "|kappa_FE|", "phase_deg", "err_core", "err_L2", "order_core",
                     "order_L2", "GMRES its", "CG its (real)", "time complex/real", "real-sigma |kappa| err"], rows)
        print(f"least-squares orders: core {s_core:.2f}, L2 {s_l2:.2f}")
        if order == 1:
            checks.check(s_core >= 1.5, f"P1 core-field error order {s_core:.2f} >= 1.5")
            checks.check(s_l2 >= 0.8, f"P1 L2 error order {s_l2:.2f} >= 0.8")
        checks.check(e_core[-1] < 0.01, f"P{order} core field within 1 % at h = {hs[-1]} mm ({e_core[-1]:.2e})")
        checks.check(abs(rows[-1][-1]) > 0.3, f"real sigma misses |kappa| by {rows[-1][-1]:+.3f} (> 30 %)")
        out[order] = {"h": hs, "err_core": e_core, "err_l2": e_l2, "order_core": s_core, "order_l2": s_l2,
                      "iterations": [r[9] for r in rows], "iterations_real": [r[10] for r in rows],
                      "time_ratio": [r[11] for r in rows], "kappa": kappa, "kappa_real": kappa_real}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="5 refinements, P1 and P2")
    args = ap.parse_args()
    checks = Checks()
    run(FULL_SIZES if args.full else CI_SIZES, (1, 2) if args.full else (1,), checks)
    checks.exit()


if __name__ == "__main__":
    main()
