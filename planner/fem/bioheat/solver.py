"""The Pennes solver object: spaces, forms and matrices (``assemble``), the no-field ``baseline``,
one implicit ``step`` with Picard lagging of the perfusion, and ``run`` (a stepper drives the steps,
a :class:`~planner.fem.bioheat.recorder.Recorder` records them)."""
from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dolfinx
import dolfinx.fem
import dolfinx.fem.petsc
import numpy as np
import ufl
from mpi4py import MPI
from petsc4py import PETSc

from planner.artefacts import TissueMesh
from planner.errors import SolverError
from planner.fem import _compat
from planner.fem.bioheat.data import PennesInputs, PennesResult, PennesRun
from planner.fem.bioheat.operators import Operators
from planner.fem.bioheat.pool import Pool
from planner.fem.bioheat.recorder import Recorder, VertexView
from planner.fem.mesh import CUT_TAG, SKIN_TAG, fem_mesh

CACHE_MAX = 8  # load vectors kept per cache (the oldest 4 are dropped beyond this)


class PennesSolver:
    """One Pennes problem on one mesh. ``run()`` = ``baseline()`` then the stepper's steps."""

    def __init__(self, tmesh: TissueMesh, inp: PennesInputs, spec: PennesRun, comm: MPI.Comm = MPI.COMM_WORLD):
        self.t_wall = time.perf_counter()
        self.tmesh, self.inp, self.spec, self.comm = tmesh, inp, spec, comm
        self.law = inp.perfusion
        self.fm = fem_mesh(tmesh, comm)  # shared with the field stage (built once)
        msh = self.fm.mesh
        self.V = _compat.function_space(msh, "Lagrange", spec.element_order)
        self.V0 = _compat.function_space(msh, "DG", 0)
        self.V1 = self.V if spec.element_order == 1 else _compat.function_space(msh, "Lagrange", 1)
        self.local_cells = self.fm.cell_input_index
        self.dg0_dofs = _compat.cell_dofs(self.V0).reshape(-1)[: self.local_cells.size]
        self.beta = dolfinx.fem.Function(self.V0)
        self.T_cell = dolfinx.fem.Function(self.V0)
        self.qfun = dolfinx.fem.Function(self.V0)
        self.T = dolfinx.fem.Function(self.V)
        self.T1 = self.T if self.V1 is self.V else dolfinx.fem.Function(self.V1)
        self.T_old_fun = dolfinx.fem.Function(self.V)
        self.q_cache: dict[float, PETSc.Vec] = {}
        self.load_cache: dict[tuple, PETSc.Vec] = {}
        self.beta_version = 0
        self.picard_max_seen = 0
        self.assemble()
        self.view = VertexView(self.fm, tmesh, inp, spec, self.T, self.T1, comm)

    # --- set-up --------------------------------------------------------------------------------
    def dg0(self, values: np.ndarray, fun=None):
        fun = fun if fun is not None else dolfinx.fem.Function(self.V0)
        fun.x.array[self.dg0_dofs] = np.asarray(values, dtype=float)[self.local_cells]
        return fun

    def _forms(self) -> dict:
        inp, msh, V = self.inp, self.fm.mesh, self.V
        k, rc, qmet = self.dg0(inp.k_W_per_m_K), self.dg0(inp.rho_c_J_per_m3_K), self.dg0(inp.q_met_W_per_m3)
        u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
        p0 = ufl.TrialFunction(self.V0)
        dx = ufl.Measure("dx", domain=msh)
        # Robin (skin) exchange only on skin facets: cut faces (CUT_TAG) are adiabatic
        ds = ufl.Measure("ds", domain=msh, subdomain_data=self.fm.facet_tags)
        h = dolfinx.fem.Constant(msh, _compat.SCALAR_TYPE(inp.h_skin_W_per_m2_K))
        Tamb = dolfinx.fem.Constant(msh, _compat.SCALAR_TYPE(inp.T_ambient_C))
        return {
            "m": _compat.form(rc * u * v * dx),
            "k": _compat.form(k * ufl.inner(ufl.grad(u), ufl.grad(v)) * dx + h * u * v * ds(SKIN_TAG)),
            "mb": _compat.form(self.beta * u * v * dx),
            "b": _compat.form(p0 * v * dx),
            "f": _compat.form(qmet * v * dx + h * Tamb * v * ds(SKIN_TAG)),
        }

    def assemble(self) -> None:
        """Mass M, fixed stiffness K_fix (+ skin Robin), cell-load matrix B, fixed load f_fix, the
        perfusion pattern M_β; Dirichlet rows and the cached operators."""
        self.t0 = time.perf_counter()
        forms = self._forms()
        self.mb_form = forms["mb"]
        self.M = _compat.assemble_matrix(forms["m"]); self.M.assemble()
        self.K_fix = _compat.assemble_matrix(forms["k"]); self.K_fix.assemble()
        self.B = _compat.assemble_matrix(forms["b"]); self.B.assemble()
        self.f_fix = _compat.assemble_vector(forms["f"])
        self.f_fix.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        self.Mb = _compat.create_matrix(self.mb_form)
        self.K = self.K_fix.duplicate(copy=True)
        self.ones = self.f_fix.duplicate(); self.ones.set(1.0)
        self.f_beta = self.f_fix.duplicate()
        self.n_assemblies = 4
        self._dirichlet_rows()
        vol = self.tmesh.cell_volumes_m3()[self.local_cells]
        h_cell = (6.0 * np.sqrt(2.0) * vol) ** (1.0 / 3.0)  # edge of the regular tetrahedron of that volume
        inp, lc = self.inp, self.local_cells
        kr = np.asarray(inp.k_W_per_m_K)[lc] / (np.asarray(inp.rho_c_J_per_m3_K)[lc] * h_cell**2)
        self.kr_max = self.comm.allreduce(float(kr.max()) if kr.size else 0.0, op=MPI.MAX)
        self.ops = Operators(self.M, self.K, self.comm, self.spec.linear_rtol,
                             self.bc[2] if self.bc is not None else None, self.spec.linear_pc, self.kr_max)
        self.b, self.tmp = self.f_fix.duplicate(), self.f_fix.duplicate()
        self.x_prev_iter = _compat.petsc_vec(self.T).duplicate()
        self.T_nm1 = _compat.petsc_vec(self.T).duplicate()
        self.pool = None
        if self.inp.blood_pool is not None:
            if self.bc is not None:
                raise SolverError("blood pool with Dirichlet data: not supported; expected thermal.systemic = 'off'")
            self.pool = Pool(self.inp.blood_pool, self.inp.T_arterial_C, self.f_fix)

    def _tagged_dofs(self, tag: int) -> np.ndarray:
        """Local dofs on the exterior facets carrying ``tag``."""
        fm = self.fm
        fm.mesh.topology.create_connectivity(2, 3)
        return dolfinx.fem.locate_dofs_topological(self.V, 2, fm.facet_tags.indices[fm.facet_tags.values == tag])

    def _hold_cut_faces_at_baseline(self) -> None:
        """``cut_faces = 'baseline'``: after the baseline, cut-face dofs keep their baseline values
        (Dirichlet rows; new operators with those rows, counters carried over)."""
        imap = self.V.dofmap.index_map
        dofs = self._tagged_dofs(CUT_TAG)
        owned = dofs[dofs < imap.size_local]
        if self.comm.allreduce(owned.size, op=MPI.SUM) == 0:
            return
        rows_global = owned.astype(np.int64) + imap.local_range[0]
        self.bc: tuple[Any, Any, Any] | None = (owned, None, rows_global)
        self.bc_fixed = self.T.x.array[owned].copy()
        old = self.ops
        self.ops = Operators(self.M, self.K, self.comm, self.spec.linear_rtol, rows_global, self.spec.linear_pc,
                             self.kr_max)
        self.ops.solves, self.ops.iterations, self.ops.pc_setups = old.solves, old.iterations, old.pc_setups
        self.ops.pc_used.update(old.pc_used)
        old.destroy()

    def _dirichlet_rows(self) -> None:
        """Owned boundary dofs, their coordinates and global rows (verification benchmarks)."""
        self.bc = None
        self.bc_fixed = None
        if self.inp.dirichlet is None:
            return
        V = self.V
        imap = V.dofmap.index_map
        bdofs = self._tagged_dofs(SKIN_TAG)
        xd = V.tabulate_dof_coordinates()
        if self.inp.dirichlet.marker is not None:
            bdofs = bdofs[np.asarray(self.inp.dirichlet.marker(xd[bdofs].T), dtype=bool)]
        owned = bdofs[bdofs < imap.size_local]
        rows_global = owned.astype(np.int64) + imap.local_range[0]
        self.bc = (owned, xd[owned].T, rows_global)
        if self.comm.allreduce(owned.size, op=MPI.SUM) == 0:
            raise SolverError("Dirichlet marker selects no boundary dofs: expected at least one")

    def bc_values(self, t_s: float):
        if self.bc is None:
            return None
        owned, xs, _ = self.bc
        if self.bc_fixed is not None:
            g = self.bc_fixed
        elif self.inp.dirichlet is not None:
            g = np.asarray(self.inp.dirichlet.value(xs, t_s), dtype=float)
        else:
            raise SolverError("Dirichlet rows without Dirichlet data")
        g_ext = self.f_fix.duplicate(); g_ext.set(0.0)
        arr = g_ext.getArray(); arr[owned] = g; g_ext.setArray(arr)
        return g_ext, owned, g

    # --- perfusion and loads -------------------------------------------------------------------
    def set_beta(self, T_cells_local: np.ndarray) -> None:
        self.beta.x.array[self.dg0_dofs] = self.law.beta(T_cells_local, self.local_cells)

    def assemble_perfusion(self) -> None:
        """K = K_fix + M_β and f_β = T_a M_β 1 for the current β; the operators see the new K."""
        Mb = self.Mb
        Mb.zeroEntries()
        _compat.assemble_matrix_into(Mb, self.mb_form)
        Mb.assemble()
        self.K_fix.copy(self.K, structure=PETSc.Mat.Structure.SAME_NONZERO_PATTERN)
        self.K.axpy(1.0, Mb, structure=PETSc.Mat.Structure.SAME_NONZERO_PATTERN)
        Mb.mult(self.ones, self.f_beta)
        self.f_beta.scale(self.inp.T_arterial_C)
        self.n_assemblies += 1
        self.beta_version += 1
        self.ops.set_K(self.K)
        if self.pool is not None:
            self.pool.refresh(Mb, self.ones, self.beta_version)

    def heat_load(self, fraction: float):
        """B q(fraction): the heat source load, cached by field fraction."""
        fraction = float(fraction)
        vec = self.q_cache.get(fraction)
        if vec is None:
            q = np.asarray(self.inp.heat_W_per_m3(fraction), dtype=float)
            self.dg0(q, self.qfun)
            vec = self.f_fix.duplicate()
            self.B.mult(_compat.petsc_vec(self.qfun), vec)
            _trim(self.q_cache)
            self.q_cache[fraction] = vec
        return vec

    def load(self, fraction: float, out=None):
        """f = f_fix + T_a M_β 1 + B q(fraction); cached per (fraction, perfusion version)."""
        key = (float(fraction), self.beta_version)
        vec = self.load_cache.get(key)
        if vec is None:
            vec = self.f_fix.duplicate()
            self.f_fix.copy(vec)
            vec.axpy(1.0, self.f_beta)
            vec.axpy(1.0, self.heat_load(fraction))
            _trim(self.load_cache)
            self.load_cache[key] = vec
        if out is not None:
            vec.copy(out)
            return out
        return vec

    def cell_temperatures(self, fun) -> np.ndarray:
        self.T_cell.interpolate(fun)
        return self.T_cell.x.array[self.dg0_dofs]

    # --- solving -------------------------------------------------------------------------------
    def build_rhs(self, system, out) -> None:
        """The Pennes right-hand side of ``system`` (a steppers.StepSystem) without blood-pool terms."""
        levels = {"n": _compat.petsc_vec(self.T_old_fun), "nm1": self.T_nm1}
        if len(system.mass) == 1:
            coef, name = system.mass[0]
            self.M.mult(levels[name], out); out.scale(coef)
        elif system.mass:
            self.tmp.set(0.0)
            for coef, name in system.mass:
                self.tmp.axpy(coef, levels[name])
            self.M.mult(self.tmp, out)
        else:
            out.set(0.0)
        if system.k_explicit:
            self.K.mult(_compat.petsc_vec(self.T_old_fun), self.tmp); out.axpy(-1.0, self.tmp)
        for fraction in system.fractions:
            out.axpy(1.0, self.load(fraction))

    def _linear_solve(self, system, t_s: float, bcv) -> None:
        self.build_rhs(system, self.b)
        if self.pool is None:
            self.ops.solve(system.c, self.b, _compat.petsc_vec(self.T), bcv)
        else:
            self.pool.solve(self.ops, system.c, system, self.b, _compat.petsc_vec(self.T), _compat.petsc_vec(self.T_old_fun), bcv)

    def step(self, system, t_s: float) -> int:
        """Solve (cM + K(β)) T = rhs (into self.T; with the blood pool if any) with damped Picard on β
        if the perfusion depends on T; returns the number of Picard iterations."""
        spec, T = self.spec, self.T
        bcv = self.bc_values(t_s)
        if not self.law.temperature_dependent:
            self._linear_solve(system, t_s, bcv)
            T.x.scatter_forward()
            return 1
        omega, prev = 1.0, np.inf
        mix = dolfinx.fem.Function(self.V) if system.cn_mix else None
        for it in range(1, spec.picard_max_iter + 1):
            if mix is not None:
                mix.x.array[:] = 0.5 * (T.x.array + self.T_old_fun.x.array)
                self.set_beta(self.cell_temperatures(mix))
            else:
                self.set_beta(self.cell_temperatures(T))
            self.assemble_perfusion()
            _compat.petsc_vec(T).copy(self.x_prev_iter)
            self._linear_solve(system, t_s, self.bc_values(t_s) if self.bc is not None else None)
            # δ = T̂ − T_k (fixed-point residual); damped update T_{k+1} = T_k + ω δ
            self.x_prev_iter.axpy(-1.0, _compat.petsc_vec(T))  # = −δ
            change = self.x_prev_iter.norm(PETSc.NormType.NORM_INFINITY)
            self.picard_max_seen = max(self.picard_max_seen, it)
            if change < spec.picard_tol_K:
                T.x.scatter_forward()
                return it
            if change >= prev and omega > 1.0 / 64:
                omega *= 0.5  # oscillating/diverging fixed point (strongly T-dependent β): damp
            prev = change
            if omega < 1.0:
                _compat.petsc_vec(T).axpy(1.0 - omega, self.x_prev_iter)  # T̂ + (1 − ω)(T_k − T̂) = T_k + ω δ
            T.x.scatter_forward()
        raise SolverError(
            f"perfusion model {self.law.name!r}: Picard iteration not converged at t = {t_s:.1f} s "
            f"(last change {change:.3g} K after {spec.picard_max_iter} iterations); expected a change "
            f"below thermal.picard_tol_K = {spec.picard_tol_K} K (try a smaller time step)"
        )

    def save_old(self):
        """Tⁿ ← current T (also for the Crank–Nicolson perfusion mix), θⁿ ← θ; returns Tⁿ's vector."""
        _compat.petsc_vec(self.T).copy(_compat.petsc_vec(self.T_old_fun))
        self.T_old_fun.x.scatter_forward()
        if self.pool is not None:
            self.pool.theta_old = self.pool.theta
        return _compat.petsc_vec(self.T_old_fun)

    def restore_old(self) -> None:
        """Back to Tⁿ, θⁿ (a rejected adaptive step)."""
        _compat.petsc_vec(self.T_old_fun).copy(_compat.petsc_vec(self.T))
        self.T.x.scatter_forward()
        if self.pool is not None:
            self.pool.theta = self.pool.theta_old

    def shift_history(self) -> None:
        """Tⁿ⁻¹ ← Tⁿ, θⁿ⁻¹ ← θⁿ after an accepted fixed step."""
        _compat.petsc_vec(self.T_old_fun).copy(self.T_nm1)
        if self.pool is not None:
            self.pool.theta_nm1 = self.pool.theta_old

    def arterial_state(self) -> tuple[float, float]:
        """(T_a in °C, exchange ∫β(T − T_a) dV in W) now."""
        if self.pool is None:
            return self.inp.T_arterial_C, float("nan")
        return self.pool.T_a0 + self.pool.theta, self.pool.exchange_W(_compat.petsc_vec(self.T))

    def baseline(self) -> Recorder:
        """Steady state without field (β at T_a) as the initial state; returns the recorder."""
        self.set_beta(np.full(self.local_cells.size, self.inp.T_arterial_C))
        self.assemble_perfusion()
        self.T.x.array[:] = self.inp.T_arterial_C
        _singular_check(self.inp, self.bc is not None)
        self.t_asm = time.perf_counter() - self.t0
        from planner.fem.bioheat.steppers import StepSystem

        pool, self.pool = self.pool, None  # the baseline has T_a = T_a,0 ...
        self.step(StepSystem(0.0, (), False, (0.0,), False), 0.0)
        self.pool = pool
        if pool is not None:  # ... and its exchange is the resting whole-body loss
            pool.refresh(self.Mb, self.ones, self.beta_version)
            pool.set_baseline(_compat.petsc_vec(self.T))
        if self.spec.cut_faces == "baseline":
            self._hold_cut_faces_at_baseline()
        tv = self.view.values()
        self.view.check_physical(tv, 0.0)
        return Recorder(self.view, self.spec, tv, self.arterial_state)

    def reset(self, inp: PennesInputs, spec: PennesRun) -> None:
        """Ready for another run with the same operators (same mesh, coefficients, perfusion law, skin
        and blood-pool data, element order and linear solver: see :func:`_operator_key`) and another
        heat source, initial state or run description: the matrices and the AMG hierarchies stay."""
        self.t_wall = self.t0 = time.perf_counter()
        self.inp, self.spec, self.law = inp, spec, inp.perfusion
        for vec in (*self.q_cache.values(), *self.load_cache.values()):
            vec.destroy()
        self.q_cache.clear()
        self.load_cache.clear()
        self.picard_max_seen, self.n_assemblies = 0, 4
        self.ops.solves = self.ops.iterations = self.ops.pc_setups = 0
        if self.pool is not None:
            self.pool.destroy()
            self.pool = None
        if inp.blood_pool is not None:  # (in the operator key: present in both runs or in neither)
            self.pool = Pool(inp.blood_pool, inp.T_arterial_C, self.f_fix)
        self.view = VertexView(self.fm, self.tmesh, inp, spec, self.T, self.T1, self.comm)

    def run(self, keep: bool = False) -> PennesResult:
        """Baseline, then the heated problem with the stepper the run asks for (``keep``: do not
        destroy the PETSc objects afterwards, for :meth:`reset` and another run)."""
        from planner.fem.bioheat.steppers import make_stepper

        stepper = make_stepper(self.spec, self.bc is not None or self.spec.cut_faces == "baseline")
        rec = self.baseline()
        t_loop = time.perf_counter()
        stepper.advance(self, rec)
        stats = self._stats(rec, time.perf_counter() - t_loop, stepper)
        result = self._result(rec, stats)
        if not keep:
            self.destroy()
        return result

    def _stats(self, rec: Recorder, t_loop: float, stepper) -> dict:
        ops = self.ops
        return {
            "dofs": int(self.V.dofmap.index_map.size_global),
            "ranks": int(self.comm.size),
            "element_order": self.spec.element_order,
            "steps": len(rec.times) - 1,
            "linear_solves": ops.solves,
            "linear_iterations": ops.iterations,
            "pc_setups": ops.pc_setups,
            "preconditioners": sorted(set(ops.pc_used.values())),
            "max_diffusion_number": float(self.kr_max / min([c for c in ops.cache if c > 0], default=np.inf)),
            "perfusion_assemblies": self.n_assemblies - 4,
            "picard_max_iterations": self.picard_max_seen,
            "adaptive": getattr(stepper, "stats", None) or None,
            "assembly_s": self.t_asm,
            "time_loop_s": t_loop,
            "total_s": time.perf_counter() - self.t_wall,
        }

    def _result(self, rec: Recorder, stats: dict) -> PennesResult:
        view = self.view
        return PennesResult(
            times_s=np.asarray(rec.times), fractions=np.asarray(rec.fracs), T_baseline_C=rec.base_vertex,
            T_final_C=view.gather(rec.tv), T_max_C=view.gather(rec.tmax), CEM43_min=view.gather(rec.cem),
            time_above_s=view.gather(rec.tab), snapshot_times_s=np.asarray(rec.snaps_t),
            T_snapshots_C=np.asarray(rec.snaps),
            probe_T_C=np.asarray(rec.probes).T.reshape(view.n_probes, len(rec.times)),
            body_max_T_C=np.asarray(rec.bmax), stats=stats, arterial_T_C=np.asarray(rec.arterial),
            exchange_W=np.asarray(rec.exchange),
        )

    def destroy(self) -> None:
        for obj in [self.M, self.K_fix, self.K, self.B, self.Mb, self.f_fix, self.ones, self.f_beta, self.b,
                    self.tmp, self.x_prev_iter, self.T_nm1, *self.load_cache.values(), *self.q_cache.values()]:
            obj.destroy()
        self.ops.destroy()
        if self.pool is not None:
            self.pool.destroy()


def _trim(cache: dict) -> None:
    if len(cache) > CACHE_MAX:
        for key in list(cache)[:4]:
            cache.pop(key).destroy()


def _singular_check(inp: PennesInputs, has_dirichlet: bool) -> None:
    """A steady problem with no perfusion, no skin exchange and no Dirichlet data is singular."""
    if has_dirichlet or inp.h_skin_W_per_m2_K > 0:
        return
    if np.any(np.asarray(inp.perfusion.w0_per_s) > 0) or inp.perfusion.temperature_dependent:
        return
    raise SolverError(
        "steady baseline: no perfusion anywhere and thermal.skin_h_W_per_m2_K = 0 leave the temperature "
        "undetermined; expected a positive skin heat-transfer coefficient or perfused tissue"
    )


# Inside reuse_operators(): the last solver, by operator key (its matrices and AMG set-ups are reused).
_WARM: dict[tuple, PennesSolver] | None = None


@contextmanager
def reuse_operators() -> Iterator[None]:
    """Within this block :func:`solve_pennes` keeps its last solver and reuses its assembled matrices
    and AMG hierarchies for the next run with the same operators (settings search, implant-only
    runs: only the heat source, the initial state or the time steps differ); freed on exit."""
    global _WARM
    if _WARM is not None:  # nested: the outer block owns the solvers
        yield
        return
    _WARM = {}
    try:
        yield
    finally:
        warm, _WARM = _WARM, None
        for solver in warm.values():
            solver.destroy()


def _operator_key(tmesh: TissueMesh, inp: PennesInputs, run: PennesRun, comm: MPI.Comm) -> tuple | None:
    """What fixes the matrices, the loads without heat and the preconditioners of a run (None: never
    reused, i.e. Dirichlet data or cut faces held at the baseline, which change the operators)."""
    if inp.dirichlet is not None or run.cut_faces == "baseline":
        return None
    law = inp.perfusion
    h = hashlib.sha1()
    for arr in (inp.k_W_per_m_K, inp.rho_c_J_per_m3_K, inp.q_met_W_per_m3, inp.cell_tissue, law.w0_per_s,
                getattr(law, "curve_id", np.zeros(0))):
        h.update(np.ascontiguousarray(arr).tobytes())
    params = {k: v for k, v in vars(law).items() if not isinstance(v, np.ndarray)} if hasattr(law, "__dict__") else {}
    return (id(tmesh), id(comm), h.hexdigest(), law.name, repr(sorted(params.items())), inp.T_arterial_C,
            inp.T_ambient_C, inp.h_skin_W_per_m2_K, inp.blood_pool, inp.tissue_names, run.element_order,
            run.linear_pc, run.linear_rtol)


def solve_pennes(tmesh: TissueMesh, inp: PennesInputs, run: PennesRun, comm: MPI.Comm = MPI.COMM_WORLD) -> PennesResult:
    """Baseline (no field) steady state, then the steady or transient heated problem (inside
    :func:`reuse_operators`: on the previous run's operators when they are the same)."""
    key = _operator_key(tmesh, inp, run, comm) if _WARM is not None else None
    if _WARM is None or key is None:
        return PennesSolver(tmesh, inp, run, comm).run()
    solver = _WARM.pop(key, None)
    for other in _WARM.values():  # one solver kept: the operators changed
        other.destroy()
    _WARM.clear()
    if solver is None:
        solver = PennesSolver(tmesh, inp, run, comm)
    else:
        solver.reset(inp, run)
    try:
        result = solver.run(keep=True)
    except BaseException:
        solver.destroy()
        raise
    _WARM[key] = solver
    return result
