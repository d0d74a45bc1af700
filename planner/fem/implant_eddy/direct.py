"""Sparse direct solve of the real 2×2 block system (MUMPS symmetric-indefinite LDLᵀ).

The block operator [[K, −M], [−M, −K]] is singular on gradients supported in the non-conducting
surroundings (A_r is gauge-free there), so a factorisation needs a gauge: the direct system is

    [[K + ε M_0, −M], [−M, −(K + ε M_0)]] [u; v] = [0; b],

with ε M_0 the tiny mass over the surroundings (``regularisation`` × κ, floored), which the assembled
K already contains (:mod:`.assembly`; the iterative solve uses the same K). It only fixes the gauge of
A_r outside the metal: the metal loss moves by O(ε) (measured 2.4e-6 relative against the ungauged
MINRES at rtol 1e-6 on the sphere, within the MINRES tolerance itself).

Why: exact (no iteration count that could drift with a/δ), deterministic across ranks, and the cheapest
for small sub-models: on the a = 5 mm sphere (33.6k dofs) 2.5 CPU s against 3.7 for the former AMS
set-up (2.2 for the tuned AMS of :mod:`.blocks`); its time and memory grow faster (≈ 21 CPU s and 2.8
GiB at 119k dofs against 10 s for AMS; table in benchmarks/README_implants.md), and since the PRESB-GMRES
path (session 4) the iterative solve is as fast from ~9k dofs (sphere, 1 rank: 9.4k dofs 0.42–0.48 s
factorisation against 0.38–0.40 s set-up + solve; 18k dofs 1.15 s against 0.71–0.81 s), so ``solver =
"auto"`` uses it only up to ``direct_max_dofs`` (8 000).
"""
from __future__ import annotations

from petsc4py import PETSc

from planner.errors import SolverError
from planner.fem.implant_eddy.assembly import ReducedFieldSystem

PREFIX = "implant_direct_"


def mumps_available() -> bool:
    """Whether this PETSc build has MUMPS (Debian's PETSc on bookworm and trixie has)."""
    has = getattr(PETSc.Sys, "hasExternalPackage", None)
    return bool(has("mumps")) if has is not None else False


def block_matrix(system: ReducedFieldSystem) -> PETSc.Mat:
    """The gauged block matrix as one AIJ matrix, rows laid out [u_owned, v_owned] per rank."""
    Kg = system.K  # K + ε M_0 (assembly.py)
    Kn = Kg.copy()
    Kn.scale(-1.0)
    Mn = system.M.copy()
    Mn.scale(-1.0)
    nest = PETSc.Mat().createNest([[Kg, Mn], [Mn, Kn]], comm=system.K.getComm())
    A = nest.convert("aij", PETSc.Mat())  # a new matrix (without ``out`` petsc4py converts in place)
    for obj in (nest, Kn, Mn):
        obj.destroy()
    return A


def solve_direct(system: ReducedFieldSystem, x: PETSc.Vec, rhs: PETSc.Vec) -> PETSc.Mat:
    """Factor the gauged block matrix (MUMPS LDLᵀ) and solve into ``x``; returns the matrix (caller
    destroys). A failed factorisation is retried once with 3× MUMPS' estimated workspace (ICNTL(14) = 200 %:
    delayed 2×2 pivots of the indefinite system can outgrow the estimate, depending on the rank
    partition); then :class:`SolverError` with MUMPS' INFOG(1), INFOG(2)."""
    A = block_matrix(system)
    A.setOptionsPrefix(PREFIX)  # "-implant_direct_mat_mumps_icntl_7 5" etc. on the PETSc command line
    try:
        error = _factor_solve(A, x, rhs, None)
        if error is not None:
            error = _factor_solve(A, x, rhs, 200)
    except BaseException:
        A.destroy()
        raise
    if error is not None:
        A.destroy()
        raise SolverError(f"implant eddy-current direct solve (MUMPS LDLᵀ) failed: {error}; expected a factorisable "
                          f"block system — set the implant solver to 'ams'")
    return A


def _factor_solve(A: PETSc.Mat, x: PETSc.Vec, rhs: PETSc.Vec, workspace_percent: int | None) -> str | None:
    """One factorisation and solve; None on success, else what failed."""
    ksp = PETSc.KSP().create(A.getComm())
    try:
        ksp.setOperators(A)
        ksp.setType("preonly")
        pc = ksp.getPC()
        pc.setType("cholesky")  # symmetric indefinite: MUMPS SYM = 2 (LDLᵀ with 2×2 pivots)
        pc.setFactorSolverType("mumps")
        ksp.setOptionsPrefix(PREFIX)
        ksp.setFromOptions()
        if workspace_percent is not None:
            pc.setFactorSetUpSolverType()
            pc.getFactorMatrix().setMumpsIcntl(14, workspace_percent)
        ksp.setErrorIfNotConverged(False)
        try:
            ksp.setUp()
            ksp.solve(rhs, x)
        except PETSc.Error as exc:
            return f"PETSc error {exc.ierr}, {_mumps_info(pc)}"
        reason = ksp.getConvergedReason()
        if reason < 0 or not x.norm() < float("inf"):
            return f"KSP reason {reason}, {_mumps_info(pc)}"
        return None
    finally:
        ksp.destroy()


def _mumps_info(pc: PETSc.PC) -> str:
    try:
        F = pc.getFactorMatrix()
        return f"MUMPS INFOG(1) = {F.getMumpsInfog(1)}, INFOG(2) = {F.getMumpsInfog(2)}"
    except PETSc.Error:
        return "MUMPS INFOG not available"


__all__ = ["block_matrix", "mumps_available", "solve_direct"]
