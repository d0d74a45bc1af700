"""`planner` command line: run, check, doctor, phantom."""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import sys
import time
from pathlib import Path

from planner.envsetup import reexec_with_env


def _cmd_check(args) -> int:
    from planner.config.plan import load_plan

    cfg = load_plan(args.plan)
    from planner.pipeline import check_output, check_plan
    from planner.tissues.library import load_library

    check_plan(cfg, load_library(cfg.tissues))
    check_output(cfg)
    sections = [s for s in ("geometry", "imaging", "applicator", "nanoparticles", "thermal", "safety")
                if getattr(cfg, s) is not None]
    print(f"plan {cfg.plan.name!r} is valid (sections: {', '.join(sections)}); results would go to {cfg.output_path}")
    return 0


def _cmd_run(args) -> int:
    from planner.config.plan import load_plan
    from planner.pipeline import run_plan

    cfg = load_plan(args.plan)
    t0 = time.perf_counter()
    result = run_plan(cfg)
    if result.output_dir is not None:
        print(f"plan {cfg.plan.name!r} done in {time.perf_counter() - t0:.1f} s → {result.output_dir}")
        for stage, status in result.summary["stages"].items():
            print(f"  {stage:14s} {status}")
        warnings = result.summary.get("warnings") or []
        if warnings:
            print(f"  {len(warnings)} warning(s), listed in summary.json → warnings and report.html")
    return 0


def _cmd_doctor(args) -> int:
    import importlib.metadata as md
    import platform

    rows: list[tuple[str, bool, str]] = [("Python", sys.version_info >= (3, 11), f"{platform.python_version()} ({sys.executable})")]
    try:
        import numpy as np

        # Debian's numpy of each supported stack: bookworm (Python 3.11) 1.24, trixie (Python 3.13) 2.2
        want = "1.24" if sys.version_info < (3, 12) else "2.2"
        ok = np.__version__.startswith(want + ".")
        rows.append(("numpy", ok, np.__version__ + ("" if ok else f" (expected {want}.x: Debian's, see DESIGN.md)")))
    except ImportError as exc:
        rows.append(("numpy", False, str(exc)))
    from planner.fem.info import stack_checks

    rows += stack_checks()
    for name, mod in (("gmsh", "gmsh"), ("pygalmesh", "pygalmesh"), ("pydicom", "pydicom"), ("meshio", "meshio"),
                      ("nibabel", "nibabel"), ("h5py", "h5py")):
        try:
            m = __import__(mod)
            rows.append((name, True, getattr(m, "__version__", "installed")))
        except Exception as exc:
            rows.append((name, False, f"not importable: {exc}"))
    try:
        import numba

        numba.njit(lambda x: x + 1)(1)
        rows.append(("numba", True, f"{numba.__version__} (JIT works)"))
    except Exception as exc:
        rows.append(("numba", False, f"{exc}"))
    rows.append(_check_offscreen())
    mpirun = shutil.which("mpirun")
    rows.append(("mpirun", mpirun is not None, mpirun or "not found (apt install openmpi-bin)"))
    try:
        rows.append(("planner", True, md.version("planner")))
    except md.PackageNotFoundError:
        rows.append(("planner", False, "not installed (pip install -e .)"))
    width = max(len(r[0]) for r in rows)
    for name, ok, detail in rows:
        print(f"{'ok ' if ok else 'MISSING'} {name:<{width}}  {detail}")
    bad = [r[0] for r in rows if not r[1]]
    print("all checks passed" if not bad else f"{len(bad)} problem(s): {', '.join(bad)}")
    return 0 if not bad else 1


def _check_offscreen() -> tuple[str, bool, str]:
    try:
        import tempfile

        import pyvista as pv

        pv.OFF_SCREEN = True
        pl = pv.Plotter(off_screen=True, window_size=[64, 64])
        pl.add_mesh(pv.Sphere())
        with tempfile.TemporaryDirectory() as d:
            pl.screenshot(os.path.join(d, "s.png"))
        pl.close()
        import vtk

        return ("vtk/EGL offscreen", True, f"vtk {vtk.vtkVersion.GetVTKVersion()}, pyvista {pv.__version__}, "
                f"{os.environ.get('VTK_DEFAULT_OPENGL_WINDOW', 'default window')}")
    except Exception as exc:
        return ("vtk/EGL offscreen", False, f"{type(exc).__name__}: {exc}")


def _cmd_phantom(args) -> int:
    from planner.imaging.phantoms import write_phantom

    plan = write_phantom(args.name, Path(args.dir))
    print(f"phantom {args.name!r} written; run it with: planner run {plan}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="planner", description="Treatment planning for magnetic nanoparticle hyperthermia.")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    r = sub.add_parser("run", help="run a plan and write its results folder",
                       description="Run PLAN.toml end to end and write the results folder (summary.json, fields, figures) atomically.")
    r.add_argument("plan", help="the plan file (TOML)")
    r.set_defaults(func=_cmd_run)
    c = sub.add_parser("check", help="validate a plan without running it",
                       description="Validate PLAN.toml (keys, types, units, tissues) without running anything.")
    c.add_argument("plan", help="the plan file (TOML)")
    c.set_defaults(func=_cmd_check)
    d = sub.add_parser("doctor", help="check the installed stack",
                       description="Print versions of Python, DOLFINx, PETSc, hypre, gmsh, pygalmesh, numba, vtk/EGL and MPI, and what is "
                                   "missing.")
    d.set_defaults(func=_cmd_doctor)
    ph = sub.add_parser("phantom", help="write a DICOM phantom and its plan",
                        description="Write phantom NAME (CT + MR series, RTSTRUCT, plan.toml) into DIR.")
    ph.add_argument("name", help="phantom name")
    ph.add_argument("dir", help="output folder")
    ph.set_defaults(func=_cmd_phantom)
    return p


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        reexec_with_env()
    args = build_parser().parse_args(argv)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("UFL", "FFCX", "ffcx", "root", "numba"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    from planner.errors import PlannerError, error_lines

    previous = _terminate_cleanly()
    try:
        return int(args.func(args) or 0)
    except PlannerError as exc:
        for line in error_lines(exc):  # all errors of a plan, one line each
            print(f"planner: error: {line}", file=sys.stderr)
        return 2
    except OSError as exc:  # permission, disk full, ... outside the readers' own error boundaries
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"planner: error: {where}{exc.strerror or exc}; nothing was written", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("planner: interrupted", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _on_sigterm(signum, frame):
    """Remove the temporary results folder(s) and exit at once. No exception is raised: unwinding
    from an arbitrary point (e.g. half-way through importing VTK) can crash compiled extensions."""
    from planner.reporting.results import abandon_partial_folders

    abandon_partial_folders()
    os.write(2, b"planner: terminated (SIGTERM); no results folder was written\n")
    os._exit(143)


def _terminate_cleanly():
    try:
        return signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread
        return None
