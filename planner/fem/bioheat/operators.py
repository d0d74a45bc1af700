"""c M + K operators with their CG KSPs (BoomerAMG or Jacobi), cached by c while K is unchanged."""
from __future__ import annotations

import numpy as np
from petsc4py import PETSc

from planner.errors import SolverError, bad_value

# BoomerAMG settings for 3-D scalar diffusion–reaction (HMIS coarsening, ext+i interpolation,
# one level of aggressive coarsening); any of them can be overridden with -bioheat_<key>.
AMG_DEFAULTS = {
    "pc_hypre_boomeramg_strong_threshold": 0.5,
    "pc_hypre_boomeramg_coarsen_type": "HMIS",
    "pc_hypre_boomeramg_interp_type": "ext+i",
    "pc_hypre_boomeramg_P_max": 4,
    "pc_hypre_boomeramg_agg_nl": 1,
}
MAX_CACHED = 10  # adaptive steps: keep at most 10 operators


class Operators:
    """c M + K operators with their KSPs, cached by c while K is unchanged."""

    def __init__(self, M, K, comm, rtol: float, bc_rows_global: np.ndarray | None,
                 pc: str = "amg", max_k_over_rhoc_h2: float = np.inf):
        self.M, self.K, self.comm, self.rtol = M, K, comm, rtol
        self.pc = pc
        self.max_k_over_rhoc_h2 = max_k_over_rhoc_h2
        self.pc_used: dict[float, str] = {}
        self.bc_rows = bc_rows_global
        self.cache: dict[float, dict] = {}
        self.k_version = 0
        self.pc_setups = 0
        self.iterations = 0
        self.solves = 0

    def pc_kind(self, c: float) -> str:
        """'amg' or 'jacobi'. ``auto``: Jacobi for transient operators whose largest cell diffusion
        number k/(c ρc h²) is ≤ 1 (mass-dominated: CG + Jacobi needs few iterations, independent of
        the mesh size at fixed diffusion number, and is far cheaper per iteration than an AMG V-cycle);
        BoomerAMG otherwise (steady problems, large steps, metal/air cells)."""
        if self.pc != "auto":
            kind = self.pc
        else:
            kind = "jacobi" if c > 0 and self.max_k_over_rhoc_h2 / c <= 1.0 else "amg"
        self.pc_used[c] = kind
        return kind

    def set_K(self, K) -> None:
        self.K = K
        self.k_version += 1

    def _build(self, c: float, A=None):
        if A is None:
            A = self.K.duplicate(copy=True)
        else:
            self.K.copy(A, structure=PETSc.Mat.Structure.SAME_NONZERO_PATTERN)
        if c != 0.0:
            A.axpy(c, self.M, structure=PETSc.Mat.Structure.SAME_NONZERO_PATTERN)
        return A

    def _bc_copy(self, A, Abc=None):
        if self.bc_rows is None:
            return A
        if Abc is None:
            Abc = A.duplicate(copy=True)
        else:
            A.copy(Abc, structure=PETSc.Mat.Structure.SAME_NONZERO_PATTERN)
        Abc.zeroRowsColumns(self.bc_rows.astype(PETSc.IntType), diag=1.0)
        return Abc

    def _evict_oldest(self) -> None:
        dead = self.cache.pop(next(iter(self.cache)))
        dead["ksp"].destroy()
        if dead["Abc"] is not dead["A"]:
            dead["Abc"].destroy()
        dead["A"].destroy()

    def _new_ksp(self, c: float, Abc):
        ksp = PETSc.KSP().create(self.comm)
        # all KSPs share the options prefix ``bioheat_`` (override e.g. -bioheat_pc_type)
        prefix = "bioheat_"
        ksp.setOptionsPrefix(prefix)
        opts = PETSc.Options()
        for key, val in AMG_DEFAULTS.items():
            if not opts.hasName(prefix + key):
                opts[prefix + key] = val
        ksp.setType("cg")
        if self.pc_kind(c) == "jacobi":
            ksp.getPC().setType("jacobi")
        else:
            ksp.getPC().setType("hypre")
            ksp.getPC().setHYPREType("boomeramg")
        ksp.setTolerances(rtol=self.rtol, atol=1e-50, max_it=500)
        ksp.setErrorIfNotConverged(True)
        ksp.setInitialGuessNonzero(True)
        ksp.setFromOptions()
        ksp.setOperators(Abc)
        ksp.getPC().setReusePreconditioner(True)
        return ksp

    def get(self, c: float) -> dict:
        ent = self.cache.get(c)
        if ent is None and len(self.cache) >= MAX_CACHED:
            self._evict_oldest()
        if ent is None:
            A = self._build(c)
            Abc = self._bc_copy(A)
            ksp = self._new_ksp(c, Abc)
            ent = {"A": A, "Abc": Abc, "ksp": ksp, "version": self.k_version, "fresh_its": None, "setup": True}
            self.cache[c] = ent
            self.pc_setups += 1
        elif ent["version"] != self.k_version:
            self._build(c, ent["A"])
            self._bc_copy(ent["A"], ent["Abc"])
            ent["ksp"].setOperators(ent["Abc"])
            ent["version"] = self.k_version
        return ent

    def solve(self, c: float, b, x, bc_values=None) -> int:
        """Solve (cM + K) x = b (with Dirichlet lifting if bc_values = (g_ext Vec, owned rows, g))."""
        ent = self.get(c)
        if bc_values is not None:
            g_ext, rows_local, g = bc_values
            tmp = b.duplicate()
            ent["A"].mult(g_ext, tmp)
            b.axpy(-1.0, tmp)
            arr = b.getArray()
            arr[rows_local] = g
            b.setArray(arr)
            tmp.destroy()
        ksp = ent["ksp"]
        try:
            ksp.solve(b, x)
        except PETSc.Error as exc:
            raise SolverError(
                f"bioheat CG/BoomerAMG: not converged (reason {ksp.getConvergedReason()}, "
                f"{ksp.getIterationNumber()} iterations, rtol {self.rtol}); expected convergence"
            ) from exc
        reason = ksp.getConvergedReason()
        if reason <= 0:
            raise SolverError(bad_value("bioheat KSP converged reason", reason, "a positive PETSc reason"))
        its = ksp.getIterationNumber()
        self.iterations += its
        self.solves += 1
        self._refresh_if_stale(ent, its)
        return its

    def _refresh_if_stale(self, ent: dict, its: int) -> None:
        ksp = ent["ksp"]
        if ent["setup"]:
            ent["fresh_its"] = its
            ent["setup"] = False
        elif its > 2 * (ent["fresh_its"] or 1) + 3:
            # stale AMG hierarchy (perfusion changed): set it up again for the next solves
            ksp.getPC().setReusePreconditioner(False)
            ksp.setOperators(ent["Abc"])
            ksp.getPC().setUp()
            ksp.getPC().setReusePreconditioner(True)
            ent["setup"] = True
            self.pc_setups += 1

    def destroy(self) -> None:
        for ent in self.cache.values():
            ent["ksp"].destroy()
