"""Low-frequency check: the tissue scalar-potential loss of the metal cells (valid for a ≪ δ)."""
from __future__ import annotations

import math
from collections.abc import Callable

import dolfinx
import dolfinx.fem
import dolfinx.fem.petsc
import dolfinx.mesh
import numpy as np
import ufl
from mpi4py import MPI
from petsc4py import PETSc

from planner.errors import SolverError
from planner.fem import _compat
from planner.fem.implant_eddy.assembly import applied_potential
from planner.fem.implant_eddy.model import METAL_TAG, CellTags


def low_frequency_loss_W(
    msh: dolfinx.mesh.Mesh,
    cell_tags: CellTags,
    *,
    sigma_S_per_m: float,
    frequency_Hz: float,
    A0_peak_at: Callable[[np.ndarray], np.ndarray],
    degree: int = 2,
    rtol: float = 1e-10,
) -> float:
    """Tissue-solver (scalar-potential) loss of the metal cells, valid for a ≪ δ (no reaction field).

    E = −jω(A0 + ∇ψ) with ψ ∈ P_degree on the metal cells solving ∫ σ(∇ψ + A0)·∇φ dx = 0 for all φ
    (n·J = 0 on the metal surface), ψ unique up to a constant (null space given to CG; Jacobi
    preconditioner: hypre BoomerAMG on this P2 null-space system, run after an AMS solve in the same
    process, crashed (segfault/heap corruption, not reproduced without the preceding AMS solve; root
    cause not found) — this check is small, so the plain preconditioner costs little);
    P = ½ σ ω² ∫ |A0 + ∇ψ|² dx. Same model as the tissue eddy-current stage (DESIGN.md §2); used to
    verify that the full solver tends to it when a/δ → 0 (same mesh, curved geometry).
    """
    comm = msh.comm
    omega = 2.0 * math.pi * frequency_Hz
    metal = cell_tags.indices[cell_tags.values == METAL_TAG]
    S = dolfinx.fem.FunctionSpace(msh, ("Lagrange", degree))
    A0 = applied_potential(msh, degree, A0_peak_at)
    dx = ufl.Measure("dx", domain=msh, subdomain_data=cell_tags)
    psi, phi = ufl.TrialFunction(S), ufl.TestFunction(S)
    a = ufl.inner(ufl.grad(psi), ufl.grad(phi)) * dx(METAL_TAG)
    L = -ufl.inner(A0, ufl.grad(phi)) * dx(METAL_TAG)
    # ψ lives on the metal: every dof not touched by a metal cell is fixed to 0
    n_loc = S.dofmap.index_map.size_local + S.dofmap.index_map.num_ghosts
    in_metal = np.zeros(n_loc, dtype=bool)
    cd = S.dofmap.list.array.reshape(-1, S.dofmap.dof_layout.num_dofs)
    in_metal[cd[metal].ravel()] = True
    zero = dolfinx.fem.Function(S)
    bc = dolfinx.fem.dirichletbc(zero, np.flatnonzero(~in_metal).astype(np.int32))
    Amat = dolfinx.fem.petsc.assemble_matrix(_compat.form(a), bcs=[bc])
    Amat.assemble()
    b = dolfinx.fem.petsc.assemble_vector(_compat.form(L))
    b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
    dolfinx.fem.petsc.set_bc(b, [bc])
    ones = Amat.createVecRight()
    n_own = S.dofmap.index_map.size_local
    ones.getArray()[:] = in_metal[:n_own].astype(float)
    ones.normalize()
    ns = PETSc.NullSpace().create(vectors=[ones], comm=comm)
    Amat.setNullSpace(ns)
    ns.remove(b)
    ksp = PETSc.KSP().create(comm)
    ksp.setOperators(Amat)
    ksp.setType("cg")
    ksp.getPC().setType("jacobi")
    ksp.setTolerances(rtol=rtol, max_it=20000)  # Jacobi-CG needs O(h⁻¹) iterations: fine at check size
    u = dolfinx.fem.Function(S)
    ksp.solve(b, u.vector)
    if ksp.getConvergedReason() < 0:
        raise SolverError(f"low-frequency scalar potential: CG reason {ksp.getConvergedReason()}; expected convergence")
    u.x.scatter_forward()
    E = A0 + ufl.grad(u)
    P = 0.5 * sigma_S_per_m * omega**2 * ufl.inner(E, E) * dx(METAL_TAG)
    val = comm.allreduce(dolfinx.fem.assemble_scalar(_compat.form(P)), op=MPI.SUM)
    for o in (Amat, b, ksp, ones):
        o.destroy()
    return float(val)


__all__ = ["low_frequency_loss_W"]
