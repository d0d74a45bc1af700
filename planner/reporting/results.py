"""Results folder: written to a temporary sibling folder and renamed into place on success.

Nothing is half-written: if any stage or writer fails, the temporary folder is removed and an
existing results folder is left untouched. Nothing the planner did not write is ever deleted: a
results folder carries a manifest (``.planner-results``, written last) of its files; an output
folder that is, contains or lies inside an input, or that holds any other file, is refused.
``summary.json`` carries provenance (plan hash, input
file hashes, planner/DOLFINx/PETSc/gmsh versions).
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import importlib.metadata as md
import json
import logging
import math
import os
import platform
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

import planner
from planner.errors import InputError

log = logging.getLogger(__name__)


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
        "created_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
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


class _WarningCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        msg = " ".join(record.getMessage().split())
        if msg not in self.messages:
            self.messages.append(msg)


@contextlib.contextmanager
def collect_warnings(logger: str = "planner") -> Iterator[list[str]]:
    """Collect (once each, in order) the warnings logged under ``logger`` while the block runs:
    the list becomes ``summary.json`` → ``warnings`` and the report's Warnings section."""
    handler = _WarningCollector()
    lg = logging.getLogger(logger)
    lg.addHandler(handler)
    try:
        yield handler.messages
    finally:
        lg.removeHandler(handler)


MARKER = ".planner-results"
PREVIOUS_SUFFIX = ".previous"


def _relative_files(folder: Path) -> list[str]:
    """Every non-directory entry under ``folder`` (files, symlinks, ...), as sorted POSIX paths."""
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        d = Path(dirpath)
        out += [(d / n).relative_to(folder).as_posix() for n in filenames]
        out += [(d / n).relative_to(folder).as_posix() for n in dirnames if (d / n).is_symlink()]
    return sorted(out)


def written_files(folder: Path) -> set[str] | None:
    """The files the planner wrote into ``folder`` (its ``.planner-results`` manifest), or None when
    ``folder`` is not a planner results folder. Folders written before the marker existed are
    recognised by their ``summary.json`` (written last, listing every file with provenance)."""
    folder = Path(folder)
    marker = folder / MARKER
    try:
        if marker.is_file() and not marker.is_symlink():
            data = json.loads(marker.read_text())
            return set(data["files"]) | {MARKER}
        summary = folder / "summary.json"
        if summary.is_file() and not summary.is_symlink():
            data = json.loads(summary.read_text())
            if isinstance(data.get("files"), list) and "planner_version" in data.get("provenance", {}):
                return set(map(str, data["files"])) | {"summary.json"}
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return None


#: file-browser metadata (macOS Finder, Windows Explorer) that appears in any folder a user opens
OS_METADATA = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})


def foreign_files(folder: Path) -> list[str]:
    """Files in ``folder`` that its manifest does not list (all of them if it has no manifest);
    file-browser metadata (:data:`OS_METADATA`) in a planner results folder counts as its own."""
    present = _relative_files(Path(folder))
    mine = written_files(Path(folder))
    if mine is None:
        return present
    return [f for f in present if f not in mine and Path(f).name not in OS_METADATA]


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_output_dir(target: Path, *, inputs: dict[str, Path] | None = None, overwrite: bool = True,
                     field: str = "plan.output_dir") -> None:
    """Refuse an output folder that would delete or modify anything the planner did not write.

    ``target`` must not be, contain or lie inside any input (``inputs``: name → file or folder);
    if it exists it must be empty or a planner results folder holding only files of its manifest;
    its nearest existing ancestor must be writable. One-line :class:`InputError` otherwise.
    """
    target = Path(target).resolve()
    shown = f"{field} = {str(target)!r}"
    for name, p in (inputs or {}).items():
        p = Path(p).resolve()
        if p == target:
            raise InputError(f"{shown}: is the input {name} ({p}); expected a separate results folder")
        if p.is_relative_to(target):
            raise InputError(f"{shown}: contains the input {name} ({p}); "
                             "expected a results folder that holds no inputs "
                             "(e.g. output_dir = \"results\")")
        if target.is_relative_to(p):
            raise InputError(f"{shown}: lies inside the input {name} ({p}); "
                             "inputs are read-only, expected a folder outside them")
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise InputError(f"{shown}: exists and is not a folder; expected a results folder path")
    if target.is_dir():
        if not overwrite and any(target.iterdir()):
            raise InputError(f"{shown}: already exists and plan.overwrite = false")
        try:
            foreign = foreign_files(target)
        except OSError as exc:
            raise InputError(f"{shown}: cannot be listed ({exc.strerror})") from None
        if foreign:
            raise InputError(f"{shown}: holds {len(foreign)} file(s) the planner did not write (e.g. {foreign[0]!r}); "
                             "expected an empty folder or a planner results folder — choose another output_dir")
    previous = target.with_name(target.name + PREVIOUS_SUFFIX)
    if previous.exists() and (previous.is_symlink() or not previous.is_dir() or foreign_files(previous)):
        raise InputError(f"{shown}: {previous} exists and is not a planner results folder; "
                         "expected to keep the previous results there")
    _check_writable(_nearest_existing(target.parent), shown)


def _check_writable(base: Path, shown: str) -> None:
    """Create and remove a probe folder in ``base`` (os.access says yes to root on read-only mounts)."""
    if not base.is_dir():
        raise InputError(f"{shown}: {str(base)!r} is a file, not a folder; expected a folder path")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".planner-write-test-", dir=base))
    except OSError as exc:
        raise InputError(f"{shown}: folder {str(base)!r} is not writable ({exc.strerror}); "
                         "expected a folder you may write to") from None


def _remove_written(folder: Path) -> bool:
    """Delete the files ``folder``'s manifest lists, then its empty sub-folders; True when nothing remains."""
    present = _relative_files(folder)
    mine = (written_files(folder) or set()) & set(present)  # never a path outside folder
    mine |= {f for f in present if Path(f).name in OS_METADATA}
    for rel in sorted(mine - {MARKER}):  # the marker last: an interrupted removal stays recognisable
        f = folder / rel
        if f.is_symlink() or f.is_file():
            f.unlink()
    if (folder / MARKER).is_file():
        (folder / MARKER).unlink()
    for dirpath, _, _ in sorted(os.walk(folder), key=lambda t: -len(t[0])):
        with contextlib.suppress(OSError):
            os.rmdir(dirpath)
    if folder.exists():
        log.warning("kept %s: it holds files the planner did not write", folder)
        return False
    return True


PARTIAL_MARKER = ".planner-partial"
_ACTIVE_PARTIALS: set[Path] = set()  # temporary folders of runs in progress in this process


@contextlib.contextmanager
def partial_folder(path: Path) -> Iterator[Path]:
    """Mark ``path`` (a temporary folder this process writes) for removal on SIGTERM while the block runs."""
    _ACTIVE_PARTIALS.add(Path(path))
    try:
        yield Path(path)
    finally:
        _ACTIVE_PARTIALS.discard(Path(path))


def abandon_partial_folders() -> None:
    """Remove the temporary folders of results being written (the CLI's SIGTERM handler)."""
    for d in list(_ACTIVE_PARTIALS):
        shutil.rmtree(d, ignore_errors=True)
        _ACTIVE_PARTIALS.discard(d)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_partials(parent: Path, name: str) -> None:
    """Remove temporary folders of runs killed with SIGKILL: ours by name and marker (pid, host), process gone."""
    for d in parent.glob(f".{name}.partial-*"):
        try:
            text, host = (d / PARTIAL_MARKER).read_text().split()
            pid = int(text)
        except (OSError, ValueError):
            continue
        if d.is_dir() and not d.is_symlink() and host == platform.node() and not _pid_alive(pid):
            log.info("removing %s (left by an interrupted run, pid %s)", d, pid)
            shutil.rmtree(d, ignore_errors=True)


def _write_marker(folder: Path) -> None:
    (folder / PARTIAL_MARKER).unlink(missing_ok=True)
    files = _relative_files(folder)
    marker = {"planner_version": planner.__version__, "files": files,
              "created_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")}
    (folder / MARKER).write_text(json.dumps(marker, indent=1) + "\n")


@contextlib.contextmanager
def results_folder(target: Path, *, overwrite: bool = True, inputs: dict[str, Path] | None = None,
                   field: str = "plan.output_dir") -> Iterator[Path]:
    """Yield a temporary folder beside ``target``; on success it becomes ``target`` atomically.

    Never deletes anything the planner did not write: ``target`` is checked with
    :func:`check_output_dir` before and after the run; an existing results folder is renamed to
    ``<target>.previous`` until the new one is in place, then only the files its manifest lists are
    removed. The new folder's manifest (``.planner-results``) is written last.
    """
    target = Path(target).resolve()
    check_output_dir(target, inputs=inputs, overwrite=overwrite, field=field)
    previous = target.with_name(target.name + PREVIOUS_SUFFIX)
    if not target.exists() and previous.is_dir() and written_files(previous) is not None:
        os.rename(previous, target)  # a run killed half-way through the swap: the old results come back
    parent = target.parent
    created = [d for d in (parent, *parent.parents) if not d.exists()]  # removed again if the run fails
    try:
        parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_partials(parent, target.name)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=parent))
        _ACTIVE_PARTIALS.add(tmp)
        (tmp / PARTIAL_MARKER).write_text(f"{os.getpid()} {platform.node()}\n")
    except OSError as exc:
        raise InputError(f"{field} = {str(target)!r}: cannot create a folder in {str(parent)!r} "
                         f"({exc.strerror})") from None
    try:
        yield tmp
        _write_marker(tmp)
        check_output_dir(target, inputs=inputs, overwrite=overwrite, field=field)
    except OSError as exc:
        _discard(tmp, created)
        raise InputError(f"{field} = {str(target)!r}: writing {exc.filename or 'results'} failed ({exc.strerror}); "
                         "nothing was written") from None
    except BaseException:
        _discard(tmp, created)
        raise
    finally:
        _ACTIVE_PARTIALS.discard(tmp)
    _swap_into_place(tmp, target, field)


def _discard(tmp: Path, created: list[Path]) -> None:
    """Remove the temporary folder and the (then empty) parent folders this run created."""
    shutil.rmtree(tmp, ignore_errors=True)
    for d in created:  # deepest first
        with contextlib.suppress(OSError):
            d.rmdir()


def _swap_into_place(tmp: Path, target: Path, field: str) -> None:
    """Rename ``tmp`` to ``target`` with SIGTERM held back, so a results folder is never half-swapped."""
    blocked = hasattr(signal, "pthread_sigmask")
    if blocked:
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        _swap(tmp, target, field)
    finally:
        if blocked:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)


def _swap(tmp: Path, target: Path, field: str) -> None:
    previous = target.with_name(target.name + PREVIOUS_SUFFIX)
    try:
        if previous.exists():
            _remove_written(previous)
        if target.exists():
            os.rename(target, previous)
        try:
            os.rename(tmp, target)
        except OSError:
            if previous.exists() and not target.exists():
                os.rename(previous, target)
            raise
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise InputError(f"{field} = {str(target)!r}: cannot move the results into place ({exc.strerror})") from None
    if previous.exists():
        _remove_written(previous)
