"""DOLFINx 0.9.x (Debian trixie: UFL 2024.2, basix 0.9, PETSc 3.22, numpy 2) behind the _compat interface.

Changes from 0.5 (see :mod:`.v05`): elements from ``basix.ufl`` (``ufl.VectorElement`` is gone),
``functionspace(msh, (family, degree, shape))``, ``MeshTags`` class, 2-D dofmap arrays,
``Function.x.petsc_vec``, ``interpolate(..., cells0=)``, discrete gradient / interpolation matrix in
``dolfinx.fem.petsc``.

Use through :mod:`planner.fem._compat` only (the names and meanings are listed there).
"""
from __future__ import annotations

from collections.abc import Sequence

import basix.ufl
import dolfinx
import dolfinx.fem
import dolfinx.fem.petsc
import dolfinx.mesh
import numpy as np
import ufl
from mpi4py import MPI
from petsc4py import PETSc

DOLFINX_VERSION = dolfinx.__version__
SCALAR_TYPE = PETSc.ScalarType
Mesh = dolfinx.mesh.Mesh
MeshTags = dolfinx.mesh.MeshTags
FunctionSpace = dolfinx.fem.FunctionSpace


# ---------------------------------------------------------------- mesh
def create_tet_mesh(comm: MPI.Comm, cells: np.ndarray, points: np.ndarray) -> dolfinx.mesh.Mesh:
    """Linear tetrahedral mesh. Each rank passes its share of the cells and of the points (any split,
    e.g. all on rank 0; input indices count the ranks' shares in rank order). DOLFINx 0.9 skips the
    graph partitioner on one rank by itself."""
    domain = ufl.Mesh(basix.ufl.element("Lagrange", "tetrahedron", 1, shape=(3,)))
    return dolfinx.mesh.create_mesh(comm, cells, points, domain)


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


def geometry_dofmap(msh: dolfinx.mesh.Mesh) -> np.ndarray:
    """(num local cells, nodes per cell) geometry node indices (vertices first)."""
    return np.asarray(msh.geometry.dofmap, dtype=np.int64)


# ---------------------------------------------------------------- spaces, forms, dofs
def function_space(msh: dolfinx.mesh.Mesh, family: str, degree: int, shape: tuple[int, ...] = ()):
    """Function space of a basix family name ("Lagrange", "DG", "N1curl", …); ``shape`` (3,) for a
    vector-valued Lagrange space."""
    return dolfinx.fem.functionspace(msh, (family, degree, tuple(shape)) if shape else (family, degree))


def form(a):
    return dolfinx.fem.form(a)


def cell_dofs(V) -> np.ndarray:
    """(num local cells, dofs per cell) dof indices (blocks, not unrolled)."""
    return np.asarray(V.dofmap.list, dtype=np.int64)


# ---------------------------------------------------------------- PETSc assembly and vectors
def assemble_matrix(a, bcs: Sequence = (), diagonal: float = 1.0) -> PETSc.Mat:
    """New matrix of the compiled bilinear form (not yet ``assemble()``d)."""
    return dolfinx.fem.petsc.assemble_matrix(a, bcs=list(bcs), diagonal=diagonal)


def assemble_matrix_into(A: PETSc.Mat, a, bcs: Sequence = (), diagonal: float = 1.0) -> PETSc.Mat:
    """Add the compiled bilinear form into an existing matrix (zero it first to replace)."""
    return dolfinx.fem.petsc.assemble_matrix_mat(A, a, bcs=list(bcs), diagonal=diagonal)


def create_matrix(a) -> PETSc.Mat:
    return dolfinx.fem.petsc.create_matrix(a)


def assemble_vector(L) -> PETSc.Vec:
    """New vector of the compiled linear form (ghost contributions not yet accumulated)."""
    return dolfinx.fem.petsc.assemble_vector(L)


def apply_lifting(b: PETSc.Vec, a: Sequence, bcs: Sequence[Sequence]) -> None:
    dolfinx.fem.petsc.apply_lifting(b, list(a), [list(x) for x in bcs])


def set_bc(b: PETSc.Vec, bcs: Sequence) -> None:
    dolfinx.fem.petsc.set_bc(b, list(bcs))


def petsc_vec(f: dolfinx.fem.Function) -> PETSc.Vec:
    """The PETSc vector sharing ``f``'s owned + ghost values (lives as long as ``f``)."""
    return f.x.petsc_vec


# ---------------------------------------------------------------- interpolation
def interpolate_expression(f: dolfinx.fem.Function, expr, cells: np.ndarray | None = None) -> None:
    """Interpolate the UFL expression into ``f`` on the given local cells (default: all local cells)."""
    e = dolfinx.fem.Expression(expr, f.function_space.element.interpolation_points())
    if cells is None:
        f.interpolate(e)
    else:
        f.interpolate(e, cells0=np.asarray(cells, dtype=np.int32))


def discrete_gradient(V_lagrange, V_nedelec) -> PETSc.Mat:
    """Discrete gradient (Lagrange → N1curl) for hypre AMS."""
    G = dolfinx.fem.petsc.discrete_gradient(V_lagrange, V_nedelec)
    G.assemble()
    return G


def interpolation_matrix(V_from, V_to) -> PETSc.Mat:
    """Interpolation matrix V_from → V_to (e.g. vector Lagrange → N1curl, the Nédélec interpolation Π
    that hypre AMS needs for N1curl degree ≥ 2)."""
    Pi = dolfinx.fem.petsc.interpolation_matrix(V_from, V_to)
    Pi.assemble()
    return Pi
