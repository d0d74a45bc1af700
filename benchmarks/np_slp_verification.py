"""Verification of the linear-response SLP model against closed forms and direct quadrature.

    python -m benchmarks.np_slp_verification [--full]

Tables printed:
  1. monodisperse model vs the Rosensweig (2002) closed form (planner.verification.nanoparticles) — Néel+Brown,
     pure Néel (brownian = false), pure Brown (Néel switched off), and the loss peak at 2πfτ = 1,
     which must equal μ0 π χ0 H0² f / 2;
  2. polydisperse SLP vs scipy.integrate.quad (epsrel 1e-12) as the Gauss-rule node count m grows
     (fine discretisation fixed): error, observed geometric rate per node (e_m/e_m')^(1/(m'−m));
  3. the same as the fine discretisation (8-point Gauss–Legendre panels) is refined: error and
     observed order log2(e_n/e_2n).
Exits non-zero if a closed form is missed by > 1e-12 (relative), if the node or panel convergence
stalls (rate < 1.25 per node, i.e. not geometric; order < 3 per panel doubling, both until the 1e-11 floor) over the
≥ 3 refinements, or if the finest errors exceed 1e-9.
"""
from __future__ import annotations

import argparse
import math
import sys

import numpy as np

from planner.nanoparticles.materials import MATERIALS
from planner.nanoparticles.slp import LinearResponseModel, LinearResponseParameters, build_size_rule
from planner.verification import nanoparticles as an
from planner.verification.convergence import report

MAG = MATERIALS["magnetite"]
T_K = 310.15
FLOOR = 1e-11


def params(**kw) -> LinearResponseParameters:
    base = dict(median_diameter_m=14e-9, sigma_ln=0.0, shell_thickness_m=2e-9, Ms_A_per_m=MAG.saturation_magnetization_A_per_m,
                K_J_per_m3=MAG.anisotropy_J_per_m3, density_kg_per_m3=MAG.density_kg_per_m3,
                iron_mass_fraction=MAG.iron_mass_fraction, viscosity_Pa_s=0.692e-3, T_K=T_K,
                mass_basis="per_g_particle")
    base.update(kw)
    return LinearResponseParameters(**base)


def reference_W_per_kg(p: LinearResponseParameters, H: float, f: float) -> float:
    kw = dict(shell_m=p.shell_thickness_m, Ms_A_per_m=p.Ms_A_per_m, K_J_per_m3=p.K_J_per_m3,
              density_kg_per_m3=p.density_kg_per_m3, viscosity_Pa_s=p.viscosity_Pa_s, T_K=p.T_K, tau0_s=p.tau0_s,
              brownian=p.brownian)
    if p.sigma_ln == 0.0:
        return an.slp_mono_W_per_kg(p.median_diameter_m, H, f, neel=p.neel, **kw)
    return an.slp_poly_quad_W_per_kg(H, f, median_D_m=p.median_diameter_m, sigma_ln=p.sigma_ln, **kw)


def closed_form_table() -> tuple[list[tuple], list[str]]:
    rows, fails = [], []
    f = 1e5
    for label, kw in (("Néel+Brown", {}), ("pure Néel", {"brownian": False}), ("pure Brown", {"neel": False})):
        for D in (8e-9, 14e-9, 20e-9):
            for H in (1e3, 15e3):
                p = params(median_diameter_m=D, **kw)
                got = LinearResponseModel(p).slp_W_per_g(np.array([H]), f)[0] * 1e3
                ref = reference_W_per_kg(p, H, f)
                err = abs(got / ref - 1)
                rows.append((label, D * 1e9, H / 1e3, got, ref, err))
                if err > 1e-12:
                    fails.append(f"{label} D={D * 1e9:g} nm H={H / 1e3:g} kA/m: rel. error {err:.2e}")
    # loss peak at 2πfτ = 1 (pure Brown, viscosity chosen for τB = 1/(2πf))
    D, shell, H, f2 = 12e-9, 3e-9, 8e3, 2e5
    eta = an.KB_J_per_K * T_K / (3 * math.pi * (D + 2 * shell) ** 3 / 6 * 2 * math.pi * f2)
    p = params(median_diameter_m=D, shell_thickness_m=shell, viscosity_Pa_s=eta, neel=False)
    got = LinearResponseModel(p).slp_W_per_g(np.array([H]), f2)[0] * 1e3
    ref = an.peak_power_density_W_per_m3(D, H, f2, phi=1.0, Ms_A_per_m=p.Ms_A_per_m, T_K=T_K) / p.density_kg_per_m3
    err = abs(got / ref - 1)
    rows.append(("peak 2πfτ=1", D * 1e9, H / 1e3, got, ref, err))
    if err > 1e-12:
        fails.append(f"peak at 2πfτ = 1: rel. error {err:.2e}")
    return rows, fails


POLY_CASES = {
    "magnetite σ0.2 Brown blocked": dict(sigma_ln=0.2, brownian=False),
    "magnetite σ0.1 Néel+Brown": dict(sigma_ln=0.1),
    "cobalt ferrite 11 nm σ0.3": dict(sigma_ln=0.3, median_diameter_m=11e-9,
                                      K_J_per_m3=MATERIALS["cobalt-ferrite"].anisotropy_J_per_m3),
}
POLY_FULL = {"magnetite σ0.5 K 9 kJ/m³ blocked": dict(sigma_ln=0.5, brownian=False, K_J_per_m3=9e3)}
FIELDS = (2e3, 15e3)
FREQ = 1e5


def node_convergence(kw: dict, nodes=(2, 4, 8, 16, 32, 48), panels: int = 256) -> list[tuple]:
    p = params(**kw)
    ref = np.array([reference_W_per_kg(p, H, FREQ) for H in FIELDS])
    rows, prev = [], None
    for m in nodes:
        r = build_size_rule(p, FREQ, nodes=m, panels=panels)
        err = float(np.max(np.abs(r.slp_W_per_kg(np.array(FIELDS)) / ref - 1)))
        rate = (prev[1] / err) ** (1.0 / (m - prev[0])) if prev is not None and err > 0 else float("nan")
        rows.append((m, r.nodes, err, rate))
        prev = (m, err)
    return rows


def panel_convergence(kw: dict, panels=(8, 16, 32, 64, 128), nodes: int = 32) -> list[tuple]:
    p = params(**kw)
    ref = np.array([reference_W_per_kg(p, H, FREQ) for H in FIELDS])
    rows, prev = [], None
    for n in panels:
        r = build_size_rule(p, FREQ, nodes=nodes, panels=n)
        err = float(np.max(np.abs(r.slp_W_per_kg(np.array(FIELDS)) / ref - 1)))
        order = math.log2(prev / err) if prev is not None and err > 0 else float("nan")
        rows.append((n, err, order))
        prev = err
    return rows


def check_node_rows(name: str, rows: list[tuple]) -> list[str]:
    fails = []
    active = [r for r in rows[1:] if r[2] > FLOOR and not math.isnan(r[3])]
    if len([r for r in rows if r[2] > FLOOR]) < 3:
        fails.append(f"{name}: fewer than 3 node refinements above the {FLOOR:g} floor")
    for r in active:
        if r[3] < 1.25:
            fails.append(f"{name}: node convergence rate {r[3]:.2f} < 1.25 per node at m = {r[0]}")
    if rows[-1][2] > 1e-9:
        fails.append(f"{name}: finest node-count error {rows[-1][2]:.2e} > 1e-9")
    return fails


def check_panel_rows(name: str, rows: list[tuple]) -> list[str]:
    fails = []
    above = [r for r in rows if r[1] > FLOOR]
    if len(above) < 3:
        fails.append(f"{name}: fewer than 3 panel refinements above the {FLOOR:g} floor")
    for prev, r in zip(rows[:-1], rows[1:]):
        if prev[1] > FLOOR and r[1] > FLOOR and r[2] < 3.0:
            fails.append(f"{name}: panel order {r[2]:.2f} < 3 at {r[0]} panels")
    if rows[-1][1] > 1e-9:
        fails.append(f"{name}: finest panel error {rows[-1][1]:.2e} > 1e-9")
    return fails


def run(full: bool = False) -> tuple[dict, list[str]]:
    out, fails = {}, []
    rows, f = closed_form_table()
    out["closed_form"] = rows
    fails += f
    cases = dict(POLY_CASES, **(POLY_FULL if full else {}))
    for name, kw in cases.items():
        nrows = node_convergence(kw, nodes=(2, 4, 8, 16, 32, 48, 64) if full else (2, 4, 8, 16, 32, 48))
        out[f"nodes: {name}"] = nrows
        fails += check_node_rows(name, nrows)
    prow = panel_convergence(dict(sigma_ln=0.25, brownian=False), panels=(8, 16, 32, 64, 128, 256) if full else (8, 16, 32, 64, 128))
    out["panels: magnetite σ0.25 Brown blocked"] = prow
    fails += check_panel_rows("panels", prow)
    return out, fails


def print_tables(out: dict) -> None:
    print("1. monodisperse model vs Rosensweig (2002) closed form, f = 100 kHz (peak row: 200 kHz)")
    print(f"{'case':>12} {'D [nm]':>7} {'H [kA/m]':>9} {'model [W/kg]':>14} {'closed form':>14} {'rel. error':>11}")
    for r in out["closed_form"]:
        print(f"{r[0]:>12} {r[1]:>7.1f} {r[2]:>9.1f} {r[3]:>14.6e} {r[4]:>14.6e} {r[5]:>11.2e}")
    for key, rows in out.items():
        if key.startswith("nodes: "):
            print(f"\n2. polydisperse vs scipy quad, {key[7:]}, H = {FIELDS[0] / 1e3:g}, {FIELDS[1] / 1e3:g} kA/m, "
                  f"f = {FREQ / 1e3:g} kHz, 256 panels")
            print(f"{'nodes m':>8} {'used':>5} {'max rel. error':>15} {'rate per node':>14}")
            for r in rows:
                print(f"{r[0]:>8} {r[1]:>5} {r[2]:>15.3e} {r[3]:>14.2f}")
        if key.startswith("panels: "):
            print(f"\n3. fine discretisation, {key[8:]}, 32 nodes")
            print(f"{'panels':>8} {'max rel. error':>15} {'order':>7}")
            for r in rows:
                print(f"{r[0]:>8} {r[1]:>15.3e} {r[2]:>7.2f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true")
    a = ap.parse_args(argv)
    out, fails = run(a.full)
    print_tables(out)
    return report(fails)


if __name__ == "__main__":
    sys.exit(main())
