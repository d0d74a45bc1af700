"""The part of the _compat interface that is the same call on every supported DOLFINx (0.5 and 0.9).

The versioned modules (:mod:`.v05`, :mod:`.v09`) re-export these names; a release whose API changes
one of them (0.10 moves ``gmshio`` to ``dolfinx.io.gmsh``, for example) defines its own in its module
instead of importing it from here. Use through :mod:`planner.fem._compat` only.
"""
from __future__ import annotations

from collections.abc import Sequence

import dolfinx
import dolfinx.fem
import dolfinx.fem.petsc
import dolfinx.mesh
import numpy as np
from mpi4py import MPI
from petsc4py import PETSc

DOLFINX_VERSION = dolfinx.__version__
SCALAR_TYPE = PETSc.ScalarType


# ---------------------------------------------------------------- mesh
def gmsh_model_to_mesh(model, comm: MPI.Comm, rank: int, gdim: int = 3):
    """(mesh, cell tags) of the gmsh model live on ``rank`` (``model`` is None on the other ranks)."""
    from dolfinx.io import gmshio

    msh, cell_tags, _ = gmshio.model_to_mesh(model, comm, rank, gdim=gdim)
    return msh, cell_tags


def original_cell_index(msh: dolfinx.mesh.Mesh) -> np.ndarray:
    """Input (global) index of each local cell, owned cells first."""
    return np.asarray(msh.topology.original_cell_index, dtype=np.int64)


def input_global_vertex_index(msh: dolfinx.mesh.Mesh) -> np.ndarray:
    """Input (global) index of each local geometry node."""
    return np.asarray(msh.geometry.input_global_indices, dtype=np.int64)


def num_owned_cells(msh: dolfinx.mesh.Mesh) -> int:
    return msh.topology.index_map(msh.topology.dim).size_local


def meshtags(msh: dolfinx.mesh.Mesh, dim: int, entities: np.ndarray, values: np.ndarray):
    order = np.argsort(entities)
    return dolfinx.mesh.meshtags(msh, dim, entities[order].astype(np.int32), values[order].astype(np.int32))


def exterior_facets(msh: dolfinx.mesh.Mesh) -> np.ndarray:
    tdim = msh.topology.dim
    msh.topology.create_connectivity(tdim - 1, tdim)
    return np.asarray(dolfinx.mesh.exterior_facet_indices(msh.topology), dtype=np.int32)


def facet_midpoints(msh: dolfinx.mesh.Mesh, facets: np.ndarray) -> np.ndarray:
    """(n, 3) midpoints (vertex means) of the given local facets."""
    return np.asarray(dolfinx.mesh.compute_midpoints(msh, msh.topology.dim - 1, facets.astype(np.int32)))


# ---------------------------------------------------------------- forms
def form(a):
    return dolfinx.fem.form(a)


# ---------------------------------------------------------------- PETSc assembly and vectors
def assemble_matrix(a, bcs: Sequence = (), diagonal: float = 1.0) -> PETSc.Mat:
    """New matrix of the compiled bilinear form (not yet ``assemble()``d)."""
    return dolfinx.fem.petsc.assemble_matrix(a, bcs=list(bcs), diagonal=diagonal)


def create_matrix(a) -> PETSc.Mat:
    return dolfinx.fem.petsc.create_matrix(a)


def assemble_vector(L) -> PETSc.Vec:
    """New vector of the compiled linear form (ghost contributions not yet accumulated)."""
    return dolfinx.fem.petsc.assemble_vector(L)


def apply_lifting(b: PETSc.Vec, a: Sequence, bcs: Sequence[Sequence]) -> None:
    dolfinx.fem.petsc.apply_lifting(b, list(a), [list(x) for x in bcs])


def set_bc(b: PETSc.Vec, bcs: Sequence) -> None:
    dolfinx.fem.petsc.set_bc(b, list(bcs))


COMMON = ("DOLFINX_VERSION", "SCALAR_TYPE", "gmsh_model_to_mesh", "original_cell_index", "input_global_vertex_index",
          "num_owned_cells", "meshtags", "exterior_facets", "facet_midpoints", "form", "assemble_matrix", "create_matrix",
          "assemble_vector", "apply_lifting", "set_bc")


# ---------------------------------------------------------------- point location
def colliding_cells(msh: dolfinx.mesh.Mesh, points: np.ndarray, tree_of, collisions) -> np.ndarray:
    """(n,) local cell containing each point (n, 3), −1 where no local cell does: the version-neutral
    part of ``locate_cells``. ``tree_of()`` gives the bounding-box tree (called only if there are
    points), ``collisions(tree, pts)`` the candidate cells (the two calls that differ by version)."""
    import dolfinx.geometry

    pts = np.ascontiguousarray(np.asarray(points, dtype=np.float64).reshape(-1, 3))
    out = np.full(pts.shape[0], -1, dtype=np.int32)
    if pts.shape[0] == 0:
        return out
    cand = collisions(tree_of(), pts)
    hits = dolfinx.geometry.compute_colliding_cells(msh, cand, pts)
    off = np.asarray(hits.offsets)
    has = off[1:] > off[:-1]
    out[has] = np.asarray(hits.array)[off[:-1][has]]
    return out
