"""Pipeline performance (issue 17): stage breakdown and peak memory of whole plans, and the fixed costs
of the tissue eddy-current and Pennes stages at up to 1 M P1 dofs.

    python -m benchmarks.pipeline_clinical stages [--phantom pelvis-clinical] [--dir DIR] [--ranks N ...] [--implant-reference]
    python -m benchmarks.pipeline_clinical fem [--n 100] [--steps 360] [--ranks 1 2] [--legacy]

``stages``: ``planner run`` of a phantom plan (the clinical pelvis by default: 512 × 512 × 160 CT with
a titanium hip stem; generated into DIR on first use, generation timed separately), once per rank
count, as a user runs it (the CLI re-launches itself under mpirun); columns: wall seconds of every
stage from ``summary.json → timings_s``, the whole command's wall time and the peak resident memory
of the largest process (``RUSAGE_CHILDREN`` of a wrapper that runs only the planner), and ranks × that
peak as an upper bound of the machine's memory use.

``fem``: a 200 mm cube of muscle with a 20 mm tumour (n³ cubes × 6 tetrahedra, (n+1)³ P1 dofs;
n = 100: 1.03 M dofs, 6 M cells), uniform 10 kA/m at 100 kHz, 10 s BDF2 steps, in a fresh process
per rank count: DOLFINx mesh creation as the pipeline does it now (once, shared: ``fem_mesh``) and,
with ``--legacy``, as before (all cells on rank 0, default graph partitioner — built twice per plan,
by em and by thermal); the em stage and the Pennes stage as wholes (their own mesh step is then a
cache hit), and a second Pennes run inside ``reusing_operators`` (a search evaluation: matrices and
AMG reused). Before = legacy mesh × 2 + stages; after = shared mesh + stages.

Every table prints the date, the 1-minute load average and the cores: the machine is shared, so
re-measure on a quiet machine before quoting numbers as targets.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _header(title: str) -> None:
    load = os.getloadavg()
    print(f"\n{title}\n{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, load average {load[0]:.1f} "
          f"{load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} cores")


def _table(rows: list[dict], cols: list[str]) -> None:
    w = {c: max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in cols}
    print("  ".join(c.rjust(w[c]) for c in cols))
    for r in rows:
        print("  ".join(_fmt(r.get(c)).rjust(w[c]) for c in cols))


# the peak resident memory of the planner's process tree alone (mpirun and its ranks): a fresh parent whose
# RUSAGE_CHILDREN sees only them (this process's own children include the phantom generator)
_PEAK_RSS = ("import resource, subprocess, sys; r = subprocess.call(sys.argv[1:]); "
             "print('peak_rss_kib', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
             "sys.exit(r)")


def _peak_rss_kib(stderr: str) -> float:
    for line in reversed(stderr.splitlines()):
        if line.startswith("peak_rss_kib "):
            return float(line.split()[1])
    return float("nan")


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"
    return str(v)


# ----------------------------------------------------------------------------- whole plans
def _reference_check(rows: list[dict]) -> int:
    """Implant loss of the plan vs the refinement-×2 reference: within 1 % (issue 17); exit 1 otherwise."""
    ref = next((r for r in rows if r["run"].startswith("implants refinement")), None)
    plan = next((r for r in rows if r["run"].startswith("planner run") and "implant_W" in r), None)
    if ref is None or plan is None or "implant_W" not in ref:
        print("FAIL  implant loss vs refined reference: a run is missing")
        return 1
    rel = plan["implant_W"] / ref["implant_W"] - 1.0
    ok = abs(rel) <= 0.01
    print(f"{'PASS' if ok else 'FAIL'}  implant loss {plan['implant_W']:.5g} W ({plan['implant_dofs']} dofs) vs "
          f"{ref['implant_W']:.5g} W at refinement x2 ({ref['implant_dofs']} dofs): {rel:+.2%} (limit 1 %)")
    return 0 if ok else 1



def _child_env() -> dict:
    return dict(os.environ, PYTHONPATH=str(ROOT))


def run_stages(phantom: str, folder: Path, ranks: list[int], implant_reference: bool = False) -> list[dict]:
    plan = folder / "plan.toml"
    rows = []
    if not plan.exists():
        t0 = time.perf_counter()
        p = subprocess.run([sys.executable, "-m", "planner", "phantom", phantom, str(folder)], cwd=ROOT,
                           env=_child_env(), capture_output=True, text=True)
        if p.returncode != 0:
            raise SystemExit(f"phantom generation failed:\n{p.stderr[-3000:]}")
        rows.append({"run": f"phantom {phantom}", "wall_s": time.perf_counter() - t0})
    text = plan.read_text()
    for n in ranks:
        row = _run_plan(folder, text, f"ranks{n}", n)
        if row is not None:
            rows.append(dict(row, run=f"planner run --ranks {n}"))
    if implant_reference:
        ref = _run_plan(folder, _refined_implants(text), "implant_reference", ranks[-1])
        if ref is not None:
            rows.append(dict(ref, run=f"implants refinement x2, --ranks {ranks[-1]}"))
    return rows


def _refined_implants(text: str) -> str:
    """The plan with its [implants] refinement doubled (element sizes halved): the reference of the loss."""
    import re
    import tomllib

    r = float(tomllib.loads(text).get("implants", {}).get("refinement", 1.0))
    head, sep, tail = text.partition("\n[implants]")
    if not sep:
        return text + f"\n[implants]\nrefinement = {2 * r}\n"
    tail, k = re.subn(r"(?m)^refinement\s*=.*$", f"refinement = {2 * r}", tail, count=1)
    return head + sep + (tail if k else f"\nrefinement = {2 * r}" + tail)


def _run_plan(folder: Path, text: str, name: str, n: int) -> dict | None:
    """``planner run`` of a plan variant (its own results folder) on n ranks: stage timings, wall, peak RSS."""
    out = folder / f"results_{name}"
    variant = folder / f"plan_{name}.toml"
    variant.write_text(text.replace('output_dir = "results"', f'output_dir = "{out.name}"')
                       .replace("[plan]\n", "[plan]\noverwrite = true\n", 1))
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", _PEAK_RSS, sys.executable, "-m", "planner", "run", str(variant),
                        "--ranks", str(n), "-q"], cwd=ROOT, env=_child_env(), capture_output=True, text=True)
    wall = time.perf_counter() - t0
    rss = _peak_rss_kib(p.stderr)
    if p.returncode not in (0, 3):
        print(f"{name}: planner run failed (exit {p.returncode}):\n{p.stderr[-3000:]}")
        return None
    summary = json.loads((out / "summary.json").read_text())
    row = {"wall_s": wall, **summary.get("timings_s", {}), "peak_rss_GiB": rss / 2**20,
           "ranks_x_peak_GiB": n * rss / 2**20, "cells": summary["mesh"]["cells"]}
    im = (summary.get("em") or {}).get("implants") or []
    if im:
        row["implant_W"] = sum(float(i.get("loss_W") or i.get("total_loss_W") or 0.0) for i in im)
        row["implant_dofs"] = sum(int(i.get("dofs") or 0) for i in im)
    return row


# ----------------------------------------------------------------------------- 1 M dofs em + Pennes
def fem_worker(n: int, steps: int, legacy: bool) -> None:
    import numpy as np
    from mpi4py import MPI

    from benchmarks.thermal_performance import structured_box
    from benchmarks.thermal_verification import RegionHeat
    from planner.config.plan import ThermalSection
    from planner.em import solve_eddy_currents
    from planner.em.applicators import AppliedField
    from planner.fem import parallel
    from planner.thermal import reusing_operators, solve_bioheat
    from planner.tissues.library import load_library

    comm = MPI.COMM_WORLD
    row: dict = {"ranks": comm.size}

    def timed(key, fn):
        comm.Barrier()
        t0 = time.perf_counter()
        out = fn()
        comm.Barrier()
        row[key] = comm.allreduce(time.perf_counter() - t0, op=MPI.MAX)
        return out

    tiny = structured_box(2)  # warm-up: imports and first calls are not mesh creation
    _legacy_mesh(tiny, comm)
    parallel.build_fem_mesh(tiny)
    mesh = timed("box_s", lambda: structured_box(n))
    row["cells"], row["dofs"] = mesh.num_cells, mesh.num_vertices
    if legacy:
        timed("legacy_mesh_s", lambda: _legacy_mesh(mesh, comm))
    handle = timed("fem_mesh_s", lambda: parallel.build_fem_mesh(mesh))
    lib = load_library()
    app = AppliedField("uniform", 100e3, 10e3, None, "peak", 10e3, np.zeros(3),
                       uniform_H_peak_A_per_m=np.array([0.0, 0.0, 10e3]))
    fs = timed("em_stage_s", lambda: solve_eddy_currents(mesh, app, lib, None))
    row["em_solve_s"] = fs.solver["timings_s"].get("solve_s")
    th = ThermalSection(mode="transient", duration_min=steps * 10.0 / 60.0, time_step_s=10.0, scheme="bdf2",
                        field_output_interval_s=0.0, linear_rtol=1e-8)
    heat = RegionHeat(mesh, 1.5e5, tag=2)
    with reusing_operators():
        res = timed("pennes_stage_s", lambda: solve_bioheat(mesh, heat, lib, th))
        row["pennes_loop_s"] = res.solver["time_loop_s"]
        again = timed("pennes_reused_s", lambda: solve_bioheat(mesh, heat, lib, th))
    row["pc_setups_reused"] = again.solver["pc_setups"]
    row["rss_max_GiB"] = comm.allreduce(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, op=MPI.MAX)
    del handle
    if comm.rank == 0:
        print("RESULT " + json.dumps(row), flush=True)


def _legacy_mesh(mesh, comm):
    """DOLFINx mesh creation as before issue 17: every cell handed in on rank 0, default partitioner."""
    import dolfinx.mesh
    import numpy as np

    from planner.fem import _compat

    if comm.rank == 0:
        cells, pts = mesh.cells.astype(np.int64), mesh.points_m
    else:
        cells, pts = np.empty((0, 4), np.int64), np.empty((0, 3))
    if _compat.DOLFINX_VERSION.startswith("0.5"):
        import ufl

        domain = ufl.Mesh(ufl.VectorElement("Lagrange", ufl.tetrahedron, 1))
        return dolfinx.mesh.create_mesh(comm, cells, pts, domain)
    return _compat.create_tet_mesh(comm, cells, pts)


def run_fem(n: int, steps: int, ranks: list[int], legacy: bool) -> list[dict]:
    rows = []
    for r in ranks:
        cmd = [sys.executable, "-m", "benchmarks.pipeline_clinical", "fem-worker", "--n", str(n), "--steps", str(steps)]
        if legacy:
            cmd.append("--legacy")
        mpirun = shutil.which("mpirun")
        if mpirun is not None:
            cmd = [mpirun, "-n", str(r), "--quiet", "--bind-to", "none"] + cmd
        elif r > 1:
            raise SystemExit("mpirun not found")
        env = dict(_child_env(), OPENBLAS_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1",
                   OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", NUMBA_NUM_THREADS="1")
        p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        line = next((ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if line is None:
            print(f"ranks {r}: worker failed:\n{p.stdout[-1500:]}\n{p.stderr[-3000:]}")
            continue
        row = json.loads(line[7:])
        stages = row["em_stage_s"] + row["pennes_stage_s"]
        row["after_s"] = row["fem_mesh_s"] + stages
        if legacy:
            row["before_s"] = 2 * row["legacy_mesh_s"] + stages
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    s = sub.add_parser("stages", help="planner run of a phantom plan: stage breakdown and peak memory")
    s.add_argument("--phantom", default="pelvis-clinical")
    s.add_argument("--dir", type=Path, default=None, help="phantom folder (default: /tmp/planner-bench-PHANTOM)")
    s.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    s.add_argument("--implant-reference", action="store_true",
                   help="also run the plan with the [implants] refinement doubled: the loss's reference")
    f = sub.add_parser("fem", help="em + Pennes stages at up to 1 M dofs: fixed costs, reuse")
    f.add_argument("--n", type=int, default=40, help="cubes per side ((n+1)^3 P1 dofs; 100 → 1.03 M)")
    f.add_argument("--steps", type=int, default=36)
    f.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    f.add_argument("--legacy", action="store_true", help="also time the mesh creation as before issue 17")
    w = sub.add_parser("fem-worker")
    w.add_argument("--n", type=int, required=True)
    w.add_argument("--steps", type=int, required=True)
    w.add_argument("--legacy", action="store_true")
    args = ap.parse_args(argv)
    if args.what == "fem-worker":
        fem_worker(args.n, args.steps, args.legacy)
        return 0
    if args.what == "stages":
        folder = args.dir or Path(f"/tmp/planner-bench-{args.phantom}")
        _header(f"planner run {args.phantom}: stage wall seconds (summary.json timings_s), whole command, peak RSS")
        rows = run_stages(args.phantom, folder, args.ranks, args.implant_reference)
        cols = ["run", "wall_s", "mesh", "fem_mesh", "em", "implants", "nanoparticles", "thermal", "safety", "search",
                "outputs", "total", "peak_rss_GiB", "ranks_x_peak_GiB", "cells", "implant_dofs", "implant_W"]
        _table(rows, [c for c in cols if any(c in r for r in rows)])
        return _reference_check(rows) if args.implant_reference else 0
    _header(f"tissue em + Pennes stages, n = {args.n} ({(args.n + 1) ** 3} P1 dofs), {args.steps} BDF2 steps")
    rows = run_fem(args.n, args.steps, args.ranks, args.legacy)
    cols = ["ranks", "dofs", "cells", "legacy_mesh_s", "fem_mesh_s", "em_stage_s", "em_solve_s", "pennes_stage_s",
            "pennes_loop_s", "pennes_reused_s", "pc_setups_reused", "before_s", "after_s", "rss_max_GiB"]
    _table(rows, [c for c in cols if any(c in r for r in rows)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
