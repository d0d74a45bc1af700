"""gmsh sub-model (built on rank 0 by the caller's context manager) → distributed DOLFINx mesh in metres."""
from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from types import ModuleType
from typing import cast

import dolfinx.mesh
from mpi4py import MPI

from planner.errors import InputError, MeshError
from planner.fem.implant_eddy.model import CellTags, InfoT
from planner.units import MM

OpenModel = Callable[[], AbstractContextManager[tuple[ModuleType, InfoT]]]


def mesh_submodel(
    open_model: OpenModel[InfoT], comm: MPI.Comm = MPI.COMM_WORLD
) -> tuple[dolfinx.mesh.Mesh, CellTags, InfoT]:
    """Open the gmsh model on rank 0 (``open_model()`` yields (gmsh, info) while it is live), read it
    with ``gmshio.model_to_mesh`` and scale millimetres to metres. Returns (mesh, cell_tags, info) on
    every rank. MeshError / InputError raised while building the model are raised on every rank.
    """
    from dolfinx.io import gmshio

    info = None
    if comm.rank == 0:
        with contextlib.ExitStack() as stack:
            err: MeshError | InputError | None = None
            try:
                gm, info = stack.enter_context(open_model())
            except (MeshError, InputError) as exc:
                err = exc
            comm.bcast(None if err is None else (type(err), str(err)), root=0)
            if err is not None:
                raise err
            msh, ct, _ = gmshio.model_to_mesh(gm.model, comm, 0, gdim=3)
    else:
        remote = comm.bcast(None, root=0)
        if remote is not None:
            raise remote[0](remote[1])
        msh, ct, _ = gmshio.model_to_mesh(None, comm, 0, gdim=3)
    info = comm.bcast(info, root=0)
    msh.geometry.x[:] *= MM
    return msh, ct, cast(InfoT, info)


__all__ = ["mesh_submodel", "OpenModel"]
