"""Record-keeping added to summary.json: schema version, code version, library versions, MPI ranks
and the command line — what a physicist needs to say later exactly how a result was produced.

Everything is added beside the existing keys (``schema_version`` at the top level, the rest inside
``provenance``); nothing existing changes. No FEniCSx import: PETSc's hypre version is read from
``$PETSC_DIR/include/petscpkg_version.h``, the planner commit from ``git`` when the package runs
from a checkout.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Protocol, runtime_checkable

import planner

#: version of the summary.json layout; bump the major part when a key is renamed or removed
SCHEMA_VERSION = "1.1"

_LIBRARIES = ("scipy", "gmsh", "pygalmesh", "meshio", "nibabel", "pydicom", "highdicom", "matplotlib", "pyvista", "vtk")


def _dist_version(name: str) -> str | None:
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        mod = sys.modules.get(name)
        v = getattr(mod, "__version__", None) if mod is not None else None
        return str(v) if v is not None else None


def hypre_version(petsc_dir: str | None = None) -> str | None:
    """hypre version PETSc was built with (``PETSC_PKG_HYPRE_VERSION_*``), or None if not found."""
    root = Path(petsc_dir or os.environ.get("PETSC_DIR") or "/usr/lib/petsc")
    for header in (root / "include" / "petscpkg_version.h", root / "include" / "petsc" / "petscpkg_version.h"):
        if header.is_file():
            text = header.read_text(errors="replace")
            keys = ("MAJOR", "MINOR", "SUBMINOR")
            parts = [re.search(rf"#define PETSC_PKG_HYPRE_VERSION_{k}\s+(\d+)", text) for k in keys]
            if all(parts):
                return ".".join(p.group(1) for p in parts if p)
    return None


def git_commit() -> dict[str, object] | None:
    """``{"commit": sha, "dirty": bool}`` of the checkout the planner package runs from, else None."""
    root = Path(planner.__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        sha = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        st = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if sha.returncode != 0:
        return None
    return {"commit": sha.stdout.strip(), "dirty": bool(st.stdout.strip())}


def mpi_ranks() -> int:
    from planner.fem import parallel

    return int(parallel.size())


def record_block() -> dict[str, object]:
    """Keys added to ``provenance``: ``git``, ``library_versions``, ``hypre``, ``mpi_ranks``, ``command_line``."""
    return {
        "git": git_commit(),
        "library_versions": {name: _dist_version(name) for name in _LIBRARIES},
        "hypre": hypre_version(),
        "mpi_ranks": mpi_ranks(),
        "command_line": shlex.join(sys.argv),
    }


@runtime_checkable
class LibraryLike(Protocol):
    def summary_block(self, names: list[str] | None = None, frequency_Hz: float | None = None) -> dict: ...


def add_record(
    summary: dict[str, object],
    *,
    tissue_names: list[str] | None = None,
    library: object | None = None,
    frequency_Hz: float | None = None,
) -> None:
    """``schema_version`` at the top and the :func:`record_block` keys inside ``provenance``; with a
    tissue library (``artefacts["library"]``, the one the run used, plan overrides applied) also
    ``tissues_used``: properties and citations of ``tissue_names`` (σ at ``frequency_Hz``)."""
    summary["schema_version"] = SCHEMA_VERSION
    if isinstance(library, LibraryLike) and tissue_names:
        summary["tissues_used"] = library.summary_block(sorted(set(tissue_names)), frequency_Hz)
    prov = summary.get("provenance")
    if isinstance(prov, dict):
        for k, v in record_block().items():
            prov.setdefault(k, v)
    else:
        summary["provenance"] = record_block()
