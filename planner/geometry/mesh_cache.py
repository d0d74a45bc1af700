"""Saved meshes: ``PLANNER_MESH_CACHE=DIR`` makes every run read its meshes from DIR, meshing only once.

With the environment variable set, each mesh the planner makes with a third-party mesher — plan
primitives (gmsh, :func:`planner.geometry.mesher.mesh_shapes`), label volumes (CGAL Mesh_3 through
pygalmesh, :mod:`planner.imaging.label_mesh`) and implant sub-models (gmsh,
:class:`planner.geometry.submodel.SubModelGeometry`) — is stored in DIR under a key of everything it
depends on (the plan's bodies and ``[mesh]`` sizes, the label volume's voxels, the sub-model's builder,
sizing and skin depth; NOT the mesher's version), and read back from there when the key is present.
What is stored is the mesher's raw output (points, cells, region tags, CAD volumes, and the mesher's name
and version, which stays in ``summary.json`` → ``mesh.source``); everything after it is the planner's
own NumPy code and runs as usual. A fresh mesh is always read back from the file just written, so a
run that meshes and a run that reads the cache are the same to the bit.

What it is for: the same meshes on two installations (gmsh 4.8 on Debian bookworm and 4.13 on trixie
mesh the same plan differently; ``scripts/compare_stacks.sh`` runs the shipped plans on both stacks from
one set of saved meshes), and skipping the meshing when a plan is re-run with other physics settings.
The key does not include the mesher's version on purpose: delete DIR to re-mesh after an upgrade.
Unset (the default): nothing is read or written.
"""
from __future__ import annotations

import contextlib
import dataclasses
import enum
import functools
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from planner.errors import InputError, MeshError

log = logging.getLogger(__name__)

ENV_VAR = "PLANNER_MESH_CACHE"
FORMAT = 1  # bump when the stored content changes: old entries are then simply not found


class Uncacheable(TypeError):
    """An input of a mesh that has no stable description (e.g. a closure): the mesh is made as usual."""


def cache_dir() -> Path | None:
    """The mesh cache folder from ``PLANNER_MESH_CACHE`` (created on first use), or None when unset."""
    value = os.environ.get(ENV_VAR, "").strip()
    if not value:
        return None
    path = Path(value).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{ENV_VAR} = {value!r}: cannot create the folder ({exc.strerror}); expected a writable "
                         "folder for saved meshes, or unset it") from None
    return path


@contextlib.contextmanager
def saved_meshes_for_this_run(prefix: str = "planner-meshes-") -> Iterator[Path]:
    """Within this block every run saves and reuses its meshes (one mesh per geometry for a series of
    runs, e.g. the sessions of a course): ``PLANNER_MESH_CACHE`` if the user set it, else a private
    temporary folder, removed afterwards."""
    own = cache_dir()
    if own is not None:
        yield own
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        os.environ[ENV_VAR] = tmp
        try:
            yield Path(tmp)
        finally:
            os.environ.pop(ENV_VAR, None)


def canonical(x: object) -> object:
    """A JSON-able, version-independent description of a mesh input (floats exactly, as hex; arrays by
    dtype, shape and a hash of their bytes; dataclasses by type and fields; partials by function and
    arguments). Raises :class:`Uncacheable` for anything else (closures, objects)."""
    if x is None or isinstance(x, (bool, str)):
        return x
    if isinstance(x, enum.Enum):
        return canonical(x.value)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x).hex()
    if isinstance(x, np.ndarray):
        a = np.ascontiguousarray(x)
        return {"dtype": a.dtype.str, "shape": list(a.shape), "sha256": hashlib.sha256(a.tobytes()).hexdigest()}
    if isinstance(x, Path):
        return str(x)
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {"type": type(x).__qualname__,
                **{f.name: canonical(getattr(x, f.name)) for f in dataclasses.fields(x) if f.compare}}
    if isinstance(x, dict):
        return {str(k): canonical(v) for k, v in sorted(x.items(), key=lambda kv: str(kv[0]))}
    if isinstance(x, (list, tuple)):
        return [canonical(v) for v in x]
    if isinstance(x, functools.partial):
        return {"partial": canonical(x.func), "args": canonical(list(x.args)), "keywords": canonical(x.keywords)}
    if callable(x) and getattr(x, "__closure__", None) is None and "<" not in getattr(x, "__qualname__", "<"):
        return f"{getattr(x, '__module__', '?')}.{getattr(x, '__qualname__', '?')}"  # a module-level function or class
    raise Uncacheable(f"no stable description of {type(x).__name__} {x!r:.60}")


def cache_key(kind: str, inputs: object) -> str:
    """sha256 of the kind, the format and the canonical inputs (Uncacheable if they have none)."""
    text = json.dumps({"kind": kind, "format": FORMAT, "inputs": canonical(inputs)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def entry(kind: str, inputs: object, suffix: str) -> Path | None:
    """Path of the cache entry for these inputs, or None when the cache is off or the inputs are uncacheable."""
    folder = cache_dir()
    if folder is None:
        return None
    try:
        key = cache_key(kind, inputs)
    except Uncacheable as exc:
        log.info("mesh cache: %s not cached (%s)", kind, exc)
        return None
    return folder / f"{kind}-{key[:24]}{suffix}"


def cached_arrays(kind: str, inputs: object, make: Callable[[], dict[str, object]]) -> dict[str, object]:
    """``make()``'s dict of NumPy arrays and JSON-able values, from the cache when present (then ``make``
    is not called), else made, saved and read back. Without the cache: ``make()`` as is."""
    path = entry(kind, inputs, ".npz")
    if path is None:
        return make()
    if path.is_file():
        log.info("mesh cache: %s read from %s", kind, path)
    else:
        made = make()
        arrays = {k: v for k, v in made.items() if isinstance(v, np.ndarray)}
        meta = {k: v for k, v in made.items() if not isinstance(v, np.ndarray)}
        write_atomically(path, lambda tmp: np.savez(tmp, __meta__=np.array(json.dumps(meta)), **arrays))
        log.info("mesh cache: %s written to %s", kind, path)
    try:
        with np.load(path, allow_pickle=False) as z:
            out: dict[str, object] = {k: z[k] for k in z.files if k != "__meta__"}
            out.update(json.loads(str(z["__meta__"])))
    except (OSError, ValueError, KeyError) as exc:
        raise MeshError(f"saved mesh {path}: unreadable ({exc}); expected a planner mesh cache file, delete it to "
                        "re-mesh") from None
    return out


def write_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """``write(tmp)`` then rename to ``path`` (same folder; keeps the suffix, which gmsh needs)."""
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


__all__ = ["ENV_VAR", "Uncacheable", "cache_dir", "cache_key", "canonical", "cached_arrays", "entry",
           "write_atomically"]
