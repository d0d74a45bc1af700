"""Pennes bioheat finite-element solver (DOLFINx 0.5, real PETSc, CG + BoomerAMG).

Strong form (SI, T in °C):

    ρc ∂T/∂t = ∇·(k∇T) + β(T)(T_a − T) + Q_met + Q(x, t)      in the body Ω,
    −k ∂T/∂n = h (T − T_amb)                                  on the skin ∂Ω (Robin),

β = w ρ_b c_b (W m⁻³ K⁻¹, w = volumetric perfusion, 1/s). Optional Dirichlet data T = g(x, t) on
(part of) the boundary replace the Robin condition there (verification benchmarks only).

Galerkin P1/P2 on the tetrahedral mesh with per-cell (DG0) coefficients gives

    M dT/dt + K(β) T = f(t),   M = ∫ρc φ_i φ_j,  K = ∫k∇φ_i·∇φ_j + ∫β φ_i φ_j + ∫_skin h φ_i φ_j,
    f = ∫(Q_met + Q) φ_i + T_a ∫β φ_i + ∫_skin h T_amb φ_i.

Every scheme solves (c M + K) Tⁿ⁺¹ = b with
    implicit Euler:  c = 1/Δt,             b = M Tⁿ/Δt + fⁿ⁺¹
    Crank–Nicolson:  c = 2/Δt,             b = (2M/Δt − K) Tⁿ + fⁿ + fⁿ⁺¹
    BDF2 (variable step, ω = Δtₙ/Δtₙ₋₁; one implicit-Euler step at the start, at each schedule
    segment boundary and when ω > 2):
                     c = (1+2ω)/((1+ω)Δt),  b = M[(1+ω)Tⁿ − ω²/(1+ω) Tⁿ⁻¹]/Δt + fⁿ⁺¹
    steady:          c = 0,                 b = f.
The operator c M + K and its preconditioner set-up are built once per distinct c while K is
unchanged (constant perfusion: once per run). CG with BoomerAMG, or — with ``linear_pc = 'auto'``
and a mass-dominated transient operator (every cell's diffusion number k/(c ρc h²) ≤ 1) — CG
with Jacobi, which converges in a few iterations there and is much cheaper per iteration. With temperature-dependent perfusion β is lagged on the cell
temperatures (Picard): β from Tⁿ⁺¹ (IE, BDF2, steady) or (Tⁿ+Tⁿ⁺¹)/2 (CN), repeated until the
largest nodal change δ = T̂ − T_k is below ``picard_tol_K``; updates are damped,
T_{k+1} = T_k + ω δ, with ω halved (down to 1/64) whenever |δ| stops decreasing (plain Picard diverges
for strong vasodilation, e.g. Lang's muscle curve in a steady hot spot); the AMG hierarchy is then reused while it stays
effective (re-set-up when CG needs more than 2× the iterations of a fresh set-up + 3).

Adaptive stepping (``adaptive``): Crank–Nicolson with an AB2 predictor and local-error control
(TR-AB2, Gresho, Griffiths & Silvester 2008), steps from a ladder h_max/2^k; see
``adaptive_trapezoidal`` inside :func:`solve_pennes`.

Per-vertex outputs (dose, maxima, probes) use the vertex values of the solution (for P2: its P1
interpolant at the mesh vertices).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import ufl
import dolfinx
import dolfinx.fem
import dolfinx.fem.petsc
from mpi4py import MPI
from petsc4py import PETSc

from planner.artefacts import TissueMesh
from planner.errors import SolverError, bad_value
from planner.fem import _compat
from planner.fem.mesh import SKIN_TAG, to_dolfinx
from planner.thermal._kernels import accumulate_dose_nb

log = logging.getLogger(__name__)

T_MIN_C = 0.0
T_MAX_C = 100.0


@dataclass
class DirichletData:
    """T = value(x (3, n) in m, t in s) → (n,) °C on the boundary dofs where marker(x) is True
    (marker None: the whole skin). Used by the verification benchmarks."""

    value: Callable[[np.ndarray, float], np.ndarray]
    marker: Callable[[np.ndarray], np.ndarray] | None = None


@dataclass
class PennesInputs:
    """Coefficients per TissueMesh cell (SI) and boundary data."""

    k_W_per_m_K: np.ndarray
    rho_c_J_per_m3_K: np.ndarray
    q_met_W_per_m3: np.ndarray
    perfusion: object  # planner.thermal.perfusion.PerfusionLaw (beta(T_cell, cells), temperature_dependent)
    heat_W_per_m3: Callable[[float], np.ndarray]  # field fraction → (M,)
    T_arterial_C: float
    T_ambient_C: float
    h_skin_W_per_m2_K: float
    cell_tissue: np.ndarray  # (M,) int index into tissue_names
    tissue_names: tuple[str, ...]
    dirichlet: DirichletData | None = None


@dataclass
class PennesRun:
    """What to integrate. ``steps``: list of planner.thermal.schedule.Step (transient)."""

    mode: str  # 'steady' | 'transient'
    scheme: str  # 'implicit-euler' | 'crank-nicolson' | 'bdf2'
    element_order: int
    steps: list = field(default_factory=list)
    steady_fraction: float = 1.0
    steady_duration_s: float = 0.0
    picard_tol_K: float = 1e-3
    picard_max_iter: int = 50
    linear_rtol: float = 1e-10
    snapshot_times_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    probe_vertices: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.int64))  # (P, 4)
    probe_weights: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))  # (P, 4)
    check_physical: bool = True
    threshold_C: float = 42.0
    linear_pc: str = "auto"  # 'auto' | 'amg' | 'jacobi' (see _Operators.pc_kind)
    adaptive: bool = False  # TR-AB2 adaptive Crank–Nicolson (see solve_pennes.adaptive_trapezoidal)
    segments: list = field(default_factory=list)  # planner.thermal.schedule.Segment (adaptive)
    time_step_s: float = 30.0  # first step of each segment (adaptive)
    max_time_step_s: float = 240.0
    min_time_step_s: float = 0.5
    adaptive_tol_K: float = 0.01


@dataclass
class PennesResult:
    """Outputs in TissueMesh vertex order (identical on every rank)."""

    times_s: np.ndarray
    fractions: np.ndarray  # field fraction at the end of each step (left limit), [0] = 0 baseline
    T_baseline_C: np.ndarray
    T_final_C: np.ndarray
    T_max_C: np.ndarray
    CEM43_min: np.ndarray
    time_above_s: np.ndarray
    snapshot_times_s: np.ndarray
    T_snapshots_C: np.ndarray  # (S, N)
    probe_T_C: np.ndarray  # (P, n_times)
    body_max_T_C: np.ndarray  # (n_times,)
    stats: dict


# BoomerAMG settings for 3-D scalar diffusion–reaction (HMIS coarsening, ext+i interpolation,
# one level of aggressive coarsening); any of them can be overridden with -bioheat_<key>.
_AMG_DEFAULTS = {
    "pc_hypre_boomeramg_strong_threshold": 0.5,
    "pc_hypre_boomeramg_coarsen_type": "HMIS",
    "pc_hypre_boomeramg_interp_type": "ext+i",
    "pc_hypre_boomeramg_P_max": 4,
    "pc_hypre_boomeramg_agg_nl": 1,
}


class _Operators:
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

    def get(self, c: float) -> dict:
        ent = self.cache.get(c)
        if ent is None and len(self.cache) >= 10:  # adaptive steps: keep at most 10 operators
            old = next(iter(self.cache))
            dead = self.cache.pop(old)
            dead["ksp"].destroy()
            if dead["Abc"] is not dead["A"]:
                dead["Abc"].destroy()
            dead["A"].destroy()
        if ent is None:
            A = self._build(c)
            Abc = self._bc_copy(A)
            ksp = PETSc.KSP().create(self.comm)
            # all KSPs share the options prefix ``bioheat_`` (override e.g. -bioheat_pc_type)
            prefix = "bioheat_"
            ksp.setOptionsPrefix(prefix)
            opts = PETSc.Options()
            for key, val in _AMG_DEFAULTS.items():
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
        return its


def solve_pennes(tmesh: TissueMesh, inp: PennesInputs, run: PennesRun, comm: MPI.Comm = MPI.COMM_WORLD) -> PennesResult:
    """Baseline (no field) steady state, then the steady or transient heated problem."""
    t_wall = time.perf_counter()
    fm = to_dolfinx(tmesh, comm)
    msh = fm.mesh
    V = _compat.function_space(msh, "Lagrange", run.element_order)
    V0 = _compat.function_space(msh, "DG", 0)
    V1 = V if run.element_order == 1 else _compat.function_space(msh, "Lagrange", 1)
    local_cells = fm.cell_input_index
    dg0_dofs = _compat.cell_dofs(V0).reshape(-1)[: local_cells.size]

    def dg0(values: np.ndarray, fun=None):
        fun = fun if fun is not None else dolfinx.fem.Function(V0)
        fun.x.array[dg0_dofs] = np.asarray(values, dtype=float)[local_cells]
        return fun

    k = dg0(inp.k_W_per_m_K)
    rc = dg0(inp.rho_c_J_per_m3_K)
    qmet = dg0(inp.q_met_W_per_m3)
    law = inp.perfusion
    beta = dolfinx.fem.Function(V0)
    T_cell = dolfinx.fem.Function(V0)

    def set_beta(T_cells_local: np.ndarray) -> None:
        beta.x.array[dg0_dofs] = law.beta(T_cells_local, local_cells)

    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    p0 = ufl.TrialFunction(V0)
    dx = ufl.Measure("dx", domain=msh)
    ds = ufl.Measure("ds", domain=msh, subdomain_data=fm.facet_tags)
    h = dolfinx.fem.Constant(msh, _compat.SCALAR_TYPE(inp.h_skin_W_per_m2_K))
    Tamb = dolfinx.fem.Constant(msh, _compat.SCALAR_TYPE(inp.T_ambient_C))
    m_form = _compat.form(rc * u * v * dx)
    k_form = _compat.form(k * ufl.inner(ufl.grad(u), ufl.grad(v)) * dx + h * u * v * ds(SKIN_TAG))
    mb_form = _compat.form(beta * u * v * dx)
    b_form = _compat.form(p0 * v * dx)
    f_form = _compat.form(qmet * v * dx + h * Tamb * v * ds(SKIN_TAG))

    t0 = time.perf_counter()
    M = _compat.assemble_matrix(m_form); M.assemble()
    K_fix = _compat.assemble_matrix(k_form); K_fix.assemble()
    B = _compat.assemble_matrix(b_form); B.assemble()
    f_fix = _compat.assemble_vector(f_form)
    f_fix.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
    Mb = _compat.create_matrix(mb_form)
    K = K_fix.duplicate(copy=True)
    ones = f_fix.duplicate(); ones.set(1.0)
    f_beta = f_fix.duplicate()
    n_assemblies = 4

    def assemble_perfusion() -> None:
        nonlocal n_assemblies
        Mb.zeroEntries()
        _compat.assemble_matrix_into(Mb, mb_form)
        Mb.assemble()
        K_fix.copy(K, structure=PETSc.Mat.Structure.SAME_NONZERO_PATTERN)
        K.axpy(1.0, Mb, structure=PETSc.Mat.Structure.SAME_NONZERO_PATTERN)
        Mb.mult(ones, f_beta)
        f_beta.scale(inp.T_arterial_C)
        n_assemblies += 1
        beta_version[0] += 1

    # --- Dirichlet data (benchmarks) ------------------------------------------------------------
    imap = V.dofmap.index_map
    n_owned = imap.size_local
    bc = None
    if inp.dirichlet is not None:
        msh.topology.create_connectivity(2, 3)
        skin = fm.facet_tags.indices[fm.facet_tags.values == SKIN_TAG]
        bdofs = dolfinx.fem.locate_dofs_topological(V, 2, skin)
        xd = V.tabulate_dof_coordinates()
        if inp.dirichlet.marker is not None:
            bdofs = bdofs[np.asarray(inp.dirichlet.marker(xd[bdofs].T), dtype=bool)]
        owned = bdofs[bdofs < n_owned]
        rows_global = owned.astype(np.int64) + imap.local_range[0]
        bc = (owned, xd[owned].T, rows_global)
        if comm.allreduce(owned.size, op=MPI.SUM) == 0:
            raise SolverError("Dirichlet marker selects no boundary dofs: expected at least one")

    vol = tmesh.cell_volumes_m3()[local_cells]
    h_cell = (6.0 * np.sqrt(2.0) * vol) ** (1.0 / 3.0)  # edge of the regular tetrahedron of that volume
    kr = np.asarray(inp.k_W_per_m_K)[local_cells] / (np.asarray(inp.rho_c_J_per_m3_K)[local_cells] * h_cell**2)
    kr_max = comm.allreduce(float(kr.max()) if kr.size else 0.0, op=MPI.MAX)
    ops = _Operators(M, K, comm, run.linear_rtol, bc[2] if bc is not None else None, run.linear_pc, kr_max)

    def bc_values(t_s: float):
        if bc is None:
            return None
        owned, xs, _ = bc
        g = np.asarray(inp.dirichlet.value(xs, t_s), dtype=float)
        g_ext = f_fix.duplicate(); g_ext.set(0.0)
        arr = g_ext.getArray(); arr[owned] = g; g_ext.setArray(arr)
        return g_ext, owned, g

    # --- heat source loads, cached by field fraction ------------------------------------------
    qfun = dolfinx.fem.Function(V0)
    q_cache: dict[float, PETSc.Vec] = {}

    def heat_load(fraction: float):
        fraction = float(fraction)
        vec = q_cache.get(fraction)
        if vec is None:
            q = np.asarray(inp.heat_W_per_m3(fraction), dtype=float)
            dg0(q, qfun)
            vec = f_fix.duplicate()
            B.mult(_compat.petsc_vec(qfun), vec)
            if len(q_cache) > 8:
                for key in list(q_cache)[:4]:
                    q_cache.pop(key).destroy()
            q_cache[fraction] = vec
        return vec

    load_cache: dict[tuple, PETSc.Vec] = {}
    beta_version = [0]

    def load(fraction: float, out=None):
        """f = f_fix + T_a M_β 1 + B q(fraction); cached per (fraction, perfusion version)."""
        key = (float(fraction), beta_version[0])
        vec = load_cache.get(key)
        if vec is None:
            vec = f_fix.duplicate()
            f_fix.copy(vec)
            vec.axpy(1.0, f_beta)
            vec.axpy(1.0, heat_load(fraction))
            if len(load_cache) > 8:
                for old in list(load_cache)[:4]:
                    load_cache.pop(old).destroy()
            load_cache[key] = vec
        if out is not None:
            vec.copy(out)
            return out
        return vec

    # --- vertex values, probes, physical check ------------------------------------------------
    T = dolfinx.fem.Function(V)
    T1 = T if V1 is V else dolfinx.fem.Function(V1)
    n1_owned = V1.dofmap.index_map.size_local
    _, vert_of_dof = fm.p1_dof_to_vertex(V1)
    vert_owned = vert_of_dof[:n1_owned]
    N = tmesh.num_vertices
    vert_to_local = -np.ones(N, dtype=np.int64)
    vert_to_local[vert_owned] = np.arange(n1_owned)
    pv = np.asarray(run.probe_vertices, dtype=np.int64).reshape(-1, 4)
    pw = np.asarray(run.probe_weights, dtype=float).reshape(-1, 4)
    loc = vert_to_local[pv] if pv.size else np.zeros((0, 4), np.int64)
    p_idx, p_col = np.nonzero(loc >= 0)
    p_dof = loc[p_idx, p_col]
    p_w = pw[p_idx, p_col]
    n_probes = pv.shape[0]
    vert_tissue = np.empty(N, dtype=np.int64)
    vert_tissue[tmesh.cells.ravel()] = np.repeat(inp.cell_tissue, 4)

    def vertex_values() -> np.ndarray:
        if T1 is not T:
            T1.interpolate(T)
        return T1.x.array[:n1_owned].copy()

    def probe_values(tv: np.ndarray) -> np.ndarray:
        vals = np.zeros(n_probes)
        if n_probes:
            np.add.at(vals, p_idx, p_w * tv[p_dof])
            vals = comm.allreduce(vals, op=MPI.SUM)
        return vals

    def check_physical(tv: np.ndarray, t_s: float) -> float:
        lo = comm.allreduce(float(tv.min()) if tv.size else np.inf, op=MPI.MIN)
        hi = comm.allreduce(float(tv.max()) if tv.size else -np.inf, op=MPI.MAX)
        if run.check_physical and (lo < T_MIN_C or hi > T_MAX_C or not np.isfinite(lo + hi)):
            bad = hi if (hi > T_MAX_C or not np.isfinite(hi)) else lo
            mine = np.nonzero(tv == bad)[0] if np.isfinite(bad) else np.nonzero(~np.isfinite(tv))[0]
            cand = int(vert_owned[mine[0]]) if mine.size else N
            vtx = comm.allreduce(cand, op=MPI.MIN)
            tissue = inp.tissue_names[vert_tissue[vtx]] if vtx < N else "?"
            xyz = np.round(tmesh.points_m[vtx] * 1e3, 2).tolist() if vtx < N else None
            raise SolverError(
                f"temperature T = {bad:.2f} °C in tissue {tissue!r} at {xyz} mm, time t = {t_s:.1f} s: "
                f"expected {T_MIN_C:.0f}..{T_MAX_C:.0f} °C (non-physical; check heat source, field and time step)"
            )
        return hi

    # --- one implicit solve with Picard lagging of the perfusion ----------------------------------
    x_prev_iter = _compat.petsc_vec(T).duplicate()
    b = f_fix.duplicate()
    f0 = f_fix.duplicate()
    f1 = f_fix.duplicate()
    tmp = f_fix.duplicate()
    picard_max_seen = 0

    def cell_temperatures(Tfun_or_mix) -> np.ndarray:
        T_cell.interpolate(Tfun_or_mix)
        return T_cell.x.array[dg0_dofs]

    T_old_fun = dolfinx.fem.Function(V)

    def implicit_solve(c: float, make_rhs: Callable[[object], None], t_s: float, cn_mix: bool) -> int:
        """Solve (cM + K(β)) T = rhs with Picard on β if the perfusion depends on T."""
        nonlocal picard_max_seen
        bcv = bc_values(t_s)
        if not law.temperature_dependent:
            make_rhs(b)
            ops.solve(c, b, _compat.petsc_vec(T), bcv)
            T.x.scatter_forward()
            return 1
        omega, prev = 1.0, np.inf
        mix = dolfinx.fem.Function(V) if cn_mix else None
        for it in range(1, run.picard_max_iter + 1):
            if cn_mix:
                mix.x.array[:] = 0.5 * (T.x.array + T_old_fun.x.array)
                set_beta(cell_temperatures(mix))
            else:
                set_beta(cell_temperatures(T))
            assemble_perfusion()
            ops.set_K(K)
            make_rhs(b)
            _compat.petsc_vec(T).copy(x_prev_iter)
            ops.solve(c, b, _compat.petsc_vec(T), bc_values(t_s) if bc is not None else None)
            # δ = T̂ − T_k (fixed-point residual); damped update T_{k+1} = T_k + ω δ
            x_prev_iter.axpy(-1.0, _compat.petsc_vec(T))  # = −δ
            change = x_prev_iter.norm(PETSc.NormType.NORM_INFINITY)
            picard_max_seen = max(picard_max_seen, it)
            if change < run.picard_tol_K:
                T.x.scatter_forward()
                return it
            if change >= prev and omega > 1.0 / 64:
                omega *= 0.5  # oscillating/diverging fixed point (strongly T-dependent β): damp
            prev = change
            if omega < 1.0:
                _compat.petsc_vec(T).axpy(1.0 - omega, x_prev_iter)  # T̂ + (1 − ω)(T_k − T̂) = T_k + ω δ
            T.x.scatter_forward()
        raise SolverError(
            f"perfusion model {law.name!r}: Picard iteration not converged at t = {t_s:.1f} s "
            f"(last change {change:.3g} K after {run.picard_max_iter} iterations); expected a change "
            f"below thermal.picard_tol_K = {run.picard_tol_K} K (try a smaller time step)"
        )

    # --- baseline: steady state without field -------------------------------------------------
    if not law.temperature_dependent:
        set_beta(np.full(local_cells.size, inp.T_arterial_C))
        assemble_perfusion()
        ops.set_K(K)
    else:
        T.x.array[:] = inp.T_arterial_C
        set_beta(np.full(local_cells.size, inp.T_arterial_C))
        assemble_perfusion()
        ops.set_K(K)
    T.x.array[:] = inp.T_arterial_C
    _singular_check(comm, inp, bc is not None)
    t_asm = time.perf_counter() - t0
    implicit_solve(0.0, lambda out: load(0.0, out), 0.0, False)
    tv = vertex_values()
    check_physical(tv, 0.0)
    T_base_local = tv.copy()
    base_vertex = fm.gather_vertex_values(V1, T1.x.array)

    cem = np.zeros(n1_owned)
    tab = np.zeros(n1_owned)
    tmax = tv.copy()
    times = [0.0]
    fracs = [0.0]
    probes = [probe_values(tv)]
    bmax = [comm.allreduce(float(tv.max()) if tv.size else -np.inf, op=MPI.MAX)]
    snaps_t: list[float] = [0.0]
    snaps: list[np.ndarray] = [base_vertex]
    snap_targets = [float(s) for s in np.asarray(run.snapshot_times_s) if s > 0]
    t_loop = time.perf_counter()

    def record(t1: float, dt: float, fraction1: float, tv_old: np.ndarray, last: bool) -> np.ndarray:
        """Vertex values, physical check, dose, probes and snapshots after an accepted step."""
        tv_new = vertex_values()
        bmax.append(check_physical(tv_new, t1))
        accumulate_dose_nb(cem, tab, tmax, tv_old, tv_new, float(dt), run.threshold_C)
        times.append(t1)
        fracs.append(fraction1)
        probes.append(probe_values(tv_new))
        while snap_targets and snap_targets[0] <= t1 + 1e-9 * max(1.0, t1):
            snap_targets.pop(0)
            if not (snaps_t and abs(snaps_t[-1] - t1) < 1e-9):
                snaps_t.append(t1)
                snaps.append(fm.gather_vertex_values(V1, T1.x.array))
        if last and abs(snaps_t[-1] - t1) > 1e-9:
            snaps_t.append(t1)
            snaps.append(fm.gather_vertex_values(V1, T1.x.array))
        return tv_new

    adaptive_stats: dict = {}

    def adaptive_trapezoidal(tv: np.ndarray) -> np.ndarray:
        """Crank–Nicolson (trapezoidal rule) with AB2 predictor and local-error control, TR-AB2
        (Gresho, Griffiths & Silvester, SIAM J. Sci. Comput. 30:2018–2054, 2008):
            P = Tⁿ + (h/2)[(2 + h/hₚ) T'ⁿ − (h/hₚ) T'ⁿ⁻¹],  d = (Tⁿ⁺¹ − P) / (3(1 + hₚ/h)),
            T'ⁿ⁺¹ = 2(Tⁿ⁺¹ − Tⁿ)/h − T'ⁿ.
        A step is accepted if max|d| ≤ adaptive_tol_K; steps come from the ladder h_max/2^k (so the
        cached operators c M + K stay few), the next level from h (tol/|d|)^(1/3) · 0.9, growing by at
        most one level per step. At each segment start (field jump) T' is recomputed from the ODE,
        M T' = f(t⁺) − K T, and the first step (no AB2 history) is taken at ``time_step_s`` without
        control. Steps never cross a segment boundary."""
        h_max = float(run.max_time_step_s)
        levels = [h_max / 2**k for k in range(60) if h_max / 2**k >= run.min_time_step_s * (1 - 1e-12)]
        mksp = PETSc.KSP().create(comm)
        mksp.setOptionsPrefix("bioheat_mass_")
        mksp.setType("cg"); mksp.getPC().setType("jacobi")
        mksp.setTolerances(rtol=1e-12, atol=1e-50, max_it=1000)
        mksp.setErrorIfNotConverged(True)
        mksp.setFromOptions()
        mksp.setOperators(M)
        dT_n, dT_nm1, pred, d = (_compat.petsc_vec(T).duplicate() for _ in range(4))
        accepted = rejected = 0
        h_used: list[float] = []
        level = None
        for si, seg in enumerate(run.segments):
            t, t_end = seg.t_start_s, seg.t_end_s
            # T'(t⁺) = M⁻¹ (f(t⁺) − K Tⁿ)
            K.mult(_compat.petsc_vec(T), tmp)
            tmp.scale(-1.0)
            tmp.axpy(1.0, load(seg.fraction_at(t)))
            mksp.solve(tmp, dT_n)
            h_prev = None
            h = min(run.time_step_s, t_end - t)
            while t < t_end - 1e-9 * max(1.0, t_end):
                h = min(h, t_end - t)
                if t_end - t - h < 1e-6 * h:
                    h = t_end - t
                t1 = t + h
                f0, f1 = seg.fraction_at(t), seg.fraction_at(t1)
                _compat.petsc_vec(T).copy(_compat.petsc_vec(T_old_fun))
                T_old_fun.x.scatter_forward()
                Told = _compat.petsc_vec(T_old_fun)
                c = 2.0 / h

                def rhs(out, c=c, f0=f0, f1=f1):
                    M.mult(Told, out); out.scale(c)
                    K.mult(Told, tmp); out.axpy(-1.0, tmp)
                    out.axpy(1.0, load(f0))
                    out.axpy(1.0, load(f1))
                if h_prev is not None:
                    r = h / h_prev
                    Told.copy(pred)
                    pred.axpy(0.5 * h * (2.0 + r), dT_n)
                    pred.axpy(-0.5 * h * r, dT_nm1)
                    pred.copy(_compat.petsc_vec(T))  # predictor as initial guess
                implicit_solve(c, rhs, t1, True)
                if h_prev is not None:
                    _compat.petsc_vec(T).copy(d)
                    d.axpy(-1.0, pred)
                    err = d.norm(PETSc.NormType.NORM_INFINITY) / (3.0 * (1.0 + h_prev / h))
                    at_min = h <= levels[-1] * (1 + 1e-12)
                    if err > run.adaptive_tol_K and not at_min:
                        rejected += 1
                        Told.copy(_compat.petsc_vec(T))
                        T.x.scatter_forward()
                        h_new = 0.9 * h * (run.adaptive_tol_K / err) ** (1.0 / 3.0)
                        cand = [lv for lv in levels if lv <= min(h_new, h * (1 - 1e-9))]
                        h = cand[0] if cand else levels[-1]
                        continue
                    h_opt = 0.9 * h * (run.adaptive_tol_K / max(err, 1e-300)) ** (1.0 / 3.0)
                else:
                    h_opt = h
                # accept: T'ⁿ⁺¹ = 2(Tⁿ⁺¹ − Tⁿ)/h − T'ⁿ
                dT_n.copy(dT_nm1)
                dT_n.scale(-1.0)
                dT_n.axpy(2.0 / h, _compat.petsc_vec(T))
                dT_n.axpy(-2.0 / h, Told)
                accepted += 1
                h_used.append(h)
                last = si == len(run.segments) - 1 and t1 >= t_end - 1e-9 * max(1.0, t_end)
                tv = record(t1, h, f1, tv, last)
                t, h_prev = t1, h
                cand = [lv for lv in levels if lv <= h_opt]
                nxt = cand[0] if cand else levels[-1]
                up = next((lv for lv in reversed(levels) if lv > h * (1 + 1e-12)), h)
                h = min(nxt, up) if nxt > h else nxt
        for v in (dT_n, dT_nm1, pred, d):
            v.destroy()
        mksp.destroy()
        adaptive_stats.update({"accepted_steps": accepted, "rejected_steps": rejected,
                               "min_step_s": float(min(h_used)) if h_used else 0.0,
                               "max_step_s": float(max(h_used)) if h_used else 0.0})
        return tv

    if run.mode == "steady":
        implicit_solve(0.0, lambda out: load(run.steady_fraction, out), 0.0, False)
        # steady: the heated state is held for the whole duration (dose from T0 = T1 = T_steady)
        tv = record(float(run.steady_duration_s), float(run.steady_duration_s), run.steady_fraction, vertex_values(), True)
    elif run.adaptive:
        if bc is not None:
            raise SolverError("adaptive time stepping with Dirichlet data: not supported; expected fixed steps")
        tv = adaptive_trapezoidal(tv)
    else:
        T_nm1 = _compat.petsc_vec(T).duplicate()
        dt_prev = None
        seg_prev = None
        for st in run.steps:
            dt = st.dt_s
            _compat.petsc_vec(T).copy(_compat.petsc_vec(T_old_fun))
            T_old_fun.x.scatter_forward()
            tv_old = tv
            Told = _compat.petsc_vec(T_old_fun)
            # BDF2 restarts with one implicit-Euler step at the start, at every schedule segment
            # boundary (the source or its slope jumps: a backward difference across the kink of T'
            # would cost O(Δt) accuracy) and whenever the step ratio ω = Δtₙ/Δtₙ₋₁ exceeds 2
            # (variable-step BDF2 is zero-stable only for ω < 1 + √2)
            restart = dt_prev is None or st.segment != seg_prev or dt / dt_prev > 2.0
            seg_prev = st.segment
            if run.scheme == "implicit-euler" or (run.scheme == "bdf2" and restart):
                c = 1.0 / dt

                def rhs(out, c=c):
                    M.mult(Told, out); out.scale(c)
                    out.axpy(1.0, load(st.fraction1))
                cn = False
            elif run.scheme == "crank-nicolson":
                c = 2.0 / dt

                def rhs(out, c=c):
                    M.mult(Told, out); out.scale(c)
                    K.mult(Told, tmp); out.axpy(-1.0, tmp)
                    out.axpy(1.0, load(st.fraction0))
                    out.axpy(1.0, load(st.fraction1))
                cn = True
            else:  # bdf2, variable step
                w = dt / dt_prev
                c = (1.0 + 2.0 * w) / ((1.0 + w) * dt)

                def rhs(out, w=w, dt=dt):
                    tmp.set(0.0)
                    tmp.axpy((1.0 + w) / dt, Told)
                    tmp.axpy(-(w * w) / ((1.0 + w) * dt), T_nm1)
                    M.mult(tmp, out)
                    out.axpy(1.0, load(st.fraction1))
                cn = False
            if dt_prev is not None:  # initial guess: linear extrapolation Tⁿ + (Δt/Δtₙ₋₁)(Tⁿ − Tⁿ⁻¹)
                _compat.petsc_vec(T).axpy(dt / dt_prev, Told)
                _compat.petsc_vec(T).axpy(-dt / dt_prev, T_nm1)
            implicit_solve(c, rhs, st.t1_s, cn)
            Told.copy(T_nm1)
            dt_prev = dt
            tv = record(st.t1_s, dt, st.fraction1, tv_old, st is run.steps[-1])
    t_loop = time.perf_counter() - t_loop

    def gather(a):
        full = np.zeros(n1_owned + V1.dofmap.index_map.num_ghosts)
        full[:n1_owned] = a
        return fm.gather_vertex_values(V1, full)

    stats = {
        "dofs": int(imap.size_global),
        "ranks": int(comm.size),
        "element_order": run.element_order,
        "steps": len(times) - 1,
        "linear_solves": ops.solves,
        "linear_iterations": ops.iterations,
        "pc_setups": ops.pc_setups,
        "preconditioners": sorted(set(ops.pc_used.values())),
        "max_diffusion_number": float(kr_max / min([c for c in ops.cache if c > 0], default=np.inf)),
        "perfusion_assemblies": n_assemblies - 4,
        "picard_max_iterations": picard_max_seen,
        "adaptive": adaptive_stats or None,
        "assembly_s": t_asm,
        "time_loop_s": t_loop,
        "total_s": time.perf_counter() - t_wall,
    }
    result = PennesResult(
        times_s=np.asarray(times),
        fractions=np.asarray(fracs),
        T_baseline_C=base_vertex,
        T_final_C=gather(tv),
        T_max_C=gather(tmax),
        CEM43_min=gather(cem),
        time_above_s=gather(tab),
        snapshot_times_s=np.asarray(snaps_t),
        T_snapshots_C=np.asarray(snaps),
        probe_T_C=np.asarray(probes).T.reshape(n_probes, len(times)),
        body_max_T_C=np.asarray(bmax),
        stats=stats,
    )
    for obj in [M, K_fix, K, B, Mb, f_fix, ones, f_beta, b, f0, f1, tmp, x_prev_iter, *load_cache.values(), *q_cache.values()]:
        obj.destroy()
    for ent in ops.cache.values():
        ent["ksp"].destroy()
    return result


def _singular_check(comm, inp: PennesInputs, has_dirichlet: bool) -> None:
    """A steady problem with no perfusion, no skin exchange and no Dirichlet data is singular."""
    if has_dirichlet or inp.h_skin_W_per_m2_K > 0:
        return
    if np.any(np.asarray(inp.perfusion.w0_per_s) > 0) or inp.perfusion.temperature_dependent:
        return
    raise SolverError(
        "steady baseline: no perfusion anywhere and thermal.skin_h_W_per_m2_K = 0 leave the temperature "
        "undetermined; expected a positive skin heat-transfer coefficient or perfused tissue"
    )
