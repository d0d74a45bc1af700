"""Per-vertex views of the solution and the recorder of accepted steps (dose, maxima, probes,
snapshots). The dose kernel is injected (``PennesRun.dose_step``) by the thermal stage."""
from __future__ import annotations

import numpy as np
from mpi4py import MPI

from planner.errors import SolverError
from planner.fem.bioheat.data import T_MAX_C, T_MIN_C, PennesInputs, PennesRun


class VertexView:
    """Vertex values of the solution T (its P1 interpolant for P2), probes and the physical check."""

    def __init__(self, fm, tmesh, inp: PennesInputs, run: PennesRun, T, T1, comm):
        self.fm, self.tmesh, self.inp, self.run, self.comm = fm, tmesh, inp, run, comm
        self.T, self.T1, self.V1 = T, T1, T1.function_space
        self.n_owned = self.V1.dofmap.index_map.size_local
        _, vert_of_dof = fm.p1_dof_to_vertex(self.V1)
        self.vert_owned = vert_of_dof[: self.n_owned]
        N = tmesh.num_vertices
        vert_to_local = -np.ones(N, dtype=np.int64)
        vert_to_local[self.vert_owned] = np.arange(self.n_owned)
        pv = np.asarray(run.probe_vertices, dtype=np.int64).reshape(-1, 4)
        pw = np.asarray(run.probe_weights, dtype=float).reshape(-1, 4)
        loc = vert_to_local[pv] if pv.size else np.zeros((0, 4), np.int64)
        self.p_idx, p_col = np.nonzero(loc >= 0)
        self.p_dof = loc[self.p_idx, p_col]
        self.p_w = pw[self.p_idx, p_col]
        self.n_probes = pv.shape[0]
        self.vert_tissue = np.empty(N, dtype=np.int64)
        self.vert_tissue[tmesh.cells.ravel()] = np.repeat(inp.cell_tissue, 4)

    def values(self) -> np.ndarray:
        if self.T1 is not self.T:
            self.T1.interpolate(self.T)
        return self.T1.x.array[: self.n_owned].copy()

    def snapshot(self) -> np.ndarray:
        """The current vertex field in TissueMesh order (identical on every rank)."""
        return self.fm.gather_vertex_values(self.V1, self.T1.x.array)

    def gather(self, owned: np.ndarray) -> np.ndarray:
        full = np.zeros(self.n_owned + self.V1.dofmap.index_map.num_ghosts)
        full[: self.n_owned] = owned
        return self.fm.gather_vertex_values(self.V1, full)

    def probes(self, tv: np.ndarray) -> np.ndarray:
        vals = np.zeros(self.n_probes)
        if self.n_probes:
            np.add.at(vals, self.p_idx, self.p_w * tv[self.p_dof])
            vals = self.comm.allreduce(vals, op=MPI.SUM)
        return vals

    def check_physical(self, tv: np.ndarray, t_s: float) -> float:
        """Body maximum; SolverError naming tissue, position and time if outside 0..100 °C."""
        comm = self.comm
        lo = comm.allreduce(float(tv.min()) if tv.size else np.inf, op=MPI.MIN)
        hi = comm.allreduce(float(tv.max()) if tv.size else -np.inf, op=MPI.MAX)
        if self.run.check_physical and (lo < T_MIN_C or hi > T_MAX_C or not np.isfinite(lo + hi)):
            N = self.tmesh.num_vertices
            bad = hi if (hi > T_MAX_C or not np.isfinite(hi)) else lo
            mine = np.nonzero(tv == bad)[0] if np.isfinite(bad) else np.nonzero(~np.isfinite(tv))[0]
            cand = int(self.vert_owned[mine[0]]) if mine.size else N
            vtx = comm.allreduce(cand, op=MPI.MIN)
            tissue = self.inp.tissue_names[self.vert_tissue[vtx]] if vtx < N else "?"
            xyz = np.round(self.tmesh.points_m[vtx] * 1e3, 2).tolist() if vtx < N else None
            raise SolverError(
                f"temperature T = {bad:.2f} °C in tissue {tissue!r} at {xyz} mm, time t = {t_s:.1f} s: "
                f"expected {T_MIN_C:.0f}..{T_MAX_C:.0f} °C (non-physical; check heat source, field and time step)"
            )
        return hi


class Recorder:
    """Accepted steps: times, field fractions, body maxima, probes, snapshots and (injected) dose."""

    def __init__(self, view: VertexView, run: PennesRun, tv0: np.ndarray, arterial):
        self.view, self.run, self.arterial_state = view, run, arterial
        T_a, P_ex = arterial()
        self.arterial, self.exchange = [T_a], [P_ex]
        self.cem = np.zeros(view.n_owned)
        self.tab = np.zeros(view.n_owned)
        self.tmax = tv0.copy()
        self.times = [0.0]
        self.fracs = [0.0]
        self.probes = [view.probes(tv0)]
        comm = view.comm
        self.bmax = [comm.allreduce(float(tv0.max()) if tv0.size else -np.inf, op=MPI.MAX)]
        self.base_vertex = view.snapshot()
        self.snaps_t: list[float] = [0.0]
        self.snaps: list[np.ndarray] = [self.base_vertex]
        self.snap_targets = [float(s) for s in np.asarray(run.snapshot_times_s) if s > 0]
        self.tv = tv0

    def record(self, t1: float, dt: float, fraction1: float, tv_old: np.ndarray, last: bool) -> np.ndarray:
        """Vertex values, physical check, dose, probes and snapshots after an accepted step."""
        view = self.view
        tv_new = view.values()
        self.bmax.append(view.check_physical(tv_new, t1))
        self.run.dose_step(self.cem, self.tab, self.tmax, tv_old, tv_new, float(dt), self.run.threshold_C)
        self.times.append(t1)
        self.fracs.append(fraction1)
        self.probes.append(view.probes(tv_new))
        T_a, P_ex = self.arterial_state()
        self.arterial.append(T_a)
        self.exchange.append(P_ex)
        if self.run.on_time is not None:
            self.run.on_time(t1)
        while self.snap_targets and self.snap_targets[0] <= t1 + 1e-9 * max(1.0, t1):
            self.snap_targets.pop(0)
            if not (self.snaps_t and abs(self.snaps_t[-1] - t1) < 1e-9):
                self.snaps_t.append(t1)
                self.snaps.append(view.snapshot())
        if last and abs(self.snaps_t[-1] - t1) > 1e-9:
            self.snaps_t.append(t1)
            self.snaps.append(view.snapshot())
        self.tv = tv_new
        return tv_new
