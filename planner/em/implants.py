"""Metal implants in the applied field: eddy-current loss per implant (stage side, no FEniCSx here).

For each implant region of the :class:`~planner.artefacts.TissueMesh` a local sub-model (the implant
plus a cube of non-conducting surroundings) is meshed with gmsh and solved with the full
time-harmonic eddy-current A-formulation (N1curl, skin effect resolved) by
:mod:`planner.fem.implant_eddy` (reduced field: the applicator's A0 drives A_r with n × A_r = 0 on
the cube; formulas there). Implants that come from a plan primitive (``[[geometry.bodies]]`` with
``role = "implant"``) are rebuilt exactly in OpenCASCADE with curved (second-order) tetrahedra;
implants known only as mesh regions (e.g. segmented from CT) are rebuilt from the region's boundary
triangles as a faceted (first-order) solid, with a warning in the result.

The loss is handed to the thermal model as a volume source on the TissueMesh cells of the region:
each sub-model metal cell's loss goes to the nearest region cell (by centroid), so the source sits
where the skin currents flow, and the volume integral over the region equals ``loss_W`` exactly.

Only non-magnetic metals (μr = 1) are supported: a μr ≠ 1 material raises :class:`InputError`.

Usage (collective under MPI: every rank calls it with the same arguments)::

    losses = implant_losses(mesh, implant_regions(mesh, lib), A_peak_at=app.A_peak_at,
                            H_peak_at=app.H_peak_at, frequency_Hz=app.frequency_Hz, lib=lib,
                            geometry=cfg.geometry, options=ImplantOptions.from_dict(table_or_None))
    fld = fld.with_implants(losses, total_Q_W_per_m3(losses, mesh.num_cells))
"""
from __future__ import annotations

import dataclasses
import functools
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from planner.artefacts import Progress, Region, Role, TissueMesh, no_progress
from planner.config.plan import BodySpec, GeometrySection
from planner.em.implant_field import ImplantTotalField, candidate_cells, split_sample
from planner.errors import InputError, MeshError, bad_value
from planner.geometry.submodel import SubModelGeometry, SubModelSizing
from planner.units import MM

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class ImplantOptions:
    """Sub-model controls (all optional; ``None`` = automatic from implant size a and skin depth δ).

    * ``elements_per_skin_depth``: surface element size h_s = δ / n (default 2 for N1curl degree 2, 3
      for degree 1; h_s is also capped at a / ``elements_per_size``);
    * ``box_half_size_mm``: half edge of the cube around the implant (default ``box_factor`` × the
      implant's bounding radius);
    * ``degree`` N1curl degree, ``geometry_order`` 2 = curved tetrahedra (primitives only);
    * ``refinement`` divides every mesh size (convergence studies);
    * ``rtol``/``max_iterations`` of the Krylov solver (PRESB-preconditioned GMRES; the preconditioned residual);
    * ``solver``: ``auto`` (sparse direct LDLᵀ up to 8 000 N1curl dofs where PETSc has MUMPS, else
      PRESB-GMRES with AMS), ``direct`` or ``ams``.
    """

    degree: int = 2
    geometry_order: int = 2
    elements_per_skin_depth: float | None = None
    elements_per_size: float = 4.0
    box_half_size_mm: float | None = None
    box_factor: float = 10.0
    refinement: float = 1.0
    rtol: float = 1e-4
    max_iterations: int = 300
    max_relative_permeability_deviation: float = 1e-6
    solver: str = "auto"

    def __post_init__(self) -> None:
        if self.degree not in (1, 2):
            raise InputError(bad_value("implants.degree", self.degree, "1 or 2"))
        if self.geometry_order not in (1, 2):
            raise InputError(bad_value("implants.geometry_order", self.geometry_order, "1 or 2"))
        for k in ("elements_per_skin_depth", "box_half_size_mm"):
            v = getattr(self, k)
            if v is not None and not (v > 0 and math.isfinite(v)):
                raise InputError(bad_value(f"implants.{k}", v, "a positive number"))
        for k in ("elements_per_size", "box_factor", "refinement", "rtol"):
            v = getattr(self, k)
            if not (v > 0 and math.isfinite(v)):
                raise InputError(bad_value(f"implants.{k}", v, "a positive number"))
        if self.box_factor <= 1.05:
            raise InputError(bad_value("implants.box_factor", self.box_factor, "more than 1.05"))
        if self.max_iterations < 1:
            raise InputError(bad_value("implants.max_iterations", self.max_iterations, "an integer >= 1"))
        if self.solver not in ("auto", "direct", "ams"):
            raise InputError(bad_value("implants.solver", self.solver, "'auto', 'direct' or 'ams'"))

    def sizing(self) -> SubModelSizing:
        """The sub-model sizing controls (planner.geometry.submodel)."""
        return SubModelSizing(
            elements_per_skin_depth=self.elements_per_skin_depth, box_half_size_mm=self.box_half_size_mm,
            box_factor=self.box_factor, elements_per_size=self.elements_per_size, refinement=self.refinement)

    @classmethod
    def from_dict(cls, d: dict | None, path: str = "implants") -> ImplantOptions:
        """From a plan table (e.g. ``[em.implants]``); unknown keys are an InputError naming them."""
        d = dict(d or {})
        names = {f.name for f in dataclasses.fields(cls)}
        for k in d:
            if k not in names:
                raise InputError(bad_value(f"{path}.{k}", d[k], "one of " + ", ".join(sorted(names))))
        return cls(**d)


@dataclass(frozen=True)
class ImplantLoss:
    """Eddy-current loss of one implant (time-averaged; peak phasors inside)."""

    name: str
    material: str
    loss_W: float
    skin_depth_mm: float
    peak_surface_J_A_per_m2: float  # peak |J| on the metal surface
    box_size_mm: float  # edge length of the sub-model cube
    elements_per_skin_depth: float  # δ / h_s at the metal surface, as meshed
    dofs: int  # N1curl dofs (complex unknowns); the real block system has twice as many
    iterations: int  # Krylov (PRESB-GMRES) iterations (0: sparse direct solve)
    Q_on_mesh_W_per_m3: np.ndarray  # (M,) loss density on TissueMesh cells (zero outside the region)
    sigma_S_per_m: float = 0.0
    frequency_Hz: float = 0.0
    surface_size_mm: float = 0.0
    characteristic_size_mm: float = 0.0  # a = 3V/S of the implant
    geometry: str = ""  # how the implant geometry was built
    H_peak_at_centre_A_per_m: float = 0.0  # applied field magnitude at the implant centroid
    times_s: dict = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    total_field: ImplantTotalField | None = field(default=None, repr=False, compare=False)  # reaction field

    @property
    def a_over_delta(self) -> float:
        return self.characteristic_size_mm / self.skin_depth_mm if self.skin_depth_mm > 0 else 0.0

    def summary_block(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "material": self.material,
            "loss_W": float(self.loss_W),
            "skin_depth_mm": float(self.skin_depth_mm),
            "peak_surface_J_A_per_m2": float(self.peak_surface_J_A_per_m2),
            "sigma_S_per_m": float(self.sigma_S_per_m),
            "frequency_Hz": float(self.frequency_Hz),
            "H_peak_at_centre_A_per_m": float(self.H_peak_at_centre_A_per_m),
            "a_over_skin_depth": float(self.a_over_delta),
            "box_size_mm": float(self.box_size_mm),
            "surface_size_mm": float(self.surface_size_mm),
            "elements_per_skin_depth": float(self.elements_per_skin_depth),
            "dofs": int(self.dofs),
            "iterations": int(self.iterations),
            "geometry": self.geometry,
            "times_s": {k: round(float(v), 3) for k, v in self.times_s.items()},
            "warnings": list(self.warnings),
            **({"total_field": self.total_field.summary_block()} if self.total_field is not None else {}),
        }


def implant_regions(mesh: TissueMesh, lib) -> tuple[Region, ...]:
    """Regions the implant solver handles: role 'implant', or any region whose tissue is a metal."""
    out = []
    for r in mesh.regions:
        if r.role == Role.IMPLANT:
            out.append(r)
            continue
        try:
            if getattr(lib[r.tissue], "kind", None) == "metal":
                out.append(r)
        except (KeyError, InputError):
            pass
    return tuple(out)


def total_Q_W_per_m3(losses: Sequence[ImplantLoss], num_cells: int) -> np.ndarray:
    """Sum of the implants' loss densities on the TissueMesh cells (zeros if there are no implants)."""
    q = np.zeros(num_cells)
    for L in losses:
        q += L.Q_on_mesh_W_per_m3
    return q


# ------------------------------------------------------------------------------------------------
def _material(lib, region: Region, frequency_Hz: float, opts: ImplantOptions):
    try:
        t = lib[region.tissue]
    except KeyError:
        raise InputError(bad_value(f"implant {region.name!r}.tissue", region.tissue,
                                   "a metal of the tissue library")) from None
    kind = getattr(t, "kind", "metal")
    if kind != "metal" and region.role != Role.IMPLANT:
        raise InputError(bad_value(f"region {region.name!r}.role", region.role.value,
                                   "'implant' (or a metal tissue) for the implant eddy-current solver"))
    if kind != "metal":
        raise InputError(bad_value(f"implant {region.name!r}.tissue", region.tissue,
                                   f"a metal (library kind 'metal'), got kind {kind!r}"))
    mu_r = float(getattr(t, "relative_permeability", 1.0))
    if abs(mu_r - 1.0) > opts.max_relative_permeability_deviation:
        raise InputError(bad_value(
            f"implant {region.name!r} ({region.tissue}).relative_permeability", mu_r,
            "1 (only non-magnetic metals are supported by the implant eddy-current solver; "
            "ferromagnetic implants need a nonlinear μ model)"))
    sigma = float(t.conductivity_S_per_m(frequency_Hz))
    if not (sigma > 0 and math.isfinite(sigma)):
        raise InputError(bad_value(f"implant {region.name!r} ({region.tissue}).conductivity_S_per_m", sigma,
                                   "a positive finite conductivity"))
    return getattr(t, "name", region.tissue), sigma


def _region_checks(mesh: TissueMesh, region: Region) -> tuple[np.ndarray, float]:
    sel = np.flatnonzero(mesh.cell_region == region.tag)
    if sel.size == 0:
        raise MeshError(bad_value(f"implant {region.name!r} cells", 0, "at least one mesh cell"))
    verts = np.unique(mesh.cells[sel])
    skin_verts = np.unique(mesh.skin_facets)
    touching = np.intersect1d(verts, skin_verts, assume_unique=True)
    if touching.size:
        raise InputError(bad_value(
            f"implant {region.name!r}", f"touches the outer boundary of the body at {touching.size} vertices",
            "an implant completely surrounded by tissue (move it inside the body or enlarge the body)"))
    vol = float(mesh.cell_volumes_m3()[sel].sum())
    x = mesh.points_m[mesh.cells[sel]]
    edges = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    h = float(np.mean([np.linalg.norm(x[:, i] - x[:, j], axis=1).mean() for i, j in edges]))
    d_eq = (6.0 * vol / math.pi) ** (1.0 / 3.0)
    if sel.size < 4 or d_eq < h:
        raise InputError(bad_value(
            f"implant {region.name!r}",
            f"{sel.size} cells, equivalent diameter {d_eq * 1e3:.3g} mm < mesh size {h * 1e3:.3g} mm",
            "an implant resolved by the mesh (set mesh.implant_size_mm to at most a third of the implant's size)"))
    return sel, vol


def _body_for(region: Region, geometry: GeometrySection | None) -> BodySpec | None:
    if geometry is None:
        return None
    for b in geometry.bodies:
        if b.name == region.name:
            return b
    return None


def _map_to_mesh(mesh: TissueMesh, sel: np.ndarray, centroids_m: np.ndarray, cell_loss_W: np.ndarray,
                 loss_W: float) -> np.ndarray:
    """Sub-model cell losses → nearest region cell; Q = P_cell / V_cell, ∑ Q V = loss_W exactly."""
    from scipy.spatial import cKDTree

    q = np.zeros(mesh.num_cells)
    vol = mesh.cell_volumes_m3()[sel]
    if cell_loss_W.size == 0 or loss_W <= 0.0:
        if loss_W > 0.0:
            q[sel] = loss_W / vol.sum()
        return q
    tree = cKDTree(mesh.cell_centroids_m()[sel])
    _, idx = tree.query(centroids_m)
    P = np.bincount(idx, weights=np.maximum(cell_loss_W, 0.0), minlength=sel.size)
    if P.sum() <= 0.0:
        q[sel] = loss_W / vol.sum()
        return q
    P *= loss_W / P.sum()
    q[sel] = P / vol
    return q


def implant_losses(
    mesh: TissueMesh,
    regions: Sequence[Region],
    *,
    A_peak_at: Callable[[np.ndarray], np.ndarray],
    H_peak_at: Callable[[np.ndarray], np.ndarray] | None,
    frequency_Hz: float,
    lib,
    geometry: GeometrySection | None = None,
    options: ImplantOptions | None = None,
    progress: Progress = no_progress,
    probe_points_m: np.ndarray | None = None,
    sample_total_field: bool = True,
) -> tuple[ImplantLoss, ...]:
    """Eddy-current loss of every implant region (collective under MPI).

    ``A_peak_at(points_m (n,3)) -> (n,3)`` is the applied peak vector potential (V·s/m, Coulomb gauge,
    all coil currents in phase), ``H_peak_at`` the applied peak field (only used to report |H0| at
    the implant). ``geometry`` is ``cfg.geometry`` (plan primitives are rebuilt exactly from their
    BodySpec, matched by region name) or None (regions are rebuilt from their boundary triangles).
    Raises InputError for unknown/non-metal/magnetic materials, implants touching the outer boundary
    or smaller than the mesh size; SolverError (with the PETSc reason) if the Krylov solver does not converge.
    ``progress`` is told each finished sub-model. ``sample_total_field``: sample the sub-model's reaction
    field at the centroids of the TissueMesh cells in its cube and at ``probe_points_m`` (n, 3)
    (``ImplantLoss.total_field``, :mod:`planner.em.implant_field`).
    """
    opts = options or ImplantOptions()
    if not (frequency_Hz > 0 and math.isfinite(frequency_Hz)):
        raise InputError(bad_value("frequency_Hz", frequency_Hz, "a positive frequency"))
    out = []
    progress("implant sub-models", 0, len(regions))
    for region in regions:
        material, sigma = _material(lib, region, frequency_Hz, opts)  # raises unless a non-magnetic metal
        sel, vol_mesh = _region_checks(mesh, region)
        sub = _submodel_geometry(mesh, region, sel, _body_for(region, geometry), opts)
        res, tf = _solve_with_field(mesh, sel, sub.geometry, sigma=sigma, frequency_Hz=frequency_Hz,
                                    A_peak_at=A_peak_at, opts=opts, probe_points_m=probe_points_m,
                                    sample=sample_total_field)
        Q = _map_to_mesh(mesh, sel, res.metal_cell_centroids_m, res.metal_cell_loss_W, res.loss_W)
        centre = (mesh.cell_centroids_m()[sel] * mesh.cell_volumes_m3()[sel, None]).sum(axis=0) / vol_mesh
        H_c = float("nan") if H_peak_at is None else float(np.linalg.norm(np.asarray(H_peak_at(centre[None, :]))[0]))
        s = res.submodel.sizes
        loss = ImplantLoss(
            name=region.name, material=material, loss_W=res.loss_W, skin_depth_mm=s.skin_depth_mm,
            peak_surface_J_A_per_m2=res.peak_J_A_per_m2, box_size_mm=2.0 * s.box_half_size_mm,
            elements_per_skin_depth=s.elements_per_skin_depth, dofs=res.dofs, iterations=res.iterations,
            Q_on_mesh_W_per_m3=Q, sigma_S_per_m=sigma, frequency_Hz=frequency_Hz,
            surface_size_mm=s.surface_size_mm, characteristic_size_mm=s.characteristic_size_mm,
            geometry=sub.description, H_peak_at_centre_A_per_m=H_c, times_s=dict(res.times_s),
            warnings=sub.warnings, total_field=tf,
        )
        del res
        _log_loss(loss)
        out.append(loss)
        progress("implant sub-models", len(out), len(regions))
    return tuple(out)


def _solve_with_field(mesh: TissueMesh, sel: np.ndarray, geometry: SubModelGeometry, *, sigma: float,
                      frequency_Hz: float, A_peak_at: Callable[[np.ndarray], np.ndarray], opts: ImplantOptions,
                      probe_points_m: np.ndarray | None, sample: bool):
    """One sub-model solve; with ``sample``, its reaction field at the TissueMesh cell centroids in its
    cube and at the probe points (the sample arrays are dropped once split)."""
    from planner.fem import implant_eddy as ec

    probes = np.zeros((0, 3)) if probe_points_m is None else np.asarray(probe_points_m, float).reshape(-1, 3)
    cand = candidate_cells(mesh, sel, opts.box_half_size_mm, opts.box_factor) if sample else np.zeros(0, np.int64)
    pts = np.concatenate([mesh.cell_centroids_m()[cand], probes]) if sample else None
    res = ec.solve_implant(geometry, ec.ImplantSolveOptions(
        sigma_S_per_m=sigma, frequency_Hz=frequency_Hz, A0_peak_at=A_peak_at, degree=opts.degree,
        rtol=opts.rtol, max_iterations=opts.max_iterations, solver=opts.solver, sample_points_m=pts,
        sample_total_H=False))
    fs = res.field_sample
    if fs is None:
        return res, None
    tf = split_sample(cand, probes.shape[0], fs.inside, fs.in_metal, fs.H_reaction_peak_A_per_m, fs.E_peak_V_per_m)
    return dataclasses.replace(res, field_sample=None), tf


@dataclass(frozen=True)
class _SubModelChoice:
    """How an implant region's sub-model is built, in words, and what the user should know about it."""

    geometry: SubModelGeometry
    description: str
    warnings: tuple[str, ...]


def _submodel_geometry(mesh: TissueMesh, region: Region, sel: np.ndarray, body: BodySpec | None,
                       opts: ImplantOptions) -> _SubModelChoice:
    """Plan primitive rebuilt exactly (curved tetrahedra), else a faceted solid from the region's boundary."""
    from planner.geometry.hip_stem import build_from_triangles, build_primitive

    warnings: list[str] = []
    if body is not None:
        build = functools.partial(build_primitive, body=body)
        geometry_order = opts.geometry_order
        geom = f"plan primitive {body.shape!r} rebuilt in OpenCASCADE, order-{geometry_order} tetrahedra"
        if region.exact_volume_m3 is not None:
            full = _primitive_volume_m3(body)
            if full is not None and abs(region.exact_volume_m3 / full - 1.0) > 1e-3:
                warnings.append(
                    f"implant {region.name!r}: later bodies cover part of it in the plan "
                    f"({region.exact_volume_m3 * 1e6:.4g} of {full * 1e6:.4g} cm³ kept); "
                    "the sub-model uses the whole primitive")
    else:
        tris = _boundary_triangles(mesh.cells[sel])
        pts_mm = mesh.points_m / MM

        build = functools.partial(build_from_triangles, points_mm=pts_mm, triangles=tris)
        geometry_order = 1
        geom = f"faceted solid from {len(tris)} boundary triangles of the mesh region, first-order tetrahedra"
        warnings.append(
            f"implant {region.name!r}: no plan primitive; geometry rebuilt from the mesh region's boundary "
            f"triangles (faceted, first order): loss accurate to the segmentation/mesh surface only")
    sub = SubModelGeometry(build, sizing=opts.sizing(), geometry_order=geometry_order)
    return _SubModelChoice(geometry=sub, description=geom, warnings=tuple(warnings))


def _log_loss(loss: ImplantLoss) -> None:
    for w in loss.warnings:
        log.warning(w)
    log.info("implant %r (%s, σ = %.3g S/m): loss %.4g W, δ = %.3g mm, a/δ = %.2f, box %.0f mm, "
             "h_s = %.3g mm (%.2f per δ), %d dofs, %d iterations", loss.name, loss.material, loss.sigma_S_per_m,
             loss.loss_W, loss.skin_depth_mm, loss.a_over_delta, loss.box_size_mm, loss.surface_size_mm,
             loss.elements_per_skin_depth, loss.dofs, loss.iterations)


def _primitive_volume_m3(body) -> float | None:
    try:
        return float(body.exact_volume_m3())
    except Exception:  # hip-stem and future shapes: no closed form on the BodySpec
        return None


def _boundary_triangles(cells: np.ndarray) -> np.ndarray:
    """Boundary triangles of a set of tetrahedra, oriented outwards is NOT required (OCC sews)."""
    faces = np.concatenate([cells[:, [1, 2, 3]], cells[:, [0, 2, 3]], cells[:, [0, 1, 3]], cells[:, [0, 1, 2]]])
    key = np.sort(faces, axis=1)
    _, inv, counts = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    return faces[counts[inv.ravel()] == 1]


__all__ = ["ImplantOptions", "ImplantLoss", "ImplantTotalField", "implant_losses", "implant_regions", "total_Q_W_per_m3"]
