"""Environment variables the stack needs before the interpreter starts (mirrors scripts/env.sh).

Debian's ``petsc4py.pth`` reads ``PETSC_DIR`` at interpreter start; VTK and OpenMPI read theirs at
import. The CLI re-executes itself once with these set when they are missing.
"""
from __future__ import annotations

import os
import sys

REQUIRED_ENV = {
    "PETSC_DIR": "/usr/lib/petscdir/petsc-real",
    # crashes in compiled code then show Python's faulthandler traceback, not a bare MPI_Abort
    "PETSC_OPTIONS": "-no_signal_handler",
    "OMPI_ALLOW_RUN_AS_ROOT": "1",
    "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
    "OMPI_MCA_rmaps_base_oversubscribe": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "VTK_DEFAULT_OPENGL_WINDOW": "vtkEGLRenderWindow",
    "MPLBACKEND": "Agg",
    "PYVISTA_OFF_SCREEN": "true",
}
_GUARD = "PLANNER_ENV_READY"


def missing_env() -> dict[str, str]:
    return {k: v for k, v in REQUIRED_ENV.items() if k not in os.environ}


def reexec_with_env() -> None:
    """Re-exec the current interpreter command line once with the required variables set."""
    missing = missing_env()
    if not missing or os.environ.get(_GUARD):
        return
    env = dict(os.environ, **missing, **{_GUARD: "1"})
    argv = list(getattr(sys, "orig_argv", [sys.executable, *sys.argv]))
    os.execve(sys.executable, [sys.executable, *argv[1:]], env)
