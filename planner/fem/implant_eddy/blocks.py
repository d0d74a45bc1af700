"""Real 2×2 block operator [[K, −M], [−M, −K]], its AMS-based preconditioners and Krylov solvers.

Two iterations, both with hypre AMS cycles on P = K + κ_P M (SPD):

* ``"presb"`` (default): GMRES, left-preconditioned (test on the preconditioned residual), with
  PRESB (Axelsson, Neytcheva & Ahmad 2014) for the complex-symmetric K + jM: 𝒫 = [[K, −M], [M, K + 2M]], two solves
  with K + M ≈ one AMS cycle on P each; for K ⪰ 0, M ⪰ 0 the spectrum of 𝒫⁻¹𝒜 lies in [1/2, 1]
  whatever κh², so GMRES needs few iterations, flat in a/δ (issue-17 sphere: 7 iterations = 16 AMS
  cycles against 8 MINRES iterations = 18 cycles for the block-diagonal one; a/δ = 0.3 … 10: 6–7);
* ``"minres"``: MINRES with the block-diagonal diag(P⁻¹, P⁻¹) (the former default).

For N1curl degree 2 AMS is given the scalar "alpha Poisson" matrix of the vector-Lagrange auxiliary
space (:func:`.assembly.alpha_poisson_matrix`) instead of building Πᵀ P Π itself.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import dolfinx
import dolfinx.fem
import numpy as np
from mpi4py import MPI
from petsc4py import PETSc

from planner.errors import InputError, SolverError, bad_value
from planner.fem import _compat
from planner.fem.implant_eddy.assembly import ReducedFieldSystem, alpha_poisson_matrix
from planner.fem.implant_eddy.model import KRYLOV
from planner.fem.petsc_options import prefixed_options

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


class PresbPC:
    """z = 𝒫⁻¹ S r for the block system [[K_s, −K_t], [−K_t, −K_s]] (the second row of
    [[K_s, −K_t], [K_t, K_s]] negated; S = diag(I, −I) undoes that), r = [f; −g], with the PRESB
    preconditioner 𝒫 = [[K_s, −K_t], [K_t, K_s + 2K_t]] applied by two solves with Q ≈ K_s + K_t:
    h = Q⁻¹(f + g), y = Q⁻¹(K_s h − f), x = h − y. Shared by the implant solver and the tissue
    admittivity solve (:mod:`planner.fem.admittivity`)."""

    def __init__(self, inner: PETSc.KSP, Ks: PETSc.Mat) -> None:
        self.inner, self.Ks = inner, Ks
        self.f, self.g = Ks.createVecRight(), Ks.createVecRight()
        self.x, self.y = Ks.createVecLeft(), Ks.createVecLeft()
        self.s, self.h = Ks.createVecLeft(), Ks.createVecLeft()

    def apply(self, pc: PETSc.PC, r: PETSc.Vec, z: PETSc.Vec) -> None:
        with _blocks(r.getArray(readonly=True), self.f, self.g), _blocks(z.getArray(), self.x, self.y):
            self.s.waxpy(-1.0, self.g, self.f)  # f + g (the second half of r holds −g)
            self.inner.solve(self.s, self.h)
            self.Ks.mult(self.h, self.s)
            self.s.axpy(-1.0, self.f)
            self.inner.solve(self.s, self.y)
            self.x.waxpy(-1.0, self.y, self.h)

    def destroy(self, pc: PETSc.PC | None = None) -> None:
        """Called by PETSc when the PC is destroyed (python-context protocol)."""
        for v in (self.f, self.g, self.x, self.y, self.s, self.h):
            v.destroy()


def _ams_auxiliary(ipc: PETSc.PC, system: ReducedFieldSystem, degree: int, alpha_poisson: bool) -> list:
    """Discrete gradient and (degree 1) edge constant vectors or (degree ≥ 2) the Nédélec interpolation
    of vector Lagrange and, if ``alpha_poisson``, the scalar alpha Poisson matrix; returns the PETSc
    objects to keep alive until the solve is done."""
    V = system.V
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
        if alpha_poisson:  # the scalar Lagrange space numbers its nodes as the vector one (checked in tests)
            A_alpha = alpha_poisson_matrix(Vl, system)
            ipc.setHYPRESetAlphaPoissonMatrix(A_alpha)
            keep.append(A_alpha)
    return keep


def ams_preconditioner(system: ReducedFieldSystem, degree: int, comm: MPI.Comm, *, alpha_poisson: bool = True,
                       cycle_type: int = 7) -> tuple[PETSc.KSP, list]:
    """One hypre AMS cycle on ``system.P`` (set up); returns (KSP, PETSc objects to destroy with it).
    ``cycle_type`` 7 ("0201020") for MINRES, 3 ("02120": half the fine-level smoothing) for PRESB."""
    inner = PETSc.KSP().create(comm)
    inner.setOperators(system.P)
    inner.setType("preonly")
    ipc = inner.getPC()
    ipc.setType("hypre")
    ipc.setHYPREType("ams")
    opts = PETSc.Options()
    prefix = "implant_ams_"
    # "-implant_ams_alpha_poisson 0" on the PETSc command line: hypre builds Πᵀ P Π itself (the former way)
    alpha_poisson = alpha_poisson and opts.getBool(prefix + "alpha_poisson", True)
    keep = _ams_auxiliary(ipc, system, degree, alpha_poisson)
    # one AMS cycle per application, cycle type 7 (sphere a/δ = 5, 47k dofs: 36 MINRES iterations vs 58 for
    # type 1, 38 for 3, 58 for 5, 90 for 8, > 120 for 4 and 6); the auxiliary-space BoomerAMGs WITHOUT
    # aggressive coarsening (options "coarsen, agg_levels, relax, interp, Pmax" = HMIS, 0, hybrid sym. GS,
    # ext+i, 4; PETSc's default has agg_levels 1): sphere a/δ = 2.35, 33.6k dofs, rtol 1e-6: 14 iterations
    # instead of 25 and 25 % less CPU in set-up + solve (table in benchmarks/README_implants.md); with PRESB,
    # cycle type 3 needs the same iterations as 7 at ~10 % less solve time (33.6k and 144k dofs);
    # "-implant_ams_<option>" on the PETSc command line overrides
    inner.setOptionsPrefix(prefix)
    defaults = {"pc_hypre_ams_cycle_type": cycle_type, "pc_hypre_ams_tol": 0.0, "pc_hypre_ams_max_iter": 1,
                "pc_hypre_ams_amg_alpha_options": "10,0,6,6,4", "pc_hypre_ams_amg_beta_options": "10,0,6,6,4"}
    with prefixed_options(prefix, defaults):
        inner.setFromOptions()
        inner.setUp()
    return inner, keep


@dataclass(frozen=True)
class BlockKrylov:
    """A Krylov solver on the block system, set up with right-hand side [0; b] and zero initial guess."""

    ksp: PETSc.KSP
    A: PETSc.Mat
    x: PETSc.Vec
    rhs: PETSc.Vec

    def destroy(self) -> None:
        for obj in (self.A, self.x, self.rhs, self.ksp):
            obj.destroy()


def block_krylov(system: ReducedFieldSystem, inner: PETSc.KSP, comm: MPI.Comm, *, method: str, rtol: float,
                 max_iterations: int) -> BlockKrylov:
    """GMRES + PRESB (``method`` "presb") or MINRES + block-diagonal AMS ("minres") on the python block
    operator; ``inner`` is the AMS cycle on P. Options prefix ``implant_`` (e.g. ``-implant_ksp_monitor``)."""
    if method not in KRYLOV:
        raise InputError(bad_value("krylov", method, f"one of {', '.join(KRYLOV)}"))
    n, N = system.n_local, system.n_global
    A = PETSc.Mat().createPython(((2 * n, 2 * N), (2 * n, 2 * N)), BlockOperator(system.K, system.M), comm=comm)
    A.setUp()
    ksp = PETSc.KSP().create(comm)
    ksp.setOperators(A)
    pc = ksp.getPC()
    pc.setType("python")
    if method == "presb":
        # left-preconditioned: rtol bounds the PRESB-preconditioned residual, the same kind of norm as
        # MINRES's, so rtol 1e-4 keeps the loss within 1e-4 of the direct solve (pelvis-size hip stem,
        # 154k dofs: +9e-5; the true-residual test at rtol 1e-4 stopped at +6.7e-4, MINRES at +3.2e-4)
        ksp.setType("gmres")
        ksp.setGMRESRestart(max(30, min(max_iterations, 200)))
        ksp.setPCSide(PETSc.PC.Side.LEFT)
        ksp.setNormType(PETSc.KSP.NormType.PRECONDITIONED)
        pc.setPythonContext(PresbPC(inner, system.K))
    else:
        ksp.setType("minres")
        pc.setPythonContext(BlockDiagonalPC(inner, system.P))
    ksp.setTolerances(rtol=rtol, atol=0.0, max_it=max_iterations)
    ksp.setOptionsPrefix("implant_")
    ksp.setFromOptions()
    x, rhs = A.createVecs()
    rhs.set(0.0)
    rhs.getArray()[n:] = system.b.getArray(readonly=True)[:n]
    x.set(0.0)
    return BlockKrylov(ksp=ksp, A=A, x=x, rhs=rhs)


def check_converged(ksp: PETSc.KSP, *, rtol: float, max_iterations: int) -> None:
    """SolverError with the PETSc reason unless the Krylov solver converged."""
    reason = ksp.getConvergedReason()
    if reason < 0:
        its = ksp.getIterationNumber()
        raise SolverError(
            f"implant eddy-current {ksp.getType().upper()} did not converge: reason {_REASONS.get(reason, reason)} ({reason}) "
            f"after {its} iterations (rtol {rtol}, max_it {max_iterations}); expected convergence — "
            f"refine the sub-model or raise max_iterations"
        )


__all__ = ["KRYLOV", "BlockOperator", "BlockDiagonalPC", "BlockKrylov", "PresbPC", "ams_preconditioner",
           "block_krylov", "check_converged"]
