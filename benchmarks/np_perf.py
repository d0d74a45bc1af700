"""Performance of the polydisperse linear-response SLP: Numba kernel vs NumPy reference.

    python -m benchmarks.np_perf [--full]

Evaluates SLP(H) = C H² Σ_j W_j g(b_j H) at N field values (uniform 1–30 kA/m) for the Gauss rule
of a realistic magnetite distribution (median 14 nm, σ_ln 0.2, Brown blocked, 100 kHz; automatic
node count) and for the 64-node worst case. Times are the best of several repeats after the
kernel is compiled (compilation is cached on disk, cache=True), Numba and NumPy runs interleaved
so both see the same machine load. Prints a table and exits non-zero
if, at 10⁶ points, the Numba time exceeds 0.2 s or the speed-up over NumPy is below 20×.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numba
import numpy as np

from planner.nanoparticles import _kernels
from planner.nanoparticles.materials import MATERIALS
from planner.nanoparticles.slp import LinearResponseParameters, build_size_rule
from planner.verification.convergence import report

TARGET_S = 0.2
TARGET_RATIO = 20.0


def _params() -> LinearResponseParameters:
    m = MATERIALS["magnetite"]
    return LinearResponseParameters(
        median_diameter_m=14e-9, sigma_ln=0.2, shell_thickness_m=5e-9, Ms_A_per_m=m.saturation_magnetization_A_per_m,
        K_J_per_m3=m.anisotropy_J_per_m3, density_kg_per_m3=m.density_kg_per_m3,
        iron_mass_fraction=m.iron_mass_fraction, viscosity_Pa_s=0.692e-3, T_K=310.15, brownian=False)


def best_times(fn_a, fn_b, repeats: int) -> tuple[float, float]:
    """Best-of-``repeats`` wall times of two functions, interleaved so both see the same load."""
    ta, tb = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        fn_a()
        ta.append(time.perf_counter() - t)
        t = time.perf_counter()
        fn_b()
        tb.append(time.perf_counter() - t)
    return min(ta), min(tb)


def run(sizes=(10_000, 100_000, 1_000_000), repeats: int = 5) -> list[dict]:
    p = _params()
    rules = {"auto": build_size_rule(p, 1e5), "64 nodes": build_size_rule(p, 1e5, nodes=64)}
    rng = np.random.default_rng(0)
    _kernels.slp_sum(np.array([1e3]), rules["auto"].b_m_per_A, rules["auto"].W, 1.0)  # compile / load cache
    rows = []
    for label, r in rules.items():
        for n in sizes:
            H = rng.uniform(1e3, 30e3, n)
            t_nb, t_np = best_times(lambda H=H, r=r: _kernels.slp_sum(H, r.b_m_per_A, r.W, r.C),
                                    lambda H=H, r=r: _kernels.slp_sum_numpy(H, r.b_m_per_A, r.W, r.C), repeats)
            a = _kernels.slp_sum(H, r.b_m_per_A, r.W, r.C)
            b = _kernels.slp_sum_numpy(H, r.b_m_per_A, r.W, r.C)
            rows.append({"rule": label, "nodes": r.nodes, "points": n, "numba_s": t_nb, "numpy_s": t_np,
                         "ratio": t_np / t_nb, "max_rel_diff": float(np.max(np.abs(a / b - 1)))})
    return rows


def print_table(rows: list[dict]) -> None:
    load = os.getloadavg()[0]
    print(f"threads: {numba.get_num_threads()} (numba {numba.__version__}, layer {numba.threading_layer()}), "
          f"cores: {os.cpu_count()}, load average (1 min) before: {load:.2f}")
    print(f"{'rule':>9} {'nodes':>5} {'points':>9} {'numba [s]':>10} {'numpy [s]':>10} {'speed-up':>9} {'max rel diff':>13}")
    for r in rows:
        print(f"{r['rule']:>9} {r['nodes']:>5} {r['points']:>9} {r['numba_s']:>10.4f} {r['numpy_s']:>10.4f} "
              f"{r['ratio']:>9.1f} {r['max_rel_diff']:>13.2e}")


def check(rows: list[dict]) -> list[str]:
    fails = []
    for r in rows:
        if r["max_rel_diff"] > 1e-12:
            fails.append(f"{r['rule']} N={r['points']}: Numba and NumPy differ by {r['max_rel_diff']:.2e} > 1e-12")
        if r["points"] == 1_000_000 and r["rule"] == "auto":
            if r["numba_s"] > TARGET_S:
                fails.append(f"N=1e6: Numba {r['numba_s']:.3f} s > {TARGET_S} s")
            if r["ratio"] < TARGET_RATIO:
                fails.append(f"N=1e6: speed-up {r['ratio']:.1f}× < {TARGET_RATIO}×")
    return fails


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="also 3e6 points, more repeats")
    a = ap.parse_args(argv)
    sizes = (10_000, 100_000, 1_000_000, 3_000_000) if a.full else (10_000, 100_000, 1_000_000)
    rows = run(sizes, repeats=9 if a.full else 5)
    print_table(rows)
    return report(check(rows))


if __name__ == "__main__":
    sys.exit(main())
