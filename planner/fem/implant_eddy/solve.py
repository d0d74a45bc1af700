"""Reduced-field solve on a tagged mesh, and one implant end to end (sub-model mesh → solve)."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import dolfinx
import dolfinx.fem
import dolfinx.mesh
from mpi4py import MPI
from petsc4py import PETSc

from planner.errors import SolverError
from planner.fem.implant_eddy.assembly import ReducedFieldSystem, assemble_reduced_field
from planner.fem.implant_eddy.blocks import ams_preconditioner, block_krylov, check_converged
from planner.fem.implant_eddy.direct import mumps_available, solve_direct
from planner.fem.implant_eddy.evaluate import sample_total_field
from planner.fem.implant_eddy.losses import metal_losses
from planner.fem.implant_eddy.mesh_import import mesh_submodel
from planner.fem.implant_eddy.model import (
    CellTags,
    ImplantSolveOptions,
    InfoT,
    ReducedFieldSolution,
    SubModelResult,
    SubModelSource,
)

log = logging.getLogger(__name__)


def _split(x: PETSc.Vec, system: ReducedFieldSystem) -> tuple[dolfinx.fem.Function, dolfinx.fem.Function]:
    """Block solution [u | v] → N1curl Functions (u, v) with ghosts updated."""
    n = system.n_local
    ur, vi = dolfinx.fem.Function(system.V), dolfinx.fem.Function(system.V)
    xa = x.getArray(readonly=True)
    ur.x.array[:n] = xa[:n]
    vi.x.array[:n] = xa[n:]
    ur.x.scatter_forward()
    vi.x.scatter_forward()
    return ur, vi


def _use_direct(system: ReducedFieldSystem, options: ImplantSolveOptions) -> bool:
    if options.solver == "direct":
        if not mumps_available():
            raise SolverError("implant solver 'direct' needs PETSc with MUMPS, which this PETSc lacks; "
                              "expected solver = 'ams' or 'auto' here")
        return True
    return options.solver == "auto" and system.n_global <= options.direct_max_dofs and mumps_available()


@dataclass(frozen=True)
class _Solved:
    x: PETSc.Vec
    iterations: int
    ksp_reason: int
    residual_norm: float
    t_setup: float


def _solve_block(system: ReducedFieldSystem, options: ImplantSolveOptions, comm: MPI.Comm,
                 keep: list) -> _Solved:
    """Solve the block system (direct, or PRESB-GMRES / MINRES with AMS); PETSc objects to destroy are appended to ``keep``."""
    if _use_direct(system, options):
        n = system.n_local
        x = PETSc.Vec().createMPI((2 * n, 2 * system.n_global), comm=comm)
        rhs = x.duplicate()
        rhs.set(0.0)
        rhs.getArray()[n:] = system.b.getArray(readonly=True)[:n]
        keep += [x, rhs]
        t = time.perf_counter()
        try:
            keep.append(solve_direct(system, x, rhs))
            return _Solved(x=x, iterations=0, ksp_reason=0, residual_norm=0.0, t_setup=time.perf_counter() - t)
        except SolverError as exc:
            if options.solver == "direct":
                raise
            log.warning("%s; solver 'auto' continues with AMS-%s", exc, options.krylov.upper())
    t = time.perf_counter()
    inner, aux = ams_preconditioner(system, options.degree, comm, cycle_type=3 if options.krylov == "presb" else 7)
    solver = block_krylov(system, inner, comm, method=options.krylov, rtol=options.rtol,
                          max_iterations=options.max_iterations)
    keep += [solver, inner, *aux]
    t_setup = time.perf_counter() - t
    solver.ksp.solve(solver.rhs, solver.x)
    check_converged(solver.ksp, rtol=options.rtol, max_iterations=options.max_iterations)
    return _Solved(x=solver.x, iterations=int(solver.ksp.getIterationNumber()),
                   ksp_reason=int(solver.ksp.getConvergedReason()),
                   residual_norm=float(solver.ksp.getResidualNorm()), t_setup=t_setup)


def solve_reduced_field(msh: dolfinx.mesh.Mesh, cell_tags: CellTags,
                        options: ImplantSolveOptions) -> ReducedFieldSolution:
    """Solve the reduced-field problem on a tagged DOLFINx mesh (metres; METAL_TAG / SURROUNDING_TAG).

    ``options.solver`` picks the sparse direct LDLᵀ (``auto`` up to ``direct_max_dofs``) or PRESB-GMRES with
    the block AMS preconditioner. Raises :class:`SolverError` with the PETSc reason on a failure.
    ``iterations`` is 0 for the direct solve; times_s "setup" is the factorisation (direct) or the AMS set-up.
    """
    comm = msh.comm
    t0 = time.perf_counter()
    system = assemble_reduced_field(msh, cell_tags, options)
    t_asm = time.perf_counter()
    keep: list = []
    try:
        sol = _solve_block(system, options, comm, keep)
        t_solve = time.perf_counter()
        ur, vi = _split(sol.x, system)
        post = metal_losses(cell_tags, system.dx, system.A0 + ur, vi, system.kappa,
                            omega_rad_per_s=options.omega_rad_per_s, sigma_S_per_m=options.sigma_S_per_m,
                            collect_cells=options.collect_cells)
        sample = None
        if options.sample_points_m is not None:
            sample = sample_total_field(options.sample_points_m, A0=system.A0, ur=ur, vi=vi, cell_tags=cell_tags,
                                        degree=options.degree, omega_rad_per_s=options.omega_rad_per_s,
                                        H0_peak_at=options.H0_peak_at, total_H=options.sample_total_H)
        del ur, vi
        t_post = time.perf_counter()
        return ReducedFieldSolution(
            loss_W=post.loss_W, peak_J_A_per_m2=post.peak_J_A_per_m2, dofs=int(system.n_global),
            num_cells=int(msh.topology.index_map(msh.topology.dim).size_global),
            iterations=sol.iterations, ksp_reason=sol.ksp_reason, residual_norm=sol.residual_norm,
            fe_volume_m3=post.fe_volume_m3,
            times_s=dict(assemble=t_asm - t0, setup=sol.t_setup, solve=t_solve - t_asm - sol.t_setup,
                         post=t_post - t_solve),
            metal_cell_centroids_m=post.cell_centroids_m, metal_cell_loss_W=post.cell_loss_W,
            field_sample=sample,
        )
    finally:
        system.destroy()
        for obj in keep:
            obj.destroy()


def solve_implant(geometry: SubModelSource[InfoT], options: ImplantSolveOptions) -> SubModelResult[InfoT]:
    """Mesh the sub-model of one implant (``geometry.open`` sized for the skin depth) and solve for its
    eddy-current loss. Collective over ``options.comm``."""
    t0 = time.perf_counter()
    skin_depth_mm = options.skin_depth_mm
    msh, ct, info = mesh_submodel(lambda: geometry.open(skin_depth_mm, options.degree), options.comm)
    t_mesh = time.perf_counter() - t0
    res = solve_reduced_field(msh, ct, options)
    return SubModelResult(
        loss_W=res.loss_W, peak_J_A_per_m2=res.peak_J_A_per_m2, dofs=res.dofs, num_cells=res.num_cells,
        iterations=res.iterations, ksp_reason=res.ksp_reason, residual_norm=res.residual_norm,
        fe_volume_m3=res.fe_volume_m3, times_s=dict(mesh=t_mesh, **res.times_s),
        metal_cell_centroids_m=res.metal_cell_centroids_m, metal_cell_loss_W=res.metal_cell_loss_W,
        field_sample=res.field_sample, submodel=info, frequency_Hz=options.frequency_Hz,
        sigma_S_per_m=options.sigma_S_per_m,
        degree=options.degree, geometry_order=info.geometry_order, exact_volume_m3=info.exact_volume_m3,
    )


__all__ = ["solve_reduced_field", "solve_implant"]
