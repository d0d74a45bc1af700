"""`planner run` on all cores: the CLI re-launches itself under ``mpirun -n N`` (DESIGN.md §3).

This module must not import mpi4py (importing it initialises MPI, which the launching process must
not do): it only reads the environment and execs ``mpirun``. The MPI side (one error line, no hang)
is in :mod:`planner.fem.parallel`.
"""
from __future__ import annotations

import os
import re
import shutil
import sys

#: set in the ranks' environment by the launcher: "1" if the user's stderr is a terminal (progress bars)
TTY_ENV = "PLANNER_MPI_TTY"
#: set in the ranks' environment by the launcher (a relaunch never happens twice)
CHILD_ENV = "PLANNER_MPI_CHILD"
# variables that MPI launchers (Open MPI's mpirun, MPICH/Hydra) set in every rank. Not PMIX_*: an Open
# MPI singleton (any process that imported mpi4py without mpirun, e.g. a test runner) sets those in its
# own environment, and its child processes inherit them without being MPI ranks.
_MPI_ENV = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MPI_LOCALNRANKS")
# what an Open MPI singleton parent leaves behind: stale for the mpirun we start
_SINGLETON_ENV = ("PMIX_", "OMPI_MCA_ess", "OMPI_MCA_orte_", "OMPI_MCA_pmix", "OMPI_APP_CTX_NUM_PROCS")


def under_mpi() -> bool:
    """Whether this process was started by an MPI launcher (then it never re-launches itself)."""
    return any(k in os.environ for k in (CHILD_ENV, *_MPI_ENV))


def available_cores() -> int:
    """Cores this process may run on (CPU affinity, e.g. a container's or taskset's share)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def would_relaunch(ranks: int | None) -> bool:
    """Whether :func:`relaunch_under_mpirun` would start ranks (more than one wanted, not yet under
    MPI, mpirun on PATH)."""
    n = ranks if ranks is not None else available_cores()
    return n > 1 and not under_mpi() and shutil.which("mpirun") is not None


def relaunch_under_mpirun(ranks: int | None, argv: list[str]) -> str | None:
    """Replace this process by ``mpirun -n N python -m planner ARGV`` when N > 1 and not already under
    MPI (N = ``ranks`` or the available cores). Returns only if it does not re-launch: None, or a note
    why it stays on one rank (no mpirun on PATH, or exec failed)."""
    n = ranks if ranks is not None else available_cores()
    if n <= 1 or under_mpi():
        return None
    mpirun = shutil.which("mpirun")
    if mpirun is None:
        return f"mpirun not found: running on 1 rank instead of {n} (apt install openmpi-bin)"
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SINGLETON_ENV)}
    env.update({CHILD_ENV: "1", "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
                "OMPI_MCA_rmaps_base_oversubscribe": "1", "OMPI_MCA_mpi_yield_when_idle": "1",
                "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OMPI_MCA_btl": env.get("OMPI_MCA_btl", "^tcp"),
                "NUMBA_NUM_THREADS": str(max(1, available_cores() // n))})
    if sys.stderr.isatty():
        env[TTY_ENV] = "1"
    cmd = [mpirun, "-n", str(n), *quiet_option(mpirun), "--bind-to", "none", sys.executable, "-m", "planner", *argv]
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(mpirun, cmd, env)
    except OSError as exc:
        return f"could not start {mpirun} ({exc.strerror or exc}): running on 1 rank instead of {n}"
    return None  # not reached


def quiet_option(mpirun: str) -> list[str]:
    """``["--quiet"]`` (no banner when a rank aborts the job) where mpirun knows it: Open MPI 4
    (bookworm); Open MPI 5's PRRTE mpirun (trixie) and MPICH's Hydra refuse it (exit 213)."""
    import subprocess

    try:
        out = subprocess.run([mpirun, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return ["--quiet"] if re.search(r"\(Open MPI\) 4\.", out) else []


def die_with_parent() -> None:
    """Ask Linux to send this rank SIGTERM when mpirun dies (even by SIGKILL): the CLI's SIGTERM
    handler then removes the partial results folder instead of leaving an orphan running."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: nothing to do
        pass
