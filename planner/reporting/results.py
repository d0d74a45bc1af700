"""Results folder: written to a temporary sibling folder and renamed into place on success.

Nothing is half-written: if any stage or writer fails, the temporary folder is removed and an
existing results folder is left untouched. ``summary.json`` carries provenance (plan hash, input
file hashes, planner/DOLFINx/PETSc/gmsh versions).
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import importlib.metadata as md
import json
import math
import os
import platform
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

import planner
from planner.errors import InputError


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def provenance(plan_sha256: str, input_files: dict[str, Path] | None = None) -> dict[str, Any]:
    """Versions and hashes that identify how a result was produced (no FEniCSx import needed)."""
    inputs = {}
    for name, p in (input_files or {}).items():
        if Path(p).is_file():
            inputs[name] = {"path": str(p), "sha256": sha256_file(Path(p))}
    petsc_dir = os.environ.get("PETSC_DIR", "/usr/lib/petsc")
    return {
        "planner_version": planner.__version__,
        "plan_sha256": plan_sha256,
        "input_files": inputs,
        "python": platform.python_version(),
        "dolfinx": _version("fenics-dolfinx"),
        "basix": _version("fenics-basix"),
        "ufl": _version("fenics-ufl"),
        "petsc4py": _version("petsc4py"),
        "petsc_dir": os.path.realpath(petsc_dir),
        "gmsh": _version("gmsh"),
        "numpy": np.__version__,
        "numba": _version("numba"),
        "pydicom": _version("pydicom"),
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def to_jsonable(obj: Any) -> Any:
    """NumPy scalars/arrays, Paths, enums and tuples → JSON types; NaN/inf → None."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "value") and hasattr(obj, "name") and not isinstance(obj, (str, int)):
        return obj.value
    return obj


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(to_jsonable(data), indent=2, sort_keys=False) + "\n")


@contextlib.contextmanager
def results_folder(target: Path, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary folder beside ``target``; on success move it to ``target`` atomically."""
    target = Path(target)
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"plan.output_dir = {str(target)!r}: cannot create its parent folder ({exc.strerror})") from None
    if target.exists() and not overwrite:
        raise InputError(f"plan.output_dir = {str(target)!r}: already exists and plan.overwrite = false")
    if target.exists() and not target.is_dir():
        raise InputError(f"plan.output_dir = {str(target)!r}: exists and is not a folder")
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=parent))
        os.rename(target, old / "r")
    try:
        os.rename(tmp, target)
    except OSError:
        if old is not None:
            os.rename(old / "r", target)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
