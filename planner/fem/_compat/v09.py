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
MeshTags = dolfinx.mesh.MeshTags
FunctionSpace = dolfinx.fem.FunctionSpace


# ---------------------------------------------------------------- mesh
def create_tet_mesh(comm: MPI.Comm, cells: np.ndarray, points: np.ndarray) -> dolfinx.mesh.Mesh:
    """Linear tetrahedral mesh. Each rank passes its share of the cells and of the points (any split,
    e.g. all on rank 0; input indices count the ranks' shares in rank order). DOLFINx 0.9 skips the
    graph partitioner on one rank by itself."""
    domain = ufl.Mesh(basix.ufl.element("Lagrange", "tetrahedron", 1, shape=(3,)))
    return dolfinx.mesh.create_mesh(comm, cells, points, domain)


def geometry_dofmap(msh: dolfinx.mesh.Mesh) -> np.ndarray:
    """(num local cells, nodes per cell) geometry node indices (vertices first)."""
    return np.asarray(msh.geometry.dofmap, dtype=np.int64)


# ---------------------------------------------------------------- spaces, forms, dofs
def function_space(msh: dolfinx.mesh.Mesh, family: str, degree: int, shape: tuple[int, ...] = ()):
    """Function space of a basix family name ("Lagrange", "DG", "N1curl", …); ``shape`` (3,) for a
    vector-valued Lagrange space."""
    return dolfinx.fem.functionspace(msh, (family, degree, tuple(shape)) if shape else (family, degree))


def cell_dofs(V) -> np.ndarray:
    """(num local cells, dofs per cell) dof indices (blocks, not unrolled)."""
    return np.asarray(V.dofmap.list, dtype=np.int64)


# ---------------------------------------------------------------- PETSc assembly and vectors
def assemble_matrix_into(A: PETSc.Mat, a, bcs: Sequence = (), diagonal: float = 1.0) -> PETSc.Mat:
    """Add the compiled bilinear form into an existing matrix (zero it first to replace)."""
    return dolfinx.fem.petsc.assemble_matrix_mat(A, a, bcs=list(bcs), diagonal=diagonal)


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


# ---------------------------------------------------------------- point location
def cell_tree(msh: dolfinx.mesh.Mesh):
    """Bounding-box tree of the local cells (for repeated :func:`locate_cells` calls)."""
    import dolfinx.geometry

    return dolfinx.geometry.bb_tree(msh, msh.topology.dim)


def locate_cells(msh: dolfinx.mesh.Mesh, points: np.ndarray, tree=None) -> np.ndarray:
    """(n,) local cell containing each point (n, 3), −1 where no local cell does (``tree``: from
    :func:`cell_tree`, built here if None)."""
    import dolfinx.geometry

    return _common.colliding_cells(msh, points, lambda: cell_tree(msh) if tree is None else tree,
                                   dolfinx.geometry.compute_collisions_points)
