"""Implant shapes for gmsh OpenCASCADE: a hip-stem-like femoral component, and plan primitives.

Builders take the gmsh ``occ`` module (``gmsh.model.occ``) and work in MILLIMETRES, like
:mod:`planner.geometry.mesher`; they return the list of volume dimtags ``[(3, tag), ...]`` they created. gmsh
is not imported here (the caller owns the gmsh session), so this module imports without gmsh.

Hip stem (femoral component of a total hip replacement; dimensions of a cemented/uncemented straight
stem of medium size, e.g. Müller/CLS-type stems: stem 120–150 mm, neck Ø 10–14 mm, CCD angle
125–135°, heads Ø 22–36 mm; Noble et al. 1988, Clin. Orthop. Relat. Res. 235:148 for femoral
canal dimensions):

* stem: a tapered rod (cone frustum) of length ``stem_length_mm`` along the stem axis from the
  shoulder (proximal radius ``proximal_radius_mm``) to the distal end (radius ``distal_radius_mm``),
  rounded at both ends by spheres of the end radii centred 0.2 radius inside the frustum (the tip
  thus reaches 0.8 ``distal_radius_mm`` beyond the frustum end);
* neck: a cylinder of radius ``neck_radius_mm`` and length ``neck_length_mm`` from the shoulder,
  at the CCD (caput–collum–diaphyseal) angle ``ccd_angle_deg`` to the stem axis, towards ``medial``;
* head: a sphere of radius ``head_radius_mm`` centred at the end of the neck.

All parts are fused into ONE solid. The reference point ``center_mm`` is the shoulder (where the
neck axis meets the stem axis); ``axis`` points from the distal tip to the shoulder (proximally).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from planner.config.registry import SHAPES
from planner.config.schema import nonzero_vec3, positive, spec
from planner.errors import InputError, bad_value

HIP_STEM_DEFAULTS: dict[str, Any] = {
    "center_mm": (0.0, 0.0, 0.0),
    "axis": (0.0, 0.0, 1.0),
    "medial": None,  # default: a direction perpendicular to axis (x, or y if axis ∥ x)
    "stem_length_mm": 130.0,
    "proximal_radius_mm": 8.0,
    "distal_radius_mm": 4.0,
    "neck_length_mm": 30.0,
    "neck_radius_mm": 6.0,
    "head_radius_mm": 14.0,  # Ø 28 mm head
    "ccd_angle_deg": 135.0,
}


def hip_stem_parameters(params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Defaults merged with ``params``; validated (InputError names the key)."""
    p = dict(HIP_STEM_DEFAULTS)
    for k, v in (params or {}).items():
        if k not in HIP_STEM_DEFAULTS:
            raise InputError(bad_value(f"hip-stem.{k}", v, "one of " + ", ".join(sorted(HIP_STEM_DEFAULTS))))
        p[k] = v
    for k in ("stem_length_mm", "proximal_radius_mm", "distal_radius_mm", "neck_length_mm", "neck_radius_mm", "head_radius_mm"):
        v = p[k]
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise InputError(bad_value(f"hip-stem.{k}", v, "a positive number (mm)"))
    if not 90.0 < float(p["ccd_angle_deg"]) < 180.0:
        raise InputError(bad_value("hip-stem.ccd_angle_deg", p["ccd_angle_deg"], "an angle in (90, 180) degrees"))
    if p["distal_radius_mm"] > p["proximal_radius_mm"]:
        raise InputError(bad_value("hip-stem.distal_radius_mm", p["distal_radius_mm"],
                                   f"at most proximal_radius_mm = {p['proximal_radius_mm']}"))
    if p["neck_radius_mm"] >= p["head_radius_mm"]:
        raise InputError(bad_value("hip-stem.neck_radius_mm", p["neck_radius_mm"],
                                   f"less than head_radius_mm = {p['head_radius_mm']}"))
    a = np.asarray(p["axis"], float)
    if a.shape != (3,) or not np.all(np.isfinite(a)) or np.linalg.norm(a) == 0:
        raise InputError(bad_value("hip-stem.axis", p["axis"], "a non-zero direction [x, y, z]"))
    a = a / np.linalg.norm(a)
    m = p["medial"]
    if m is None:
        m = np.array([1.0, 0.0, 0.0]) if abs(a[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    m = np.asarray(m, float)
    m = m - a * (m @ a)
    if np.linalg.norm(m) < 1e-9:
        raise InputError(bad_value("hip-stem.medial", p["medial"], "a direction not parallel to axis"))
    p["axis"] = tuple(a)
    p["medial"] = tuple(m / np.linalg.norm(m))
    p["center_mm"] = tuple(float(c) for c in p["center_mm"])
    return p


def hip_stem_points_mm(params: Mapping[str, Any] | None = None) -> dict[str, np.ndarray]:
    """Key points (mm): shoulder, distal tip centre, head centre, and the neck direction."""
    p = hip_stem_parameters(params)
    c, a, m = (np.asarray(p[k], float) for k in ("center_mm", "axis", "medial"))
    beta = math.radians(180.0 - p["ccd_angle_deg"])  # angle between neck and the proximal stem axis
    neck_dir = math.cos(beta) * a + math.sin(beta) * m
    return {
        "shoulder": c,
        "tip": c - a * p["stem_length_mm"],
        "head": c + neck_dir * p["neck_length_mm"],
        "neck_dir": neck_dir,
    }


def build_hip_stem(occ, params: Mapping[str, Any] | None = None) -> list[tuple[int, int]]:
    """Build the fused hip stem in gmsh OCC (mm); returns ``[(3, tag)]``."""
    p = hip_stem_parameters(params)
    k = hip_stem_points_mm(p)
    a = np.asarray(p["axis"])
    tip, sh, head, nd = k["tip"], k["shoulder"], k["head"], k["neck_dir"]
    L = p["stem_length_mm"]
    stem = occ.addCone(*tip, *(a * L), p["distal_radius_mm"], p["proximal_radius_mm"])
    # caps are centred 0.2 r inside the frustum ends: a sphere exactly tangent to the cone end makes
    # OCC booleans fail ("Courbes non jointives"); this way they cut the cone transversally
    cap = occ.addSphere(*(tip + a * 0.2 * p["distal_radius_mm"]), p["distal_radius_mm"])
    shoulder = occ.addSphere(*(sh - a * 0.2 * p["proximal_radius_mm"]), p["proximal_radius_mm"])
    neck = occ.addCylinder(*sh, *(nd * p["neck_length_mm"]), p["neck_radius_mm"])
    ball = occ.addSphere(*head, p["head_radius_mm"])
    out, _ = occ.fuse([(3, stem)], [(3, cap), (3, shoulder), (3, neck), (3, ball)])
    vols = [dt for dt in out if dt[0] == 3]
    if len(vols) != 1:
        from planner.errors import MeshError

        raise MeshError(f"hip stem: OCC fuse gave {len(vols)} volumes; expected one solid")
    return vols


@dataclass(frozen=True)
class HipStemParams:
    """``hip-stem``: femoral component; ``center_mm`` = shoulder, ``axis`` = distal → proximal."""

    radius_mm: float | None = spec(None, check=positive, expected="a positive head radius in mm (default 14)")
    length_mm: float | None = spec(None, check=positive, expected="a positive stem length in mm (default 130)")
    axis: tuple[float, float, float] = spec((0.0, 0.0, 1.0), check=nonzero_vec3, expected="a non-zero direction [x, y, z]")
    parameters: dict[str, Any] = spec(default_factory=dict, help="stem_length_mm, proximal_radius_mm, distal_radius_mm, "
                                      "neck_length_mm, neck_radius_mm, head_radius_mm, ccd_angle_deg, medial")

    def validate(self, path: str) -> None:
        bad = sorted({"center_mm", "axis"} & set(self.parameters))
        if bad:
            raise InputError(f"{path}.parameters.{bad[0]}: give it as {path}.{bad[0]}")
        try:
            hip_stem_parameters(self.parameters)
        except InputError as exc:
            raise InputError(f"{path}.parameters: {exc}") from None

    def exact_volume_m3(self) -> None:
        """No closed form: the mesher uses the CAD volume."""
        return None


@SHAPES.decorator("hip-stem", HipStemParams)
def hip_stem_from_body(occ, body) -> list[tuple[int, int]]:
    """Shape builder of ``shape = "hip-stem"`` with a :class:`planner.config.plan.BodySpec`.

    Uses the BodySpec keys: ``center_mm`` (shoulder), ``axis`` (distal → proximal),
    ``length_mm`` (stem length, default 130), ``radius_mm`` (head radius, default 14); other
    dimensions from ``parameters`` (see :data:`HIP_STEM_DEFAULTS`).
    """
    params: dict[str, Any] = {"center_mm": tuple(body.center_mm), "axis": tuple(body.axis)}
    if getattr(body, "length_mm", None) is not None:
        params["stem_length_mm"] = body.length_mm
    if getattr(body, "radius_mm", None) is not None:
        params["head_radius_mm"] = body.radius_mm
    extra = getattr(body, "parameters", None)
    if extra:
        params.update(dict(extra))
    return build_hip_stem(occ, params)


def build_primitive(occ, body) -> list[tuple[int, int]]:
    """Any registered shape of a BodySpec, in mm (the builders of :data:`planner.config.registry.SHAPES`)."""
    return SHAPES.get(body.shape, key=f"geometry body {getattr(body, 'name', '?')!r}.shape")(occ, body)


def build_from_triangles(occ, points_mm: np.ndarray, triangles: np.ndarray) -> list[tuple[int, int]]:
    """A faceted OCC solid bounded by a closed triangle surface (e.g. a CT implant region's boundary).

    Shared points and edges are created once so the faces are topologically connected; the solid is
    ``addVolume(addSurfaceLoop(faces, sewing=True))``. Used for implants without a plan primitive.
    """
    tris = np.asarray(triangles, dtype=np.int64)
    if tris.ndim != 2 or tris.shape[1] != 3 or len(tris) < 4:
        raise InputError(bad_value("implant boundary triangles", getattr(tris, "shape", None), "(K >= 4, 3) vertex ids"))
    used = np.unique(tris)
    ptag = {}
    for v in used:
        ptag[int(v)] = occ.addPoint(*map(float, points_mm[v]))
    ltag: dict[tuple[int, int], int] = {}
    faces = []
    for t in tris:
        loop = []
        for i, j in ((t[0], t[1]), (t[1], t[2]), (t[2], t[0])):
            i, j = int(i), int(j)
            key = (i, j) if i < j else (j, i)
            if key not in ltag:
                ltag[key] = occ.addLine(ptag[key[0]], ptag[key[1]])
            loop.append(ltag[key] if i < j else -ltag[key])
        cl = occ.addCurveLoop(loop)
        faces.append(occ.addPlaneSurface([cl]))
    sl = occ.addSurfaceLoop(faces, sewing=True)
    return [(3, occ.addVolume([sl]))]


def hip_stem_volume_m3(params: Mapping[str, Any] | None = None) -> float:
    """Exact (CAD) volume of the fused hip stem, from OCC (opens its own gmsh session: do not call
    while another gmsh session is active)."""
    from planner.geometry.gmsh_session import gmsh_session

    with gmsh_session("hip_stem") as gmsh:
        vols = build_hip_stem(gmsh.model.occ, params)
        gmsh.model.occ.synchronize()
        return float(sum(gmsh.model.occ.getMass(3, t) for _, t in vols)) * 1e-9


__all__ = [
    "HIP_STEM_DEFAULTS",
    "hip_stem_parameters",
    "hip_stem_points_mm",
    "build_hip_stem",
    "hip_stem_from_body",
    "build_primitive",
    "build_from_triangles",
    "hip_stem_volume_m3",
]
