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


def rank_groups(ranks_per_group: int) -> tuple[Any, int, int]:
    """Split COMM_WORLD into groups of ``ranks_per_group`` consecutive ranks (0 or ≥ size: one group):
    (the group's communicator, this group's index, number of groups). Collective."""
    k = COMM.size if ranks_per_group <= 0 or ranks_per_group >= COMM.size else ranks_per_group
    n_groups = max(COMM.size // k, 1)
    group = min(COMM.rank // k, n_groups - 1)  # a remainder of ranks joins the last group
    if n_groups == 1:
        return COMM, 0, 1
    return COMM.Split(color=group, key=COMM.rank), group, n_groups


def gather_group_results(local: dict, group_comm: Any) -> dict:
    """Union over groups of the dicts each group computed (its rank 0 contributes), on every rank."""
    mine = local if group_comm.rank == 0 else {}
    out: dict = {}
    for part in COMM.allgather(mine):
        out.update(part)
    return out
