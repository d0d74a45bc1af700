"""TissueMesh (NumPy) ↔ DOLFINx mesh with cell and facet tags, and value transfer in both ways.

Under MPI the TissueMesh exists on every rank (it is small next to the FE system); rank 0 hands all
cells to DOLFINx, which partitions them. Values come back in TissueMesh order on every rank.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import dolfinx.mesh
import numpy as np
from mpi4py import MPI

from planner.artefacts import TissueMesh
from planner.fem import _compat

SKIN_TAG = 1  # exterior facets that are skin (Robin heat loss, n·J = 0)
CUT_TAG = 2  # exterior facets on a cut plane (image bounds, crop box): no skin condition


@dataclass
class FemMesh:
    """A DOLFINx mesh built from a TissueMesh, with maps back to TissueMesh order."""

    mesh: dolfinx.mesh.Mesh
    cell_tags: _compat.MeshTags  # region tags on cells
    facet_tags: _compat.MeshTags  # MeshTags on the exterior boundary: SKIN_TAG, or CUT_TAG on cut planes
    tissue_mesh: TissueMesh
    cell_input_index: np.ndarray  # (num local cells incl. ghosts,) → TissueMesh cell index
    num_owned_cells: int
    _dof_vertex: list = field(default_factory=list, repr=False)  # [(P1 space, p1_dof_to_vertex)], newest first

    @property
    def comm(self) -> MPI.Comm:
        return self.mesh.comm

    def gather_cell_values(self, local_owned: np.ndarray) -> np.ndarray:
        """Per-owned-cell values (first axis) → full array in TissueMesh cell order on all ranks."""
        local_owned = np.ascontiguousarray(local_owned[: self.num_owned_cells])
        idx = self.cell_input_index[: self.num_owned_cells]
        return _allgather_by_index(self.comm, idx, local_owned, self.tissue_mesh.num_cells)

    def local_cell_values(self, values: np.ndarray) -> np.ndarray:
        """Full TissueMesh-ordered per-cell array → local cells (owned + ghost) of this rank."""
        return np.asarray(values)[self.cell_input_index]

    def p1_dof_to_vertex(self, V) -> tuple[np.ndarray, np.ndarray]:
        """For a P1 space on this mesh: (local dof indices, TissueMesh vertex index of each); kept per
        space (the Pennes recorder asks for it at every snapshot: 0.35 s each at 0.5 M dofs)."""
        for space, hit in self._dof_vertex:
            if space is V:
                return hit
        hit = self._p1_dof_to_vertex(V)
        for arr in hit:
            arr.flags.writeable = False  # shared by every caller
        self._dof_vertex.insert(0, (V, hit))
        del self._dof_vertex[4:]
        return hit

    def _p1_dof_to_vertex(self, V) -> tuple[np.ndarray, np.ndarray]:
        dofs = _compat.cell_dofs(V)
        nodes = _compat.geometry_dofmap(self.mesh)
        gidx = _compat.input_global_vertex_index(self.mesh)
        vert = np.empty(V.dofmap.index_map.size_local + V.dofmap.index_map.num_ghosts, dtype=np.int64)
        vert[dofs.ravel()] = gidx[nodes.ravel()]
        return np.arange(vert.size), vert

    def gather_vertex_values(self, V, local_values: np.ndarray) -> np.ndarray:
        """P1 dof values (owned first) → array in TissueMesh vertex order on all ranks."""
        n_owned = V.dofmap.index_map.size_local
        _, vert = self.p1_dof_to_vertex(V)
        return _allgather_by_index(self.comm, vert[:n_owned], np.asarray(local_values)[:n_owned],
                                   self.tissue_mesh.num_vertices)

    def local_vertex_values(self, V, values: np.ndarray) -> np.ndarray:
        """TissueMesh-ordered vertex array → P1 dof array of this rank (owned + ghosts)."""
        _, vert = self.p1_dof_to_vertex(V)
        return np.asarray(values)[vert]


def _allgather_by_index(comm: MPI.Comm, idx: np.ndarray, vals: np.ndarray, n: int) -> np.ndarray:
    if comm.size == 1:
        out = np.empty((n,) + vals.shape[1:], dtype=vals.dtype)
        out[idx] = vals
        return out
    all_idx = comm.allgather(idx)
    all_vals = comm.allgather(vals)
    out = np.empty((n,) + vals.shape[1:], dtype=vals.dtype)
    for i, v in zip(all_idx, all_vals):
        out[i] = v
    return out


# The DOLFINx meshes of the TissueMeshes in use, keyed by id and validated by a weak reference (nothing
# is kept alive or pickled): the field and thermal stages, the settings search and frequency sweeps all
# solve on the one DOLFINx mesh (and tags) of a TissueMesh, built once (DESIGN.md §3).
_FEM_MESH_CACHE: dict[int, tuple] = {}
_FEM_MESH_CACHE_SIZE = 2  # the patient mesh and the conducting sub-mesh of the field stage


def fem_mesh(tmesh: TissueMesh, comm: MPI.Comm = MPI.COMM_WORLD) -> FemMesh:
    """The DOLFINx mesh of ``tmesh`` (collective): built on first use, then shared by every solver."""
    key = id(tmesh)
    hit = _FEM_MESH_CACHE.get(key)
    if hit is not None and hit[0]() is tmesh and hit[1] is comm:
        return hit[2]
    fm = to_dolfinx(tmesh, comm)
    for k in [k for k, v in _FEM_MESH_CACHE.items() if v[0]() is None]:
        del _FEM_MESH_CACHE[k]
    while len(_FEM_MESH_CACHE) >= _FEM_MESH_CACHE_SIZE:
        _FEM_MESH_CACHE.pop(next(iter(_FEM_MESH_CACHE)))
    _FEM_MESH_CACHE[key] = (weakref.ref(tmesh), comm, fm)
    return fm


def to_dolfinx(tmesh: TissueMesh, comm: MPI.Comm = MPI.COMM_WORLD) -> FemMesh:
    """Build the distributed DOLFINx mesh with region cell tags and skin facet tags (a new one on
    every call; solvers use :func:`fem_mesh`). Every rank hands DOLFINx its contiguous share of the
    cells and points (the TissueMesh is on every rank), so that the dual graph and the partitioner
    run in parallel instead of on rank 0 alone."""
    cells = _share(tmesh.cells, comm).astype(np.int64)
    pts = _share(tmesh.points_m, comm).astype(np.float64)
    msh = _compat.create_tet_mesh(comm, cells, pts)
    tdim = msh.topology.dim
    n_local = msh.topology.index_map(tdim).size_local + msh.topology.index_map(tdim).num_ghosts
    orig = _compat.original_cell_index(msh)[:n_local]
    cell_tags = _compat.meshtags(msh, tdim, np.arange(n_local, dtype=np.int32), tmesh.cell_region[orig])
    ext = _compat.exterior_facets(msh)
    values = np.full(ext.size, SKIN_TAG, np.int32)
    values[_on_cut_facets(msh, ext, tmesh)] = CUT_TAG
    facet_tags = _compat.meshtags(msh, tdim - 1, ext, values)
    return FemMesh(msh, cell_tags, facet_tags, tmesh, orig, _compat.num_owned_cells(msh))


def _share(a: np.ndarray, comm: MPI.Comm) -> np.ndarray:
    """This rank's contiguous share of the rows of ``a`` (rank order = row order)."""
    n = a.shape[0]
    return a[n * comm.rank // comm.size: n * (comm.rank + 1) // comm.size]


def _on_cut_facets(msh, ext: np.ndarray, tmesh: TissueMesh) -> np.ndarray:
    """Mask over the exterior facets ``ext`` of those that are TissueMesh cut facets (matched by
    centroid: facets of a conforming mesh have distinct centroids; tolerance 1e-6 of the edge length)."""
    if tmesh.cut_facets.shape[0] == 0 or ext.size == 0:
        return np.zeros(ext.size, bool)
    from scipy.spatial import cKDTree

    tri = tmesh.points_m[tmesh.cut_facets]
    tol = 1e-6 * float(np.linalg.norm(tri[:, 1] - tri[:, 0], axis=1).min())
    mid = _compat.facet_midpoints(msh, ext)
    dist, _ = cKDTree(tri.mean(axis=1)).query(mid, distance_upper_bound=tol)
    return np.isfinite(dist)


def region_volumes_m3(fm: FemMesh) -> dict[int, float]:
    """Volume of each region by assembling 1·dx over tagged cells, summed over ranks."""
    import dolfinx.fem
    import ufl

    dx = ufl.Measure("dx", domain=fm.mesh, subdomain_data=fm.cell_tags)
    one = dolfinx.fem.Constant(fm.mesh, _compat.SCALAR_TYPE(1.0))
    out = {}
    for reg in fm.tissue_mesh.regions:
        local = dolfinx.fem.assemble_scalar(_compat.form(one * dx(reg.tag)))
        out[reg.tag] = float(fm.comm.allreduce(local, op=MPI.SUM))
    return out
