"""Complex admittivity σ* = σ + jωε in the tissue scalar-potential problem: a real 2×2 block system.

With σ* = s + j t (s = σ, t = ωε0εr ≥ 0 per cell) and ψ = ψr + j ψi, the complex Galerkin system
K_{σ*} ψ = b_{σ*} (real basis functions, so K_{σ*} = K_s + j K_t with the s- and t-weighted
Laplacians) splits into real and imaginary parts; stored with the second row negated (symmetric
operator, :class:`~planner.fem.implant_eddy.blocks.BlockOperator`):

    [ K_s   −K_t ] [ψr]   [ b_s ]
    [ −K_t  −K_s ] [ψi] = [ −b_t ].

Solver: GMRES, right-preconditioned (the convergence test is the true residual, as the real CG path's)
with PRESB (Axelsson, Neytcheva & Ahmad 2014, Numer. Algorithms 66:811) for the unnegated form
[[K_s, −K_t], [K_t, K_s]]: 𝒫 = [[K_s, −K_t], [K_t, K_s + 2K_t]], applied with two solves by
Q = K_s + K_t, each one BoomerAMG V-cycle (the same AMG setup for both). For K_s SPD and K_t ⪰ 0 the
spectrum of 𝒫⁻¹𝒜 lies in [1/2, 1], whatever the ratio t/s, so the iteration count is close to the real
CG's. Q is made non-singular for the AMG by a small mass shift (δ M_{s+t}, δ ≪ smallest non-zero
Neumann eigenvalue; :func:`planner.fem.scalar_potential._shift`): with the singular Q the V-cycle's
coarse solve polluted the constant mode and MINRES stalled. Measured (P1, fat sphere with a muscle
core, 1.9k dofs; CG on the real problem: 14 iterations): MINRES with diag(AMG(Q), AMG(Q)) 44–65
iterations, with the |σ*|-weighted Q 44–49, PRESB-GMRES 17–26 (t/s from 0 to 10 across the body).

Null space: the constants of the largest connected component in each half (two vectors).
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from mpi4py import MPI
from petsc4py import PETSc

from planner.errors import SolverError
from planner.fem.implant_eddy.blocks import BlockOperator, PresbPC
from planner.fem.petsc_options import prefixed_options


def _nullspace(A: PETSc.Mat, n: int, mask: np.ndarray | None, comm: MPI.Comm) -> PETSc.NullSpace:
    vecs = []
    for half in (0, 1):
        v = A.createVecRight()
        v.set(0.0)
        v.getArray()[half * n:(half + 1) * n] = 1.0 if mask is None else mask.astype(float)
        v.normalize()
        vecs.append(v)
    return PETSc.NullSpace().create(vectors=vecs, comm=comm)


def _amg(Q: PETSc.Mat, comm: MPI.Comm, amg_options: Mapping[str, object]) -> PETSc.KSP:
    inner = PETSc.KSP().create(comm)
    prefix = f"planner_admittivity_amg_{id(inner)}_"
    inner.setOptionsPrefix(prefix)
    inner.setOperators(Q)
    inner.setType("preonly")
    inner.getPC().setType("hypre")
    with prefixed_options(prefix, amg_options):
        inner.setFromOptions()
        inner.setUp()
    return inner


def solve_block(Ks: PETSc.Mat, Kt: PETSc.Mat, Q: PETSc.Mat, bs: PETSc.Vec, bt: PETSc.Vec, xr: PETSc.Vec,
                xi: PETSc.Vec, *, null_mask: np.ndarray | None, amg_options: Mapping[str, object], rtol: float,
                max_it: int) -> int:
    """Solve the block system (module docstring) for (xr, xi) given K_s, K_t, the (non-singular) AMG
    matrix Q ≈ K_s + K_t and the right-hand sides b_s, b_t; the constants (``null_mask`` of the owned
    rows, None = all) are a null space of each half. Returns GMRES iterations; SolverError if not
    converged (options prefix ``planner_admittivity_``, e.g. ``-planner_admittivity_ksp_monitor``)."""
    comm = Ks.getComm().tompi4py()
    n, N = Ks.getLocalSize()[0], Ks.getSize()[0]
    A = PETSc.Mat().createPython(((2 * n, 2 * N), (2 * n, 2 * N)), BlockOperator(Ks, Kt), comm=comm)
    A.setUp()
    inner = _amg(Q, comm, amg_options)
    ctx = PresbPC(inner, Ks)
    ksp = PETSc.KSP().create(comm)
    ksp.setOperators(A)
    ksp.setType("gmres")
    ksp.setGMRESRestart(200)
    ksp.setPCSide(PETSc.PC.Side.RIGHT)
    ksp.setNormType(PETSc.KSP.NormType.UNPRECONDITIONED)
    ksp.setTolerances(rtol=rtol, atol=0.0, max_it=max_it)
    pc = ksp.getPC()
    pc.setType("python")
    pc.setPythonContext(ctx)
    ksp.setOptionsPrefix("planner_admittivity_")
    ksp.setFromOptions()
    x, rhs = A.createVecs()
    rhs.getArray()[:n] = bs.getArray(readonly=True)
    rhs.getArray()[n:] = -bt.getArray(readonly=True)
    x.set(0.0)
    ns = _nullspace(A, n, null_mask, comm)
    A.setNullSpace(ns)
    ns.remove(rhs)
    ksp.solve(rhs, x)
    reason, its = ksp.getConvergedReason(), ksp.getIterationNumber()
    if reason <= 0:
        raise SolverError(f"eddy-current GMRES (complex admittivity, PRESB + BoomerAMG) did not converge: reason "
                          f"{reason} after {its} iterations (rtol = {rtol:g}, max_it = {max_it})")
    xr.getArray()[:] = x.getArray(readonly=True)[:n]
    xi.getArray()[:] = x.getArray(readonly=True)[n:]
    for obj in (ksp, inner, A, x, rhs):  # ksp.destroy() frees the PC and its context (PresbPC.destroy)
        obj.destroy()
    return int(its)


__all__ = ["PresbPC", "solve_block"]  # PresbPC lives in planner.fem.implant_eddy.blocks (re-exported)
