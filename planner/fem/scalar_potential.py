"""Low-frequency eddy currents in tissue: real scalar potential ψ, CG + hypre BoomerAMG.

Formulation (DESIGN.md §2; peak phasors, e^{jωt}). Tissue (σ ≲ 1 S/m) does not perturb the applied
field, so E = −jω(A0 + ∇ψ) with the applicator's Coulomb-gauge vector potential A0 and a real ψ that
makes the current solenoidal with no current through the skin:

    ∇·σ(∇ψ + A0) = 0  in the conducting domain Ω,     n·σ(∇ψ + A0) = 0  on ∂Ω.

Weak form (Lagrange P1 or P2):  ∫Ω σ ∇ψ·∇v dx = −∫Ω σ A0·∇v dx  for all v. ψ is fixed up to one
constant per connected component of Ω: the largest component's constant vector is passed to PETSc
as the null space (CG removes it from the residual, the right-hand side is projected onto its
complement), every other component (small islands) gets one dof pinned to 0 — its gradient, hence
E, does not depend on that choice. A0 is interpolated into vector Lagrange of the same degree.

Cell outputs: the cell mean of |E|² (peak²), with |E|² = ω² |A0 + ∇ψ|², integrated exactly by
assembling against a DG0 test function; Q = σ|E|²/2 (time-averaged W/m³). The caller passes only the
conducting cells (σ > 0): air, metal implants and other insulators are holes in Ω, whose walls carry
the same natural condition n·J = 0 as the skin.
"""
from __future__ import annotations

import time
import weakref
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import ufl
import dolfinx.fem
import dolfinx.fem.petsc
from mpi4py import MPI
from petsc4py import PETSc

from planner.artefacts import TissueMesh
from planner.errors import SolverError
from planner.fem import _compat
from planner.fem.mesh import to_dolfinx


@dataclass
class ScalarPotentialResult:
    """Results in the order of the TissueMesh passed in (the conducting sub-mesh), on every rank."""

    E2_mean_cell_V2_per_m2: np.ndarray  # (M,) cell mean of |E_peak|²
    total_loss_W: float  # ∫ σ|E|²/2 dx, assembled and summed over ranks
    dofs: int
    iterations: int
    element_order: int
    timings_s: dict = field(default_factory=dict)
    ranks: int = 1


# DOLFINx meshes of recently solved TissueMeshes (mesh creation dominates repeated solves, e.g. a
# frequency sweep): keyed by id, validated by a weak reference, so nothing is kept alive or pickled.
_FEM_MESH_CACHE: dict[int, tuple] = {}
_FEM_MESH_CACHE_SIZE = 2


def _fem_mesh(tmesh: TissueMesh, comm: MPI.Comm):
    key = id(tmesh)
    hit = _FEM_MESH_CACHE.get(key)
    if hit is not None and hit[0]() is tmesh and hit[1] is comm:
        return hit[2]
    fm = to_dolfinx(tmesh, comm)
    for k in [k for k, v in _FEM_MESH_CACHE.items() if v[0]() is None]:
        del _FEM_MESH_CACHE[k]
    while len(_FEM_MESH_CACHE) >= _FEM_MESH_CACHE_SIZE:
        _FEM_MESH_CACHE.pop(next(iter(_FEM_MESH_CACHE)))
    _FEM_MESH_CACHE[key] = (weakref.ref(tmesh), comm, fm)
    return fm


def _boomeramg_options(prefix: str) -> None:
    opts = PETSc.Options()
    opts[f"{prefix}pc_hypre_type"] = "boomeramg"
    opts[f"{prefix}pc_hypre_boomeramg_strong_threshold"] = 0.5
    opts[f"{prefix}pc_hypre_boomeramg_coarsen_type"] = "HMIS"
    opts[f"{prefix}pc_hypre_boomeramg_interp_type"] = "ext+i"
    opts[f"{prefix}pc_hypre_boomeramg_agg_nl"] = 1
    opts[f"{prefix}pc_hypre_boomeramg_P_max"] = 4


def solve_scalar_potential(
    tmesh: TissueMesh,
    sigma_cell_S_per_m: np.ndarray,
    A0_V_s_per_m: Callable[[np.ndarray], np.ndarray],
    omega_rad_per_s: float,
    *,
    cell_component: np.ndarray | None = None,
    element_order: int = 1,
    rtol: float = 1e-8,
    max_it: int = 500,
    comm: MPI.Comm = MPI.COMM_WORLD,
) -> ScalarPotentialResult:
    """Solve ∇·σ(∇ψ + A0) = 0 on ``tmesh`` (all cells conducting, σ > 0 per cell).

    ``A0_V_s_per_m(points_m (n,3)) -> (n,3)``: applied vector potential (peak, Coulomb gauge).
    ``cell_component``: connected-component id per cell (components sharing no vertex); None = one.
    Raises SolverError if CG does not reach ``rtol`` (relative preconditioned residual) in ``max_it``.
    """
    if element_order not in (1, 2):
        raise SolverError(f"element_order = {element_order!r}: expected 1 or 2")
    t = {}
    t0 = time.perf_counter()
    fm = _fem_mesh(tmesh, comm)
    msh = fm.mesh
    t["mesh_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    V = _compat.function_space(msh, "Lagrange", element_order)
    W = _compat.function_space(msh, "Lagrange", element_order, shape=(3,))
    Q0 = _compat.function_space(msh, "DG", 0)
    sigma = dolfinx.fem.Function(Q0)
    cells_local = fm.local_cell_values(np.arange(tmesh.num_cells))
    q0_dofs = _compat.cell_dofs(Q0).reshape(-1)
    sigma.x.array[q0_dofs] = np.asarray(sigma_cell_S_per_m, dtype=float)[cells_local]
    A0 = dolfinx.fem.Function(W)
    xyz = W.tabulate_dof_coordinates()
    A0.x.array[:] = np.asarray(A0_V_s_per_m(xyz), dtype=float).reshape(-1)
    t["A0_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    a = _compat.form(sigma * ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx)
    L = _compat.form(-sigma * ufl.inner(A0, ufl.grad(v)) * ufl.dx)

    # components: null space for the largest, one pinned dof for each other one
    n_loc = V.dofmap.index_map.size_local
    n_ghost = V.dofmap.index_map.num_ghosts
    bcs = []
    dof_comp = None
    if cell_component is not None:
        comp = np.asarray(cell_component)
        counts = np.bincount(comp)
        big = int(np.argmax(counts))
        cdofs = _compat.cell_dofs(V).reshape(len(cells_local), -1)
        dof_comp = np.empty(n_loc + n_ghost, dtype=np.int64)
        dof_comp[cdofs] = comp[cells_local][:, None]
        others = np.flatnonzero(counts > 0)
        others = others[others != big]
        if others.size:
            # pin the first vertex of the first cell of every other component
            first_cell = np.full(counts.size, -1, dtype=np.int64)
            order = np.arange(comp.size)[::-1]
            first_cell[comp[order]] = order
            pin_xyz = tmesh.points_m[tmesh.cells[first_cell[others], 0]]
            from scipy.spatial import cKDTree

            tree = cKDTree(pin_xyz)

            def marker(x):
                d, _ = tree.query(x.T)
                return d < 1e-12 * max(1.0, float(np.abs(tmesh.points_m).max()))

            pdofs = dolfinx.fem.locate_dofs_geometrical(V, marker)
            bcs = [dolfinx.fem.dirichletbc(PETSc.ScalarType(0.0), pdofs, V)]
    A = _compat.assemble_matrix(a, bcs=bcs)
    A.assemble()
    b = _compat.assemble_vector(L)
    _compat.apply_lifting(b, [a], [bcs])
    b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
    _compat.set_bc(b, bcs)
    ns_vec = A.createVecLeft()
    if dof_comp is None:
        ns_vec.set(1.0)
    else:
        ns_vec.array[:] = (dof_comp[:n_loc] == big).astype(float)
    ns_vec.normalize()
    nullspace = PETSc.NullSpace().create(vectors=[ns_vec], comm=msh.comm)
    A.setNullSpace(nullspace)
    nullspace.remove(b)
    t["assembly_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    ksp = PETSc.KSP().create(msh.comm)
    prefix = f"planner_eddy_{id(ksp)}_"
    ksp.setOptionsPrefix(prefix)
    _boomeramg_options(prefix)
    ksp.setOperators(A)
    ksp.setType("cg")
    ksp.getPC().setType("hypre")
    ksp.setTolerances(rtol=rtol, atol=0.0, max_it=max_it)
    ksp.setNormType(PETSc.KSP.NormType.UNPRECONDITIONED)
    ksp.setErrorIfNotConverged(True)
    ksp.setFromOptions()
    ksp.setUp()
    t["setup_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    psi = dolfinx.fem.Function(V)
    try:
        ksp.solve(b, _compat.petsc_vec(psi))
    except PETSc.Error as exc:  # raised through ksp_error_if_not_converged
        raise SolverError(f"eddy-current CG/BoomerAMG did not converge (reason {ksp.getConvergedReason()}, "
                          f"{ksp.getIterationNumber()} iterations, rtol = {rtol:g}): {exc}") from None
    if ksp.getConvergedReason() <= 0:
        raise SolverError(f"eddy-current CG/BoomerAMG diverged: reason {ksp.getConvergedReason()}")
    psi.x.scatter_forward()
    its = ksp.getIterationNumber()
    t["solve_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    w = ufl.TestFunction(Q0)
    F = A0 + ufl.grad(psi)
    w2 = dolfinx.fem.Constant(msh, PETSc.ScalarType(omega_rad_per_s ** 2))  # a Constant: no JIT per frequency
    e2 = _compat.assemble_vector(_compat.form(w2 * ufl.inner(F, F) * w * ufl.dx))
    e2.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
    n_owned = fm.num_owned_cells
    e2_int_owned = e2.array_r[q0_dofs[:n_owned]] if q0_dofs.size else np.zeros(0)
    e2_int = fm.gather_cell_values(np.asarray(e2_int_owned, dtype=float))
    E2_mean = e2_int / tmesh.cell_volumes_m3()
    P_local = dolfinx.fem.assemble_scalar(_compat.form(0.5 * w2 * sigma * ufl.inner(F, F) * ufl.dx))
    total = float(msh.comm.allreduce(P_local, op=MPI.SUM))
    t["postprocess_s"] = time.perf_counter() - t0
    dofs = V.dofmap.index_map.size_global
    for obj in (ksp, A, b, e2):
        obj.destroy()
    return ScalarPotentialResult(E2_mean, total, int(dofs), int(its), element_order, t, msh.comm.size)
