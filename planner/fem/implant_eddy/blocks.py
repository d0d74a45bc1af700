"""Real 2×2 block operator [[K, −M], [−M, −K]], its block-diagonal AMS preconditioner and MINRES."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import dolfinx
import dolfinx.fem
import numpy as np
from mpi4py import MPI
from petsc4py import PETSc

from planner.errors import SolverError
from planner.fem import _compat
from planner.fem.implant_eddy.assembly import ReducedFieldSystem

_REASONS = {v: k for k, v in PETSc.KSP.ConvergedReason.__dict__.items() if isinstance(v, int)}


@contextlib.contextmanager
def _blocks(array: np.ndarray, first: PETSc.Vec, second: PETSc.Vec) -> Iterator[None]:
    """Let Vecs ``first``/``second`` (local size n each) view the halves [u | v] of a block array."""
    n = first.getLocalSize()
    first.placeArray(array[:n])
    second.placeArray(array[n:])
    try:
        yield
    finally:
        first.resetArray()
        second.resetArray()


class BlockOperator:
    """y = [[K, −M], [−M, −K]] x on a vector laid out [u_owned, v_owned] per rank."""

    def __init__(self, K: PETSc.Mat, M: PETSc.Mat) -> None:
        self.K, self.M = K, M
        self.xu, self.xv = K.createVecRight(), K.createVecRight()
        self.yu, self.yv, self.t = K.createVecLeft(), K.createVecLeft(), K.createVecLeft()

    def mult(self, mat: PETSc.Mat, x: PETSc.Vec, y: PETSc.Vec) -> None:
        with _blocks(x.getArray(readonly=True), self.xu, self.xv), _blocks(y.getArray(), self.yu, self.yv):
            self.K.mult(self.xu, self.yu)
            self.M.mult(self.xv, self.t)
            self.yu.axpy(-1.0, self.t)
            self.M.mult(self.xu, self.yv)
            self.K.mult(self.xv, self.t)
            self.yv.axpy(1.0, self.t)
            self.yv.scale(-1.0)


class BlockDiagonalPC:
    """z = diag(P⁻¹, P⁻¹) r, with P⁻¹ one AMS cycle (the same AMS setup serves both blocks)."""

    def __init__(self, inner: PETSc.KSP, P: PETSc.Mat) -> None:
        self.inner = inner
        self.ru, self.rv = P.createVecRight(), P.createVecRight()
        self.zu, self.zv = P.createVecLeft(), P.createVecLeft()

    def apply(self, pc: PETSc.PC, r: PETSc.Vec, z: PETSc.Vec) -> None:
        with _blocks(r.getArray(readonly=True), self.ru, self.rv), _blocks(z.getArray(), self.zu, self.zv):
            self.inner.solve(self.ru, self.zu)
            self.inner.solve(self.rv, self.zv)


def _ams_auxiliary(ipc: PETSc.PC, V: _compat.FunctionSpace, degree: int) -> list:
    """Discrete gradient and (degree 1) edge constant vectors or (degree ≥ 2) the Nédélec interpolation
    of vector Lagrange; returns the PETSc objects to keep alive until the solve is done."""
    msh = V.mesh
    Vl = _compat.function_space(msh, "Lagrange", degree)
    G = _compat.discrete_gradient(Vl, V)
    ipc.setHYPREDiscreteGradient(G)
    keep = [G]
    if degree == 1:
        vecs = []
        for e in np.eye(3):
            f = dolfinx.fem.Function(V)
            f.interpolate(lambda x, e=e: np.tile(e[:, None], (1, x.shape[1])))
            # a copy owning its memory: the PETSc vector only wraps f's array, which is freed with f (the next
            # loop iteration) while hypre AMS still reads the vector at set-up → use-after-free
            vecs.append(_compat.petsc_vec(f).copy())
        ipc.setHYPRESetEdgeConstantVectors(*vecs)
        keep += vecs
    else:
        Vv = _compat.function_space(msh, "Lagrange", degree, (3,))
        Pi = _compat.interpolation_matrix(Vv, V)
        ipc.setHYPRESetInterpolations(msh.topology.dim, None, None, Pi, None)
        keep.append(Pi)
    return keep


def ams_preconditioner(P: PETSc.Mat, V: _compat.FunctionSpace, degree: int, comm: MPI.Comm
                       ) -> tuple[PETSc.KSP, list]:
    """One hypre AMS cycle on P (set up); returns (KSP, PETSc objects to destroy with it)."""
    inner = PETSc.KSP().create(comm)
    inner.setOperators(P)
    inner.setType("preonly")
    ipc = inner.getPC()
    ipc.setType("hypre")
    ipc.setHYPREType("ams")
    keep = _ams_auxiliary(ipc, V, degree)
    # one AMS cycle per application, cycle type 7 (sphere a/δ = 5, 47k dofs: 36 MINRES iterations vs 58 for
    # type 1, 38 for 3, 58 for 5, 90 for 8, > 120 for 4 and 6); the auxiliary-space BoomerAMGs WITHOUT
    # aggressive coarsening (options "coarsen, agg_levels, relax, interp, Pmax" = HMIS, 0, hybrid sym. GS,
    # ext+i, 4; PETSc's default has agg_levels 1): sphere a/δ = 2.35, 33.6k dofs, rtol 1e-6: 14 iterations
    # instead of 25 and 25 % less CPU in set-up + solve (table in benchmarks/README_implants.md);
    # "-implant_ams_<option>" on the PETSc command line overrides
    opts = PETSc.Options()
    prefix = "implant_ams_"
    inner.setOptionsPrefix(prefix)
    defaults = {"pc_hypre_ams_cycle_type": 7, "pc_hypre_ams_tol": 0.0, "pc_hypre_ams_max_iter": 1,
                "pc_hypre_ams_amg_alpha_options": "10,0,6,6,4", "pc_hypre_ams_amg_beta_options": "10,0,6,6,4"}
    added = [k for k in defaults if not opts.hasName(prefix + k)]
    for k in added:
        opts[prefix + k] = defaults[k]
    inner.setFromOptions()
    inner.setUp()
    for k in added:
        opts.delValue(prefix + k)
    return inner, keep


@dataclass(frozen=True)
class BlockMinres:
    """MINRES on the block system, set up with right-hand side [0; b] and zero initial guess."""

    ksp: PETSc.KSP
    A: PETSc.Mat
    x: PETSc.Vec
    rhs: PETSc.Vec

    def destroy(self) -> None:
        for obj in (self.A, self.x, self.rhs, self.ksp):
            obj.destroy()


def block_minres(system: ReducedFieldSystem, inner: PETSc.KSP, comm: MPI.Comm, *, rtol: float,
                 max_iterations: int) -> BlockMinres:
    """MINRES with the python block operator and the block-diagonal AMS preconditioner."""
    n, N = system.n_local, system.n_global
    A = PETSc.Mat().createPython(((2 * n, 2 * N), (2 * n, 2 * N)), BlockOperator(system.K, system.M), comm=comm)
    A.setUp()
    pcctx = BlockDiagonalPC(inner, system.P)
    ksp = PETSc.KSP().create(comm)
    ksp.setOperators(A)
    ksp.setType("minres")
    ksp.setTolerances(rtol=rtol, atol=0.0, max_it=max_iterations)
    pc = ksp.getPC()
    pc.setType("python")
    pc.setPythonContext(pcctx)
    x, rhs = A.createVecs()
    rhs.set(0.0)
    rhs.getArray()[n:] = system.b.getArray(readonly=True)[:n]
    x.set(0.0)
    return BlockMinres(ksp=ksp, A=A, x=x, rhs=rhs)


def check_converged(ksp: PETSc.KSP, *, rtol: float, max_iterations: int) -> None:
    """SolverError with the PETSc reason unless MINRES converged."""
    reason = ksp.getConvergedReason()
    if reason < 0:
        its = ksp.getIterationNumber()
        raise SolverError(
            f"implant eddy-current MINRES did not converge: reason {_REASONS.get(reason, reason)} ({reason}) "
            f"after {its} iterations (rtol {rtol}, max_it {max_iterations}); expected convergence — "
            f"refine the sub-model or raise max_iterations"
        )


__all__ = ["BlockOperator", "BlockDiagonalPC", "BlockMinres", "ams_preconditioner", "block_minres",
           "check_converged"]
