"""Low-frequency eddy currents in tissue: real scalar potential ψ, CG + hypre BoomerAMG.

Formulation (DESIGN.md §2; peak phasors, e^{jωt}). Tissue (σ ≲ 1 S/m) does not perturb the applied
field, so E = −jω(A0 + ∇ψ) with the applicator's Coulomb-gauge vector potential A0 and a real ψ that
makes the current solenoidal:

    ∇·σ(∇ψ + A0) = 0  in the conducting domain Ω,
    n·σ(∇ψ + A0) = 0  on the skin and on insulating holes (air, insulated implants),
    n·σ(∇ψ + A0) = n·σF_p  on cut planes p (``cut_flux``: the undisturbed current crosses them),
    ψ = c_k − g_k(x)  on floating conductor k (``floating``), one unknown c_k, zero net current.

Weak form (Lagrange P1 or P2):  ∫Ω σ ∇ψ·∇v dx = −∫Ω σ A0·∇v dx + Σ_p ∫_p σ F_p·n v ds.

Floating conductors (galvanic short circuit, issue 11). The conductor's cells are part of Ω (σ = 0
there is allowed: their contribution cancels), and every dof of conductor k is tied to one unknown:
ψ = P y + ψ_g with P the 0/1 prolongation (free dofs → themselves, all dofs of conductor k → y_k)
and ψ_g = −g_k at those dofs. The reduced system PᵀAP y = Pᵀ(b − Aψ_g) is assembled by PETSc's
PtAP: exact equipotential (no σ contrast, so CG + BoomerAMG iteration counts do not depend on a
metal conductivity), and the row of y_k is the net current into conductor k, which is thus zero
(natural condition). ``g_k`` is the gauge term: with g_k = A0(c)·(x − c) the conductor is an
equipotential of the locally uniform induced field E0 = −jω(A0(c) + ∇ψ(c)), i.e. E_t = 0 on it up to
the small rotational part ½ωμ0 H × (x − c) that the implant's own reaction field (skin-effect
sub-model) would cancel.

ψ is fixed up to one constant per connected component of Ω: the largest component's constant vector
is passed to PETSc as the null space, every other component gets one dof pinned to 0.

Cell outputs: the cell mean of |E|² (peak²) and of the vector A0 + ∇ψ, assembled against DG0 test
functions; loss = ∫ σ|E|²/2 dx (W, time-averaged).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import dolfinx.fem
import dolfinx.fem.petsc
import numpy as np
import ufl
from mpi4py import MPI
from petsc4py import PETSc

from planner.artefacts import TissueMesh
from planner.errors import SolverError
from planner.fem import _compat
from planner.fem.mesh import fem_mesh
from planner.fem.petsc_options import prefixed_options

PointField = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class FloatingConductor:
    """A region that is one equipotential: ψ = c − gauge(x) on its cells' dofs, c unknown."""

    cells: np.ndarray  # (M,) bool over the TissueMesh cells
    gauge: PointField  # points (n,3) -> (n,) ; e.g. A0(c)·(x − c)


@dataclass(frozen=True)
class BoundaryFlux:
    """Prescribed current through boundary triangles: n·σ(∇ψ + A0) = n·σ F."""

    facets: np.ndarray  # (k, 3) vertex indices into the TissueMesh
    field: PointField  # points (n,3) -> (n,3), the undisturbed A0 + ∇ψ


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
    F_mean_cell_V_s_per_m: np.ndarray | None = None  # (M,3) cell mean of A0 + ∇ψ (E = −jω F)
    conductor_potentials: tuple = ()  # c_k per floating conductor (V·s/m, ψ units)
    F_vertex_cell_V_s_per_m: np.ndarray | None = None  # (M,4,3) A0 + ∇ψ of each cell at its 4 vertices


BOOMERAMG = {"pc_hypre_type": "boomeramg", "pc_hypre_boomeramg_strong_threshold": 0.5,
              "pc_hypre_boomeramg_coarsen_type": "HMIS", "pc_hypre_boomeramg_interp_type": "ext+i",
              "pc_hypre_boomeramg_agg_nl": 1, "pc_hypre_boomeramg_P_max": 4}


def _component_pins(V, fm, tmesh: TissueMesh, comp: np.ndarray, avoid: np.ndarray):
    """(Dirichlet pins, component id per local dof, largest component): one pinned dof (value 0)
    in every component but the largest, on a cell outside ``avoid`` (the floating conductors)."""
    cells_local = fm.local_cell_values(np.arange(tmesh.num_cells))
    counts = np.bincount(comp)
    big = int(np.argmax(counts))
    cdofs = _compat.cell_dofs(V).reshape(len(cells_local), -1)
    imap = V.dofmap.index_map
    dof_comp = np.empty(imap.size_local + imap.num_ghosts, dtype=np.int64)
    dof_comp[cdofs] = comp[cells_local][:, None]
    others = np.flatnonzero(counts > 0)
    others = others[others != big]
    if not others.size:
        return [], dof_comp, big
    first_cell = np.full(counts.size, -1, dtype=np.int64)
    order = np.flatnonzero(~avoid)[::-1]
    first_cell[comp[order]] = order
    if (first_cell[others] < 0).any():
        raise SolverError("a connected piece of the conducting domain is a floating conductor only "
                          "(an implant touching no conducting tissue): expected it to be declared insulated")
    pin_xyz = tmesh.points_m[tmesh.cells[first_cell[others], 0]]
    from scipy.spatial import cKDTree

    tree = cKDTree(pin_xyz)
    scale = max(1.0, float(np.abs(tmesh.points_m).max()))

    def marker(x):
        d, _ = tree.query(x.T)
        return d < 1e-12 * scale

    pdofs = dolfinx.fem.locate_dofs_geometrical(V, marker)
    return [dolfinx.fem.dirichletbc(PETSc.ScalarType(0.0), pdofs, V)], dof_comp, big


def _pins(V, fm, tmesh: TissueMesh, cell_component, floating):
    """(pins, component per dof, largest component, component of each floating conductor)."""
    if cell_component is None:
        return [], None, 0, [0] * len(floating)
    avoid = np.zeros(tmesh.num_cells, bool)
    for fc in floating:
        avoid |= np.asarray(fc.cells, bool)
    comp = np.asarray(cell_component)
    bcs, dof_comp, big = _component_pins(V, fm, tmesh, comp, avoid)
    return bcs, dof_comp, big, [int(comp[np.flatnonzero(fc.cells)[0]]) for fc in floating]


def _flux_terms(fm, V, W, sigma, v, fluxes: Sequence[BoundaryFlux]):
    """Σ_p ∫_p σ F_p·n v ds over the boundary triangles of each flux group (matched by centroid)."""
    if not fluxes:
        return None
    from scipy.spatial import cKDTree

    msh, tm = fm.mesh, fm.tissue_mesh
    ext = _compat.exterior_facets(msh)
    mid = _compat.facet_midpoints(msh, ext) if ext.size else np.zeros((0, 3))
    ents, vals = [], []
    for p, fl in enumerate(fluxes):
        tri = tm.points_m[np.asarray(fl.facets, dtype=np.int64)]
        if tri.shape[0] == 0 or ext.size == 0:
            continue
        tol = 1e-6 * float(np.linalg.norm(tri[:, 1] - tri[:, 0], axis=1).min())
        dist, _ = cKDTree(tri.mean(axis=1)).query(mid, distance_upper_bound=tol)
        hit = np.isfinite(dist)
        ents.append(ext[hit])
        vals.append(np.full(int(hit.sum()), p + 1, np.int32))
    e = np.concatenate(ents) if ents else np.zeros(0, np.int32)
    tags = _compat.meshtags(msh, msh.topology.dim - 1, e.astype(np.int32),
                            np.concatenate(vals) if vals else np.zeros(0, np.int32))
    ds = ufl.Measure("ds", domain=msh, subdomain_data=tags)
    n = ufl.FacetNormal(msh)
    xyz = W.tabulate_dof_coordinates()
    term = 0
    for p, fl in enumerate(fluxes):
        Fp = dolfinx.fem.Function(W)
        Fp.x.array[:] = np.asarray(fl.field(xyz), dtype=float).reshape(-1)
        term = term + sigma * ufl.inner(Fp, n) * v * ds(p + 1)
    return term


def _prolongation(V, fm, floating: Sequence[FloatingConductor]):
    """(P, ψ_g on local dofs, conductor id per local dof or −1): ψ = P y + ψ_g (module docstring).
    Reduced unknowns: each rank's free owned dofs in order; the conductor unknowns are owned by rank 0
    after its free dofs."""
    comm = V.mesh.comm
    imap = V.dofmap.index_map
    n_own, n_all = imap.size_local, imap.size_local + imap.num_ghosts
    n_cells = len(fm.cell_input_index)
    cdofs = _compat.cell_dofs(V).reshape(n_cells, -1)
    xyz = V.tabulate_dof_coordinates()
    # conductor id per dof: marked from the local cells, then made consistent between ranks (a dof
    # owned here may touch a conductor cell that lives on another rank only): max over ranks
    tag = dolfinx.fem.Function(V)
    tag.x.array[:] = -1.0
    for k, fc in enumerate(floating):
        tag.x.array[np.unique(cdofs[fm.local_cell_values(np.asarray(fc.cells, bool))])] = float(k)
    _compat.petsc_vec(tag).ghostUpdate(addv=PETSc.InsertMode.MAX_VALUES, mode=PETSc.ScatterMode.REVERSE)
    _compat.petsc_vec(tag).ghostUpdate(addv=PETSc.InsertMode.INSERT_VALUES, mode=PETSc.ScatterMode.FORWARD)
    which = np.rint(tag.x.array).astype(np.int64)
    psi_g = np.zeros(n_all)
    for k, fc in enumerate(floating):
        d = np.flatnonzero(which == k)
        psi_g[d] = -np.asarray(fc.gauge(xyz[d]), dtype=float).reshape(-1)
    free = which[:n_own] < 0
    n_free = int(free.sum())
    K = len(floating)
    n_new = n_free + (K if comm.rank == 0 else 0)
    off = comm.exscan(n_new) if comm.size > 1 else 0
    off = int(off or 0)
    N_new = int(comm.allreduce(n_new, op=MPI.SUM))
    free0 = int(comm.bcast(n_free if comm.rank == 0 else None, root=0))
    col = np.empty(n_own, dtype=np.int64)
    col[free] = off + np.arange(n_free)
    col[~free] = free0 + which[:n_own][~free]
    it = PETSc.IntType
    P = PETSc.Mat().createAIJ(size=((n_own, imap.size_global), (n_new, N_new)),
                              csr=(np.arange(n_own + 1, dtype=it), col.astype(it), np.ones(n_own)), comm=comm)
    P.assemble()
    return P, psi_g, which


def _cg(comm, A, b, x, rtol: float, max_it: int) -> int:
    ksp = PETSc.KSP().create(comm)
    prefix = f"planner_eddy_{id(ksp)}_"
    ksp.setOptionsPrefix(prefix)
    ksp.setOperators(A)
    ksp.setType("cg")
    ksp.getPC().setType("hypre")
    ksp.setTolerances(rtol=rtol, atol=0.0, max_it=max_it)
    ksp.setNormType(PETSc.KSP.NormType.UNPRECONDITIONED)
    ksp.setErrorIfNotConverged(True)
    with prefixed_options(prefix, BOOMERAMG):
        ksp.setFromOptions()
        ksp.setUp()
    try:
        ksp.solve(b, x)
    except PETSc.Error as exc:  # raised through ksp_error_if_not_converged
        raise SolverError(f"eddy-current CG/BoomerAMG did not converge (reason {ksp.getConvergedReason()}, "
                          f"{ksp.getIterationNumber()} iterations, rtol = {rtol:g}): {exc}") from None
    if ksp.getConvergedReason() <= 0:
        raise SolverError(f"eddy-current CG/BoomerAMG diverged: reason {ksp.getConvergedReason()}")
    its = ksp.getIterationNumber()
    ksp.destroy()
    return int(its)


def _null_space(comm, vec, mask: np.ndarray | None):
    ns = vec.duplicate()
    if mask is None:
        ns.set(1.0)
    else:
        ns.array[:] = mask.astype(float)
    ns.normalize()
    return PETSc.NullSpace().create(vectors=[ns], comm=comm)


def _solve_system(V, fm, A, b, psi, floating, comp_info, rtol, max_it) -> tuple[int, tuple]:
    """Solve A ψ = b (null space / pins applied), directly or reduced by the floating conductors."""
    comm = V.mesh.comm
    n_own = V.dofmap.index_map.size_local
    dof_comp, big, cond_comp = comp_info
    if not floating:
        A.setNullSpace(_null_space(comm, b, None if dof_comp is None else dof_comp[:n_own] == big))
        A.getNullSpace().remove(b)
        return _cg(comm, A, b, _compat.petsc_vec(psi), rtol, max_it), ()
    P, psi_g, which = _prolongation(V, fm, floating)
    Ar = A.PtAP(P)
    g = A.createVecRight()
    g.array[:] = psi_g[:n_own]
    r = b.duplicate()
    A.mult(g, r)
    r.aypx(-1.0, b)  # r = b − A ψ_g
    br = Ar.createVecLeft()
    P.multTranspose(r, br)
    mask = None
    if dof_comp is not None:
        own = dof_comp[:n_own][which[:n_own] < 0] == big
        extra = np.asarray(cond_comp) == big if comm.rank == 0 else np.zeros(0, bool)
        mask = np.concatenate([own, extra])
    Ar.setNullSpace(_null_space(comm, br, mask))
    Ar.getNullSpace().remove(br)
    y = Ar.createVecRight()
    its = _cg(comm, Ar, br, y, rtol, max_it)
    P.mult(y, _compat.petsc_vec(psi))
    _compat.petsc_vec(psi).array[:] += psi_g[:n_own]
    K = len(floating)
    c = comm.bcast(np.array(y.array[-K:]) if comm.rank == 0 else None, root=0)
    for obj in (P, Ar, g, r, br, y):
        obj.destroy()
    return its, tuple(float(v) for v in c)


def _assemble(fm, tmesh: TissueMesh, V, W, sigma, A0, cut_flux, cell_component, floating):
    """(A, b, pins, (component per dof, largest component, component per conductor)) of the σ problem."""
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    a = _compat.form(sigma * ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx)
    rhs = -sigma * ufl.inner(A0, ufl.grad(v)) * ufl.dx
    flux = _flux_terms(fm, V, W, sigma, v, cut_flux)
    L = _compat.form(rhs if flux is None else rhs + flux)
    bcs, dof_comp, big, cond_comp = _pins(V, fm, tmesh, cell_component, floating)
    A = _compat.assemble_matrix(a, bcs=bcs)
    A.assemble()
    b = _compat.assemble_vector(L)
    _compat.apply_lifting(b, [a], [bcs])
    b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
    _compat.set_bc(b, bcs)
    return A, b, bcs, (dof_comp, big, cond_comp)


def _complex_forms(fm, tmesh: TissueMesh, V, W, sigma, tau, A0, cut_flux, bcs) -> tuple:
    """(K_t form, L_t form, AMG form (σ + ωε)(∇u·∇v + δ u v), pins) of the complex admittivity."""
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    tflux = _flux_terms(fm, V, W, tau, v, cut_flux)
    L_t = -tau * ufl.inner(A0, ufl.grad(v)) * ufl.dx
    return (_compat.form(tau * ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx),
            _compat.form(L_t if tflux is None else L_t + tflux),
            _compat.form((sigma + tau) * (ufl.inner(ufl.grad(u), ufl.grad(v)) + _shift(tmesh, fm.mesh) * u * v) * ufl.dx),
            bcs)


def _shift(tmesh: TissueMesh, msh):
    """δ of the preconditioner K_{σ+ωε} + δ M_{σ+ωε}: δ = 1e-2 / D² (D the mesh diagonal), far below the
    smallest non-zero eigenvalue (~10/D²) of the Neumann problem; makes the AMG operator non-singular."""
    D2 = float(np.sum(np.ptp(tmesh.points_m, axis=0) ** 2))
    return dolfinx.fem.Constant(msh, PETSc.ScalarType(1e-2 / max(D2, 1e-300)))


def _solve_complex(V, fm, forms, A, b, psis, floating, comp_info, rtol, max_it) -> tuple[int, tuple]:
    """Complex admittivity (:mod:`planner.fem.admittivity`): ``forms`` = (K_t, L_t, preconditioner
    form, pins); A, b the σ system; ψr, ψi into ``psis``; reduced by the floating conductors as
    :func:`_solve_system` (ψr = P yr + ψ_g, ψi = P yi: the gauge term is real)."""
    from planner.fem.admittivity import solve_block

    a_t, L_t, a_p, bcs = forms
    comm = V.mesh.comm
    n_own = V.dofmap.index_map.size_local
    dof_comp, big, cond_comp = comp_info
    Kt = _compat.assemble_matrix(a_t, bcs=bcs, diagonal=0.0)
    Kt.assemble()
    Pm = _compat.assemble_matrix(a_p, bcs=bcs)
    Pm.assemble()
    bt = _compat.assemble_vector(L_t)
    _compat.apply_lifting(bt, [a_t], [bcs])
    bt.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
    _compat.set_bc(bt, bcs)
    xr, xi = (_compat.petsc_vec(p) for p in psis)
    kw = {"amg_options": BOOMERAMG, "rtol": rtol, "max_it": max_it}
    if not floating:
        mask = None if dof_comp is None else dof_comp[:n_own] == big
        its = solve_block(A, Kt, Pm, b, bt, xr, xi, null_mask=mask, **kw)
        for obj in (Kt, Pm, bt):
            obj.destroy()
        return its, ()
    P, psi_g, which = _prolongation(V, fm, floating)
    Ksr, Ktr, Pr = A.PtAP(P), Kt.PtAP(P), Pm.PtAP(P)
    g = A.createVecRight()
    g.array[:] = psi_g[:n_own]
    reduced = []
    for K, rhs in ((A, b), (Kt, bt)):
        r = rhs.duplicate()
        K.mult(g, r)
        r.aypx(-1.0, rhs)  # r = b − K ψ_g
        br = Ksr.createVecLeft()
        P.multTranspose(r, br)
        reduced.append(br)
        r.destroy()
    mask = None
    if dof_comp is not None:
        own = dof_comp[:n_own][which[:n_own] < 0] == big
        mask = np.concatenate([own, np.asarray(cond_comp) == big if comm.rank == 0 else np.zeros(0, bool)])
    yr, yi = Ksr.createVecRight(), Ksr.createVecRight()
    its = solve_block(Ksr, Ktr, Pr, reduced[0], reduced[1], yr, yi, null_mask=mask, **kw)
    P.mult(yr, xr)
    xr.array[:] += psi_g[:n_own]
    P.mult(yi, xi)
    K = len(floating)
    c = comm.bcast(np.array(yr.array[-K:]) + 1j * np.array(yi.array[-K:]) if comm.rank == 0 else None, root=0)
    for obj in (P, Ksr, Ktr, Pr, g, yr, yi, Kt, Pm, bt, *reduced):
        obj.destroy()
    return its, tuple(complex(v) for v in c)


def solve_scalar_potential(
    tmesh: TissueMesh,
    sigma_cell_S_per_m: np.ndarray,
    A0_V_s_per_m: PointField,
    omega_rad_per_s: float,
    *,
    cell_component: np.ndarray | None = None,
    element_order: int = 1,
    rtol: float = 1e-8,
    max_it: int = 500,
    comm: MPI.Comm = MPI.COMM_WORLD,
    floating: Sequence[FloatingConductor] = (),
    cut_flux: Sequence[BoundaryFlux] = (),
    vertex_values: bool = False,
    cell_field_means: bool = False,
    sigma_imag_cell_S_per_m: np.ndarray | None = None,
) -> ScalarPotentialResult:
    """Solve ∇·σ(∇ψ + A0) = 0 on ``tmesh`` (module docstring: boundary conditions, conductors).

    ``sigma_cell_S_per_m``: σ > 0 per cell, except inside ``floating`` conductors (any value ≥ 0;
    use 0 so that they add nothing to the loss). ``A0_V_s_per_m(points_m (n,3)) -> (n,3)``: applied
    vector potential (peak, Coulomb gauge). ``cell_component``: connected-component id per cell (cells
    sharing no vertex); None = one. ``vertex_values``: also return each cell's polynomial A0 + ∇ψ at
    its vertices (in ``tmesh.cells`` order; for P2 an O(h²) value at the skin, not a cell mean).
    ``sigma_imag_cell_S_per_m``: ωε0εr ≥ 0 per cell for the complex admittivity σ* = σ + jωε0εr
    (:mod:`planner.fem.admittivity`: ψ complex, MINRES on the real 2×2 block system; the field
    arrays of the result are then complex, |E|² = |Re|² + |Im|², loss with Re σ* = σ only); None:
    real σ (CG). Raises SolverError if the solver does not reach ``rtol`` in ``max_it``.
    """
    if element_order not in (1, 2):
        raise SolverError(f"element_order = {element_order!r}: expected 1 or 2")
    t = {}
    t0 = time.perf_counter()
    fm = fem_mesh(tmesh, comm)
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
    A0.x.array[:] = np.asarray(A0_V_s_per_m(W.tabulate_dof_coordinates()), dtype=float).reshape(-1)
    t["A0_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    A, b, bcs, comp_info = _assemble(fm, tmesh, V, W, sigma, A0, cut_flux, cell_component, floating)
    t["assembly_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    psi = dolfinx.fem.Function(V)
    psi_i = None if sigma_imag_cell_S_per_m is None else dolfinx.fem.Function(V)
    if psi_i is None:
        its, c = _solve_system(V, fm, A, b, psi, tuple(floating), comp_info, rtol, max_it)
    else:
        tau = dolfinx.fem.Function(Q0)
        tau.x.array[q0_dofs] = np.asarray(sigma_imag_cell_S_per_m, dtype=float)[cells_local]
        forms = _complex_forms(fm, tmesh, V, W, sigma, tau, A0, cut_flux, bcs)
        its, c = _solve_complex(V, fm, forms, A, b, (psi, psi_i), tuple(floating), comp_info, rtol, max_it)
        psi_i.x.scatter_forward()
    psi.x.scatter_forward()
    t["solve_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    Fi = None if psi_i is None else ufl.grad(psi_i)
    E2_mean, F_mean, total = _cell_outputs(fm, tmesh, Q0, q0_dofs, sigma, A0 + ufl.grad(psi), omega_rad_per_s,
                                           cell_field_means, Fi)
    Fv = _vertex_values(fm, tmesh, A0 + ufl.grad(psi)) if vertex_values else None
    if Fv is not None and Fi is not None:
        Fv = Fv + 1j * _vertex_values(fm, tmesh, Fi)
    t["postprocess_s"] = time.perf_counter() - t0
    dofs = V.dofmap.index_map.size_global
    for obj in (A, b):
        obj.destroy()
    return ScalarPotentialResult(E2_mean, total, int(dofs), int(its), element_order, t, msh.comm.size,
                                 F_mean, c, Fv)


def _vertex_values(fm, tmesh: TissueMesh, F) -> np.ndarray:
    """(M, 4, 3): F interpolated into discontinuous vector P1 (exact vertex values of the cell's
    polynomial for P1/P2 ψ), reordered to each TissueMesh cell's own vertex order."""
    msh = fm.mesh
    Wd = _compat.function_space(msh, "DG", 1, shape=(3,))
    Fd = dolfinx.fem.Function(Wd)
    _compat.interpolate_expression(Fd, F)
    n_owned = fm.num_owned_cells
    blocks = _compat.cell_dofs(Wd).reshape(-1, 4)[:n_owned]
    vals = Fd.x.array.reshape(-1, 3)[blocks]  # (n_owned, 4, 3), DG1 dof i at the cell's vertex i
    vid = _compat.input_global_vertex_index(msh)[_compat.geometry_dofmap(msh)[:n_owned]]
    own = tmesh.cells[fm.cell_input_index[:n_owned]]  # the same cells' TissueMesh vertices
    same = (own == vid).all(axis=1)  # DOLFINx mostly keeps each cell's vertex order
    if not same.all():  # reorder on this rank, then gather once
        moved = np.flatnonzero(~same)
        # TissueMesh vertex j ↔ local perm[j]
        perm = np.argmax(own[moved, :, None] == vid[moved, None, :], axis=2)
        vals[moved] = np.take_along_axis(vals[moved], perm[:, :, None], axis=1)
    return fm.gather_cell_values(vals)


def _cell_outputs(fm, tmesh: TissueMesh, Q0, q0_dofs, sigma, F, omega: float, means: bool, Fi=None):
    """(cell mean |E|², cell mean of F = A0 + ∇ψ (M,3) or None, ∫σ|E|²/2) in TissueMesh order; with
    ``Fi`` (= ∇ψi, complex admittivity) F stands for F + j Fi: |F|² = |F|² + |Fi|², complex means."""
    msh = fm.mesh
    n_owned = fm.num_owned_cells
    vol = tmesh.cell_volumes_m3()
    w = ufl.TestFunction(Q0)
    w2 = dolfinx.fem.Constant(msh, PETSc.ScalarType(omega ** 2))  # a Constant: no JIT per frequency
    FF = ufl.inner(F, F) if Fi is None else ufl.inner(F, F) + ufl.inner(Fi, Fi)
    e2 = _compat.assemble_vector(_compat.form(w2 * FF * w * ufl.dx))
    e2.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
    own = q0_dofs[:n_owned]
    E2_mean = fm.gather_cell_values(np.asarray(e2.array_r[own] if own.size else np.zeros(0), float)) / vol
    Fm = []
    for G in ((F,) if Fi is None else (F, Fi)) if means else ():
        for j in range(3):
            fj = _compat.assemble_vector(_compat.form(G[j] * w * ufl.dx))
            fj.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
            Fm.append(fm.gather_cell_values(np.asarray(fj.array_r[own] if own.size else np.zeros(0), float)) / vol)
            fj.destroy()
    P_local = dolfinx.fem.assemble_scalar(_compat.form(0.5 * w2 * sigma * FF * ufl.dx))
    total = float(msh.comm.allreduce(P_local, op=MPI.SUM))
    e2.destroy()
    Fmean = None
    if means:
        Fmean = np.column_stack(Fm[:3]) if Fi is None else np.column_stack(Fm[:3]) + 1j * np.column_stack(Fm[3:])
    return E2_mean, Fmean, total
