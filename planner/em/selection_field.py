"""Static selection field ``[selection_field]``: permanent magnets and DC coil pairs → H_dc on the mesh,
the field-free region (FFR) and its gradient.

The sources are built with magpylib (Ortner M., Coliado Bandeira L.G. 2020, SoftwareX 11:100466;
analytic fields of uniformly magnetised cuboids and cylinders and of circular current loops, SI units).
Tissue is non-magnetic (μr = 1), so H_dc = B/μ0 in the body.

FFR: the zero of B found by a least-squares solve of B(x) = 0 started at the assembly centre (the
centroid of the sources), then the Jacobian J = ∂B/∂x there by central differences (h = 0.1 mm). Its
singular values s1 ≥ s2 ≥ s3 give the gradient strength (``gradient_T_per_m`` = s1; a Maxwell pair:
G, G/2, G/2) and the FFR type: a point, or a line along the null vector when s3 < 1e-3 s1. A residual
|B| above 1 mT means no field-free point exists (e.g. a single magnet): the FFR is then the minimum
of |B| and says so (``kind = "minimum"``).

Placement: ``shift_mm`` translates the whole assembly; ``place_ffr_on_target`` translates it so the FFR
lands on the target centre. Checks (one-line errors naming the key): a magnet overlapping the body
(mesh vertices inside the magnet or the magnet centre inside the body), a coil loop crossing the body,
an FFR outside the body.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import optimize
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from planner.artefacts import TissueMesh
from planner.config.plan import SelectionFieldSection
from planner.errors import InputError, bad_value
from planner.units import MM, MU0_H_per_m

log = logging.getLogger(__name__)
KEY = "selection_field"
MODEL = "magpylib"


def _rotation_to(axis: tuple[float, float, float]) -> Rotation:
    """The rotation taking +z to ``axis``."""
    a = np.asarray(axis, dtype=float)
    a = a / np.linalg.norm(a)
    z = np.array([0.0, 0.0, 1.0])
    v = np.cross(z, a)
    s, c = float(np.linalg.norm(v)), float(z @ a)
    if s < 1e-12:
        return Rotation.identity() if c > 0 else Rotation.from_rotvec([math.pi, 0.0, 0.0])
    return Rotation.from_rotvec(v / s * math.atan2(s, c))


def build_sources(sec: SelectionFieldSection, shift_m: np.ndarray | None = None):
    """A magpylib Collection of every magnet and coil (SI), translated by ``shift_m``."""
    import magpylib as magpy

    shift = np.zeros(3) if shift_m is None else np.asarray(shift_m, dtype=float)
    parts: list[Any] = []
    for m in sec.magnets:
        pos = np.asarray(m.center_mm) * MM + shift
        if m.shape == "block":
            parts.append(magpy.magnet.Cuboid(polarization=tuple(m.polarization_T), dimension=tuple(np.asarray(m.size_mm) * MM),
                                             position=pos))
        else:
            rot = _rotation_to(m.axis)
            pol_local = rot.inv().apply(np.asarray(m.polarization_T, dtype=float))
            parts.append(magpy.magnet.Cylinder(polarization=tuple(pol_local),
                                               dimension=(float(m.diameter_mm or 0.0) * MM, float(m.height_mm or 0.0) * MM),
                                               position=pos,
                                               orientation=rot))
    for c in sec.coil_pairs:
        rot = _rotation_to(c.axis)
        n = rot.apply([0.0, 0.0, 1.0])
        centre = np.asarray(c.center_mm) * MM + shift
        sign = -1.0 if c.kind == "maxwell" else 1.0
        for side, cur in ((+1.0, c.current_A), (-1.0, sign * c.current_A)):
            parts.append(magpy.current.Circle(current=cur * c.turns, diameter=2.0 * c.radius_mm * MM,
                                              position=centre + side * 0.5 * c.spacing_m * n, orientation=rot))
    return magpy.Collection(*parts)


def B_at(sources, points_m: np.ndarray) -> np.ndarray:
    """B (T) at points (n, 3) in metres."""
    pts = np.atleast_2d(np.asarray(points_m, dtype=float))
    return np.asarray(sources.getB(pts), dtype=float).reshape(pts.shape)


@dataclass(frozen=True)
class FFR:
    position_m: np.ndarray
    kind: str  # 'point' | 'line' | 'minimum'
    gradients_T_per_m: np.ndarray  # singular values of ∂B/∂x, descending
    direction: np.ndarray | None  # line direction (kind 'line')
    residual_T: float


def find_ffr(sources, start_m: np.ndarray) -> FFR:
    """Zero (or minimum) of |B| near ``start_m`` and the gradient there (module docstring)."""
    sol = optimize.least_squares(lambda x: B_at(sources, x)[0] * 1e3, np.asarray(start_m, dtype=float),
                                 x_scale=0.01, xtol=1e-12, ftol=1e-12, gtol=1e-12, max_nfev=400)
    x = sol.x
    h = 1e-4
    J = np.empty((3, 3))
    for k in range(3):
        e = np.zeros(3)
        e[k] = h
        J[:, k] = (B_at(sources, x + e)[0] - B_at(sources, x - e)[0]) / (2 * h)
    _, s, Vt = np.linalg.svd(J)
    resid = float(np.linalg.norm(B_at(sources, x)[0]))
    if resid > 1e-3:
        return FFR(x, "minimum", s, None, resid)
    if s[2] < 1e-3 * s[0]:
        return FFR(x, "line", s, Vt[2] / np.linalg.norm(Vt[2]), resid)
    return FFR(x, "point", s, None, resid)


def _source_centre(sec: SelectionFieldSection) -> np.ndarray:
    pts = [np.asarray(m.center_mm) for m in sec.magnets] + [np.asarray(c.center_mm) for c in sec.coil_pairs]
    return np.mean(pts, axis=0) * MM


# --- inside the body? --------------------------------------------------------------------------------
def inside_body(mesh: TissueMesh, points_m: np.ndarray, k: int = 24) -> np.ndarray:
    """True where a point lies in a mesh cell (barycentric test over the k nearest cell centroids)."""
    pts = np.atleast_2d(np.asarray(points_m, dtype=float))
    tree = cKDTree(mesh.cell_centroids_m())
    k = min(k, mesh.num_cells)
    _, idx = tree.query(pts, k=k)
    idx = np.asarray(idx).reshape(len(pts), k)
    P = mesh.points_m[mesh.cells[idx]]  # (n, k, 4, 3)
    T = np.stack([P[:, :, 1] - P[:, :, 0], P[:, :, 2] - P[:, :, 0], P[:, :, 3] - P[:, :, 0]], axis=-1)
    rhs = pts[:, None, :] - P[:, :, 0]
    lam = np.linalg.solve(T, rhs[..., None])[..., 0]
    bary = np.concatenate([1.0 - lam.sum(-1, keepdims=True), lam], axis=-1)
    return np.any(np.all(bary >= -1e-9, axis=-1), axis=1)


def _magnet_points(m: Any, shift: np.ndarray, n: int = 5) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """Sample points of a magnet (a grid inside it) and a membership test for points."""
    c = np.asarray(m.center_mm) * MM + shift
    g = np.linspace(-0.5, 0.5, n)
    G = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
    if m.shape == "block":
        half = 0.5 * np.asarray(m.size_mm) * MM
        return c + G * 2 * half, lambda p: np.all(np.abs(p - c) <= half, axis=1)
    rot = _rotation_to(m.axis)
    r, hh = 0.5 * m.diameter_mm * MM, 0.5 * m.height_mm * MM
    local = G * np.array([2 * r, 2 * r, 2 * hh])
    local = local[np.hypot(local[:, 0], local[:, 1]) <= r]

    def member(p: np.ndarray) -> np.ndarray:
        q = rot.inv().apply(p - c)
        return (np.hypot(q[:, 0], q[:, 1]) <= r) & (np.abs(q[:, 2]) <= hh)

    return c + rot.apply(local), member


def check_placement(mesh: TissueMesh, sec: SelectionFieldSection, shift_m: np.ndarray) -> None:
    """One-line errors for magnets overlapping the body and coils crossing it."""
    for i, m in enumerate(sec.magnets):
        pts, member = _magnet_points(m, shift_m)
        if np.any(member(mesh.points_m)) or np.any(inside_body(mesh, pts)):
            raise InputError(f"{KEY}.magnets[{i}]: the {m.shape} at center_mm = {list(m.center_mm)!r} (shifted by "
                             f"{list(np.round(shift_m / MM, 3))} mm) overlaps the body; expected magnets outside the "
                             "patient (check center_mm, size and shift_mm; millimetres)")
    for i, c in enumerate(sec.coil_pairs):
        rot = _rotation_to(c.axis)
        n = rot.apply([0.0, 0.0, 1.0])
        t = np.linspace(0, 2 * math.pi, 72, endpoint=False)
        ring = rot.apply(np.stack([np.cos(t), np.sin(t), 0 * t], -1) * c.radius_mm * MM)
        centre = np.asarray(c.center_mm) * MM + shift_m
        for side in (+1.0, -1.0):
            if np.any(inside_body(mesh, centre + side * 0.5 * c.spacing_m * n + ring)):
                raise InputError(f"{KEY}.coil_pairs[{i}]: a coil of radius_mm = {c.radius_mm} crosses the body; "
                                 "expected coils around or beside the patient (check radius_mm, spacing_mm, center_mm)")


@dataclass(frozen=True)
class SelectionField:
    """The static field on the mesh and its FFR (SI)."""

    H_dc_A_per_m: np.ndarray  # (M, 3) at cell centroids
    ffr: FFR
    shift_m: np.ndarray
    sources: object = field(repr=False, compare=False)
    section: SelectionFieldSection | None = field(default=None, repr=False, compare=False)
    max_B_in_body_T: float = 0.0
    centroids_m: np.ndarray | None = field(default=None, repr=False, compare=False)

    def bias_for_offset(self, offset_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """H_dc (A/m) at the cell centroids and the FFR position (m) with the assembly moved by ``offset_m``
        further (the FFR search; placement is not re-checked for the body: the offsets are small)."""
        if self.section is None or self.centroids_m is None:
            raise InputError(f"{KEY}: this selection field cannot be moved (no section/mesh kept)")
        shift = self.shift_m + np.asarray(offset_m, dtype=float)
        src = build_sources(self.section, shift)
        return B_at(src, self.centroids_m) / MU0_H_per_m, self.ffr.position_m + np.asarray(offset_m, dtype=float)

    @property
    def gradient_T_per_m(self) -> float:
        return float(self.ffr.gradients_T_per_m[0])

    def H_dc_at(self, points_m: np.ndarray) -> np.ndarray:
        return B_at(self.sources, points_m) / MU0_H_per_m

    def summary_block(self) -> dict:
        f = self.ffr
        out = {"ffr_position_mm": [float(v) for v in f.position_m / MM], "gradient_T_per_m": self.gradient_T_per_m,
               "model": MODEL, "ffr_kind": f.kind, "principal_gradients_T_per_m": [float(s) for s in f.gradients_T_per_m],
               "ffr_residual_mT": f.residual_T * 1e3, "shift_mm": [float(v) for v in self.shift_m / MM],
               "max_B_in_body_mT": self.max_B_in_body_T * 1e3}
        if f.direction is not None:
            out["ffr_line_direction"] = [float(v) for v in f.direction]
        return out


def selection_field(mesh: TissueMesh, sec: SelectionFieldSection, *, extra_shift_m: np.ndarray | None = None,
                    check: bool = True) -> SelectionField:
    """H_dc at the cell centroids and the FFR; ``extra_shift_m`` moves the assembly further (the search)."""
    start = _source_centre(sec)
    shift = np.asarray(sec.shift_mm, dtype=float) * MM
    if sec.place_ffr_on_target:
        target = mesh.target_centroid_m()
        if target is None:
            raise InputError(f"{KEY}.place_ffr_on_target = true but the mesh has no target region; expected a body with "
                             "role = 'target' or place_ffr_on_target = false with shift_mm")
        ffr0 = find_ffr(build_sources(sec), start)
        shift = np.asarray(target, dtype=float) - ffr0.position_m
    if extra_shift_m is not None:
        shift = shift + np.asarray(extra_shift_m, dtype=float)
    sources = build_sources(sec, shift)
    if check:
        check_placement(mesh, sec, shift)
    ffr = find_ffr(sources, start + shift)
    if check and not inside_body(mesh, ffr.position_m)[0]:
        raise InputError(bad_value(f"{KEY}.shift_mm", [round(float(v) / MM, 3) for v in shift],
                                   f"a placement putting the FFR inside the body (FFR at "
                                   f"{[round(float(v) / MM, 1) for v in ffr.position_m]} mm is outside; millimetres?)"))
    X = mesh.cell_centroids_m()
    B = B_at(sources, X)
    return SelectionField(B / MU0_H_per_m, ffr, shift, sources, sec, float(np.linalg.norm(B, axis=1).max()), X)
