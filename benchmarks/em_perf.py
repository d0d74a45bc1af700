"""Performance: the tissue eddy-current solver (P1, CG + BoomerAMG) and the Biot–Savart kernel.

Solver: structured cube meshes (n³ cubes × 6 tets, one tissue, uniform 10 kA/m at 100 kHz), each size
in a fresh process (``mpirun -n 1`` and ``-n 2``) so that the peak resident memory (ru_maxrss) belongs
to that size. Columns: P1 dofs, CG iterations (rtol 1e-10), seconds for DOLFINx mesh creation,
assembly (A0 interpolation + matrix + vector + null space), AMG setup, solve, assembly+setup+solve,
the whole stage (``solve_eddy_currents``: sub-mesh, components, solve, post-processing, 10 g SAR), and
peak memory (max over ranks / sum over ranks).

Biot–Savart: H (and A) at random points in a 20 cm ball from a 1000-segment coil (Numba, all cores),
and the NumPy reference on fewer points, as point·segment pairs per second.

Goals (issue 3, --full only; the default CI size just prints): 1 M dofs ≤ 15 s for assembly + AMG setup
+ solve; time grows ≤ 10× for 8× the dofs; Biot–Savart 1e6 points × 1e3 segments ≤ 2 s.
Run: ``python -m benchmarks.em_perf [--full]`` (the machine is shared: run the full size sparingly).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from planner.verification.convergence import Checks, print_table

ROOT = Path(__file__).resolve().parents[1]
CI_N = (21, 43)  # (n+1)³ P1 dofs: 10 648, 85 184
FULL_N = (21, 43, 87, 100)  # + 681 472, 1 030 301


def worker(n: int) -> None:
    import resource

    from mpi4py import MPI

    from benchmarks.em_common import library, structured_box_mesh
    from planner.em import solve_eddy_currents
    from planner.em.applicators import AppliedField

    comm = MPI.COMM_WORLD
    t0 = time.perf_counter()
    mesh = structured_box_mesh(n, 0.2)
    t_box = time.perf_counter() - t0
    app = AppliedField("uniform", 100e3, 10e3, None, "peak", 10e3, np.zeros(3),
                       uniform_H_peak_A_per_m=np.array([0.0, 0.0, 10e3]))
    comm.Barrier()
    t0 = time.perf_counter()
    fs = solve_eddy_currents(mesh, app, library(muscle=0.5), None)
    t_stage = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    t = {k: comm.allreduce(v, op=MPI.MAX) for k, v in fs.solver["timings_s"].items()}
    out = {"n": n, "ranks": comm.size, "cells": mesh.num_cells, "dofs": fs.solver["dofs"],
           "iterations": fs.solver["iterations"], "timings_s": t, "box_s": t_box,
           "stage_s": comm.allreduce(t_stage, op=MPI.MAX), "rss_max_MB": comm.allreduce(rss_mb, op=MPI.MAX),
           "rss_sum_MB": comm.allreduce(rss_mb, op=MPI.SUM), "loss_W": fs.tissue_loss_W}
    if comm.rank == 0:
        print("RESULT " + json.dumps(out), flush=True)


def run_worker(n: int, ranks: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1",
               OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", NUMBA_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "benchmarks.em_perf", "--worker", str(n)]
    mpirun = shutil.which("mpirun")
    if mpirun is not None:
        cmd = [mpirun, "-n", str(ranks)] + cmd
    elif ranks > 1:
        raise RuntimeError("mpirun not found")
    p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"worker n={n} ranks={ranks} failed:\n{p.stdout[-2000:]}\n{p.stderr[-4000:]}")


def solver_table(ns, ranks_list=(1, 2)) -> list[dict]:
    res = []
    rows = []
    for ranks in ranks_list:
        for n in ns:
            r = run_worker(n, ranks)
            t = r["timings_s"]
            asm = t["A0_s"] + t["assembly_s"]
            core = asm + t["setup_s"] + t["solve_s"]
            r["core_s"] = core
            res.append(r)
            rows.append([ranks, r["cells"], r["dofs"], r["iterations"], round(t["mesh_s"], 2), round(asm, 2),
                         round(t["setup_s"], 2), round(t["solve_s"], 2), round(core, 2), round(r["stage_s"], 2),
                         round(r["rss_max_MB"]), round(r["rss_sum_MB"])])
            print(f"  done: ranks={ranks} dofs={r['dofs']} core={core:.2f} s", flush=True)
    print_table("scalar-potential solver (P1, CG + BoomerAMG, rtol 1e-8)",
                ["ranks", "cells", "dofs", "CG its", "mesh_s", "assembly_s", "AMG_setup_s", "solve_s",
                 "asm+setup+solve_s", "stage_total_s", "peak_MB_max_rank", "peak_MB_sum"], rows)
    return res


def biot_savart_table(n_points: int, n_seg: int = 1000, n_ref: int = 20000) -> dict:
    from planner.em._kernels import biot_savart, biot_savart_numpy

    rng = np.random.default_rng(1)
    t = np.linspace(0, 2 * np.pi, n_seg, endpoint=False)
    v = np.column_stack([0.25 * np.cos(t), 0.25 * np.sin(t), 0.01 * np.sin(5 * t)])
    s0 = np.arange(n_seg)
    s1 = (s0 + 1) % n_seg
    cur = np.ones(n_seg)
    pts = rng.uniform(-0.1, 0.1, size=(n_points, 3))
    biot_savart(pts[:10], v, s0, s1, cur)  # compile / load cache
    out, rows = {}, []
    for label, kw in (("H", dict(want_H=True, want_A=False)), ("A", dict(want_H=False, want_A=True)),
                      ("H+A", dict(want_H=True, want_A=True))):
        t0 = time.perf_counter()
        biot_savart(pts, v, s0, s1, cur, **kw)
        tn = time.perf_counter() - t0
        t0 = time.perf_counter()
        biot_savart_numpy(pts[:n_ref], v, s0, s1, cur, **kw)
        tr = time.perf_counter() - t0
        rate_n = n_points * n_seg / tn
        rate_r = n_ref * n_seg / tr
        out[label] = {"numba_s": tn, "pairs_per_s_numba": rate_n, "pairs_per_s_numpy": rate_r}
        rows.append([label, n_points, n_seg, round(tn, 3), f"{rate_n:.3g}", f"{rate_r:.3g}", round(rate_n / rate_r, 1)])
    import numba

    print_table(f"Biot–Savart (Numba {numba.config.NUMBA_NUM_THREADS} threads vs NumPy reference on {n_ref} points)",
                ["field", "points", "segments", "numba_s", "pairs/s numba", "pairs/s numpy", "ratio"], rows)
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="up to 1 M dofs and 1e6 Biot–Savart points; checks goals")
    ap.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--skip-solver", action="store_true")
    ap.add_argument("--skip-biot-savart", action="store_true")
    ap.add_argument("--n", type=int, action="append", help="cube cells per side (repeatable; overrides the size list)")
    ap.add_argument("--ranks", type=int, action="append", help="MPI rank counts (repeatable; default 1 and 2)")
    a = ap.parse_args(argv)
    if a.worker:
        worker(a.worker)
        return
    checks = Checks()
    bs = None if a.skip_biot_savart else biot_savart_table(1_000_000 if a.full else 100_000)
    if not a.skip_solver:
        res = solver_table(tuple(a.n) if a.n else (FULL_N if a.full else CI_N), tuple(a.ranks or (1, 2)))
    if a.full:
        if bs is not None:
            checks.check(bs["H"]["numba_s"] <= 2.0, f"Biot–Savart H 1e6 × 1e3: {bs['H']['numba_s']:.2f} s <= 2 s")
        if not a.skip_solver:
            for ranks in sorted({r["ranks"] for r in res}):
                rr = sorted((r for r in res if r["ranks"] == ranks), key=lambda r: r["dofs"])
                big = rr[-1]
                checks.check(big["core_s"] <= 15.0, f"{ranks} rank(s): {big['dofs']} dofs in {big['core_s']:.2f} s <= 15 s")
                for a_, b_ in zip(rr, rr[1:]):
                    ratio_d = b_["dofs"] / a_["dofs"]
                    if 6 <= ratio_d <= 10:
                        g = b_["core_s"] / a_["core_s"]
                        checks.check(g <= 10.0, f"{ranks} rank(s): {ratio_d:.1f}x dofs ({a_['dofs']} -> {b_['dofs']}) "
                                                f"-> {g:.2f}x time <= 10x")
    checks.exit()


if __name__ == "__main__":
    main()
