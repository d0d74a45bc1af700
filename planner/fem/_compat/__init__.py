"""Every DOLFINx-version-specific call, behind one interface: the rest of planner.fem imports this
package only, never a versioned module.

Supported: DOLFINx 0.5.x (Debian bookworm: Python 3.11, numpy 1.24, PETSc 3.18) → :mod:`.v05`, and
DOLFINx 0.9.x (Debian trixie: Python 3.13, numpy 2.2, PETSc 3.22) → :mod:`.v09`. Each versioned module
provides every name in :data:`API` with the same signature and meaning: the calls that differ it
defines itself, the ones that are the same on every supported version it re-exports from
:mod:`.common` (a test checks both modules statically, and the selected one on the installed stack).
A new DOLFINx release gets a new module (copy the nearest one, change what its API changed, and
define there any common name whose call changed); nothing outside this package changes.

What stays outside (identical on 0.5 … 0.10): ``dolfinx.fem.Function``/``Constant``/``dirichletbc``/
``locate_dofs_*``/``assemble_scalar``, ``Function.x.array``/``scatter_forward``, index maps,
``msh.geometry.x``, UFL forms and measures, petsc4py itself.
"""
from __future__ import annotations

import importlib
from types import ModuleType

import dolfinx

#: the interface every versioned module provides
API = (
    "DOLFINX_VERSION", "SCALAR_TYPE", "Mesh", "MeshTags", "FunctionSpace",
    # mesh
    "create_tet_mesh", "gmsh_model_to_mesh", "original_cell_index", "input_global_vertex_index",
    "num_owned_cells", "meshtags", "exterior_facets", "facet_midpoints", "geometry_dofmap",
    # spaces, forms, dofs
    "function_space", "form", "cell_dofs",
    # PETSc assembly and vectors
    "assemble_matrix", "assemble_matrix_into", "create_matrix", "assemble_vector", "apply_lifting",
    "set_bc", "petsc_vec",
    # interpolation
    "interpolate_expression", "discrete_gradient", "interpolation_matrix",
    # point location
    "cell_tree", "locate_cells",
)

SUPPORTED = "0.5.x (Debian bookworm) or 0.9.x (Debian trixie)"


def _version_tuple(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int("".join(c for c in minor if c.isdigit()) or 0)


_MODULES = {(0, 5): "v05", (0, 9): "v09"}  # DOLFINx (major, minor) → module of this package
_VERSION = _version_tuple(dolfinx.__version__)
if _VERSION not in _MODULES:  # one line: the caller (planner doctor, the CLI) reports it
    raise ImportError(f"DOLFINx {dolfinx.__version__} is not supported: expected {SUPPORTED}")
_impl: ModuleType = importlib.import_module(f"{__name__}.{_MODULES[_VERSION]}")

DOLFINX_VERSION = _impl.DOLFINX_VERSION
SCALAR_TYPE = _impl.SCALAR_TYPE
Mesh = _impl.Mesh
MeshTags = _impl.MeshTags
FunctionSpace = _impl.FunctionSpace
create_tet_mesh = _impl.create_tet_mesh
gmsh_model_to_mesh = _impl.gmsh_model_to_mesh
original_cell_index = _impl.original_cell_index
input_global_vertex_index = _impl.input_global_vertex_index
num_owned_cells = _impl.num_owned_cells
meshtags = _impl.meshtags
exterior_facets = _impl.exterior_facets
facet_midpoints = _impl.facet_midpoints
geometry_dofmap = _impl.geometry_dofmap
function_space = _impl.function_space
form = _impl.form
cell_dofs = _impl.cell_dofs
assemble_matrix = _impl.assemble_matrix
assemble_matrix_into = _impl.assemble_matrix_into
create_matrix = _impl.create_matrix
assemble_vector = _impl.assemble_vector
apply_lifting = _impl.apply_lifting
set_bc = _impl.set_bc
petsc_vec = _impl.petsc_vec
interpolate_expression = _impl.interpolate_expression
discrete_gradient = _impl.discrete_gradient
interpolation_matrix = _impl.interpolation_matrix
cell_tree = _impl.cell_tree
locate_cells = _impl.locate_cells


def cell_dofs_P1(V) -> object:
    """(num_local_cells, 4) P1 dof indices, in the local vertex order of the geometry dofmap."""
    return cell_dofs(V)


__all__ = [*API, "API", "SUPPORTED", "cell_dofs_P1"]
