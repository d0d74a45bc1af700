"""Plan primitives → one conforming tetrahedral :class:`TissueMesh` (gmsh, OpenCASCADE fragments).

Bodies are built in millimetres in gmsh and the result is converted to metres. Overlaps are resolved
by OCC boolean fragments: a fragment shared by several bodies belongs to the LAST of them in plan
order ("later entries override earlier ones"). Each body gets one region tag (its index + 1); the
exact (CAD) volume of the fragments that a body keeps is recorded as ``Region.exact_volume_m3``, so
meshes are checked against geometry even where bodies overlap.

Mesh size: ``max_size_mm`` everywhere, and per role a finer size inside the region (``target_size_mm``,
``implant_size_mm``, ``organ_size_mm``) that grades linearly to ``max_size_mm`` over
``growth_distance_mm`` (default: 3 × max_size_mm) outside it.

New shapes plug in through the ONE shape registry :data:`planner.config.registry.SHAPES`
(``register_shape(name, Params)`` on a builder(occ, body) → list of volume dimtags; the hip stem
registers from :mod:`planner.geometry.hip_stem`); ``Params`` declares the shape's plan keys.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from planner.artefacts import Region, Role, TissueMesh, boundary_facets
from planner.config.plan import BodySpec, GeometrySection, MeshSection
from planner.config.registry import SHAPES
from planner.config.schema import nonzero_vec3, positive, positive_vec3, spec
from planner.errors import InputError, MeshError
from planner.geometry.gmsh_session import gmsh_session  # re-exported (historic home)
from planner.units import MM

log = logging.getLogger(__name__)

ShapeBuilder = Callable[[object, BodySpec], list]

_POSITIVE = "a positive number"


# --- the shape registry: each shape declares its keys and its closed-form volume ------------------
def register_shape(name: str, params: type | None = None, *, replace: bool = False) -> Callable[[ShapeBuilder], ShapeBuilder]:
    """Decorator: ``builder(occ, body) -> [(3, tag), ...]`` (gmsh OCC, millimetres) available as
    ``[[geometry.bodies]] shape = name``; ``params`` declares the shape's keys and has
    ``exact_volume_m3() -> float | None``."""
    return SHAPES.decorator(name, params, replace=replace)


def get_shape(name: str) -> ShapeBuilder:
    return SHAPES.get(name)


def available_shapes() -> tuple[str, ...]:
    return SHAPES.available()


@dataclass(frozen=True)
class BoxParams:
    """``box``: axis-aligned, centred on ``center_mm``."""

    size_mm: tuple[float, float, float] = spec(check=positive_vec3, expected="3 positive numbers [lx, ly, lz]")

    def exact_volume_m3(self) -> float:
        lx, ly, lz = (s * MM for s in self.size_mm)
        return lx * ly * lz


@dataclass(frozen=True)
class SphereParams:
    """``sphere`` centred on ``center_mm``."""

    radius_mm: float = spec(check=positive, expected=_POSITIVE)

    def exact_volume_m3(self) -> float:
        return 4.0 / 3.0 * math.pi * (self.radius_mm * MM) ** 3


@dataclass(frozen=True)
class CylinderParams:
    """``cylinder`` centred on ``center_mm`` along ``axis``."""

    radius_mm: float = spec(check=positive, expected=_POSITIVE)
    length_mm: float = spec(check=positive, expected=_POSITIVE)
    axis: tuple[float, float, float] = spec((0.0, 0.0, 1.0), check=nonzero_vec3, expected="a non-zero direction [x, y, z]")

    def exact_volume_m3(self) -> float:
        return math.pi * (self.radius_mm * MM) ** 2 * self.length_mm * MM


@dataclass(frozen=True)
class EllipsoidParams:
    """``ellipsoid`` centred on ``center_mm``, semi-axes along x, y, z."""

    semi_axes_mm: tuple[float, float, float] = spec(check=positive_vec3, expected="3 positive numbers [a, b, c]")

    def exact_volume_m3(self) -> float:
        a, b, c = (s * MM for s in self.semi_axes_mm)
        return 4.0 / 3.0 * math.pi * a * b * c


@register_shape("box", BoxParams)
def _box(occ, b: BodySpec) -> list:
    if b.size_mm is None:  # the registry makes size_mm required for boxes
        raise InputError(f"geometry.bodies[{b.name!r}].size_mm: missing; expected [lx, ly, lz] in mm for a box")
    lx, ly, lz = b.size_mm
    cx, cy, cz = b.center_mm
    return [(3, occ.addBox(cx - lx / 2, cy - ly / 2, cz - lz / 2, lx, ly, lz))]


@register_shape("sphere", SphereParams)
def _sphere(occ, b: BodySpec) -> list:
    return [(3, occ.addSphere(*b.center_mm, b.radius_mm))]


@register_shape("cylinder", CylinderParams)
def _cylinder(occ, b: BodySpec) -> list:
    a = np.asarray(b.axis, float)
    a = a / np.linalg.norm(a)
    base = np.asarray(b.center_mm) - a * b.length_mm / 2
    d = a * b.length_mm
    return [(3, occ.addCylinder(*base, *d, b.radius_mm))]


@register_shape("ellipsoid", EllipsoidParams)
def _ellipsoid(occ, b: BodySpec) -> list:
    tag = occ.addSphere(*b.center_mm, 1.0)
    occ.dilate([(3, tag)], *b.center_mm, *b.semi_axes_mm)
    return [(3, tag)]


# the hip stem registers itself in the same registry
import planner.geometry.hip_stem  # noqa: E402,F401  (registers shape "hip-stem")

SHAPE_BUILDERS = SHAPES  # the registry, as a Mapping name → builder


def mesh_shapes(geometry: GeometrySection, mesh: MeshSection) -> TissueMesh:
    """Mesh plan primitives into a conforming multi-region tetrahedral mesh (read from the mesh cache
    when ``PLANNER_MESH_CACHE`` is set and holds it: :mod:`planner.geometry.mesh_cache`)."""
    from planner.geometry.mesh_cache import cached_arrays

    made = cached_arrays("primitives", {"geometry": geometry, "mesh": mesh}, lambda: _gmsh_mesh(geometry, mesh))
    points_m, cells = np.asarray(made["points_m"]), np.asarray(made["cells"])
    exact_mm3 = np.asarray(made["exact_mm3"])
    regions = tuple(
        Region(tag=i + 1, name=b.name, tissue=b.tissue, role=Role(b.role), exact_volume_m3=float(exact_mm3[i]) * MM**3)
        for i, b in enumerate(geometry.bodies)
    )
    tm = TissueMesh(points_m, cells, np.asarray(made["cell_region"]), regions, boundary_facets(cells),
                    source=str(made["source"]))
    log.info("meshed %d bodies: %d cells, %d vertices", len(regions), tm.num_cells, tm.num_vertices)
    return tm


def _gmsh_mesh(geometry: GeometrySection, mesh: MeshSection) -> dict[str, object]:
    """gmsh OCC fragments of the plan bodies, meshed: points (m), cells, region tags, the exact volume
    kept by each body (mm³) and the mesher's name and version."""
    with gmsh_session() as gmsh:
        occ = gmsh.model.occ
        inputs: list[list] = []
        for i, b in enumerate(geometry.bodies):
            inputs.append(SHAPES.get(b.shape, key=f"geometry.bodies[{i}].shape")(occ, b))
        flat = [dt for group in inputs for dt in group]
        if len(flat) > 1:
            try:
                _, out_map = occ.fragment(flat, [])
            except Exception as exc:  # gmsh raises plain Exception
                raise MeshError(f"gmsh OCC boolean fragments failed for the plan bodies: {exc}") from None
        else:
            out_map = [flat]
        occ.synchronize()
        # owner of each fragment = the last body whose input produced it
        produced: dict[int, set[int]] = {i: set() for i in range(len(inputs))}
        owner: dict[int, int] = {}
        k = 0
        for i, group in enumerate(inputs):
            for _ in group:
                for dim, tag in out_map[k]:
                    if dim == 3:
                        owner[tag] = i
                        produced[i].add(tag)
                k += 1
        pieces: dict[int, list[int]] = {i: [] for i in range(len(inputs))}
        for tag, i in owner.items():
            pieces[i].append(tag)
        for i, b in enumerate(geometry.bodies):
            if not pieces[i]:
                raise MeshError(
                    f"geometry.bodies[{i}] ({b.name!r}): completely covered by later bodies; expected a visible part"
                )
        # exact volume kept by a body = its closed-form volume − CAD volume of the parts later bodies
        # took (closed form where possible: OCC's mass of curved/dilated shapes is only ~1e-4 accurate)
        exact_mm3 = {}
        for i, b in enumerate(geometry.bodies):
            lost = sum(occ.getMass(3, t) for t in produced[i] if owner[t] != i)
            closed_m3 = b.exact_volume_m3()  # None: no closed form (hip stem), the CAD volume is used
            exact_mm3[i] = closed_m3 / MM**3 - lost if closed_m3 is not None else sum(occ.getMass(3, t) for t in pieces[i])
        for i, tags in pieces.items():
            gmsh.model.addPhysicalGroup(3, tags, i + 1)
        _set_sizes(gmsh, geometry, mesh, pieces)
        gmsh.option.setNumber("Mesh.RandomSeed", mesh.seed)
        gmsh.option.setNumber("General.NumThreads", 1)
        if _gmsh_version(gmsh) >= (4, 9):
            # gmsh 4.13 (Debian trixie) leaves overlapping facets on small curved bodies meshed far coarser
            # than their radius (a 3 mm rod at 12 mm: "Invalid boundary mesh"); ≥ 12 nodes per circle avoid
            # it. Not set for bookworm's 4.8, whose meshes (and benchmark numbers) stay as they were.
            gmsh.option.setNumber("Mesh.MinimumCircleNodes", 12)
        try:
            gmsh.model.mesh.generate(3)
        except Exception as exc:  # gmsh raises plain Exception
            raise MeshError(f"gmsh could not mesh the geometry: {exc}") from None
        points_m, cells, cell_region = _extract(gmsh, pieces)
        version = gmsh.__version__
    return {"points_m": points_m, "cells": cells, "cell_region": cell_region,
            "exact_mm3": np.array([exact_mm3[i] for i in range(len(geometry.bodies))], dtype=float),
            "source": f"gmsh {version} OCC fragments"}


def _gmsh_version(gmsh) -> tuple[int, ...]:
    """(major, minor) of the gmsh library (``gmsh.__version__`` is the Python API's)."""
    return tuple(int(p) for p in gmsh.option.getString("General.Version").split(".")[:2])


def _set_sizes(gmsh, geometry: GeometrySection, mesh: MeshSection, pieces: dict[int, list[int]]) -> None:
    f = gmsh.model.mesh.field
    hmax = mesh.max_size_mm
    grow = mesh.growth_distance_mm or 3.0 * hmax
    gmsh.option.setNumber("Mesh.MeshSizeMax", hmax)
    gmsh.option.setNumber("Mesh.MeshSizeFromPoints", 0)
    gmsh.option.setNumber("Mesh.MeshSizeExtendFromBoundary", 0)
    gmsh.option.setNumber("Mesh.MeshSizeFromCurvature", 0)
    size_of_role = {"target": mesh.target_size_mm, "implant": mesh.implant_size_mm, "organ": mesh.organ_size_mm}
    fields = []
    for i, b in enumerate(geometry.bodies):
        h = size_of_role.get(b.role)
        if h is None or h >= hmax:
            continue
        vols = pieces[i]
        surfs = sorted({abs(t) for _, t in gmsh.model.getBoundary([(3, v) for v in vols], oriented=False)})
        dist = f.add("Distance")
        f.setNumbers(dist, "FacesList", surfs)
        f.setNumber(dist, "NumPointsPerCurve", 20)
        thr = f.add("Threshold")
        f.setNumber(thr, "InField", dist)
        f.setNumber(thr, "SizeMin", h)
        f.setNumber(thr, "SizeMax", hmax)
        f.setNumber(thr, "DistMin", 0.0)
        f.setNumber(thr, "DistMax", grow)
        inside = f.add("MathEval")
        f.setString(inside, "F", repr(float(h)))
        res = f.add("Restrict")
        f.setNumber(res, "InField", inside)
        f.setNumbers(res, "RegionsList", vols)
        f.setNumbers(res, "FacesList", surfs)
        fields += [thr, res]
    if fields:
        mn = f.add("Min")
        f.setNumbers(mn, "FieldsList", fields)
        f.setAsBackgroundMesh(mn)


def _extract(gmsh, pieces: dict[int, list[int]]):
    node_tags, coords, _ = gmsh.model.mesh.getNodes()
    coords = coords.reshape(-1, 3)
    cells_all, region_all = [], []
    for i, vols in pieces.items():
        for v in vols:
            etypes, _, enodes = gmsh.model.mesh.getElements(3, v)
            for et, en in zip(etypes, enodes):
                if et != 4:  # 4 = linear tetrahedron
                    raise MeshError(f"gmsh element type {et} in volume {v}: expected linear tetrahedra (type 4)")
                c = np.asarray(en, dtype=np.int64).reshape(-1, 4)
                cells_all.append(c)
                region_all.append(np.full(c.shape[0], i + 1, np.int32))
    if not cells_all:
        raise MeshError("gmsh produced no tetrahedra")
    cells = np.concatenate(cells_all)
    region = np.concatenate(region_all)
    used = np.unique(cells)
    lut = np.full(int(max(node_tags.max(), used.max())) + 1, -1, np.int64)
    tag_pos = np.empty_like(lut)
    tag_pos[node_tags.astype(np.int64)] = np.arange(node_tags.size)
    lut[used] = np.arange(used.size)
    points_m = coords[tag_pos[used]] * MM
    cells = lut[cells]
    # orient all tetrahedra positively (DOLFINx does not need it, volume formulas stay simple)
    x = points_m[cells]
    det = np.einsum("ij,ij->i", np.cross(x[:, 1] - x[:, 0], x[:, 2] - x[:, 0]), x[:, 3] - x[:, 0])
    flip = det < 0
    cells[flip] = cells[flip][:, [0, 2, 1, 3]]
    if np.any(np.abs(det) < 1e-30):
        raise MeshError("gmsh produced degenerate (zero-volume) tetrahedra")
    return points_m, cells, region


def exact_primitive_volume_m3(body: BodySpec) -> float | None:
    """Closed-form volume of a primitive on its own (without overlaps); None without a closed form."""
    return body.exact_volume_m3()


__all__ = ["mesh_shapes", "gmsh_session", "SHAPE_BUILDERS", "boundary_facets", "exact_primitive_volume_m3",
           "register_shape", "get_shape", "available_shapes"]
