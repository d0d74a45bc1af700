"""Benchmark: implants as floating conductors in the tissue solve (issue 11), against closed forms.

A perfectly conducting sphere (tip/pole field 3 E0) and prolate spheroids along the field (tip field
E0/n, n the depolarisation factor: 9.20× at aspect 3, 49.3× at aspect 10) sit in a tissue cube in a
uniform induced field E0 = −jω F0 ẑ (uniform A0 = F0 ẑ, σ = 0.5 S/m). The cube's faces carry the exact
current (``BoundaryFlux`` with the closed-form field: the cube stands for an unbounded body); the
conductor is one floating potential (``FloatingConductor``, gauge A0·(x − c)). Closed forms:
:mod:`planner.verification.em` (``conducting_sphere_field``, ``conducting_prolate_spheroid_field``).

Printed per refinement (implant_size_mm h, cube graded to 4 h):
  * tip: |F| at the tip vertex recovered as the volume-weighted mean of the cell means of A0 + ∇ψ over
    the tissue cells touching it, / F0, against 3 or 1/n (total error: FE + recovery + faceting);
  * L2: ‖F̄_h − F̄‖ / (F0 ‖1‖) over the tissue cells within 2 c of the centre (cell means, F̄ of the
    closed form by a degree-2 rule) — the FE error of the field near the implant;
  * CG iterations (flat in refinement) and, for the sphere, the insulating limit (``insulated``:
    no FloatingConductor, the implant a hole with n·J = 0: pole field 0, equator 1.5 E0).
Spheroids run on tip-graded meshes (``meshes/spheroid_in_cube.geo``: size h_tip at the tips, h on the
surface, growing by 0.35 per mm; the tip field varies on the tip radius a²/c, 0.06 mm at aspect 10, which
a uniform implant size cannot reach: −45 % at 1.5 M dofs, README_em.md); the refinement parameter is
h_tip. Assertions: least-squares order of both errors ≥ 0.7 over ≥ 3 refinements, tip within 10 % of
the closed form at the finest level, CG iterations flat.
Run: ``python -m benchmarks.em_implant_conductor [--full]`` (sphere, spheroid-3 and spheroid-10, graded).
"""
from __future__ import annotations

import argparse
import datetime
import math
import os
import platform

import numpy as np

from benchmarks.em_common import h_eff_mm, mesh_of, plan
from planner.artefacts import boundary_facets
from planner.verification import em as ae
from planner.verification.convergence import Checks, observed_orders, print_table

SIGMA, F0 = 0.5, 1.0  # S/m; F0 = |A0 + ∇ψ| far away (V·s/m): E0 = ω F0
CASES = {  # name: (semi-axes a, c in mm, cube side mm)
    "sphere": (3.0, 3.0, 20.0),
    "spheroid-3": (1.5, 4.5, 16.0),
    "spheroid-10": (0.6, 6.0, 20.0),
}
CI_SIZES = {"sphere": (1.2, 0.85, 0.6), "spheroid-3": (0.45, 0.3, 0.2)}
FULL_SIZES = {"sphere": (1.2, 0.85, 0.6, 0.42, 0.3), "spheroid-3": (0.45, 0.3, 0.2, 0.14),
              "spheroid-10": (0.12, 0.085, 0.06)}
# tip-graded meshes (meshes/spheroid_in_cube.geo): (surface size h, tip size h_tip) in mm per level; the tip
# radius a²/c is 0.5 mm (aspect 3) and 0.06 mm (aspect 10); h_tip ≈ tip radius / 3 … / 4 at the finest level
GRADED_SIZES = {"spheroid-3": ((0.45, 0.15), (0.3, 0.1), (0.2, 0.07)),
                "spheroid-10": ((0.2, 0.03), (0.14, 0.02), (0.1, 0.014))}
GRADED_FULL = {"spheroid-3": ((0.45, 0.15), (0.3, 0.1), (0.2, 0.07), (0.14, 0.05)),
               "spheroid-10": ((0.2, 0.03), (0.14, 0.02), (0.1, 0.014), (0.07, 0.01))}
GROWTH = 0.35  # size growth per mm of distance from the tips / surface in the graded meshes


def exact_field(case: str, pts_m: np.ndarray) -> np.ndarray:
    a, c, _ = CASES[case]
    if a == c:
        return ae.conducting_sphere_field(pts_m, a * 1e-3, F0)
    return ae.conducting_prolate_spheroid_field(pts_m, a * 1e-3, c * 1e-3, F0)


def closed_tip(case: str) -> float:
    a, c, _ = CASES[case]
    return ae.conductor_tip_enhancement(c / a)


def case_mesh(case: str, h_mm: float):
    a, c, L = CASES[case]
    shape = {"shape": "sphere", "radius_mm": a} if a == c else {"shape": "ellipsoid", "semi_axes_mm": [a, a, c]}
    cfg = plan([{"name": "tissue", "shape": "box", "tissue": "muscle", "size_mm": [L, L, L]},
                {"name": "implant", "tissue": "titanium", "role": "implant", **shape}],
               max_size_mm=min(4 * h_mm, L / 6), implant_size_mm=h_mm, growth_distance_mm=c)
    return mesh_of(cfg)


def graded_mesh(case: str, h_mm: float, h_tip_mm: float):
    """Spheroid in the cube, graded toward its tips (meshes/spheroid_in_cube.geo; cached)."""
    from planner.artefacts import Role
    from planner.verification.meshes import reference_mesh

    a, c, L = CASES[case]
    return reference_mesh("spheroid_in_cube.geo", {"a_mm": a, "c_mm": c, "L_mm": L, "h_mm": h_mm, "h_tip_mm": h_tip_mm,
                                                   "h_far_mm": L / 6, "g": GROWTH},
                          tissues={"tissue": "muscle", "implant": "titanium"}, roles={"implant": Role.IMPLANT})


def solve_case(mesh, case: str, order: int = 1, insulated: bool = False):
    """(ScalarPotentialResult, tissue cell mask) for the cube + conductor (or hole)."""
    from planner.em.eddy import sub_mesh
    from planner.fem.scalar_potential import BoundaryFlux, FloatingConductor, solve_scalar_potential

    impl = mesh.cell_region == mesh.region("implant").tag
    A0 = lambda x: np.tile([0.0, 0.0, F0], (len(x), 1))
    outer = boundary_facets(mesh.cells)
    outer = outer[np.abs(mesh.points_m[outer].mean(axis=1)).max(axis=1) > 0.45 * CASES[case][2] * 1e-3]
    omega = 2 * math.pi * 100e3
    if insulated:
        sm, used = sub_mesh(mesh, ~impl)
        lut = np.full(mesh.num_vertices, -1)
        lut[used] = np.arange(used.size)
        flux = [BoundaryFlux(lut[outer], lambda x: ae.insulating_sphere_field(x, CASES[case][0] * 1e-3, F0))]
        res = solve_scalar_potential(sm, np.full(sm.num_cells, SIGMA), A0, omega, element_order=order, cut_flux=flux,
                                     vertex_values=True, cell_field_means=True)
        return res, sm, np.ones(sm.num_cells, bool)
    sigma = np.where(impl, 0.0, SIGMA)
    fc = FloatingConductor(impl, lambda x: x @ np.array([0.0, 0.0, F0]))
    res = solve_scalar_potential(mesh, sigma, A0, omega, element_order=order, floating=[fc],
                                 cut_flux=[BoundaryFlux(outer, lambda x: exact_field(case, x))], vertex_values=True,
                                 cell_field_means=True)
    return res, mesh, ~impl


def tip_value(mesh, tissue: np.ndarray, F_vc: np.ndarray, tip_m) -> tuple[float, float]:
    """(|F| at the vertex nearest ``tip_m``: mean over the tissue cells at it of their polynomial's
    vertex value, its distance to tip_m in m)."""
    v = int(np.argmin(np.linalg.norm(mesh.points_m - np.asarray(tip_m), axis=1)))
    at = (mesh.cells == v) & tissue[:, None]
    Fv = F_vc[at].mean(axis=0)
    return float(np.linalg.norm(Fv)), float(np.linalg.norm(mesh.points_m[v] - np.asarray(tip_m)))


def l2_error(mesh, tissue: np.ndarray, F_cell: np.ndarray, case: str) -> float:
    a, c, _ = CASES[case]
    near = tissue & (np.linalg.norm(mesh.cell_centroids_m(), axis=1) < 2 * c * 1e-3)
    pts, cells = mesh.points_m, mesh.cells[near]
    x = pts[cells]
    al, be = 0.5854101966249685, 0.1381966011250105
    Fe = np.zeros((cells.shape[0], 3))
    for k in range(4):
        lam = np.full(4, be)
        lam[k] = al
        Fe += exact_field(case, np.einsum("i,mij->mj", lam, x)) / 4.0
    vol = mesh.cell_volumes_m3()[near]
    return float(np.sqrt((vol * ((F_cell[near] - Fe) ** 2).sum(axis=1)).sum() / vol.sum()) / F0)


def run(cases=("sphere", "spheroid-3"), sizes=None, order: int = 2, checks: Checks | None = None) -> dict:
    checks = checks or Checks()
    sizes = sizes or CI_SIZES
    out = {}
    for case in cases:
        a, c, L = CASES[case]
        ref = closed_tip(case)
        rows, hs, e_tip, e_l2 = [], [], [], []
        graded = isinstance(sizes[case][0], tuple)
        for lev in sizes[case]:
            mesh = graded_mesh(case, *lev) if graded else case_mesh(case, lev)
            h = lev[1] if graded else lev  # tip size (graded) or implant size: the refinement parameter
            res, m, tissue = solve_case(mesh, case, order)
            tip, dist = tip_value(m, tissue, res.F_vertex_cell_V_s_per_m, (0, 0, c * 1e-3))
            l2 = l2_error(m, tissue, res.F_mean_cell_V_s_per_m, case)
            hs.append(h)
            e_tip.append(tip / F0 / ref - 1)
            e_l2.append(l2)
            rows.append([h, round(h_eff_mm(mesh), 3), mesh.num_cells, res.dofs, res.iterations, round(dist * 1e3, 4),
                         tip / F0, ref, tip / F0 / ref - 1, l2])
        p_tip, s_tip = observed_orders(hs, e_tip)
        p_l2, s_l2 = observed_orders(hs, e_l2)
        for r, o1, o2 in zip(rows, [float("nan")] + p_tip, [float("nan")] + p_l2):
            r += [o1, o2]
        title = "tip-graded mesh (h_tip; surface sizes " + ", ".join(f"{lv[0]:g}" for lv in sizes[case]) + " mm)" \
            if graded else "uniform implant size"
        print_table(f"{case}: a = {a} mm, c = {c} mm, cube {L} mm, P{order}, {title}; closed-form tip |E|/E0 = {ref:.4f}",
                    ["h_tip_mm" if graded else "implant_size_mm", "h_eff_mm", "cells", "dofs", "CG its", "tip_vertex_off_mm", "tip_E/E0",
                     "closed", "tip_rel_err", "L2_rel_err", "order_tip", "order_L2"], rows)
        print(f"least-squares orders: tip {s_tip:.3f}, L2 {s_l2:.3f}")
        checks.check(s_tip >= 0.7, f"{case}: observed order of the tip error {s_tip:.2f} >= 0.7")
        checks.check(s_l2 >= 0.7, f"{case}: observed order of the L2 field error {s_l2:.2f} >= 0.7")
        checks.check(abs(e_tip[-1]) < 0.10, f"{case}: tip |E|/E0 = {rows[-1][6]:.3f} within 10 % of {ref:.3f}")
        its = [r[4] for r in rows]
        checks.check(max(its) <= 2 * min(its) + 5, f"{case}: CG iterations {its} flat under refinement")
        out[case] = {"h": hs, "tip_err": e_tip, "l2_err": e_l2, "order_tip": s_tip, "order_l2": s_l2, "its": its}
    return out


def insulating_limit(h: float = 0.6, order: int = 2, checks: Checks | None = None) -> dict:
    """Sphere declared insulating: pole field → 0 and equator field → 1.5 E0 (the hole limit)."""
    checks = checks or Checks()
    a = CASES["sphere"][0] * 1e-3
    mesh = case_mesh("sphere", h)
    res, m, tissue = solve_case(mesh, "sphere", order, insulated=True)
    pole, _ = tip_value(m, tissue, res.F_vertex_cell_V_s_per_m, (0, 0, a))
    eq, _ = tip_value(m, tissue, res.F_vertex_cell_V_s_per_m, (a, 0, 0))
    print_table(f"insulated sphere a = {a * 1e3} mm (hole, n·J = 0), implant_size {h} mm",
                ["pole_E/E0", "closed", "equator_E/E0", "closed"], [[pole / F0, 0.0, eq / F0, 1.5]])
    # one mesh, vertex value at the pole: 0.087 on gmsh 4.8's mesh, 0.105 on gmsh 4.13's (same FE result on
    # both DOLFINx versions for the same mesh); the conductor gives 3 there, so 0.15 still tells them apart
    checks.check(pole / F0 < 0.15 and abs(eq / F0 / 1.5 - 1) < 0.05,
                 f"insulating limit: pole {pole / F0:.3f} (→ 0), equator {eq / F0:.3f} (→ 1.5)")
    return {"pole": pole / F0, "equator": eq / F0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--full", action="store_true", help="finer meshes and the aspect-10 spheroid")
    args = ap.parse_args()
    print(f"# em_implant_conductor  {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC  "
          f"{platform.node()}  load {os.getloadavg()[0]:.2f}")
    checks = Checks()
    ap_graded = {"spheroid-3": GRADED_FULL["spheroid-3"] if args.full else GRADED_SIZES["spheroid-3"],
                 "spheroid-10": GRADED_FULL["spheroid-10"] if args.full else GRADED_SIZES["spheroid-10"]}
    if args.full:
        run(("sphere",), FULL_SIZES, checks=checks)
    else:
        run(("sphere",), checks=checks)
    run(("spheroid-3", "spheroid-10"), ap_graded, checks=checks)
    insulating_limit(checks=checks)
    checks.exit()


if __name__ == "__main__":
    main()
