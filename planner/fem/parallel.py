"""MPI helpers for the pipeline (kept in planner.fem: the only package that imports mpi4py)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mpi4py import MPI

COMM = MPI.COMM_WORLD


def rank() -> int:
    return COMM.rank


def size() -> int:
    return COMM.size


def on_root_then_bcast(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` on rank 0 and broadcast its result (or its exception) to every rank."""
    result, error = None, None
    if COMM.rank == 0:
        try:
            result = fn()
        except Exception as exc:  # re-raised on every rank below
            error = exc
    result, error = COMM.bcast((result, error), root=0)
    if error is not None:
        raise error
    return result


def barrier() -> None:
    COMM.barrier()


def build_fem_mesh(tmesh) -> object:
    """Build the DOLFINx mesh (and tags) of ``tmesh`` once, for every solver that follows (collective).
    The returned handle is opaque outside planner.fem; the solvers find the same mesh by ``tmesh``."""
    from planner.fem.mesh import fem_mesh

    return fem_mesh(tmesh, COMM)
