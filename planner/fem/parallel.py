"""MPI helpers for the pipeline (kept in planner.fem: the only package that imports mpi4py)."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from mpi4py import MPI

COMM = MPI.COMM_WORLD


def rank() -> int:
    return COMM.rank


def size() -> int:
    return COMM.size


IDLE_POLL_S = 0.002


def _idle_barrier() -> None:
    """A barrier that waits without spinning: MPI's blocking waits busy-poll, so a rank waiting for rank 0
    (meshing, writing the results) would hold a core that rank 0's threads (compression, meshers) could use."""
    if COMM.size == 1:
        return
    req = COMM.Ibarrier()
    while not req.Test():
        time.sleep(IDLE_POLL_S)


def on_root_then_bcast(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` on rank 0 and broadcast its result (or its exception) to every rank; the other ranks
    wait idle (not spinning) meanwhile."""
    result, error = None, None
    if COMM.rank == 0:
        try:
            result = fn()
        except Exception as exc:  # re-raised on every rank below
            error = exc
    _idle_barrier()
    result, error = COMM.bcast((result, error), root=0)
    if error is not None:
        raise error
    return result


def barrier() -> None:
    """Every rank here; the ones that arrive first wait idle."""
    _idle_barrier()


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


def build_fem_mesh(tmesh) -> object:
    """Build the DOLFINx mesh (and tags) of ``tmesh`` once, for every solver that follows (collective).
    The returned handle is opaque outside planner.fem; the solvers find the same mesh by ``tmesh``."""
    from planner.fem.mesh import fem_mesh

    return fem_mesh(tmesh, COMM)


# ------------------------------------------------------------------ errors under MPI
_ERROR_COMM: MPI.Comm | None = None  # a duplicate of COMM used only to agree on errors
ERROR_AGREEMENT_S = 10.0  # an error on some ranks only: the others are stopped after this long


def start_error_agreement() -> None:
    """Collective, once before the pipeline: the communicator :func:`fail_together` uses."""
    global _ERROR_COMM
    if _ERROR_COMM is None and COMM.size > 1:
        _ERROR_COMM = COMM.Dup()


def fail_together(exit_code: int, lines: list[str]) -> int:
    """Called on a rank that caught an error (``lines``: its one-line messages). If every rank reports
    an error within :data:`ERROR_AGREEMENT_S` (the usual case: the same plan error, or a collective
    solver failure), rank 0 prints the lines and all ranks return ``exit_code``. Otherwise the other
    ranks are stuck in a collective: this rank prints its lines (with its rank) and aborts the job with
    ``exit_code`` (``mpirun --quiet``: no MPI banner)."""
    import sys

    if COMM.size == 1 or _ERROR_COMM is None:
        _print_lines(lines, "")
        return exit_code
    req = _ERROR_COMM.Ibarrier()
    t_end = time.monotonic() + ERROR_AGREEMENT_S
    while time.monotonic() < t_end:
        if req.Test():
            if COMM.rank == 0:
                _print_lines(lines, "")
            return exit_code
        time.sleep(0.02)
    _print_lines(lines, f" (rank {COMM.rank})")
    time.sleep(0.3)  # let mpirun forward the line before the abort
    sys.stderr.flush()
    COMM.Abort(exit_code)
    return exit_code  # not reached


def _print_lines(lines: list[str], where: str) -> None:
    import os

    os.write(2, "".join(f"planner: error{where}: {line}\n" for line in lines).encode())
