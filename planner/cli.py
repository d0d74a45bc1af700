"""`planner` command line: run, check, doctor, phantom, tissues, schema (exit codes: :data:`EXIT_CODES`)."""
from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from planner.envsetup import reexec_with_env

if TYPE_CHECKING:
    from planner.artefacts import Progress

EXIT_OK = 0  # completed; no safety violation
EXIT_INPUT = 2  # the plan or an input is wrong (one line per error); nothing was written
EXIT_VIOLATIONS = 3  # completed, results written, with safety violations
EXIT_USAGE = 64  # the command line is wrong (sysexits EX_USAGE)
EXIT_INTERNAL = 70  # a bug under MPI (traceback printed; sysexits EX_SOFTWARE); serial runs raise it
EXIT_CODES = """exit codes:
  0   completed, no safety violation
  2   plan or input error (one line per error on stderr; nothing written)
  3   completed with safety violations (results written; [safety] stop_on_violation = true
      also skips the settings search)
  64  usage error (unknown command or option, missing argument)
  70  internal error on an MPI rank (traceback printed; all ranks stopped)
  130 interrupted (Ctrl-C), 143 terminated (SIGTERM): no results folder written
  (`planner doctor` exits 1 when a check fails)"""


def _cmd_check(args) -> int:
    from planner.config.plan import load_plan

    cfg = load_plan(args.plan)
    from planner.pipeline import check_output, check_plan
    from planner.tissues.library import load_library

    check_plan(cfg, load_library(cfg.tissues))
    check_output(cfg)
    if args.quiet:
        return EXIT_OK
    sections = [s for s in ("geometry", "imaging", "applicator", "selection_field", "nanoparticles", "thermal", "safety")
                if getattr(cfg, s) is not None]
    print(f"plan {cfg.plan.name!r} is valid (sections: {', '.join(sections)}); results would go to {cfg.output_path}")
    return 0


def _cmd_calibrate(args) -> int:
    from planner.config.plan import load_plan
    from planner.uncertainty.calibration_run import run_calibration

    cfg = load_plan(args.plan)
    res, out = run_calibration(cfg, args.measured, tuple(args.perfusion), args.arterial, args.output)
    if not args.quiet:
        for name, row in res.to_json()["parameters"].items():
            print(f"  {name:24s} {row['estimate']:.4g}  95 % [{row['ci95'][0]:.4g}, {row['ci95'][1]:.4g}]")
        print(f"rms residual {res.rms_residual_K:.3g} K → {out}")
    return EXIT_OK


def _cmd_course(args) -> int:
    from planner.uncertainty.course import run_course

    summary, out = run_course(args.course)
    if not args.quiet:
        print(f"course of {len(summary['sessions'])} session(s) → {out}")
    return EXIT_OK


def _check_before_launch(plan: str) -> None:
    """What `planner check` refuses, refused before `planner run` starts its MPI ranks: the one-line
    error and exit 2 then come from this single process (Open MPI 5's launcher, which has no --quiet,
    would add its own notice about ranks that exited non-zero). The ranks check again."""
    from planner.config.plan import load_plan
    from planner.pipeline import check_output, check_plan
    from planner.tissues.library import load_library

    cfg = load_plan(plan)
    check_plan(cfg, load_library(cfg.tissues))
    check_output(cfg)


def _cmd_run(args) -> int:
    from planner.fem import launch

    if args.real_argv:  # in-process calls (main(argv), tests) stay on this process's rank(s)
        if launch.would_relaunch(args.ranks):
            _check_before_launch(args.plan)  # plan errors: one line from this one process, before any MPI
        note = launch.relaunch_under_mpirun(args.ranks, sys.argv[1:])  # returns only if not re-launched
        if note and not args.quiet:
            print(f"planner: note: {note}", file=sys.stderr)
    from planner.fem import parallel

    if launch.under_mpi():
        _join_mpi_job(parallel, args)
    from planner.config.plan import load_plan
    from planner.pipeline import run_plan

    cfg = load_plan(args.plan)
    t0 = time.perf_counter()
    show = not args.quiet and parallel.rank() == 0 and (sys.stderr.isatty() or os.environ.get(launch.TTY_ENV) == "1")
    with _progress_display(enabled=show) as progress:
        result = run_plan(cfg, progress=progress)
    violations = (result.summary.get("safety") or {}).get("violations") or []
    if result.output_dir is not None and not args.quiet:
        print(f"plan {cfg.plan.name!r} done in {time.perf_counter() - t0:.1f} s → {result.output_dir}")
        for stage, status in result.summary["stages"].items():
            print(f"  {stage:14s} {status}")
        timings = result.summary.get("timings_s") or {}
        print("  timings (s)    " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))
        warnings = result.summary.get("warnings") or []
        if warnings:
            print(f"  {len(warnings)} warning(s), listed in summary.json → warnings and report.html")
    if violations:
        print(f"planner: {len(violations)} safety violation(s), results written (summary.json → safety → violations):",
              file=sys.stderr)
        for v in violations:
            print(f"  {v}", file=sys.stderr)
        return EXIT_VIOLATIONS
    return EXIT_OK


def _join_mpi_job(parallel, args) -> None:
    """A rank of ``planner run`` under mpirun: only rank 0 prints (stage list, warnings, errors); the
    ranks agree on errors (:func:`planner.fem.parallel.fail_together`); a rank ends with mpirun."""
    from planner.fem import launch

    if os.environ.get(launch.CHILD_ENV):
        launch.die_with_parent()
    parallel.start_error_agreement()
    args.mpi = True
    if parallel.rank() != 0:
        args.quiet = max(args.quiet, 1)
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (for the life of the rank)
        for handler in logging.getLogger().handlers:
            handler.setLevel(logging.CRITICAL + 1)


def _ranks(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"--ranks {text!r}: expected a whole number of MPI ranks ≥ 1 (1 = serial)")
    return n


class _RichProgress:
    """The :class:`planner.artefacts.Progress` of a terminal: one rich row per task (stderr)."""

    def __init__(self, bar) -> None:
        self.bar = bar
        self.tasks: dict[str, object] = {}

    def __call__(self, task: str, done: float, total: float | None) -> None:
        tid = self.tasks.get(task)
        if tid is None:
            tid = self.tasks[task] = self.bar.add_task(task, total=total)
        shown = f"{task} ({done:g})" if total is None and done else task  # a count where the total is unknown
        self.bar.update(tid, completed=done, total=total, description=shown)
        if total is not None and done >= total:
            self.bar.stop_task(tid)
            del self.tasks[task]  # the same name may start again (a second time loop, another frequency)


@contextlib.contextmanager
def _progress_display(enabled: bool) -> Iterator[Progress | None]:
    """Progress bars on stderr when it is a terminal (never under -q, in pipes, logs or test capture)."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, SpinnerColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bars

    bars = Bars(SpinnerColumn(), TextColumn("{task.description:<34}"), BarColumn(), TaskProgressColumn(),
                TimeElapsedColumn(), console=Console(stderr=True, force_terminal=True))
    with bars:  # log lines go above the bars: rich proxies sys.stderr while they are live
        handlers = [h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler)]
        streams = [h.setStream(sys.stderr) for h in handlers]
        try:
            yield _RichProgress(bars)
        finally:
            for h, stream in zip(handlers, streams):
                if stream is not None:
                    h.setStream(stream)


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


def _cmd_tissues(args) -> int:
    from planner.tissues.library import load_library

    lib = load_library()
    if args.json:
        import json

        print(json.dumps({name: t.summary_block(args.frequency_kHz * 1e3 if args.frequency_kHz else None)
                          for name, t in lib.items()}, indent=2))
        return EXIT_OK
    f_Hz = (args.frequency_kHz or 100.0) * 1e3
    head = ("tissue", "kind", "ρ kg/m³", "c J/(kg·K)", "k W/(m·K)", "perf. mL/(min·kg)", "q_m W/kg", "μr",
            f"σ S/m @{f_Hz / 1e3:g} kHz")
    rows = [(name, t.kind, f"{t.density_kg_per_m3:g}", f"{t.heat_capacity_J_per_kg_K:g}",
             f"{t.thermal_conductivity_W_per_m_K:g}", f"{t.perfusion_mL_per_min_per_kg:g}",
             f"{t.metabolic_heat_W_per_kg:g}", f"{t.relative_permeability:g}",
             f"{float(t.conductivity_S_per_m(f_Hz)):.4g}") for name, t in lib.items()]
    widths = [max(len(r[i]) for r in (head, *rows)) for i in range(len(head))]
    for r in (head, *rows):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    print("\ncitations:")
    for name, t in lib.items():
        print(f"  {name}: {t.citation}")
    aliases = lib.aliases()
    if aliases:
        print("\naliases: " + ", ".join(f"{a} → {n}" for a, n in sorted(aliases.items())))
    return EXIT_OK


def _cmd_schema(args) -> int:
    from planner.config.doc import schema_text

    print(schema_text(), end="")
    return EXIT_OK


class _Parser(argparse.ArgumentParser):
    """argparse with the sysexits usage code (64) instead of 2, which means a plan/input error here."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _verb(sub, name: str, func, help: str, description: str, common: argparse.ArgumentParser):
    v = sub.add_parser(name, help=help, description=description, parents=[common], epilog=EXIT_CODES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    v.set_defaults(func=func)
    return v


def build_parser() -> argparse.ArgumentParser:
    from planner import __version__

    p = _Parser(prog="planner", description="Treatment planning for magnetic nanoparticle hyperthermia.",
                epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"planner {__version__}")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    p.add_argument("-q", "--quiet", action="count", default=0, help="errors and safety violations only: no progress, no stage list")
    common = argparse.ArgumentParser(add_help=False)  # -v/-q also after the verb: planner run plan.toml -v
    common.add_argument("-v", "--verbose", dest="verbose_after", action="count", default=0,
                        help="more log output (-vv for debug)")
    common.add_argument("-q", "--quiet", dest="quiet_after", action="count", default=0,
                        help="errors and safety violations only: no progress, no stage list")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    r = _verb(sub, "run", _cmd_run, "run a plan and write its results folder",
              "Run PLAN.toml end to end and write the results folder (summary.json, fields, figures) atomically. "
              "Progress bars on a terminal (stderr); stage timings at the end and in summary.json → timings_s.", common)
    r.add_argument("plan", help="the plan file (TOML)")
    r.add_argument("--ranks", type=_ranks, default=None, metavar="N",
                   help="MPI ranks (default: the cores this process may use; 1 = serial). planner run re-launches "
                        "itself under mpirun -n N; without mpirun it runs on 1 rank and says so")
    c = _verb(sub, "check", _cmd_check, "validate a plan without running it",
              "Validate PLAN.toml (keys, types, units, tissues) without running anything.", common)
    c.add_argument("plan", help="the plan file (TOML)")
    _verb(sub, "doctor", _cmd_doctor, "check the installed stack",
          "Print versions of Python, DOLFINx, PETSc, hypre, gmsh, pygalmesh, numba, vtk/EGL and MPI, and what is missing.", common)
    ph = _verb(sub, "phantom", _cmd_phantom, "write a DICOM phantom and its plan",
               "Write phantom NAME (CT + MR series, RTSTRUCT, plan.toml) into DIR.", common)
    ph.add_argument("name", help="phantom name")
    ph.add_argument("dir", help="output folder")
    t = _verb(sub, "tissues", _cmd_tissues, "list the tissue library with units and citations",
              "List the built-in tissue library (planner/tissues/data/tissues.csv): SI properties with their units, "
              "the conductivity at a frequency (Cole–Cole) and the citation of every row.", common)
    t.add_argument("--frequency-kHz", type=float, default=None, metavar="F",
                   help="frequency of the listed conductivity (default 100 kHz)")
    t.add_argument("--json", action="store_true", help="print JSON (per tissue: the summary.json tissue block)")
    cal = _verb(sub, "calibrate", _cmd_calibrate, "fit SLP/perfusion scales to measured probe temperatures",
                "Fit an SLP scale (and perfusion scales per tissue, optionally the arterial baseline) of PLAN.toml's "
                "transient model to measured probes (CSV time_s, probe, T_C) by bounded least squares; writes "
                "calibration.json, residuals.png and <plan>.calibrated.toml beside the plan.", common)
    cal.add_argument("plan", help="the plan file (TOML) with [[thermal.probes]]")
    cal.add_argument("--measured", required=True, help="probe CSV: time_s, probe, T_C")
    cal.add_argument("--perfusion", nargs="*", default=[], metavar="TISSUE", help="tissues whose perfusion scale is fitted")
    cal.add_argument("--arterial", action="store_true", help="also fit an arterial temperature offset (K)")
    cal.add_argument("--output", default=None, help="output folder (default <plan>-calibration beside the plan)")
    co = _verb(sub, "course", _cmd_course, "run a treatment course of several sessions",
               "Run COURSE.toml: sessions planned in turn (particle maps carried over with SLP half-life, "
               "calibrated from measured probes), cumulative CEM43 per vertex and structure.", common)
    co.add_argument("course", help="the course file (TOML)")
    _verb(sub, "schema", _cmd_schema, "print the JSON Schema of plan files",
          "Print a JSON Schema (draft 2020-12) of plan files, generated from the same metadata as docs/plan-files.md; "
          "point an editor's TOML language server at it for completion and checking.", common)
    return p


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        reexec_with_env()
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help/--version (0) or a usage error (64)
        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_USAGE
    args.real_argv = argv is None
    args.mpi = False
    args.verbose += args.verbose_after
    args.quiet += args.quiet_after
    level = logging.ERROR if args.quiet else [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    # planner's loggers stay at WARNING or below (summary.json collects the warnings): -q only silences
    # stderr; -v shows planner's INFO, -vv everyone's DEBUG (UFL/FFCx/numba stay at WARNING)
    logging.basicConfig(level=logging.DEBUG if args.verbose >= 2 else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.setLevel(level)
    logging.getLogger("planner").setLevel(min(level, logging.WARNING))
    for noisy in ("UFL", "FFCX", "ffcx", "numba"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from planner.errors import PlannerError, error_lines

    previous = _terminate_cleanly()
    try:
        return int(args.func(args) or 0)
    except PlannerError as exc:
        return _fail(args, EXIT_INPUT, list(error_lines(exc)))  # all errors of a plan, one line each
    except OSError as exc:  # permission, disk full, ... outside the readers' own error boundaries
        where = f"{exc.filename}: " if exc.filename else ""
        return _fail(args, EXIT_INPUT, [f"{where}{exc.strerror or exc}; nothing was written"])
    except Exception as exc:
        if not args.mpi:
            raise
        import traceback

        traceback.print_exc()  # a bug: the traceback on this rank, then the ranks stop together
        return _fail(args, EXIT_INTERNAL, [f"internal error {type(exc).__name__}: {exc}"])
    except KeyboardInterrupt:
        print("planner: interrupted", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _fail(args, code: int, lines: list[str]) -> int:
    """Print the error lines (under MPI: once, and no rank left waiting) and return the exit code."""
    if args.mpi:
        from planner.fem.parallel import fail_together

        return fail_together(code, lines)
    for line in lines:
        print(f"planner: error: {line}", file=sys.stderr)
    return code


def _on_sigterm(signum, frame):
    """Remove the temporary results folder(s) and exit at once. No exception is raised: unwinding
    from an arbitrary point (e.g. half-way through importing VTK) can crash compiled extensions."""
    from planner.reporting.results import abandon_partial_folders

    abandon_partial_folders()
    if sys.stderr.isatty():
        os.write(2, b"\x1b[?25h\n")  # the progress bars hid the cursor
    os.write(2, b"planner: terminated (SIGTERM); no results folder was written\n")
    os._exit(143)


def _terminate_cleanly():
    try:
        return signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread
        return None
