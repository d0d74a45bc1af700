"""Full eddy-current solver for metal implants: A-formulation on N1curl, real 2×2 block form, AMS.

Physics (peak phasors, e^{jωt}, SI; DESIGN.md §2)
--------------------------------------------------
In a local sub-model (the implant Ω_m plus a cube of non-conducting surroundings Ω_0 around it) the
total vector potential (temporal gauge, E = −jωA) is split A = A0 + A_r, where A0 is the applied
potential of the applicator (Coulomb gauge, curl curl A0 = 0 inside the sub-model because the coils
are outside) and A_r is the reaction field of the eddy currents. With κ = ω μ0 σ (1/m², κ = 2/δ²)

    curl curl A_r + j κ A_r = − j κ A0      in Ω_m ∪ Ω_0   (κ = 0 in Ω_0),
    n × A_r = 0                               on the cube (far from the implant: reaction dipole ~ r⁻³).

Weak form on N1curl_p (Nédélec first kind, degree p = 1 or 2) with A_r = u + j v:

    K u − M v = 0,    −M u − K v = b       (b = ∫ κ A0·w dx over Ω_m),

i.e. the real symmetric indefinite block system [[K, −M], [−M, −K]] [u; v] = [0; b] solved by MINRES
with the block-diagonal SPD preconditioner diag(P, P), P = K + M + ε M_0 (ε a tiny mass in the
non-conducting region, preconditioner only), each block one hypre AMS V-cycle (discrete gradient
Lagrange_p → N1curl_p, and for p ≥ 2 the Nédélec interpolation of vector Lagrange_p). Measured on
this machine: 20–30 iterations, flat in ω and σ (DESIGN.md §1). The operator is singular on
gradients supported in Ω_0 (A_r is gauge-free there); the right-hand side is consistent (it vanishes
on such gradients), so MINRES converges; E and the loss inside the metal are unique.

Time-averaged loss: P = ½ σ ω² ∫_{Ω_m} |A0 + A_r|² dx = ½ (ω/μ0) ∫ κ [(A0 + u)² + v²] dx.
Peak current density J = σ E = −jωσ(A0 + A_r), |J| = σ ω |A0 + A_r|.

Neglected (documented): the conductivity of the tissue inside the sub-model (σ_tissue/σ_metal ~ 1e-6,
its reaction field is ≤ 1e-3 of H0 at these sizes and it is computed by the tissue solver anyway),
and galvanic tissue currents entering the metal (they dissipate ~ (σ_t/σ_m) of the tissue loss there).

Geometry: the implant is built in gmsh OpenCASCADE (millimetres) by a caller-supplied builder,
fragmented with the cube, meshed with second-order (curved) tetrahedra graded from h_s = δ/n_δ at the
metal surface (n_δ elements per skin depth) inwards and outwards, and read with
``dolfinx.io.gmshio.model_to_mesh`` on rank 0 (distributed by DOLFINx).
"""
from __future__ import annotations

import contextlib
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import ufl
import dolfinx
import dolfinx.fem
import dolfinx.fem.petsc
import dolfinx.mesh
from mpi4py import MPI
from petsc4py import PETSc

from planner.errors import InputError, MeshError, SolverError, bad_value
from planner.fem import _compat
from planner.geometry.mesher import gmsh_session
from planner.units import MM, MU0_H_per_m

log = logging.getLogger(__name__)

METAL_TAG = 1
SURROUNDING_TAG = 2

OccBuilder = Callable[[object], list]  # builder(occ) -> list of (3, tag) implant volumes, in mm


# ------------------------------------------------------------------------------------------------
# sizes
@dataclass(frozen=True)
class SubModelSizes:
    """Mesh and box sizes of one sub-model, all in millimetres (what gets reported)."""

    skin_depth_mm: float
    characteristic_size_mm: float  # a = 3 V / S of the implant (radius for a sphere)
    bounding_radius_mm: float  # half the diagonal of the implant's bounding box
    box_half_size_mm: float
    surface_size_mm: float  # h_s at the metal surface
    bulk_size_mm: float  # cap inside the metal
    far_size_mm: float  # cap in the surroundings (at the cube)
    elements_per_skin_depth: float  # δ / h_s as meshed (≥ the requested value where h_s is capped by geometry)
    growth: float  # size growth per unit distance from the surface
    curvature_factor: float = 1.0  # refinement, scales the elements per 2π of curvature


def choose_sizes(
    *,
    skin_depth_mm: float,
    characteristic_size_mm: float,
    bounding_radius_mm: float,
    elements_per_skin_depth: float | None = None,
    box_half_size_mm: float | None = None,
    box_factor: float = 10.0,
    elements_per_size: float = 4.0,
    refinement: float = 1.0,
    degree: int = 2,
    growth: float = 0.3,
) -> SubModelSizes:
    """Automatic sub-model sizes from the implant size a and the skin depth δ.

    * surface size h_s = min(δ / n_δ, a / n_a) / refinement; n_δ = 2 for N1curl degree 2 (quadratic
      fields resolve e^{−d/δ} to < 1 % of the loss with 2 elements per δ), 3 for degree 1;
      n_a = ``elements_per_size`` (curved P2 geometry);
    * inside the metal sizes grow by ``growth`` per mm of depth up to a / n_a;
    * the cube half-size is ``box_factor`` × the bounding radius (the truncation error of n × A_r = 0
      decays like (R_b / R)³ for a dipolar reaction field); sizes grow up to R / 4 at the cube.
    """
    if elements_per_skin_depth is None:
        elements_per_skin_depth = 2.0 if degree >= 2 else 3.0
    if not elements_per_skin_depth > 0:
        raise InputError(bad_value("elements_per_skin_depth", elements_per_skin_depth, "a positive number"))
    a = characteristic_size_mm
    h_geom = a / elements_per_size
    h_s = min(skin_depth_mm / elements_per_skin_depth, h_geom) / refinement
    h_bulk = max(h_geom / refinement, h_s)
    R = box_half_size_mm if box_half_size_mm is not None else box_factor * bounding_radius_mm
    if R <= 1.05 * bounding_radius_mm:
        raise InputError(bad_value("box_half_size_mm", R, f"more than the implant's bounding radius {bounding_radius_mm:.3g} mm"))
    h_far = max(R / 4.0 / refinement, h_bulk)
    return SubModelSizes(
        skin_depth_mm=skin_depth_mm,
        characteristic_size_mm=a,
        bounding_radius_mm=bounding_radius_mm,
        box_half_size_mm=R,
        surface_size_mm=h_s,
        bulk_size_mm=h_bulk,
        far_size_mm=h_far,
        elements_per_skin_depth=skin_depth_mm / h_s,
        growth=growth,
        curvature_factor=refinement,
    )


# ------------------------------------------------------------------------------------------------
# gmsh
def implant_shape_measures(build: OccBuilder) -> tuple[float, float, float, np.ndarray]:
    """(volume mm³, surface mm², bounding radius mm, bbox centre mm) of an implant built alone."""
    with gmsh_session("implant_submodel") as gmsh:
        occ = gmsh.model.occ
        vols = build(occ)
        occ.synchronize()
        return _measures(gmsh, vols)


def _measures(gmsh, vols):
    occ = gmsh.model.occ
    V = sum(occ.getMass(3, t) for _, t in vols)
    surf = gmsh.model.getBoundary(vols, oriented=False, combined=True)
    S = sum(occ.getMass(2, t) for _, t in surf)
    bb = np.array([occ.getBoundingBox(3, t) for _, t in vols])
    lo, hi = bb[:, :3].min(axis=0), bb[:, 3:].max(axis=0)
    return float(V), float(S), float(0.5 * np.linalg.norm(hi - lo)), 0.5 * (lo + hi)


def _cube(occ, centre, R):
    return occ.addBox(*(centre - R), 2 * R, 2 * R, 2 * R)


def _build_submodel_gmsh(gmsh, build: OccBuilder, sizes_fn, geometry_order: int, seed: int, domain=None):
    """Implant + cube, fragment, physical groups, graded size field, mesh. Returns (sizes, V_exact_mm3)."""
    occ = gmsh.model.occ
    vols = build(occ)
    occ.synchronize()
    V, S, Rb, centre = _measures(gmsh, vols)
    if V <= 0 or S <= 0:
        raise MeshError(bad_value("implant geometry", (V, S), "a closed solid with positive volume"))
    sizes: SubModelSizes = sizes_fn(3.0 * V / S, Rb)
    R = sizes.box_half_size_mm
    box = (domain or _cube)(occ, centre, R)
    out, out_map = occ.fragment([(3, box)], vols)
    occ.synchronize()
    metal = sorted({t for m in out_map[1:] for d, t in m if d == 3})
    allv = sorted({t for d, t in out if d == 3})
    air = [t for t in allv if t not in metal]
    if not metal or not air:
        raise MeshError("implant sub-model: OCC fragment lost the implant or the surroundings")
    gmsh.model.addPhysicalGroup(3, metal, METAL_TAG)
    gmsh.model.addPhysicalGroup(3, air, SURROUNDING_TAG)
    V_exact = sum(occ.getMass(3, t) for t in metal)
    # graded size field from the metal surface
    # metal surfaces inside the domain (faces on the outer boundary, e.g. a rod through a slab, excluded)
    outer = {t for _, t in gmsh.model.getBoundary([(3, t) for t in allv], oriented=False, combined=True)}
    msurf = [t for _, t in gmsh.model.getBoundary([(3, t) for t in metal], oriented=False, combined=True)
             if t not in outer]
    if not msurf:
        raise MeshError("implant sub-model: the implant has no surface inside the domain")
    f = gmsh.model.mesh.field
    dist = f.add("Distance")
    f.setNumbers(dist, "FacesList", msurf)
    n_samp = int(min(max(2.0 * math.sqrt(S / len(msurf)) / sizes.surface_size_mm, 20), 400))
    f.setNumber(dist, "NumPointsPerCurve", n_samp)
    g = sizes.growth
    th_in = f.add("Threshold")
    f.setNumber(th_in, "InField", dist)
    f.setNumber(th_in, "SizeMin", sizes.surface_size_mm)
    f.setNumber(th_in, "SizeMax", sizes.bulk_size_mm)
    f.setNumber(th_in, "DistMin", 0.0)
    f.setNumber(th_in, "DistMax", max((sizes.bulk_size_mm - sizes.surface_size_mm) / g, 1e-9))
    th_out = f.add("Threshold")
    f.setNumber(th_out, "InField", dist)
    f.setNumber(th_out, "SizeMin", sizes.surface_size_mm)
    f.setNumber(th_out, "SizeMax", sizes.far_size_mm)
    f.setNumber(th_out, "DistMin", 0.0)
    f.setNumber(th_out, "DistMax", max((sizes.far_size_mm - sizes.surface_size_mm) / (1.5 * g), 1e-9))
    r_in = f.add("Restrict")
    f.setNumber(r_in, "InField", th_in)
    f.setNumbers(r_in, "RegionsList", metal)
    fmin = f.add("Min")
    f.setNumbers(fmin, "FieldsList", [r_in, th_out])
    f.setAsBackgroundMesh(fmin)
    gmsh.option.setNumber("Mesh.MeshSizeExtendFromBoundary", 0)
    gmsh.option.setNumber("Mesh.MeshSizeFromPoints", 0)
    # at least ~10 elements per 2π of surface curvature (thin necks, rounded tips): keeps the curved
    # second-order elements valid when h_s is large (low a/δ or coarse refinement)
    gmsh.option.setNumber("Mesh.MeshSizeFromCurvature", max(8, int(round(10 * sizes.curvature_factor))))
    gmsh.option.setNumber("Mesh.HighOrderOptimize", 2 if geometry_order > 1 else 0)
    gmsh.option.setNumber("Mesh.RandomSeed", seed)
    gmsh.option.setNumber("General.NumThreads", 1)
    gmsh.option.setNumber("Mesh.Algorithm3D", 1)
    try:
        gmsh.model.mesh.generate(3)
        if geometry_order > 1:
            gmsh.model.mesh.setOrder(geometry_order)
            n_bad = _straighten_invalid_p2(gmsh)
            if n_bad:
                log.info("implant sub-model: %d curved tetrahedra had a non-positive Jacobian and were straightened", n_bad)
    except MeshError:
        raise
    except Exception as exc:  # gmsh raises plain Exception
        raise MeshError(f"gmsh could not mesh the implant sub-model: {exc}") from None
    return sizes, V_exact


# reference points where the P2 Jacobian is checked: vertices, edge midpoints, centroid
_REF_PTS = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [.5, 0, 0], [.5, .5, 0], [0, .5, 0], [0, 0, .5],
                     [0, .5, .5], [.5, 0, .5], [.25, .25, .25]])
_GMSH_EDGES = [(0, 1), (1, 2), (0, 2), (0, 3), (2, 3), (1, 3)]  # gmsh Tetrahedron10 nodes 4..9


def _p2_gradients(ref: np.ndarray) -> np.ndarray:
    """(npts, 10, 3) reference gradients of the gmsh-ordered quadratic tetrahedron shape functions."""
    xi, eta, zeta = ref.T
    L = np.stack([1 - xi - eta - zeta, xi, eta, zeta], axis=1)  # (npts, 4)
    dL = np.array([[-1, -1, -1], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float)  # (4, 3)
    g = np.empty((len(ref), 10, 3))
    for i in range(4):
        g[:, i] = (4 * L[:, i] - 1)[:, None] * dL[i]
    for k, (i, j) in enumerate(_GMSH_EDGES):
        g[:, 4 + k] = 4 * (L[:, i, None] * dL[j] + L[:, j, None] * dL[i])
    return g


def p2_jacobian_ratio(nodes_xyz: np.ndarray) -> np.ndarray:
    """min over check points of det J_P2 / det J_P1 per element; nodes_xyz (n, 10, 3) in gmsh order."""
    G = _p2_gradients(_REF_PTS)  # (p, 10, 3)
    J = np.einsum("enx,pnr->epxr", nodes_xyz, G)  # (e, p, 3, 3)
    det = np.linalg.det(J)
    v = nodes_xyz[:, :4]
    det1 = np.einsum("ij,ij->i", np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]), v[:, 3] - v[:, 0])
    return det.min(axis=1) / det1


def _straighten_invalid_p2(gmsh, min_ratio: float = 0.05, passes: int = 10) -> int:
    """Move the edge nodes of curved tetrahedra with det J_P2 / det J_P1 < min_ratio to straight midpoints."""
    total = 0
    for _ in range(passes):
        ntags, coords, _ = gmsh.model.mesh.getNodes()
        pos = np.empty((int(ntags.max()) + 1, 3))
        pos[ntags] = coords.reshape(-1, 3)
        etypes, _, enodes = gmsh.model.mesh.getElements(3)
        bad_nodes = {}
        for et, en in zip(etypes, enodes):
            if et != 11:  # 10-node tetrahedron
                continue
            en = np.asarray(en, np.int64).reshape(-1, 10)
            ratio = p2_jacobian_ratio(pos[en])
            bad = np.flatnonzero(ratio < min_ratio)
            for e in bad:
                for k, (i, j) in enumerate(_GMSH_EDGES):
                    bad_nodes[int(en[e, 4 + k])] = 0.5 * (pos[en[e, i]] + pos[en[e, j]])
            total += bad.size if _ == 0 else 0
        if not bad_nodes:
            return total
        for tag, x in bad_nodes.items():
            gmsh.model.mesh.setNode(tag, list(map(float, x)), [])
    raise MeshError("implant sub-model: curved tetrahedra with non-positive Jacobian remain after straightening; "
                    "expected a valid second-order mesh (use geometry_order = 1 or refine)")


# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SubModelResult:
    """Solution summary of one implant sub-model (SI units; sizes also in mm as meshed)."""

    loss_W: float  # time-averaged
    peak_J_A_per_m2: float  # max |J| (peak) over the metal, at Lagrange nodes of degree 2 (surface)
    sizes: SubModelSizes
    frequency_Hz: float
    sigma_S_per_m: float
    degree: int
    geometry_order: int
    dofs: int  # N1curl dofs (complex unknowns); the real block system has 2 × dofs
    num_cells: int
    iterations: int
    ksp_reason: int
    residual_norm: float
    exact_volume_m3: float  # CAD volume of the implant
    fe_volume_m3: float  # volume of the (curved) metal cells
    times_s: dict = field(default_factory=dict)
    metal_cell_centroids_m: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))  # (n, 3), all ranks
    metal_cell_loss_W: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (n,), all ranks


@contextlib.contextmanager
def _blocks(array: np.ndarray, first, second):
    """Let Vecs ``first``/``second`` (local size n each) view the halves [u | v] of a block array."""
    n = first.getLocalSize()
    first.placeArray(array[:n])
    second.placeArray(array[n:])
    try:
        yield
    finally:
        first.resetArray()
        second.resetArray()


class _BlockOperator:
    """y = [[K, −M], [−M, −K]] x on a vector laid out [u_owned, v_owned] per rank."""

    def __init__(self, K, M):
        self.K, self.M = K, M
        self.xu, self.xv = K.createVecRight(), K.createVecRight()
        self.yu, self.yv, self.t = K.createVecLeft(), K.createVecLeft(), K.createVecLeft()

    def mult(self, mat, x, y):
        with _blocks(x.getArray(readonly=True), self.xu, self.xv), _blocks(y.getArray(), self.yu, self.yv):
            self.K.mult(self.xu, self.yu)
            self.M.mult(self.xv, self.t)
            self.yu.axpy(-1.0, self.t)
            self.M.mult(self.xu, self.yv)
            self.K.mult(self.xv, self.t)
            self.yv.axpy(1.0, self.t)
            self.yv.scale(-1.0)


class _BlockDiagonalPC:
    """z = diag(P⁻¹, P⁻¹) r, with P⁻¹ one AMS cycle (the same AMS setup serves both blocks)."""

    def __init__(self, inner: PETSc.KSP, P):
        self.inner = inner
        self.ru, self.rv = P.createVecRight(), P.createVecRight()
        self.zu, self.zv = P.createVecLeft(), P.createVecLeft()

    def apply(self, pc, r, z):
        with _blocks(r.getArray(readonly=True), self.ru, self.rv), _blocks(z.getArray(), self.zu, self.zv):
            self.inner.solve(self.ru, self.zu)
            self.inner.solve(self.rv, self.zv)


_REASONS = {v: k for k, v in PETSc.KSP.ConvergedReason.__dict__.items() if isinstance(v, int)}


def solve_reduced_field(
    msh,
    cell_tags,
    *,
    sigma_S_per_m: float,
    frequency_Hz: float,
    A0_peak_at: Callable[[np.ndarray], np.ndarray],
    degree: int = 2,
    rtol: float = 1e-6,
    max_iterations: int = 300,
    regularisation: float = 1e-6,
    collect_cells: bool = True,
    dirichlet: bool = True,
) -> dict:
    """Solve the reduced-field problem on a tagged DOLFINx mesh (metres; METAL_TAG / SURROUNDING_TAG).

    ``dirichlet``: n × A_r = 0 on the whole outer boundary (default); False leaves the natural
    condition n × curl A_r = 0 (used for the infinite-cylinder benchmark, where H_r = 0 outside).
    ``regularisation`` ε (relative to κ_metal) is added as ε κ_metal ∫ u·w over the surroundings in the
    preconditioner only. Raises :class:`SolverError` with the PETSc reason if MINRES does not converge.
    """
    comm = msh.comm
    t0 = time.perf_counter()
    omega = 2.0 * math.pi * frequency_Hz
    kappa_m = omega * MU0_H_per_m * sigma_S_per_m
    V = dolfinx.fem.FunctionSpace(msh, ("N1curl", degree))
    u, w = ufl.TrialFunction(V), ufl.TestFunction(V)
    dx = ufl.Measure("dx", domain=msh, subdomain_data=cell_tags)
    kap = dolfinx.fem.Constant(msh, PETSc.ScalarType(kappa_m))
    # preconditioner mass: κ in the metal and ε κ outside, both floored at 1e-4 / L² (L = model size)
    # so that AMS sees an SPD matrix even when κ L² ≪ 1 (very low σ or f)
    x = msh.geometry.x
    lo = np.min(comm.allgather(x.min(axis=0) if x.size else np.full(3, np.inf)), axis=0)
    hi = np.max(comm.allgather(x.max(axis=0) if x.size else np.full(3, -np.inf)), axis=0)
    floor = 1e-4 / float(np.max(hi - lo)) ** 2
    kapP = dolfinx.fem.Constant(msh, PETSc.ScalarType(max(kappa_m, floor)))
    eps = dolfinx.fem.Constant(msh, PETSc.ScalarType(max(regularisation * kappa_m, floor)))
    # applied potential in vector Lagrange (degree ≥ 2: exact for the uniform applicator's linear A0)
    Q = dolfinx.fem.VectorFunctionSpace(msh, ("Lagrange", max(degree, 2)))
    A0 = dolfinx.fem.Function(Q)
    A0.interpolate(lambda x: np.ascontiguousarray(np.asarray(A0_peak_at(x.T), dtype=float).T))

    a_K = ufl.inner(ufl.curl(u), ufl.curl(w)) * dx
    a_M = kap * ufl.inner(u, w) * dx(METAL_TAG)
    a_P = a_K + kapP * ufl.inner(u, w) * dx(METAL_TAG) + eps * ufl.inner(u, w) * dx(SURROUNDING_TAG)
    L = kap * ufl.inner(A0, w) * dx(METAL_TAG)

    tdim = msh.topology.dim
    msh.topology.create_connectivity(tdim - 1, tdim)
    bfacets = dolfinx.mesh.exterior_facet_indices(msh.topology) if dirichlet else np.zeros(0, np.int32)
    bdofs = dolfinx.fem.locate_dofs_topological(V, tdim - 1, bfacets)
    zero = dolfinx.fem.Function(V)
    bc = dolfinx.fem.dirichletbc(zero, bdofs)

    K = dolfinx.fem.petsc.assemble_matrix(_compat.form(a_K), bcs=[bc])
    K.assemble()
    M = dolfinx.fem.petsc.assemble_matrix(_compat.form(a_M), bcs=[bc], diagonal=0.0)
    M.assemble()
    P = dolfinx.fem.petsc.assemble_matrix(_compat.form(a_P), bcs=[bc])
    P.assemble()
    b = dolfinx.fem.petsc.assemble_vector(_compat.form(L))
    b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
    dolfinx.fem.petsc.set_bc(b, [bc])
    t_asm = time.perf_counter()

    n = V.dofmap.index_map.size_local * V.dofmap.index_map_bs
    N = V.dofmap.index_map.size_global * V.dofmap.index_map_bs
    # inner AMS
    inner = PETSc.KSP().create(comm)
    inner.setOperators(P)
    inner.setType("preonly")
    ipc = inner.getPC()
    ipc.setType("hypre")
    ipc.setHYPREType("ams")
    Vl = dolfinx.fem.FunctionSpace(msh, ("Lagrange", degree))
    G = _compat.discrete_gradient(Vl, V)
    ipc.setHYPREDiscreteGradient(G)
    keep = [G]
    if degree == 1:
        vecs = []
        for e in np.eye(3):
            f = dolfinx.fem.Function(V)
            f.interpolate(lambda x, e=e: np.tile(e[:, None], (1, x.shape[1])))
            # a copy owning its memory: f.vector only wraps f's array, which is freed with f (the next
            # loop iteration) while hypre AMS still reads the vector at set-up → use-after-free
            vecs.append(f.vector.copy())
        ipc.setHYPRESetEdgeConstantVectors(*vecs)
        keep += vecs
    else:
        Vv = dolfinx.fem.VectorFunctionSpace(msh, ("Lagrange", degree))
        Pi = _compat.interpolation_matrix(Vv, V)
        ipc.setHYPRESetInterpolations(tdim, None, None, Pi, None)
        keep.append(Pi)
    # one AMS cycle per application; cycle type 7 measured best here (sphere a/δ = 5, 47k dofs: 36
    # MINRES iterations vs 58 for type 1, 38 for 3, 58 for 5, 90 for 8, > 120 for 4 and 6); "-implant_ams_<option>" on the PETSc command line overrides
    opts = PETSc.Options()
    prefix = "implant_ams_"
    inner.setOptionsPrefix(prefix)
    defaults = {"pc_hypre_ams_cycle_type": 7, "pc_hypre_ams_tol": 0.0, "pc_hypre_ams_max_iter": 1}
    added = [k for k in defaults if not opts.hasName(prefix + k)]
    for k in added:
        opts[prefix + k] = defaults[k]
    inner.setFromOptions()
    inner.setUp()
    for k in added:
        opts.delValue(prefix + k)

    blockop = _BlockOperator(K, M)
    A = PETSc.Mat().createPython(((2 * n, 2 * N), (2 * n, 2 * N)), blockop, comm=comm)
    A.setUp()
    pcctx = _BlockDiagonalPC(inner, P)
    ksp = PETSc.KSP().create(comm)
    ksp.setOperators(A)
    ksp.setType("minres")
    ksp.setTolerances(rtol=rtol, atol=0.0, max_it=max_iterations)
    pc = ksp.getPC()
    pc.setType("python")
    pc.setPythonContext(pcctx)
    x, rhs = A.createVecs()
    rhs.set(0.0)
    rhs.getArray()[n:] = b.getArray(readonly=True)[:n]
    x.set(0.0)
    t_setup = time.perf_counter()
    ksp.solve(rhs, x)
    t_solve = time.perf_counter()
    reason = ksp.getConvergedReason()
    its = ksp.getIterationNumber()
    rnorm = float(ksp.getResidualNorm())
    if reason < 0:
        raise SolverError(
            f"implant eddy-current MINRES did not converge: reason {_REASONS.get(reason, reason)} ({reason}) "
            f"after {its} iterations (rtol {rtol}, max_it {max_iterations}); expected convergence — "
            f"refine the sub-model or raise max_iterations"
        )
    ur, vi = dolfinx.fem.Function(V), dolfinx.fem.Function(V)
    xa = x.getArray(readonly=True)
    ur.x.array[:n] = xa[:n]
    vi.x.array[:n] = xa[n:]
    ur.x.scatter_forward()
    vi.x.scatter_forward()

    Ar = A0 + ur
    q = 0.5 * (omega / MU0_H_per_m) * kap * (ufl.inner(Ar, Ar) + ufl.inner(vi, vi))  # W/m³
    loss = comm.allreduce(dolfinx.fem.assemble_scalar(_compat.form(q * dx(METAL_TAG))), op=MPI.SUM)
    one = dolfinx.fem.Constant(msh, PETSc.ScalarType(1.0))
    vol = comm.allreduce(dolfinx.fem.assemble_scalar(_compat.form(one * dx(METAL_TAG))), op=MPI.SUM)
    # peak |J| at degree-2 Lagrange nodes of the metal cells (vertices and edge midpoints: the surface)
    metal_cells = cell_tags.indices[cell_tags.values == METAL_TAG]
    W = dolfinx.fem.FunctionSpace(msh, ("DG", 2))
    Jmag = dolfinx.fem.Function(W)
    expr = dolfinx.fem.Expression(sigma_S_per_m * omega * ufl.sqrt(ufl.inner(Ar, Ar) + ufl.inner(vi, vi)),
                                  W.element.interpolation_points())
    Jmag.interpolate(expr, cells=metal_cells)
    cd = W.dofmap.list.array.reshape(-1, W.dofmap.dof_layout.num_dofs)
    local_max = float(Jmag.x.array[cd[metal_cells]].max()) if metal_cells.size else 0.0
    peak_J = comm.allreduce(local_max, op=MPI.MAX)
    # per-cell losses of the metal (owned cells), gathered on every rank
    cent = np.zeros((0, 3))
    cell_loss = np.zeros(0)
    if collect_cells:
        W0 = dolfinx.fem.FunctionSpace(msh, ("DG", 0))
        w0 = ufl.TestFunction(W0)
        bq = dolfinx.fem.petsc.assemble_vector(_compat.form(q * w0 * dx(METAL_TAG)))
        n_owned = msh.topology.index_map(tdim).size_local
        own_metal = metal_cells[metal_cells < n_owned]
        dofs0 = W0.dofmap.list.array[own_metal]
        loc_loss = bq.getArray(readonly=True)[dofs0].copy()
        gdm = msh.geometry.dofmap.array.reshape(-1, msh.geometry.dofmap.links(0).size)
        loc_cent = msh.geometry.x[gdm[own_metal, :4]].mean(axis=1) if own_metal.size else np.zeros((0, 3))
        cent = np.concatenate(comm.allgather(loc_cent), axis=0) if comm.size > 1 else loc_cent
        cell_loss = np.concatenate(comm.allgather(loc_loss)) if comm.size > 1 else loc_loss
    t_post = time.perf_counter()
    for obj in (K, M, P, b, A, x, rhs, inner, ksp, *keep):
        obj.destroy()
    return dict(
        loss_W=float(loss),
        peak_J_A_per_m2=float(peak_J),
        dofs=int(N),
        num_cells=int(msh.topology.index_map(tdim).size_global),
        iterations=int(its),
        ksp_reason=int(reason),
        residual_norm=rnorm,  # preconditioned residual norm at exit
        fe_volume_m3=float(vol),
        times_s=dict(assemble=t_asm - t0, setup=t_setup - t_asm, solve=t_solve - t_setup, post=t_post - t_solve),
        metal_cell_centroids_m=cent,
        metal_cell_loss_W=cell_loss,
    )


def mesh_submodel(
    build: OccBuilder,
    sizes_fn: Callable[[float, float], SubModelSizes],
    *,
    geometry_order: int = 2,
    comm: MPI.Comm = MPI.COMM_WORLD,
    seed: int = 0,
    domain: Callable | None = None,
):
    """gmsh (rank 0) → DOLFINx mesh in metres with METAL_TAG / SURROUNDING_TAG cell tags.

    ``domain(occ, centre_mm, R_mm) -> volume tag`` replaces the default cube of half-size R.
    Returns (mesh, cell_tags, sizes, exact implant volume in m³).
    """
    from dolfinx.io import gmshio

    sizes = V_exact = None
    if comm.rank == 0:
        with gmsh_session("implant_submodel") as gm:
            err = None
            try:
                sizes, V_exact = _build_submodel_gmsh(gm, build, sizes_fn, geometry_order, seed, domain)
            except (MeshError, InputError) as exc:
                err = exc
            comm.bcast(None if err is None else (type(err), str(err)), root=0)
            if err is not None:
                raise err
            msh, ct, _ = gmshio.model_to_mesh(gm.model, comm, 0, gdim=3)
    else:
        err = comm.bcast(None, root=0)
        if err is not None:
            raise err[0](err[1])
        msh, ct, _ = gmshio.model_to_mesh(None, comm, 0, gdim=3)
    sizes, V_exact = comm.bcast((sizes, V_exact), root=0)
    msh.geometry.x[:] *= MM
    return msh, ct, sizes, V_exact * MM**3


def solve_implant(
    build: OccBuilder,
    *,
    sigma_S_per_m: float,
    frequency_Hz: float,
    A0_peak_at: Callable[[np.ndarray], np.ndarray],
    degree: int = 2,
    geometry_order: int = 2,
    elements_per_skin_depth: float | None = None,
    box_half_size_mm: float | None = None,
    box_factor: float = 10.0,
    elements_per_size: float = 4.0,
    refinement: float = 1.0,
    rtol: float = 1e-6,
    max_iterations: int = 300,
    comm: MPI.Comm = MPI.COMM_WORLD,
    seed: int = 0,
    collect_cells: bool = True,
    domain: Callable | None = None,
    dirichlet: bool = True,
) -> SubModelResult:
    """Mesh the sub-model of one implant (gmsh builder in mm) and solve for its eddy-current loss."""
    if degree not in (1, 2):
        raise InputError(bad_value("degree", degree, "1 or 2 (N1curl degree)"))
    if geometry_order not in (1, 2):
        raise InputError(bad_value("geometry_order", geometry_order, "1 or 2"))
    if not (sigma_S_per_m > 0 and math.isfinite(sigma_S_per_m)):
        raise InputError(bad_value("sigma_S_per_m", sigma_S_per_m, "a positive finite conductivity"))
    omega = 2.0 * math.pi * frequency_Hz
    delta_mm = math.sqrt(2.0 / (omega * MU0_H_per_m * sigma_S_per_m)) / MM

    def sizes_fn(a_mm, rb_mm):
        return choose_sizes(
            skin_depth_mm=delta_mm, characteristic_size_mm=a_mm, bounding_radius_mm=rb_mm,
            elements_per_skin_depth=elements_per_skin_depth, box_half_size_mm=box_half_size_mm,
            box_factor=box_factor, elements_per_size=elements_per_size, refinement=refinement, degree=degree,
        )

    t0 = time.perf_counter()
    msh, ct, sizes, V_exact = mesh_submodel(build, sizes_fn, geometry_order=geometry_order, comm=comm, seed=seed,
                                             domain=domain)
    t_mesh = time.perf_counter() - t0
    res = solve_reduced_field(
        msh, ct, sigma_S_per_m=sigma_S_per_m, frequency_Hz=frequency_Hz, A0_peak_at=A0_peak_at,
        degree=degree, rtol=rtol, max_iterations=max_iterations, collect_cells=collect_cells, dirichlet=dirichlet,
    )
    times = dict(mesh=t_mesh, **res.pop("times_s"))
    return SubModelResult(
        sizes=sizes, frequency_Hz=frequency_Hz, sigma_S_per_m=sigma_S_per_m, degree=degree,
        geometry_order=geometry_order, exact_volume_m3=V_exact, times_s=times, **res,
    )


def low_frequency_loss_W(
    msh,
    cell_tags,
    *,
    sigma_S_per_m: float,
    frequency_Hz: float,
    A0_peak_at: Callable[[np.ndarray], np.ndarray],
    degree: int = 2,
    rtol: float = 1e-10,
) -> float:
    """Tissue-solver (scalar-potential) loss of the metal cells, valid for a ≪ δ (no reaction field).

    E = −jω(A0 + ∇ψ) with ψ ∈ P_degree on the metal cells solving ∫ σ(∇ψ + A0)·∇φ dx = 0 for all φ
    (n·J = 0 on the metal surface), ψ unique up to a constant (null space given to CG; Jacobi
    preconditioner: hypre BoomerAMG on this P2 null-space system, run after an AMS solve in the same
    process, crashed (segfault/heap corruption, not reproduced without the preceding AMS solve; root
    cause not found) — this check is small, so the plain preconditioner costs little);
    P = ½ σ ω² ∫ |A0 + ∇ψ|² dx. Same model as the tissue eddy-current stage (DESIGN.md §2); used to
    verify that the full solver tends to it when a/δ → 0 (same mesh, curved geometry).
    """
    comm = msh.comm
    omega = 2.0 * math.pi * frequency_Hz
    tdim = msh.topology.dim
    metal = cell_tags.indices[cell_tags.values == METAL_TAG]
    S = dolfinx.fem.FunctionSpace(msh, ("Lagrange", degree))
    Q = dolfinx.fem.VectorFunctionSpace(msh, ("Lagrange", max(degree, 2)))
    A0 = dolfinx.fem.Function(Q)
    A0.interpolate(lambda x: np.ascontiguousarray(np.asarray(A0_peak_at(x.T), dtype=float).T))
    dx = ufl.Measure("dx", domain=msh, subdomain_data=cell_tags)
    psi, phi = ufl.TrialFunction(S), ufl.TestFunction(S)
    a = ufl.inner(ufl.grad(psi), ufl.grad(phi)) * dx(METAL_TAG)
    L = -ufl.inner(A0, ufl.grad(phi)) * dx(METAL_TAG)
    # ψ lives on the metal: every dof not touched by a metal cell is fixed to 0
    n_loc = S.dofmap.index_map.size_local + S.dofmap.index_map.num_ghosts
    in_metal = np.zeros(n_loc, dtype=bool)
    cd = S.dofmap.list.array.reshape(-1, S.dofmap.dof_layout.num_dofs)
    in_metal[cd[metal].ravel()] = True
    zero = dolfinx.fem.Function(S)
    bc = dolfinx.fem.dirichletbc(zero, np.flatnonzero(~in_metal).astype(np.int32))
    Amat = dolfinx.fem.petsc.assemble_matrix(_compat.form(a), bcs=[bc])
    Amat.assemble()
    b = dolfinx.fem.petsc.assemble_vector(_compat.form(L))
    b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
    dolfinx.fem.petsc.set_bc(b, [bc])
    ones = Amat.createVecRight()
    n_own = S.dofmap.index_map.size_local
    ones.getArray()[:] = in_metal[:n_own].astype(float)
    ones.normalize()
    ns = PETSc.NullSpace().create(vectors=[ones], comm=comm)
    Amat.setNullSpace(ns)
    ns.remove(b)
    ksp = PETSc.KSP().create(comm)
    ksp.setOperators(Amat)
    ksp.setType("cg")
    ksp.getPC().setType("jacobi")
    ksp.setTolerances(rtol=rtol, max_it=20000)  # Jacobi-CG needs O(h⁻¹) iterations: fine at check size
    u = dolfinx.fem.Function(S)
    ksp.solve(b, u.vector)
    if ksp.getConvergedReason() < 0:
        raise SolverError(f"low-frequency scalar potential: CG reason {ksp.getConvergedReason()}; expected convergence")
    u.x.scatter_forward()
    E = A0 + ufl.grad(u)
    P = 0.5 * sigma_S_per_m * omega**2 * ufl.inner(E, E) * dx(METAL_TAG)
    val = comm.allreduce(dolfinx.fem.assemble_scalar(_compat.form(P)), op=MPI.SUM)
    for o in (Amat, b, ksp, ones):
        o.destroy()
    return float(val)


def uniform_A0(H0_peak_A_per_m: Sequence[float], centre_m: Sequence[float] = (0.0, 0.0, 0.0)):
    """A0 = ½ μ0 H0 × (r − r0) (Coulomb gauge) of a uniform peak field H0, as a callable (n,3) → (n,3)."""
    H = np.asarray(H0_peak_A_per_m, float)
    c = np.asarray(centre_m, float)

    def A0(p: np.ndarray) -> np.ndarray:
        return 0.5 * MU0_H_per_m * np.cross(H[None, :], np.asarray(p, float) - c[None, :])

    return A0


__all__ = [
    "SubModelSizes",
    "SubModelResult",
    "choose_sizes",
    "implant_shape_measures",
    "mesh_submodel",
    "solve_reduced_field",
    "solve_implant",
    "uniform_A0",
    "low_frequency_loss_W",
    "METAL_TAG",
    "SURROUNDING_TAG",
]
