"""Total field (applied + reaction) of the implant sub-model at probe points vs the closed form (issue 11, item 5).

A Ti-6Al-4V sphere (a = 10 mm, σ = 5.6e5 S/m) in a uniform peak field H0 = 1 kA/m along z, a/δ = 1
(genuine skin effect: the polarisability α is complex, Re α and Im α both O(0.1)). Outside the sphere
the exact field is H0 plus a point dipole m = 4π a³ α(ka) H0 at the centre, k = (1 − j)/δ
(planner.verification.implants.sphere_exterior_H_peak_A_per_m, e^{jωt}). The sub-model's total H
(planner.fem.implant_eddy.evaluate: H0 + curl(A_r)/μ0) is sampled at 4 × 26 fixed points on shells
r = 1.25a, 1.5a, 2a, 3a (axes, face and body diagonals: poles, equator and in between) and compared
component-wise (complex) with the closed form.

Box: half-size 20 a (box_half_size_mm = 200): the truncation n × A_r = 0 on the cube (a superconducting
box, image dipoles ~ |α| (a/R)³ H0 ≈ 4e-5 H0) stays below the finest discretisation error. Levels
divide every mesh size by ``refinement``; h_eff = (N1curl dofs)^(−1/3) relative to the coarsest.
The total E inside the metal (E = −jω(A0 + A_r), unique there) is compared at 2 × 26 points on shells
r = 0.5a, 0.8a with the interior closed form (A_φ = C j1(kr), :func:`sphere_interior_E_peak_V_per_m`).
Checks: least-squares order of the rms H error (over the 104 exterior points; pointwise maxima of the
discontinuous P1 curl are noisy and printed only) ≥ 1.5 (N1curl degree 2: curl in P1 → 2 expected),
finest rms |ΔH| / H0 < 0.3 %, order of the max E error ≥ 1.5 and finest < 1 %, and the conjugate phase
convention (e^{−jωt}) ≥ 5× worse (the sign of Im α is tested, not only |α|). Points outside the box are
masked (inside = False, NaN).

Run: ``python -m benchmarks.implants_total_field [--full]`` (CI size: refinements 0.5, 0.75, 1.0;
--full adds 1.5). Exit status 1 if a check fails.
"""
from __future__ import annotations

import argparse
import datetime
import itertools
import os
import time

import numpy as np

from benchmarks.implants_common import H0, SIGMA_TI64, frequency_for
from planner.verification import implants as an
from planner.verification.convergence import Checks, observed_orders, print_table, with_orders

A_MM = 10.0
A_OVER_DELTA = 1.0
BOX_HALF_MM = 200.0
SHELLS = (1.25, 1.5, 2.0, 3.0)
INNER = (0.5, 0.8)  # shells inside the metal (E)
GROWTH = 0.3  # size growth per mm at refinement 1, divided by the refinement (the surroundings converge too)


def directions() -> np.ndarray:
    """26 unit vectors: ±axes, face diagonals, body diagonals."""
    d = np.array([v for v in itertools.product((-1, 0, 1), repeat=3) if any(v)], float)
    return d / np.linalg.norm(d, axis=1)[:, None]


def probe_points_m() -> np.ndarray:
    """Exterior shell points (4 × 26), interior shell points (2 × 26), one point outside the box (masked)."""
    d = directions()
    shells = np.concatenate([s * A_MM * 1e-3 * d for s in SHELLS + INNER])
    return np.concatenate([shells, [[0.0, 0.0, 2.5 * BOX_HALF_MM * 1e-3]]])


def solve(refinement: float):
    from planner.fem import implant_eddy as ec
    from planner.geometry.submodel import SubModelGeometry, SubModelSizing

    f = frequency_for(A_OVER_DELTA, A_MM * 1e-3, SIGMA_TI64)
    P = probe_points_m()
    t = time.perf_counter()
    geo = SubModelGeometry(lambda occ: [(3, occ.addSphere(0.0, 0.0, 0.0, A_MM))],
                           sizing=SubModelSizing(refinement=refinement, growth=GROWTH / refinement,
                                                         box_half_size_mm=BOX_HALF_MM))
    r = ec.solve_implant(geo, ec.ImplantSolveOptions(
        sigma_S_per_m=SIGMA_TI64, frequency_Hz=f, A0_peak_at=ec.uniform_A0((0.0, 0.0, H0)), rtol=1e-9,
        collect_cells=False, sample_points_m=P, H0_peak_at=lambda x: np.tile([0.0, 0.0, H0], (len(x), 1))))
    return r, f, time.perf_counter() - t


def errors(sample, f: float) -> dict[str, float]:
    """Max |ΔH|/H0 over all shell points and per shell, and the same against the conjugate convention."""
    n = len(SHELLS) * 26
    P = sample.points_m[:n]
    ex = an.sphere_exterior_H_peak_A_per_m(P, radius_m=A_MM * 1e-3, sigma_S_per_m=SIGMA_TI64, frequency_Hz=f,
                                           H0_peak_A_per_m=np.array([0.0, 0.0, H0]))
    d = np.linalg.norm(sample.H_peak_A_per_m[:n] - ex, axis=1) / H0
    dc = np.linalg.norm(sample.H_peak_A_per_m[:n] - np.conj(ex), axis=1) / H0
    out = {"max": float(d.max()), "rms": float(np.sqrt(np.mean(d**2))), "conj_rms": float(np.sqrt(np.mean(dc**2))),
           "reaction_max": float(np.linalg.norm(ex - [0.0, 0.0, H0], axis=1).max() / H0)}
    for i, s in enumerate(SHELLS):
        out[f"r={s}a"] = float(np.sqrt(np.mean(d[26 * i:26 * (i + 1)] ** 2)))
    Q = sample.points_m[n:n + 26 * len(INNER)]
    Ex = an.sphere_interior_E_peak_V_per_m(Q, radius_m=A_MM * 1e-3, sigma_S_per_m=SIGMA_TI64, frequency_Hz=f,
                                           H0_peak_A_per_m=np.array([0.0, 0.0, H0]))
    scale = float(np.linalg.norm(Ex, axis=1).max())
    out["E_max"] = float(np.linalg.norm(sample.E_peak_V_per_m[n:n + Q.shape[0]] - Ex, axis=1).max() / scale)
    out["in_metal_ok"] = bool(sample.in_metal[n:n + Q.shape[0]].all() and not sample.in_metal[:n].any())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--full", action="store_true", help="add refinement 1.5")
    args = ap.parse_args()
    levels = [0.5, 0.75, 1.0] + ([1.5] if args.full else [])
    print(f"# implants_total_field  {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC  "
          f"load {os.getloadavg()[0]:.1f} (2 cores)  a = {A_MM} mm, a/δ = {A_OVER_DELTA}, box half {BOX_HALF_MM} mm")
    rows, hs, errs, errs_E, conj, ck = [], [], [], [], [], Checks()
    dofs0 = None
    for ref in levels:
        r, f, dt = solve(ref)
        s = r.field_sample
        e = errors(s, f)
        dofs0 = dofs0 or r.dofs
        hs.append((dofs0 / r.dofs) ** (1.0 / 3.0))
        errs.append(e["rms"])
        errs_E.append(e["E_max"])
        rows.append([ref, r.dofs, r.iterations, round(dt, 1), *(e[f"r={x}a"] for x in SHELLS), e["rms"], e["max"],
                     e["conj_rms"], e["E_max"]])
        conj.append(e["conj_rms"])
        ck.check(e["in_metal_ok"], f"refinement {ref}: interior points flagged in_metal, exterior ones not")
        ck.check(bool(s.inside[:-1].all()) and not bool(s.inside[-1]) and bool(np.isnan(s.H_peak_A_per_m[-1]).all()),
                 f"refinement {ref}: shell points inside the sub-model, the far point masked (NaN)")
        del r, s
    pair, slope = observed_orders(hs, errs)
    pair_E, slope_E = observed_orders(hs, errs_E)
    head = ["refinement", "dofs", "its", "time s", *(f"rms|dH|/H0 r={x}a" for x in SHELLS), "rms |dH|/H0",
            "max |dH|/H0", "rms vs conj", "max|dE|/E_max (metal)", "order H (rms)", "order E (max)"]
    print_table("total H outside (H0 + dipole, L&L §59) and E inside the metal (A_phi = C j1(kr)) vs closed form",
                head, with_orders(with_orders(rows, pair), pair_E))
    print(f"least-squares orders: H (rms over 104 exterior points) {slope:.2f}, E (max over 52 metal points) "
          f"{slope_E:.2f}; reaction field at r = 1.25a up to {e['reaction_max']:.3f} H0")
    ck.check(slope >= 1.5, f"observed order of H {slope:.2f} >= 1.5 (N1curl degree 2: 2 expected)")
    ck.check(slope_E >= 1.5, f"observed order of E {slope_E:.2f} >= 1.5")
    ck.check(errs[-1] < 3e-3, f"finest rms |dH|/H0 = {errs[-1]:.2e} < 3e-3 (max {rows[-1][9]:.2e})")
    ck.check(errs_E[-1] < 0.01, f"finest max |dE|/E_max in the metal = {errs_E[-1]:.2e} < 1e-2")
    ck.check(conj[-1] > 5 * errs[-1], "the conjugate phase convention (e^-jwt) is at least 5x worse: the sign of "
             "Im alpha is tested, not only |alpha|")
    ck.exit()


if __name__ == "__main__":
    main()
