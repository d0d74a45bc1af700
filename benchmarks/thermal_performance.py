"""Performance of the transient Pennes solver: dofs × steps → seconds and memory.

    python -m benchmarks.thermal_performance [--full] [--n CUBES] [--steps N]
    mpirun -n 2 python -m benchmarks.thermal_performance --full

Problem: a 200 mm cube of muscle-like tissue (structured grid of n³ cubes, 6 tetrahedra each;
n = 100 gives 1.03 M P1 dofs) with a 20 mm-radius heated target sphere, constant perfusion, Robin
skin (h = 10 W m⁻² K⁻¹), baseline steady state then ``steps`` BDF2 steps of 10 s with 2 probes.
Prints one table row; ``--full`` runs 1 M dofs × 360 steps and fails (exit 1) if the time loop
takes more than 90 s (the target of issue 6).
"""
from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np

from planner.artefacts import Region, Role, TissueMesh
from planner.config.plan import ProbeSpec, ThermalSection
from planner.verification.meshes import structured_cube


def structured_box(n: int, size_m: float = 0.2, target_radius_m: float = 0.02) -> TissueMesh:
    """n³ cubes × 6 tetrahedra (Kuhn split), centred at 0; cells with centroid inside the sphere → target."""
    regions = (Region(1, "body", "muscle", Role.BODY), Region(2, "tumour", "tumour", Role.TARGET))
    return structured_cube(n, size_m, regions=regions,
                           region_of=lambda c: np.where(np.linalg.norm(c, axis=1) < target_radius_m, 2, 1))


def run(n: int, steps: int, dt_s: float = 10.0, quiet: bool = False, systemic: str = "blood-pool") -> dict:
    from mpi4py import MPI

    from benchmarks.thermal_verification import MockLibrary, RegionHeat, _Tissue
    from planner.thermal import solve_bioheat

    comm = MPI.COMM_WORLD
    t0 = time.perf_counter()
    mesh = structured_box(n)
    t_mesh = time.perf_counter() - t0
    lib = MockLibrary(muscle=_Tissue("muscle", 6e-4, 1.0), tumour=_Tissue("tumour", 3e-4, 1.0))
    th = ThermalSection(mode="transient", duration_min=steps * dt_s / 60.0, time_step_s=dt_s, scheme="bdf2",
                        skin_h_W_per_m2_K=10.0, field_output_interval_s=0.0, linear_rtol=1e-8, systemic=systemic,
                        probes=(ProbeSpec("centre", (0.0, 0.0, 0.0)), ProbeSpec("edge", (15.0, 0.0, 0.0))))
    t1 = time.perf_counter()
    res = solve_bioheat(mesh, RegionHeat(mesh, 1.5e5, tag=2), lib, th)
    t_stage = time.perf_counter() - t1
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # MiB (Linux: KiB)
    rss_total = comm.allreduce(rss, op=MPI.SUM)
    s = res.solver
    row = {"ranks": comm.size, "dofs": s["dofs"], "steps": s["steps"], "mesh_s": t_mesh,
           "setup_s": s["assembly_s"], "loop_s": s["time_loop_s"], "solver_total_s": s["total_s"], "stage_s": t_stage,
           "its_per_step": s["linear_iterations"] / max(1, s["linear_solves"]), "peak_rss_MiB": rss_total,
           "T90_C": res.target["T90_C"] if res.target else float("nan")}
    if comm.rank == 0 and not quiet:
        cols = list(row)
        print("  ".join(f"{c:>14s}" for c in cols))
        print("  ".join(f"{row[c]:>14.4g}" if isinstance(row[c], float) else f"{row[c]:>14d}" for c in cols))
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="1 M dofs x 360 steps (target: time loop <= 90 s)")
    ap.add_argument("--n", type=int, default=None, help="cubes per side (dofs = (n+1)^3)")
    ap.add_argument("--steps", type=int, default=None)
    args = ap.parse_args(argv)
    n = args.n or (100 if args.full else 30)
    steps = args.steps or (360 if args.full else 36)
    row = run(n, steps)
    if args.full and row["loop_s"] > 90.0:
        print(f"FAILED: time loop {row['loop_s']:.1f} s > 90 s")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
