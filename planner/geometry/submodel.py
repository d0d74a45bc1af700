"""Local sub-model of one metal implant, built and meshed in gmsh (OpenCASCADE, millimetres).

The implant comes from a caller-supplied builder ``build(occ) -> [(3, tag), …]``; it is fragmented
with a cube of non-conducting surroundings (or a caller-supplied domain), tagged ``METAL_TAG`` /
``SURROUNDING_TAG`` and meshed with second-order (curved) tetrahedra graded from h_s = δ / n_δ at the
metal surface (n_δ elements per skin depth) inwards and outwards. The eddy-current solver
(:mod:`planner.fem.implant_eddy`) reads the open gmsh model with ``dolfinx.io.gmshio``:
:meth:`SubModelGeometry.open` is the seam (a context manager yielding the gmsh module and a
:class:`SubModelInfo`). No FEniCSx here.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from planner.errors import InputError, MeshError, bad_value
from planner.geometry.gmsh_session import gmsh_session
from planner.units import MM

log = logging.getLogger(__name__)

METAL_TAG = 1
SURROUNDING_TAG = 2

OccBuilder = Callable[[object], list]  # builder(occ) -> list of (3, tag) implant volumes, in mm
DomainBuilder = Callable[[object, np.ndarray, float], int]  # domain(occ, centre_mm, R_mm) -> volume tag
SizesFn = Callable[[float, float], "SubModelSizes"]  # (a = 3V/S mm, bounding radius mm) -> sizes
_MIN_SAMPLES = 20  # Distance field: sample points per curve (at least)
_ALGORITHM_3D = 1  # Delaunay (HXT meshes the same size field with ~1/3 fewer tetrahedra: not equal accuracy)
# precision of gmsh's integration of 1/h along curves (default 1e-9): 1e-3 gives the same mesh (pelvis CT
# hip stem, 1674 facets: 27 424 vs 27 398 tetrahedra) with 1-D meshing 8 → 1 CPU s (whole mesh 13.5 → 4.0)
_LC_PRECISION = 1e-3


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
        raise InputError(bad_value("box_half_size_mm", R,
                                   f"more than the implant's bounding radius {bounding_radius_mm:.3g} mm"))
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


@dataclass(frozen=True)
class SubModelSizing:
    """Sizing controls of :func:`choose_sizes` that do not depend on the material (``None`` = automatic)."""

    elements_per_skin_depth: float | None = None
    box_half_size_mm: float | None = None
    box_factor: float = 10.0
    elements_per_size: float = 4.0
    refinement: float = 1.0
    growth: float = 0.3

    def sizes_fn(self, skin_depth_mm: float, degree: int) -> SizesFn:
        """(a_mm, bounding radius mm) -> :class:`SubModelSizes` at skin depth δ for N1curl ``degree``."""

        def sizes(a_mm: float, rb_mm: float) -> SubModelSizes:
            return choose_sizes(
                skin_depth_mm=skin_depth_mm, characteristic_size_mm=a_mm, bounding_radius_mm=rb_mm,
                elements_per_skin_depth=self.elements_per_skin_depth, box_half_size_mm=self.box_half_size_mm,
                box_factor=self.box_factor, elements_per_size=self.elements_per_size, refinement=self.refinement,
                degree=degree, growth=self.growth,
            )

        return sizes


@dataclass(frozen=True)
class SubModelInfo:
    """What the mesher knows about a built sub-model: its sizes (mm) and the CAD volume of the metal."""

    sizes: SubModelSizes
    exact_volume_m3: float  # CAD volume of the implant
    geometry_order: int  # 2 = curved (second-order) tetrahedra


@dataclass(frozen=True)
class SubModelGeometry:
    """How to build one implant sub-model: the implant builder plus sizing and meshing controls.

    ``domain(occ, centre_mm, R_mm) -> volume tag`` replaces the default cube of half-size R.
    """

    build: OccBuilder
    sizing: SubModelSizing = SubModelSizing()
    geometry_order: int = 2
    seed: int = 0
    domain: DomainBuilder | None = None

    def __post_init__(self) -> None:
        if self.geometry_order not in (1, 2):
            raise InputError(bad_value("geometry_order", self.geometry_order, "1 or 2"))

    @contextlib.contextmanager
    def open(self, skin_depth_mm: float, degree: int) -> Iterator[tuple[ModuleType, SubModelInfo]]:
        """Open a gmsh session, build and mesh the sub-model (sized for δ and N1curl ``degree``) and
        yield (gmsh module, info) while the model is live. Raises MeshError / InputError on entry.

        With ``PLANNER_MESH_CACHE`` set (:mod:`planner.geometry.mesh_cache`) the meshed model is saved
        there as a binary .msh (+ the info as JSON) and the yielded model is the one read back from it."""
        from planner.geometry import mesh_cache

        path = mesh_cache.entry("implant-submodel", {"submodel": self, "skin_depth_mm": skin_depth_mm,
                                                     "degree": degree}, ".msh")
        if path is None:
            with gmsh_session("implant_submodel") as gmsh:
                yield gmsh, self._build(gmsh, skin_depth_mm, degree)
            return
        if not path.is_file():
            self._save(path, skin_depth_mm, degree)
        else:
            log.info("mesh cache: implant sub-model read from %s", path)
        with gmsh_session("implant_submodel") as gmsh:
            try:
                gmsh.open(str(path))
                info = _info_from_json(json.loads(path.with_suffix(".json").read_text()))
            except Exception as exc:  # gmsh raises plain Exception
                raise MeshError(f"saved implant sub-model {path}: unreadable ({exc}); expected a gmsh .msh and its "
                                ".json beside it, delete both to re-mesh") from None
            yield gmsh, info

    def _build(self, gmsh: ModuleType, skin_depth_mm: float, degree: int) -> SubModelInfo:
        return build_submodel(gmsh, self.build, self.sizing.sizes_fn(skin_depth_mm, degree),
                              geometry_order=self.geometry_order, seed=self.seed, domain=self.domain)

    def _save(self, path, skin_depth_mm: float, degree: int) -> None:
        """Mesh, then write the model as binary MSH 4.1 and its info as JSON (each file atomically)."""
        from planner.geometry.mesh_cache import write_atomically

        with gmsh_session("implant_submodel") as gmsh:
            info = self._build(gmsh, skin_depth_mm, degree)
            gmsh.option.setNumber("Mesh.Binary", 1)
            gmsh.option.setNumber("Mesh.MshFileVersion", 4.1)
            write_atomically(path.with_suffix(".json"), lambda p: p.write_text(json.dumps(dataclasses.asdict(info))))
            write_atomically(path, lambda p: gmsh.write(str(p)))
        log.info("mesh cache: implant sub-model written to %s", path)


def _info_from_json(d: dict) -> SubModelInfo:
    return SubModelInfo(sizes=SubModelSizes(**d["sizes"]), exact_volume_m3=float(d["exact_volume_m3"]),
                        geometry_order=int(d["geometry_order"]))


# ------------------------------------------------------------------------------------------------
# gmsh
def implant_shape_measures(build: OccBuilder) -> tuple[float, float, float, np.ndarray]:
    """(volume mm³, surface mm², bounding radius mm, bbox centre mm) of an implant built alone."""
    with gmsh_session("implant_submodel") as gmsh:
        occ = gmsh.model.occ
        vols = build(occ)
        occ.synchronize()
        return _measures(gmsh, vols)


def _measures(gmsh: ModuleType, vols: list) -> tuple[float, float, float, np.ndarray]:
    occ = gmsh.model.occ
    V = sum(occ.getMass(3, t) for _, t in vols)
    surf = gmsh.model.getBoundary(vols, oriented=False, combined=True)
    S = sum(occ.getMass(2, t) for _, t in surf)
    bb = np.array([occ.getBoundingBox(3, t) for _, t in vols])
    lo, hi = bb[:, :3].min(axis=0), bb[:, 3:].max(axis=0)
    return float(V), float(S), float(0.5 * np.linalg.norm(hi - lo)), 0.5 * (lo + hi)


def _cube(occ, centre, R):
    return occ.addBox(*(centre - R), 2 * R, 2 * R, 2 * R)


def build_submodel(gmsh: ModuleType, build: OccBuilder, sizes_fn: SizesFn, *, geometry_order: int = 2,
                   seed: int = 0, domain: DomainBuilder | None = None) -> SubModelInfo:
    """Implant + cube, fragment, physical groups, graded size field, mesh (in the live gmsh model)."""
    occ = gmsh.model.occ
    vols = build(occ)
    occ.synchronize()
    V, S, Rb, centre = _measures(gmsh, vols)
    if V <= 0 or S <= 0:
        raise MeshError(bad_value("implant geometry", (V, S), "a closed solid with positive volume"))
    sizes = sizes_fn(3.0 * V / S, Rb)
    box = (domain or _cube)(occ, centre, sizes.box_half_size_mm)
    metal, air = _fragment_and_tag(gmsh, box, vols)
    V_exact = sum(occ.getMass(3, t) for t in metal)
    _graded_size_field(gmsh, metal, air, sizes, S)
    _generate(gmsh, sizes, geometry_order, seed)
    return SubModelInfo(sizes=sizes, exact_volume_m3=V_exact * MM**3, geometry_order=geometry_order)


def _fragment_and_tag(gmsh: ModuleType, box: int, vols: list) -> tuple[list[int], list[int]]:
    """Fragment the box with the implant volumes; physical groups METAL_TAG / SURROUNDING_TAG."""
    occ = gmsh.model.occ
    out, out_map = occ.fragment([(3, box)], vols)
    occ.synchronize()
    metal = sorted({t for m in out_map[1:] for d, t in m if d == 3})
    allv = sorted({t for d, t in out if d == 3})
    air = [t for t in allv if t not in metal]
    if not metal or not air:
        raise MeshError("implant sub-model: OCC fragment lost the implant or the surroundings")
    gmsh.model.addPhysicalGroup(3, metal, METAL_TAG)
    gmsh.model.addPhysicalGroup(3, air, SURROUNDING_TAG)
    return metal, air


def _threshold(gmsh: ModuleType, dist: int, size_min: float, size_max: float, dist_max: float) -> int:
    f = gmsh.model.mesh.field
    th = f.add("Threshold")
    f.setNumber(th, "InField", dist)
    f.setNumber(th, "SizeMin", size_min)
    f.setNumber(th, "SizeMax", size_max)
    f.setNumber(th, "DistMin", 0.0)
    f.setNumber(th, "DistMax", dist_max)
    return th


def _graded_size_field(gmsh: ModuleType, metal: list[int], air: list[int], sizes: SubModelSizes,
                       S: float) -> None:
    """Background size field graded from the metal surface (h_s) to the bulk and far sizes."""
    # metal surfaces inside the domain (faces on the outer boundary, e.g. a rod through a slab, excluded)
    allv = sorted(metal + air)
    outer = {t for _, t in gmsh.model.getBoundary([(3, t) for t in allv], oriented=False, combined=True)}
    msurf = [t for _, t in gmsh.model.getBoundary([(3, t) for t in metal], oriented=False, combined=True)
             if t not in outer]
    if not msurf:
        raise MeshError("implant sub-model: the implant has no surface inside the domain")
    f = gmsh.model.mesh.field
    dist = f.add("Distance")
    f.setNumbers(dist, "FacesList", msurf)
    n_samp = int(min(max(2.0 * math.sqrt(S / len(msurf)) / sizes.surface_size_mm, _MIN_SAMPLES), 400))
    f.setNumber(dist, "NumPointsPerCurve", n_samp)
    g = sizes.growth
    h_s = sizes.surface_size_mm
    th_in = _threshold(gmsh, dist, h_s, sizes.bulk_size_mm, max((sizes.bulk_size_mm - h_s) / g, 1e-9))
    th_out = _threshold(gmsh, dist, h_s, sizes.far_size_mm, max((sizes.far_size_mm - h_s) / (1.5 * g), 1e-9))
    r_in = f.add("Restrict")
    f.setNumber(r_in, "InField", th_in)
    f.setNumbers(r_in, "RegionsList", metal)
    fmin = f.add("Min")
    f.setNumbers(fmin, "FieldsList", [r_in, th_out])
    f.setAsBackgroundMesh(fmin)


def _generate(gmsh: ModuleType, sizes: SubModelSizes, geometry_order: int, seed: int) -> None:
    """Mesh options, 3-D mesh, order elevation and straightening of invalid curved tetrahedra."""
    gmsh.option.setNumber("Mesh.MeshSizeExtendFromBoundary", 0)
    gmsh.option.setNumber("Mesh.MeshSizeFromPoints", 0)
    # at least ~10 elements per 2π of surface curvature (thin necks, rounded tips): keeps the curved
    # second-order elements valid when h_s is large (low a/δ or coarse refinement)
    gmsh.option.setNumber("Mesh.MeshSizeFromCurvature", max(8, int(round(10 * sizes.curvature_factor))))
    gmsh.option.setNumber("Mesh.HighOrderOptimize", 2 if geometry_order > 1 else 0)
    gmsh.option.setNumber("Mesh.RandomSeed", seed)
    gmsh.option.setNumber("General.NumThreads", 1)
    gmsh.option.setNumber("Mesh.Algorithm3D", _ALGORITHM_3D)
    gmsh.option.setNumber("Mesh.LcIntegrationPrecision", _LC_PRECISION)
    try:
        gmsh.model.mesh.generate(3)
        if geometry_order > 1:
            gmsh.model.mesh.setOrder(geometry_order)
            n_bad = _straighten_invalid_p2(gmsh)
            if n_bad:
                log.info("implant sub-model: %d curved tetrahedra had a non-positive Jacobian and were straightened",
                         n_bad)
    except MeshError:
        raise
    except Exception as exc:  # gmsh raises plain Exception
        raise MeshError(f"gmsh could not mesh the implant sub-model: {exc}") from None


# ------------------------------------------------------------------------------------------------
# second-order (curved) tetrahedra: Jacobian check and straightening
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


def _straighten_invalid_p2(gmsh: ModuleType, min_ratio: float = 0.05, passes: int = 10) -> int:
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


__all__ = [
    "METAL_TAG",
    "SURROUNDING_TAG",
    "OccBuilder",
    "DomainBuilder",
    "SubModelSizes",
    "SubModelSizing",
    "SubModelInfo",
    "SubModelGeometry",
    "choose_sizes",
    "implant_shape_measures",
    "build_submodel",
    "p2_jacobian_ratio",
]
