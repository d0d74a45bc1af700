"""Every DOLFINx-0.5-specific call in one place, so an upgrade touches this module only.

Measured stack (DESIGN.md §1): DOLFINx 0.5.2 from Debian, real PETSc with hypre.
"""
from __future__ import annotations

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
MeshTags = dolfinx.mesh.MeshTagsMetaClass  # the MeshTags class (renamed MeshTags in DOLFINx ≥ 0.6)


def create_tet_mesh(comm: MPI.Comm, cells: np.ndarray, points: np.ndarray) -> dolfinx.mesh.Mesh:
    """Linear tetrahedral mesh; pass the whole mesh on rank 0 and empty arrays elsewhere."""
    domain = ufl.Mesh(ufl.VectorElement("Lagrange", ufl.tetrahedron, 1))
    return dolfinx.mesh.create_mesh(comm, cells, points, domain)


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


def function_space(msh, family: str, degree: int, shape: tuple[int, ...] = ()):
    if shape:
        return dolfinx.fem.VectorFunctionSpace(msh, (family, degree), dim=shape[0])
    return dolfinx.fem.FunctionSpace(msh, (family, degree))


def form(a):
    return dolfinx.fem.form(a)


def cell_dofs_P1(V) -> np.ndarray:
    """(num_local_cells, 4) P1 dof indices, in the same local vertex order as the geometry dofmap."""
    return np.asarray(V.dofmap.list.array, dtype=np.int64).reshape(-1, 4)


def geometry_dofmap(msh) -> np.ndarray:
    return np.asarray(msh.geometry.dofmap.array, dtype=np.int64).reshape(-1, 4)


def discrete_gradient(V_lagrange, V_nedelec):
    """Discrete gradient (Lagrange P1 → N1curl) for hypre AMS."""
    from dolfinx.cpp.fem.petsc import discrete_gradient as _dg

    G = _dg(V_lagrange._cpp_object, V_nedelec._cpp_object)
    G.assemble()
    return G


def interpolation_matrix(V_from, V_to):
    """Interpolation matrix V_from → V_to (e.g. vector Lagrange → N1curl, the Nédélec interpolation Π
    that hypre AMS needs for N1curl degree ≥ 2)."""
    from dolfinx.cpp.fem.petsc import interpolation_matrix as _im

    Pi = _im(V_from._cpp_object, V_to._cpp_object)
    Pi.assemble()
    return Pi
