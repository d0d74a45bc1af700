"""Applicator models: the alternating magnetic field H0 and its vector potential A0 in the patient.

Registry (:data:`planner.config.registry.APPLICATORS`; ``register_applicator`` / ``get_applicator`` /
``available_applicators``) keyed by the plan key ``[applicator] type``; each type declares its own keys
(``SolenoidParams`` ...), checked when the plan is loaded:

=============  ==========================================================================================
``uniform``    H0 = H·d̂ everywhere (``direction``); A0 = ½ μ0 H0 × (r − r_t) (Coulomb gauge, centred on the
               target point r_t; any other centre differs by a gradient, which the tissue solve absorbs).
``solenoid``   ``turns`` coaxial circular loops of ``radius_mm`` at the midpoints of ``turns`` equal slots
               over ``length_mm`` (a current-sheet approximation of the helix: the helix's small axial
               current, one wire's worth along the length, and its leads are not modelled).
``helmholtz``  two coaxial loops of ``radius_mm`` a distance ``spacing_mm`` apart (default = radius, the
               Helmholtz condition), each with ``turns`` turns (default 1) lumped into one filament.
``pancake``    flat spiral in the plane through ``center_mm`` normal to ``axis``, approximated by ``turns``
               concentric loops at radii evenly spaced between ``inner_radius_mm`` (default 0) and
               ``radius_mm`` (slot midpoints; the radial feed lead is not modelled).
``wire``       any closed current path: a text/CSV file ``path_file`` of 3-D points in mm (closed if the
               last point differs from the first), ``turns`` (default 1) filaments along it.
=============  ==========================================================================================

Circular loops are regular polygons with ``segments_per_turn`` (default 64) straight segments (vertices on the
circle; the centre field of an inscribed n-gon exceeds the circle's by ≈ (π/n)²/3 = 8e-4 for n = 64,
and the coil current is calibrated at the target anyway). Fields come from the closed-form straight
segment Biot–Savart law in :mod:`planner.em._kernels`.

**Coil current.** The plan gives the field amplitude at the target point (``target_point_mm``, else the
volume centroid of the target regions, else of the whole mesh) as ``peak`` or ``rms``; the coil current
(peak, all turns in series and in phase) is I = H_peak / |H(r_t; 1 A)|.

**Placement rules (else InputError).** (1) A coil must not pass through the body: points sampled
along every segment (spacing ≤ the median mesh edge) must lie outside every mesh cell (tested against
the 12 cells with the nearest centroids). (2) ``solenoid``/``helmholtz``: the target must lie inside the
bore, i.e. its distance from the coil axis is less than ``radius_mm``. (3) Every coil: the target's
distance to the nearest coil wire must not exceed the coil's extent (its largest vertex-to-vertex
distance, e.g. the diameter of a loop or the diagonal of a solenoid): farther away every coil acts like
a dipole whose field has fallen to ≲ 10 % of its near field (on the axis of a loop at one diameter from
its plane, (1 + 4)^{-3/2} = 9 %), so the coil neither encloses nor approaches the target and would need
an unphysically large current.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np

from planner.artefacts import TissueMesh
from planner.config.plan import ApplicatorSection
from planner.config.registry import APPLICATORS
from planner.config.schema import parse_section, positive, spec
from planner.em._kernels import biot_savart
from planner.errors import InputError, bad_value
from planner.units import MM, MU0_H_per_m

SEGMENTS_PER_TURN = 64


# --- coil geometry -------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Coil:
    """Filamentary current paths, in metres: segment k runs verts_m[seg_start[k]] → verts_m[seg_end[k]]
    and carries ``seg_current[k]`` amperes per ampere of coil current (the number of turns lumped)."""

    verts_m: np.ndarray
    seg_start: np.ndarray
    seg_end: np.ndarray
    seg_current: np.ndarray
    center_m: np.ndarray  # reference centre for the placement rule
    axis: np.ndarray | None = None  # unit axis for bore checks (solenoid/helmholtz), else None
    bore_radius_m: float | None = None

    def H_per_A(self, points_m: np.ndarray) -> np.ndarray:
        """Magnetic field (A/m) per ampere of coil current at ``points_m`` (n, 3)."""
        return biot_savart(points_m, self.verts_m, self.seg_start, self.seg_end, self.seg_current,
                           want_H=True, want_A=False)[0]

    def A_per_A(self, points_m: np.ndarray) -> np.ndarray:
        """Coulomb-gauge vector potential (V·s/m) per ampere of coil current."""
        return biot_savart(points_m, self.verts_m, self.seg_start, self.seg_end, self.seg_current,
                           want_H=False, want_A=True)[1]

    @property
    def num_segments(self) -> int:
        return int(self.seg_start.size)

    def wire_length_m(self) -> float:
        d = self.verts_m[self.seg_end] - self.verts_m[self.seg_start]
        return float((np.linalg.norm(d, axis=1) * np.abs(self.seg_current)).sum())


def _frame(axis) -> np.ndarray:
    """Rotation matrix whose third column is the unit ``axis``."""
    z = np.asarray(axis, dtype=float)
    z = z / np.linalg.norm(z)
    helper = np.array([1.0, 0.0, 0.0]) if abs(z[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    x = np.cross(helper, z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return np.column_stack([x, y, z])


def coaxial_loops(radii_m, z_m, currents, *, center_m=(0, 0, 0), axis=(0, 0, 1),
                  segments_per_turn: int = SEGMENTS_PER_TURN, bore_radius_m: float | None = None) -> Coil:
    """Closed circular loops (regular polygons) of radius radii_m[i] at axial offset z_m[i] carrying
    currents[i] A per coil ampere, all about ``axis`` through ``center_m``."""
    R = _frame(axis)
    c = np.asarray(center_m, dtype=float)
    n = int(segments_per_turn)
    t = np.linspace(0.0, 2.0 * math.pi, n, endpoint=False)
    verts, s0, s1, cur = [], [], [], []
    for i, (r, z, w) in enumerate(zip(radii_m, z_m, currents)):
        loc = np.column_stack([r * np.cos(t), r * np.sin(t), np.full(n, z)])
        verts.append(loc @ R.T + c)
        base = i * n
        s0.append(base + np.arange(n))
        s1.append(base + (np.arange(n) + 1) % n)
        cur.append(np.full(n, float(w)))
    return Coil(np.vstack(verts), np.concatenate(s0), np.concatenate(s1), np.concatenate(cur),
                center_m=c, axis=R[:, 2].copy(), bore_radius_m=bore_radius_m)


def polyline_coil(points_m: np.ndarray, *, turns: int = 1) -> Coil:
    """One closed path through ``points_m`` (closed here if the last point differs from the first)."""
    p = np.asarray(points_m, dtype=float)
    if np.linalg.norm(p[-1] - p[0]) > 0:
        p = np.vstack([p, p[:1]])
    keep = np.r_[True, np.linalg.norm(np.diff(p, axis=0), axis=1) > 0]
    p = p[keep]
    n = p.shape[0] - 1
    return Coil(p, np.arange(n), np.arange(1, n + 1), np.full(n, float(turns)),
                center_m=p[:-1].mean(axis=0))


def read_path_file(path: Path, key: str = "applicator.path_file") -> np.ndarray:
    """Read 3-D points in mm (one per line; separators: comma, semicolon, tab or spaces; '#' comments;
    one header line allowed) and return them in metres. InputError names the file and the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(bad_value(key, str(path), f"a readable text file of 3-D points in mm ({exc})")) from None
    rows = []
    header_allowed = True
    for lineno, line in enumerate(text.splitlines(), start=1):
        s = line.split("#", 1)[0].strip()
        if not s:
            continue
        parts = [q for q in re.split(r"[,;\s]+", s) if q]
        try:
            vals = [float(q) for q in parts]
        except ValueError:
            if header_allowed:  # the first non-comment line may be a header (e.g. "x,y,z")
                header_allowed = False
                continue
            raise InputError(f"{key} = {str(path)!r}, line {lineno}: {line.strip()!r} is not 3 numbers x, y, z (mm)") from None
        header_allowed = False
        if len(vals) != 3:
            raise InputError(f"{key} = {str(path)!r}, line {lineno}: {len(vals)} values; expected 3 numbers x, y, z (mm)")
        if not all(math.isfinite(v) for v in vals):
            raise InputError(f"{key} = {str(path)!r}, line {lineno}: {line.strip()!r} is not finite; expected 3 finite numbers (mm)")
        rows.append(vals)
    pts = np.asarray(rows, dtype=float).reshape(-1, 3)
    distinct = np.unique(pts, axis=0).shape[0] if pts.size else 0
    if distinct < 3:
        raise InputError(f"{key} = {str(path)!r}: {distinct} distinct point(s); expected at least 3 points of a "
                         "closed current path (fewer cannot enclose any area)")
    return pts * MM


# --- the applied field ---------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class AppliedField:
    """The applicator's field in the patient: real PEAK phasors, e^{jωt}, all coil currents in phase.

    ``H_peak_at`` and ``A_peak_at`` evaluate H0 (A/m) and the Coulomb-gauge A0 (V·s/m, B0 = ∇×A0,
    E = −jω(A0 + ∇ψ)) at points in metres (n, 3).
    """

    applicator: str
    frequency_Hz: float
    H_peak_A_per_m_at_target: float
    coil_current_peak_A: float | None
    amplitude: str  # 'peak' or 'rms': how the plan stated the amplitude
    requested_field_A_per_m: float  # the plan's number, in the plan's convention
    target_point_m: np.ndarray
    coil: Coil | None = None
    uniform_H_peak_A_per_m: np.ndarray | None = None  # (3,) field vector for 'uniform'
    notes: tuple[str, ...] = field(default=())
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def H_peak_at(self, points_m: np.ndarray) -> np.ndarray:
        p = np.asarray(points_m, dtype=float).reshape(-1, 3)
        if self.coil is None:
            return np.broadcast_to(self._uniform_H(), p.shape).copy()
        # several stages ask for H at the same (immutable) mesh point array: keep the last result
        big = p.shape[0] >= 1000
        hit = self._cache.get("H")
        if big and hit is not None and hit[0] is points_m and hit[1] == p.shape:
            return hit[2].copy()
        H = self.coil.H_per_A(p) * self.coil_current_peak_A
        if big:
            self._cache["H"] = (points_m, p.shape, H)
        return H.copy() if big else H

    def A_peak_at(self, points_m: np.ndarray) -> np.ndarray:
        p = np.asarray(points_m, dtype=float).reshape(-1, 3)
        if self.coil is None:
            return 0.5 * MU0_H_per_m * np.cross(self._uniform_H(), p - self.target_point_m)
        return self.coil.A_per_A(p) * self.coil_current_peak_A

    def _uniform_H(self) -> np.ndarray:
        """The field vector of a uniform applicator (set whenever there is no coil)."""
        if self.uniform_H_peak_A_per_m is None:
            raise ValueError("AppliedField without a coil needs uniform_H_peak_A_per_m")
        return self.uniform_H_peak_A_per_m

    @property
    def omega_rad_per_s(self) -> float:
        return 2.0 * math.pi * self.frequency_Hz

    def summary_block(self) -> dict:
        out = {
            "applicator": self.applicator,
            "frequency_Hz": float(self.frequency_Hz),
            "H_peak_A_per_m_at_target": float(self.H_peak_A_per_m_at_target),
            "H_rms_A_per_m_at_target": float(self.H_peak_A_per_m_at_target / math.sqrt(2.0)),
            "amplitude_convention": self.amplitude,
            "requested_field_A_per_m": float(self.requested_field_A_per_m),
            "Hf_peak_A_per_m_s": float(self.H_peak_A_per_m_at_target * self.frequency_Hz),
            "target_point_mm": [float(x / MM) for x in self.target_point_m],
        }
        if self.coil is not None and self.coil_current_peak_A is not None:
            out.update({
                "coil_current_A": float(self.coil_current_peak_A),
                "coil_current_convention": "peak",
                "coil_current_rms_A": float(self.coil_current_peak_A / math.sqrt(2.0)),
                "coil_segments": self.coil.num_segments,
                "coil_wire_length_m": self.coil.wire_length_m(),
            })
        if self.notes:
            out["notes"] = list(self.notes)
        return out


# --- registry: each applicator type declares its own keys ------------------------------------------
CoilBuilder = Callable[[ApplicatorSection, Path], "Coil | None"]  # None: no coil (uniform field)
P = TypeVar("P")

_RADIUS = "a positive coil radius in mm"
_TURNS = "an integer >= 1"


def _at_least_one(n: int) -> bool:
    return n >= 1


@dataclass(frozen=True)
class UniformParams:
    """``uniform``: H0 = H·d̂ everywhere (``direction``); no keys of its own."""


@dataclass(frozen=True)
class SolenoidParams:
    """``solenoid``: ``turns`` coaxial loops of ``radius_mm`` over ``length_mm`` (current sheet)."""

    radius_mm: float = spec(check=positive, expected=_RADIUS)
    turns: int = spec(check=_at_least_one, expected=_TURNS)
    length_mm: float = spec(check=positive, expected="a positive coil length in mm")


@dataclass(frozen=True)
class HelmholtzParams:
    """``helmholtz``: two coaxial loops of ``radius_mm``, ``spacing_mm`` apart (default: the radius)."""

    radius_mm: float = spec(check=positive, expected=_RADIUS)
    turns: int | None = spec(None, check=_at_least_one, expected=_TURNS, help="turns per loop, default 1")
    spacing_mm: float | None = spec(None, check=positive, expected="a positive loop spacing in mm (default: radius_mm)")


@dataclass(frozen=True)
class PancakeParams:
    """``pancake``: flat spiral of ``turns`` concentric loops between ``inner_radius_mm`` and ``radius_mm``."""

    radius_mm: float = spec(check=positive, expected=_RADIUS)
    turns: int = spec(check=_at_least_one, expected=_TURNS)
    inner_radius_mm: float | None = spec(None, check=positive, expected="a positive inner radius in mm (default 0)")

    def validate(self, path: str) -> None:
        if self.inner_radius_mm is not None and self.inner_radius_mm >= self.radius_mm:
            raise InputError(bad_value(f"{path}.inner_radius_mm", self.inner_radius_mm, f"less than radius_mm = {self.radius_mm}"))


@dataclass(frozen=True)
class WireParams:
    """``wire``: any closed current path from a file of 3-D points in mm."""

    path_file: str = spec(check=lambda s: bool(s.strip()), expected="a file of 3-D points in mm, relative to the plan file")
    turns: int | None = spec(None, check=_at_least_one, expected=_TURNS, help="filaments along the path, default 1")


def register_applicator(name: str, params: type | None = None, *, replace: bool = False) -> Callable[[CoilBuilder], CoilBuilder]:
    """Decorator: ``builder(section, base_dir) -> Coil`` available as ``[applicator] type = name``;
    ``params`` (a dataclass of spec() fields) declares the type's own keys."""
    return APPLICATORS.decorator(name, params, replace=replace)


def get_applicator(name: str) -> CoilBuilder:
    return APPLICATORS.get(name)


def available_applicators() -> tuple[str, ...]:
    return APPLICATORS.available()


def _center(cfg):
    return np.asarray(cfg.center_mm, dtype=float) * MM


@register_applicator("uniform", UniformParams)
def _uniform(cfg: ApplicatorSection, base_dir: Path) -> None:
    _params(cfg, UniformParams)
    return None


@register_applicator("solenoid", SolenoidParams)
def _solenoid(cfg: ApplicatorSection, base_dir: Path) -> Coil:
    p = _params(cfg, SolenoidParams)
    n, L, R = int(p.turns), p.length_mm * MM, p.radius_mm * MM
    z = -L / 2 + (np.arange(n) + 0.5) * L / n
    return coaxial_loops(np.full(n, R), z, np.ones(n), center_m=_center(cfg), axis=cfg.axis, bore_radius_m=R,
                         segments_per_turn=cfg.segments_per_turn)


@register_applicator("helmholtz", HelmholtzParams)
def _helmholtz(cfg: ApplicatorSection, base_dir: Path) -> Coil:
    p = _params(cfg, HelmholtzParams)
    R = p.radius_mm * MM
    d = (p.spacing_mm if p.spacing_mm is not None else p.radius_mm) * MM
    n = float(p.turns or 1)
    return coaxial_loops([R, R], [-d / 2, d / 2], [n, n], center_m=_center(cfg), axis=cfg.axis, bore_radius_m=R,
                         segments_per_turn=cfg.segments_per_turn)


@register_applicator("pancake", PancakeParams)
def _pancake(cfg: ApplicatorSection, base_dir: Path) -> Coil:
    p = _params(cfg, PancakeParams)
    R = p.radius_mm * MM
    r0 = (p.inner_radius_mm or 0.0) * MM
    n = int(p.turns)
    radii = r0 + (np.arange(n) + 0.5) * (R - r0) / n
    return coaxial_loops(radii, np.zeros(n), np.ones(n), center_m=_center(cfg), axis=cfg.axis,
                         segments_per_turn=cfg.segments_per_turn)


@register_applicator("wire", WireParams)
def _wire(cfg: ApplicatorSection, base_dir: Path) -> Coil:
    p = _params(cfg, WireParams)
    pts = read_path_file((Path(base_dir) / p.path_file).resolve())
    return polyline_coil(pts, turns=int(p.turns or 1))


def _params(cfg: ApplicatorSection, cls: type[P]) -> P:
    """The type's keys of a section that may have been built in code (not by the plan loader):
    checked like the loader does (missing, not used, invalid), one error naming the key."""
    data = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)
            if f.metadata.get("model_key") and getattr(cfg, f.name) is not None}
    base = {"type": cfg.type, "frequency_kHz": 1.0, "field_kA_per_m": 1.0, "amplitude": "peak"}
    params = parse_section(ApplicatorSection, {**base, **data}, "applicator").model_parameters
    if not isinstance(params, cls):  # a builder registered with another type's parameter class
        raise TypeError(f"applicator type {cfg.type!r}: parameters {type(params).__name__}, expected {cls.__name__}")
    return params


# --- placement checks --------------------------------------------------------------------------------
def _points_inside_mesh(mesh: TissueMesh, pts: np.ndarray, k: int = 12) -> np.ndarray:
    """True where a point lies in (or on) a cell among the ``k`` cells with the nearest centroids."""
    from scipy.spatial import cKDTree

    if pts.size == 0:
        return np.zeros(0, bool)
    tree = mesh._cache.get("centroid_tree")
    if tree is None:
        tree = mesh._cache["centroid_tree"] = cKDTree(mesh.cell_centroids_m())
    k = min(k, mesh.num_cells)
    _, idx = tree.query(pts, k=k)
    idx = idx.reshape(len(pts), k)
    X = mesh.points_m[mesh.cells[idx]]  # (n, k, 4, 3)
    T = np.transpose(X[:, :, 1:] - X[:, :, :1], (0, 1, 3, 2))  # columns x1-x0, x2-x0, x3-x0
    rhs = pts[:, None, :] - X[:, :, 0]
    try:
        lam = np.linalg.solve(T, rhs[..., None])[..., 0]
    except np.linalg.LinAlgError:
        lam = np.einsum("nkij,nkj->nki", np.linalg.pinv(T), rhs)
    tol = -1e-9
    inside = (lam >= tol).all(axis=2) & (lam.sum(axis=2) <= 1 - tol)
    return inside.any(axis=1)


def _check_coil_placement(mesh: TissueMesh, coil: Coil, target: np.ndarray, cfg: ApplicatorSection) -> None:
    # (1) the wire must not pass through the body
    e = mesh.cells[:, [0, 1]]
    h = float(np.median(np.linalg.norm(mesh.points_m[e[:, 0]] - mesh.points_m[e[:, 1]], axis=1)))
    a, b = coil.verts_m[coil.seg_start], coil.verts_m[coil.seg_end]
    lo, hi = mesh.points_m.min(axis=0) - h, mesh.points_m.max(axis=0) + h
    samples = []
    for pa, pb in zip(a, b):
        n = max(2, int(math.ceil(np.linalg.norm(pb - pa) / h)) + 1)
        s = pa + np.linspace(0.0, 1.0, n)[:, None] * (pb - pa)
        samples.append(s[((s >= lo) & (s <= hi)).all(axis=1)])
    S = np.vstack(samples) if samples else np.zeros((0, 3))
    inside = _points_inside_mesh(mesh, S)
    if inside.any():
        p = S[np.argmax(inside)] / MM
        raise InputError(f"applicator (type = {cfg.type!r}): the coil passes through the body near "
                         f"[{p[0]:.1f}, {p[1]:.1f}, {p[2]:.1f}] mm; expected a coil outside the patient "
                         "(check radius_mm, center_mm, axis or the path file)")
    # (2) bore rule
    if coil.axis is not None and coil.bore_radius_m is not None:
        d = target - coil.center_m
        rho = float(np.linalg.norm(d - np.dot(d, coil.axis) * coil.axis))
        if rho >= coil.bore_radius_m:
            raise InputError(f"applicator.radius_mm = {coil.bore_radius_m / MM:g}: the target point lies "
                             f"{rho / MM:.1f} mm from the coil axis; expected the target inside the coil bore")
    # (3) the target must be enclosed or approached: within one coil extent of the wire
    dist = _distance_to_segments(target, a, b)
    extent = _coil_extent(coil.verts_m)
    if not (dist <= extent):
        raise InputError(
            f"applicator (type = {cfg.type!r}): the target point {np.round(target / MM, 1).tolist()} mm is "
            f"{dist / MM:.1f} mm from the nearest coil wire, more than the coil's extent ({extent / MM:.1f} mm); "
            "expected a coil that encloses or approaches the target (move it with applicator.center_mm or set "
            "applicator.target_point_mm)")


def _distance_to_segments(x: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    d = b - a
    L2 = np.einsum("ij,ij->i", d, d)
    t = np.clip(np.einsum("ij,ij->i", x - a, d) / np.where(L2 > 0, L2, 1.0), 0.0, 1.0)
    return float(np.linalg.norm(a + t[:, None] * d - x, axis=1).min())


def _coil_extent(verts: np.ndarray) -> float:
    """Largest distance between two coil vertices (the coil's diameter): exact for ≤ 2000 vertices, else
    the O(V) upper bound twice the largest distance from the vertex centroid (≤ 2 × the diameter)."""
    if len(verts) <= 2000:
        from scipy.spatial.distance import pdist

        return float(pdist(verts).max())
    c = verts.mean(axis=0)
    return float(2.0 * np.linalg.norm(verts - c, axis=1).max())


# --- stage function ---------------------------------------------------------------------------------
def target_point_m(mesh: TissueMesh, cfg: ApplicatorSection) -> np.ndarray:
    """``target_point_mm`` if given, else the target regions' centroid, else the mesh centroid (m)."""
    if cfg.target_point_mm is not None:
        return np.asarray(cfg.target_point_mm, dtype=float) * MM
    t = mesh.target_centroid_m()
    if t is not None:
        return np.asarray(t, dtype=float)
    v = mesh.cell_volumes_m3()
    return (mesh.cell_centroids_m() * v[:, None]).sum(axis=0) / v.sum()


def applied_field(mesh: TissueMesh, cfg: ApplicatorSection, *, base_dir: Path | str = ".") -> AppliedField:
    """Build the applicator of ``cfg.type`` and scale its current to the requested amplitude.

    The requested amplitude ``field_kA_per_m`` is at the target point, ``peak`` or ``rms``
    (H_peak = √2 H_rms); see the module docstring for geometry and placement rules.
    """
    build = get_applicator(cfg.type)
    if not (math.isfinite(cfg.frequency_kHz) and cfg.frequency_kHz > 0):
        raise InputError(bad_value("applicator.frequency_kHz", cfg.frequency_kHz, "a positive number (kHz)"))
    if not (math.isfinite(cfg.field_kA_per_m) and cfg.field_kA_per_m > 0):
        raise InputError(bad_value("applicator.field_kA_per_m", cfg.field_kA_per_m, "a positive number (kA/m)"))
    if cfg.amplitude not in ("peak", "rms"):
        raise InputError(bad_value("applicator.amplitude", cfg.amplitude, "'peak' or 'rms'"))
    H_peak = cfg.H_peak_A_per_m
    target = target_point_m(mesh, cfg)
    common = functools.partial(AppliedField, applicator=cfg.type, frequency_Hz=cfg.frequency_Hz,
                               H_peak_A_per_m_at_target=H_peak, amplitude=cfg.amplitude,
                               requested_field_A_per_m=cfg.field_kA_per_m * 1e3, target_point_m=target)
    coil = build(cfg, Path(base_dir))
    if coil is None:  # uniform field
        d = np.asarray(cfg.direction, dtype=float)
        d = d / np.linalg.norm(d)
        return common(coil_current_peak_A=None, uniform_H_peak_A_per_m=H_peak * d)
    _check_coil_placement(mesh, coil, target, cfg)
    h1 = float(np.linalg.norm(coil.H_per_A(target[None])[0]))
    if not (h1 > 0 and math.isfinite(h1)):
        raise InputError(f"applicator (type = {cfg.type!r}): the coil gives no field at the target; expected a coil "
                         "whose field reaches the target point")
    return common(coil_current_peak_A=H_peak / h1, coil=coil)
