"""Post-processing of the reduced-field solution: loss, metal volume, peak |J|, per-cell losses."""
from __future__ import annotations

from dataclasses import dataclass

import dolfinx
import dolfinx.fem
import dolfinx.fem.petsc
import dolfinx.mesh
import numpy as np
import ufl
from mpi4py import MPI
from petsc4py import PETSc

from planner.fem import _compat
from planner.fem.implant_eddy.model import METAL_TAG, CellTags
from planner.units import MU0_H_per_m


@dataclass(frozen=True)
class MetalLosses:
    """Loss figures of the metal (SI; per-cell arrays gathered on every rank, empty if not collected)."""

    loss_W: float
    fe_volume_m3: float
    peak_J_A_per_m2: float
    cell_centroids_m: np.ndarray  # (n, 3)
    cell_loss_W: np.ndarray  # (n,)


def metal_losses(cell_tags: CellTags, dx: ufl.Measure, Ar: ufl.core.expr.Expr,
                 vi: dolfinx.fem.Function, kappa: dolfinx.fem.Constant, *, omega_rad_per_s: float,
                 sigma_S_per_m: float, collect_cells: bool) -> MetalLosses:
    """P = ½ (ω/μ0) ∫ κ [Ar² + v²] dx over the metal (Ar = A0 + u), its volume, peak |J| and cell losses."""
    msh = vi.function_space.mesh
    comm = msh.comm
    q = 0.5 * (omega_rad_per_s / MU0_H_per_m) * kappa * (ufl.inner(Ar, Ar) + ufl.inner(vi, vi))  # W/m³
    loss = comm.allreduce(dolfinx.fem.assemble_scalar(_compat.form(q * dx(METAL_TAG))), op=MPI.SUM)
    one = dolfinx.fem.Constant(msh, PETSc.ScalarType(1.0))
    vol = comm.allreduce(dolfinx.fem.assemble_scalar(_compat.form(one * dx(METAL_TAG))), op=MPI.SUM)
    metal_cells = cell_tags.indices[cell_tags.values == METAL_TAG]
    peak_J = _peak_J(msh, metal_cells, Ar, vi, sigma_S_per_m * omega_rad_per_s)
    cent, cell_loss = np.zeros((0, 3)), np.zeros(0)
    if collect_cells:
        cent, cell_loss = _cell_losses(msh, metal_cells, q, dx)
    return MetalLosses(loss_W=float(loss), fe_volume_m3=float(vol), peak_J_A_per_m2=float(peak_J),
                       cell_centroids_m=cent, cell_loss_W=cell_loss)


def _peak_J(msh: dolfinx.mesh.Mesh, metal_cells: np.ndarray, Ar: ufl.core.expr.Expr, vi: dolfinx.fem.Function,
            sigma_omega: float) -> float:
    """Peak |J| = σ ω |A0 + A_r| at degree-2 Lagrange nodes of the metal cells (vertices and edge midpoints:
    the surface)."""
    W = dolfinx.fem.FunctionSpace(msh, ("DG", 2))
    Jmag = dolfinx.fem.Function(W)
    expr = dolfinx.fem.Expression(sigma_omega * ufl.sqrt(ufl.inner(Ar, Ar) + ufl.inner(vi, vi)),
                                  W.element.interpolation_points())
    Jmag.interpolate(expr, cells=metal_cells)
    cd = W.dofmap.list.array.reshape(-1, W.dofmap.dof_layout.num_dofs)
    local_max = float(Jmag.x.array[cd[metal_cells]].max()) if metal_cells.size else 0.0
    return msh.comm.allreduce(local_max, op=MPI.MAX)


def _cell_losses(msh: dolfinx.mesh.Mesh, metal_cells: np.ndarray, q: ufl.core.expr.Expr,
                 dx: ufl.Measure) -> tuple[np.ndarray, np.ndarray]:
    """Per-cell losses (W) and centroids (m) of the owned metal cells, gathered on every rank."""
    comm = msh.comm
    tdim = msh.topology.dim
    W0 = dolfinx.fem.FunctionSpace(msh, ("DG", 0))
    w0 = ufl.TestFunction(W0)
    bq = dolfinx.fem.petsc.assemble_vector(_compat.form(q * w0 * dx(METAL_TAG)))
    n_owned = msh.topology.index_map(tdim).size_local
    own_metal = metal_cells[metal_cells < n_owned]
    dofs0 = W0.dofmap.list.array[own_metal]
    loc_loss = bq.getArray(readonly=True)[dofs0].copy()
    gdm = msh.geometry.dofmap.array.reshape(-1, msh.geometry.dofmap.links(0).size)
    loc_cent = msh.geometry.x[gdm[own_metal, :4]].mean(axis=1) if own_metal.size else np.zeros((0, 3))
    cent = np.concatenate(comm.allgather(loc_cent), axis=0) if comm.size > 1 else loc_cent
    cell_loss = np.concatenate(comm.allgather(loc_loss)) if comm.size > 1 else loc_loss
    bq.destroy()
    return cent, cell_loss


__all__ = ["MetalLosses", "metal_losses"]
