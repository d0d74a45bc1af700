"""DOLFINx 0.5.x (Debian bookworm: UFL 2022.2, basix 0.5, PETSc 3.18) behind the _compat interface.

Use through :mod:`planner.fem._compat` only (the names and meanings are listed there).
"""
from __future__ import annotations

from collections.abc import Sequence

import dolfinx
import dolfinx.fem
import dolfinx.fem.petsc
import dolfinx.mesh
import numpy as np
import ufl
from mpi4py import MPI
from petsc4py import PETSc

from planner.fem._compat import common as _common  # the version-neutral helpers
from planner.fem._compat.common import (  # noqa: F401  (re-exported: the same call on this version)
    DOLFINX_VERSION,
    SCALAR_TYPE,
    apply_lifting,
    assemble_matrix,
    assemble_vector,
    create_matrix,
    exterior_facets,
    facet_midpoints,
    form,
    gmsh_model_to_mesh,
    input_global_vertex_index,
    meshtags,
    num_owned_cells,
    original_cell_index,
    set_bc,
)

Mesh = dolfinx.mesh.Mesh
MeshTags = dolfinx.mesh.MeshTagsMetaClass  # renamed MeshTags in DOLFINx ≥ 0.6
FunctionSpace = dolfinx.fem.FunctionSpace


# ---------------------------------------------------------------- mesh
def create_tet_mesh(comm: MPI.Comm, cells: np.ndarray, points: np.ndarray) -> dolfinx.mesh.Mesh:
    """Linear tetrahedral mesh. Each rank passes its share of the cells and of the points (any split,
    e.g. all on rank 0; input indices count the ranks' shares in rank order). On one rank the graph
    partitioner is skipped (it built the whole dual graph only to put every cell on rank 0)."""
    domain = ufl.Mesh(ufl.VectorElement("Lagrange", ufl.tetrahedron, 1))
    if comm.size == 1:
        return dolfinx.mesh.create_mesh(comm, cells, points, domain, dolfinx.mesh.GhostMode.none, _all_on_rank_0)
    return dolfinx.mesh.create_mesh(comm, cells, points, domain)


def _all_on_rank_0(comm, nparts: int, tdim: int, cells, ghost_mode):
    return dolfinx.cpp.graph.AdjacencyList_int32(np.zeros(cells.num_nodes, dtype=np.int32))


def geometry_dofmap(msh: dolfinx.mesh.Mesh) -> np.ndarray:
    """(num local cells, nodes per cell) geometry node indices (vertices first)."""
    dm = msh.geometry.dofmap
    return np.asarray(dm.array, dtype=np.int64).reshape(-1, dm.links(0).size)


# ---------------------------------------------------------------- spaces, forms, dofs
def function_space(msh: dolfinx.mesh.Mesh, family: str, degree: int, shape: tuple[int, ...] = ()):
    """Function space of a basix family name ("Lagrange", "DG", "N1curl", …); ``shape`` (3,) for a
    vector-valued Lagrange space."""
    if shape:
        return dolfinx.fem.VectorFunctionSpace(msh, (family, degree), dim=shape[0])
    return dolfinx.fem.FunctionSpace(msh, (family, degree))


def cell_dofs(V) -> np.ndarray:
    """(num local cells, dofs per cell) dof indices (blocks, not unrolled)."""
    return np.asarray(V.dofmap.list.array, dtype=np.int64).reshape(-1, V.dofmap.dof_layout.num_dofs)


# ---------------------------------------------------------------- PETSc assembly and vectors
def assemble_matrix_into(A: PETSc.Mat, a, bcs: Sequence = (), diagonal: float = 1.0) -> PETSc.Mat:
    """Add the compiled bilinear form into an existing matrix (zero it first to replace)."""
    return dolfinx.fem.petsc.assemble_matrix(A, a, bcs=list(bcs), diagonal=diagonal)


def petsc_vec(f: dolfinx.fem.Function) -> PETSc.Vec:
    """The PETSc vector sharing ``f``'s owned + ghost values (lives as long as ``f``)."""
    return f.vector


# ---------------------------------------------------------------- interpolation
def interpolate_expression(f: dolfinx.fem.Function, expr, cells: np.ndarray | None = None) -> None:
    """Interpolate the UFL expression into ``f`` on the given local cells (default: all local cells)."""
    e = dolfinx.fem.Expression(expr, f.function_space.element.interpolation_points())
    if cells is None:
        f.interpolate(e)
    else:
        f.interpolate(e, cells=np.asarray(cells, dtype=np.int32))


def discrete_gradient(V_lagrange, V_nedelec) -> PETSc.Mat:
    """Discrete gradient (Lagrange → N1curl) for hypre AMS."""
    from dolfinx.cpp.fem.petsc import discrete_gradient as _dg

    G = _dg(V_lagrange._cpp_object, V_nedelec._cpp_object)
    G.assemble()
    return G


def interpolation_matrix(V_from, V_to) -> PETSc.Mat:
    """Interpolation matrix V_from → V_to (e.g. vector Lagrange → N1curl, the Nédélec interpolation Π
    that hypre AMS needs for N1curl degree ≥ 2)."""
    from dolfinx.cpp.fem.petsc import interpolation_matrix as _im

    Pi = _im(V_from._cpp_object, V_to._cpp_object)
    Pi.assemble()
    return Pi


# ---------------------------------------------------------------- point location
def cell_tree(msh: dolfinx.mesh.Mesh):
    """Bounding-box tree of the local cells (for repeated :func:`locate_cells` calls)."""
    import dolfinx.geometry

    return dolfinx.geometry.BoundingBoxTree(msh, msh.topology.dim)


def locate_cells(msh: dolfinx.mesh.Mesh, points: np.ndarray, tree=None) -> np.ndarray:
    """(n,) local cell containing each point (n, 3), −1 where no local cell does (``tree``: from
    :func:`cell_tree`, built here if None)."""
    import dolfinx.geometry

    return _common.colliding_cells(msh, points, lambda: cell_tree(msh) if tree is None else tree,
                                   dolfinx.geometry.compute_collisions)
