"""Stage function: eddy currents, SAR and losses in tissue (the FE solve is in :mod:`planner.fem.scalar_potential`).

Physics (DESIGN.md §2; peak phasors, e^{jωt}): E = −jω(A0 + ∇ψ) with real ψ solving
∇·σ(∇ψ + A0) = 0 in the conducting tissue and n·J = 0 on its boundary (skin, air cavities, implant
surfaces). Per cell: |E| peak (root of the cell mean of |E|²), |J| = σ|E| (peak), time-averaged loss
density Q_eddy = σ|E|²/2 (W/m³), SAR = Q_eddy/ρ (W/kg), and the mass-averaged SAR over 10 g
(:mod:`planner.em.sar`). Low-frequency limit: valid while the skin depth δ = √(2/(ωμ0σ)) ≫ body
size (δ ≈ 1.6 m for σ = 1 S/m at 100 kHz); the induced currents' own field is neglected (quasi-static,
e.g. Bottauscio et al. 2014, IEEE Trans. Magn. 50, 7006604).

Which regions conduct: every region whose tissue has kind 'tissue' (σ = ``lib[t].conductivity_S_per_m
(f)`` must then be finite and > 0, else InputError). E, J, Q, SAR are reported as 0 outside them.
  * implants (role 'implant' or tissue kind 'metal') are floating conductors (galvanic short circuit,
    issue 11): at 100 kHz the metal–tissue interface impedance is negligible, so each implant touching
    conducting tissue is one equipotential of the locally uniform induced field (zero net current;
    :mod:`planner.fem.scalar_potential`), and tissue E concentrates at its ends. Touching implants are
    one conductor. A body with ``insulated = true`` (coated, ceramic) is a hole with n·J = 0 instead.
    The implant's own skin-effect eddy currents and loss stay with :mod:`planner.em.implants` (another
    stage, which fills ``Q_implant_W_per_m3`` / ``implants``); its reaction field is neglected here.
  * air (tissue kind 'air') is an insulating hole (n·J = 0 on its walls, like the skin).
Cut faces (``TissueMesh.cut_facets``: slab ends, crop-box faces) are not skin: the body goes on there,
so each cut plane p carries the current of the undisturbed long body through it,
n·J = σ μ0 n·(H0 × (x − x̄_p)) (the exact solution of a prism along n in a uniform field; x̄_p the
σ-weighted centroid of the plane, so no net current crosses it). For H0 along n this is n·J = 0.

Admittivity (``[em] admittivity``, issue 11): 'real' solves with σ; 'complex' with σ* = σ + jωε0εr
(ε_r from the same Cole–Cole data; :func:`admittivity_model`), so ψ and E are complex phasors with
|E|² = |Re E|² + |Im E|²; the dissipated power stays Re(σ*)|E|²/2 = σ|E|²/2 (SAR, Q, 10 g SAR, tissue
loss). 'auto' (default) is complex above 300 kHz. At 100 kHz wet skin has ωε0εr/σ ≈ 1.3 (muscle 0.12,
fat 0.02): the displacement current changes E only where tissues of different ωε/σ meet with current
across their interface (benchmarks/em_admittivity.py). Cut planes then carry σ* F_p·n with the same
F_p (x̄ σ-weighted); where ωε/σ varies over a cut plane the small net imaginary current this leaves is
projected out with the null space.
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import time
import weakref
from collections.abc import Collection
from dataclasses import dataclass, replace

import numpy as np

from planner.artefacts import Role, TissueMesh
from planner.config.plan import ApplicatorSection, GeometrySection
from planner.em.admittivity import admittivity_model
from planner.em.applicators import AppliedField
from planner.em.sar import (
    CUBE_SAR_DEFINITION,
    INTERNAL_E_DEFINITION,
    internal_E_cube_p99,
    mesh_cube_sar_10g,
    tissue_near_region,
)
from planner.errors import InputError, bad_value
from planner.units import MU0_H_per_m

log = logging.getLogger(__name__)

SAR_AVERAGING = CUBE_SAR_DEFINITION


NEAR_IMPLANT_MM = 5.0


@dataclass(frozen=True)
class ImplantTissue:
    """One implant region in the tissue solve and the tissue field within 5 mm of its surface (peak)."""

    name: str
    model_in_tissue_solve: str  # "conductor" or "insulator"
    why: str  # e.g. "floating potential (default)", "insulated = true in the plan"
    E_peak_V_per_m: float
    E_p99_V_per_m: float
    SAR_peak_W_per_kg: float
    SAR10g_W_per_kg: float

    def summary_block(self) -> dict:
        return {
            "model_in_tissue_solve": self.model_in_tissue_solve,
            "model_in_tissue_solve_reason": self.why,
            "tissue_near": {"distance_mm": NEAR_IMPLANT_MM, "E_peak_V_per_m": self.E_peak_V_per_m,
                            "E_p99_V_per_m": self.E_p99_V_per_m, "SAR_peak_W_per_kg": self.SAR_peak_W_per_kg,
                            "SAR10g_W_per_kg": self.SAR10g_W_per_kg,
                            "definition": "tissue cells with a vertex within distance_mm of the implant surface; "
                                          "E_peak and SAR_peak from the FE field at cell vertices (peak amplitude), "
                                          "E_p99 the volume-weighted 99th percentile of the cell rms |E| (peak), "
                                          "SAR10g the max of the 10 g averaged SAR over those cells"},
        }


@dataclass(frozen=True, eq=False)
class FieldSolution:
    """Eddy currents in tissue; per-cell arrays in TissueMesh cell order. Peak phasor magnitudes;
    Q and SAR are time averages (σ|E_peak|²/2)."""

    frequency_Hz: float
    applied: AppliedField
    conducting: np.ndarray  # (M,) bool: cell in the tissue conduction domain
    sigma_S_per_m: np.ndarray  # (M,) conductivity used (0 where excluded)
    density_kg_per_m3: np.ndarray  # (M,)
    E_peak_V_per_m: np.ndarray  # (M,) sqrt(cell mean of |E_peak|²)
    J_peak_A_per_m2: np.ndarray  # (M,) σ |E_peak|
    Q_eddy_W_per_m3: np.ndarray  # (M,)
    SAR_W_per_kg: np.ndarray  # (M,) local (cell) SAR
    SAR10g_W_per_kg: np.ndarray  # (M,) mass-averaged SAR (see SAR_AVERAGING)
    tissue_loss_W: float
    tissue_loss_W_by_tissue: dict
    max_E_V_per_m_by_tissue: dict
    max_SAR_W_per_kg_by_tissue: dict
    max_SAR10g_W_per_kg_by_tissue: dict
    excluded_regions: tuple[str, ...]
    solver: dict
    Q_implant_W_per_m3: np.ndarray | None = None  # (M,) zeros until the implant stage fills it
    implants: tuple = ()
    E_vertex_max_V_per_m: np.ndarray | None = None  # (M,) max over the cell's vertices of |E_peak| (polynomial value)
    implant_tissue: tuple = ()  # ImplantTissue per implant region (model in the tissue solve, E/SAR near it)
    truncation: str = "none: the model has no cut faces (the whole body outline is skin)"
    internal_E_rms_p99_V_per_m_by_tissue: dict = dataclasses.field(default_factory=dict)
    # (M, 4, 3) F = A0 + grad psi at each cell's vertices (E = -j omega F), zeros outside the FE domain;
    # read by the field probes (planner.em.probes)
    F_vertex_cell_V_s_per_m: np.ndarray | None = None  # complex with the complex admittivity (E = −jωF)
    admittivity: dict = dataclasses.field(default_factory=lambda: {"model": "real"})

    def __post_init__(self) -> None:
        if self.Q_implant_W_per_m3 is None:
            object.__setattr__(self, "Q_implant_W_per_m3", np.zeros_like(self.Q_eddy_W_per_m3))
        if self.E_vertex_max_V_per_m is None:
            object.__setattr__(self, "E_vertex_max_V_per_m", self.E_peak_V_per_m)

    def implants_summary(self) -> list[dict]:
        """``em.implants``: the implant stage's blocks (by name) with ``model_in_tissue_solve`` and
        ``tissue_near`` added; implants the sub-model did not cover get a block of their own."""
        by_name = {t.name: t for t in self.implant_tissue}
        out = []
        for i in self.implants:
            blk = i.summary_block()
            t = by_name.pop(blk.get("name"), None)
            if t is not None:
                blk.update(t.summary_block())
            out.append(blk)
        out += [{"name": t.name, **t.summary_block()} for t in by_name.values()]
        return out

    def with_implants(self, implants: tuple, Q_implant_W_per_m3: np.ndarray) -> FieldSolution:
        """Copy with the implant stage's results filled in."""
        return replace(self, implants=tuple(implants), Q_implant_W_per_m3=np.asarray(Q_implant_W_per_m3, float))

    def summary_block(self) -> dict:
        app = self.applied.summary_block()
        out = {
            "frequency_Hz": float(self.frequency_Hz),
            "H_peak_A_per_m_at_target": float(self.applied.H_peak_A_per_m_at_target),
            "amplitude_convention": self.applied.amplitude,
            "applicator": app,
        }
        if self.applied.coil_current_peak_A is not None:
            out["coil_current_A"] = float(self.applied.coil_current_peak_A)
            out["coil_current_convention"] = "peak"
        out.update({
            "tissue_loss_W": float(self.tissue_loss_W),
            "tissue_loss_W_by_tissue": {k: float(v) for k, v in self.tissue_loss_W_by_tissue.items()},
            "max_E_V_per_m_by_tissue": {k: float(v) for k, v in self.max_E_V_per_m_by_tissue.items()},
            "max_SAR_W_per_kg_by_tissue": {k: float(v) for k, v in self.max_SAR_W_per_kg_by_tissue.items()},
            "max_SAR10g_W_per_kg_by_tissue": {k: float(v) for k, v in self.max_SAR10g_W_per_kg_by_tissue.items()},
            "max_E_V_per_m": float(self.E_peak_V_per_m.max(initial=0.0)),
            "max_SAR_W_per_kg": float(self.SAR_W_per_kg.max(initial=0.0)),
            "max_SAR10g_W_per_kg": float(self.SAR10g_W_per_kg.max(initial=0.0)),
            "sar10g_averaging": SAR_AVERAGING,
            "max_E_V_per_m_at_vertices": (None if self.E_vertex_max_V_per_m is None
                                          else float(self.E_vertex_max_V_per_m.max(initial=0.0))),
            "internal_E_rms_p99_V_per_m_by_tissue": dict(self.internal_E_rms_p99_V_per_m_by_tissue),
            "internal_E_definition": INTERNAL_E_DEFINITION,
            "E_convention": "peak; cell value = sqrt(cell mean of |E|^2) (loss, SAR); max_E_V_per_m_at_vertices and "
                            "implants[].tissue_near use the FE field's value at the cell vertices (no cell-mean bias "
                            "at "
                            "the skin or at implant tips; P2 recommended there)",
            "excluded_regions": list(self.excluded_regions),
            "admittivity": dict(self.admittivity),
            "truncation": self.truncation,
            "implant_loss_W": float(sum(getattr(i, "loss_W", 0.0) for i in self.implants)),
            "implants": self.implants_summary(),
            "solver": self.solver,
        })
        return out

# --- helpers (pure NumPy) ------------------------------------------------------------------------
def conduction_domain(mesh: TissueMesh, lib, frequency_Hz: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple]:
    """(conducting mask, σ per cell, ρ per cell, excluded region names) per the module rules."""
    if not (math.isfinite(frequency_Hz) and frequency_Hz > 0):
        raise InputError(bad_value("applicator.frequency_kHz", frequency_Hz / 1e3, "a positive frequency (kHz)"))
    sig_lut = np.zeros(max(r.tag for r in mesh.regions) + 1)
    rho_lut = np.zeros_like(sig_lut)
    excluded = []
    for reg in mesh.regions:
        try:
            t = lib[reg.tissue]
        except KeyError:
            raise InputError(bad_value(f"region {reg.name!r} tissue", reg.tissue, "a tissue of the library")) from None
        kind = getattr(t, "kind", "tissue")
        if reg.role == Role.IMPLANT or kind in ("metal", "air"):
            excluded.append(reg.name)
            continue
        s = float(t.conductivity_S_per_m(frequency_Hz))
        if not (math.isfinite(s) and s > 0):
            raise InputError(bad_value(f"tissues.{reg.tissue}.conductivity_S_per_m (region {reg.name!r}, "
                                       f"at {frequency_Hz:g} Hz)", s,
                                       "a positive conductivity; give non-conducting regions a tissue of kind 'air'"))
        rho = float(t.density_kg_per_m3)
        if not (math.isfinite(rho) and rho > 0):
            raise InputError(bad_value(f"tissues.{reg.tissue}.density_kg_per_m3", rho, "a positive density"))
        sig_lut[reg.tag] = s
        rho_lut[reg.tag] = rho
    sigma = sig_lut[mesh.cell_region]
    cond = sigma > 0
    if not cond.any():
        raise InputError(f"geometry: no region conducts (excluded: {excluded}); expected at least one tissue "
                         "region of kind 'tissue' with conductivity > 0 for the eddy-current solve")
    return cond, sigma, rho_lut[mesh.cell_region], tuple(excluded)


def sub_mesh(mesh: TissueMesh, keep: np.ndarray) -> tuple[TissueMesh, np.ndarray]:
    """TissueMesh of the cells ``keep`` (renumbered vertices; skin facets left empty: the FE adapter
    finds the boundary itself; cut facets whose vertices are all kept carried over) and the index of
    each new vertex in ``mesh``."""
    cells = mesh.cells[keep]
    used, inv = np.unique(cells, return_inverse=True)
    cr = mesh.cell_region[keep]
    tags = set(np.unique(cr).tolist())
    regs = tuple(r for r in mesh.regions if r.tag in tags)
    lut = np.full(mesh.num_vertices, -1, np.int64)
    lut[used] = np.arange(used.size)
    cut = lut[mesh.cut_facets] if mesh.cut_facets.size else np.zeros((0, 3), np.int64)
    cut = cut[(cut >= 0).all(axis=1)] if cut.size else cut
    sm = TissueMesh(mesh.points_m[used], inv.reshape(-1, 4).astype(np.int64), cr, regs,
                    np.zeros((0, 3), np.int64), source=mesh.source + " | conducting sub-mesh", cut_facets=cut)
    return sm, used


def cell_components(mesh: TissueMesh) -> tuple[int, np.ndarray]:
    """Connected components of cells that share at least one vertex (number, id per cell in the order of
    each component's first cell)."""
    from planner.em._kernels import cell_components as components

    return components(mesh.cells, mesh.num_vertices)


_SUBMESH_CACHE: dict[int, tuple] = {}


def _conducting_mesh(mesh: TissueMesh, cond: np.ndarray) -> tuple[TissueMesh, int, np.ndarray, np.ndarray]:
    """(conducting sub-mesh, number of components, component per cell, vertex map sub → mesh), reused
    for the same mesh and mask (the FE layer then reuses its DOLFINx mesh too: repeated solves skip
    mesh creation)."""
    digest = hashlib.sha1(np.packbits(cond).tobytes()).hexdigest()
    hit = _SUBMESH_CACHE.get(id(mesh))
    if hit is not None and hit[0]() is mesh and hit[1] == digest:
        return hit[2]
    sm, used = (mesh, np.arange(mesh.num_vertices)) if cond.all() else sub_mesh(mesh, cond)
    ncomp, comp = cell_components(sm)
    for k in [k for k, v in _SUBMESH_CACHE.items() if v[0]() is None]:
        del _SUBMESH_CACHE[k]
    if len(_SUBMESH_CACHE) >= 2:
        _SUBMESH_CACHE.pop(next(iter(_SUBMESH_CACHE)))
    _SUBMESH_CACHE[id(mesh)] = (weakref.ref(mesh), digest, (sm, ncomp, comp, used))
    return sm, ncomp, comp, used


# --- implants and cut faces ----------------------------------------------------------------------
def insulated_bodies(geometry: GeometrySection | None) -> frozenset[str]:
    """Names of the plan's geometry bodies marked ``insulated = true`` (coated or ceramic implants)."""
    return frozenset(b.name for b in (geometry.bodies if geometry is not None else ()) if b.insulated)


def implant_models(mesh: TissueMesh, lib, insulated: Collection[str] = ()) -> dict[str, tuple[str, str]]:
    """{implant region name: ("conductor" | "insulator", reason)} per the module rules, before contact
    with tissue is checked. Insulated: the regions named in ``insulated`` (see :func:`insulated_bodies`)."""
    out = {}
    for r in mesh.regions:
        kind = getattr(lib[r.tissue], "kind", "tissue")
        if not (r.role == Role.IMPLANT or kind == "metal"):
            continue
        if kind == "air":
            out[r.name] = ("insulator", f"tissue {r.tissue!r} is of kind 'air' (non-conducting)")
        else:
            out[r.name] = (("insulator", "insulated = true in the plan (coated or ceramic part)") if r.name in insulated
                           else ("conductor", "floating potential: metal-tissue interface impedance negligible at "
                                              "these frequencies, zero net current"))
    return out


def _check_implants_off_cuts(mesh: TissueMesh, models: dict) -> None:
    if not mesh.cut_facets.size or not models:
        return
    cut_v = np.unique(mesh.cut_facets)
    for name in models:
        tag = mesh.region(name).tag
        if np.isin(cut_v, mesh.cells[mesh.cell_region == tag]).any():
            raise InputError(f"implant region {name!r} touches a cut face of the model (image bounds or crop box): "
                             "expected the implant wholly inside the modelled volume; enlarge imaging.crop_margin_mm "
                             "or the imaged range")


def _floating_conductors(mesh: TissueMesh, keep: np.ndarray, cond: np.ndarray, models: dict, A0) -> tuple[list, dict]:
    """FloatingConductor per group of touching conductor implants (cells in the FE sub-mesh ``keep``
    order) and the final {name: (model, reason)} (a conductor touching no tissue becomes a hole)."""
    from planner.fem.scalar_potential import FloatingConductor

    models = dict(models)
    tags = [mesh.region(n).tag for n, (m, _) in models.items() if m == "conductor"]
    metal = np.isin(mesh.cell_region, tags)
    if not metal.any():
        return [], models
    ms, _ = sub_mesh(mesh, metal)
    n, comp = cell_components(ms)
    idx = np.flatnonzero(metal)
    tissue_v = np.zeros(mesh.num_vertices, bool)
    tissue_v[mesh.cells[cond]] = True
    vol, cen = mesh.cell_volumes_m3(), mesh.cell_centroids_m()
    out = []
    for k in range(n):
        cells = idx[comp == k]
        if not tissue_v[mesh.cells[cells]].any():
            for tag in np.unique(mesh.cell_region[cells]):
                models[mesh.region(int(tag)).name] = ("insulator", "touches no conducting tissue")
            keep[cells] = False
            continue
        c = (cen[cells] * vol[cells, None]).sum(axis=0) / vol[cells].sum()
        a_c = np.asarray(A0(c[None, :]), float)[0]
        mask = np.zeros(mesh.num_cells, bool)
        mask[cells] = True
        out.append((mask, lambda x, a_c=a_c, c=c: (np.asarray(x) - c) @ a_c))
    return [FloatingConductor(m[keep], g) for m, g in out], models


def cut_planes(mesh: TissueMesh) -> list[tuple[np.ndarray, np.ndarray, float, float]]:
    """Cut facets grouped by plane: [(facet rows (k,3), unit normal m, offset m·x, band)]. The planes
    are the clusters of coplanar triangles holding ≥ 5 % of the cut area (clusters within 1 % of the model
    size of one another merged); every other cut triangle (the
    chamfer where a cut plane meets the skin or another cut plane) joins the plane it faces (|n·m| >
    0.3) that is nearest. ``band``: the largest distance of the group's vertices from its plane."""
    cut = mesh.cut_facets
    if not cut.size:
        return []
    x = mesh.points_m[cut]
    n = np.cross(x[:, 1] - x[:, 0], x[:, 2] - x[:, 0])
    area = 0.5 * np.linalg.norm(n, axis=1)
    n /= np.maximum(2.0 * area, 1e-300)[:, None]
    lead = np.argmax(np.abs(n), axis=1)
    n *= np.sign(n[np.arange(len(n)), lead])[:, None]
    c = x.mean(axis=1)
    d = np.einsum("ij,ij->i", n, c)
    tol = 0.01 * float(np.linalg.norm(np.ptp(mesh.points_m, axis=0)))
    _, grp = np.unique(np.column_stack([np.round(n, 1), np.round(d / tol)]), axis=0, return_inverse=True)
    grp = grp.ravel()
    A = np.bincount(grp, weights=area)
    planes: list = []  # (m, d, area); clusters of nearly the same plane merged (CGAL's planes are ~0.1 mm rough)
    for g in np.argsort(-A):
        if A[g] < 0.05 * area.sum() and planes:
            break
        sel = grp == g
        m = (n[sel] * area[sel, None]).sum(axis=0)
        m /= np.linalg.norm(m)
        dd = float((c[sel] @ m * area[sel]).sum() / area[sel].sum())
        if not any(abs(float(m @ q)) > 0.995 and abs(dd - e) < tol for q, e, _ in planes):
            planes.append((m, dd, A[g]))
    M = np.array([m for m, _, _ in planes])
    D = np.array([dd for _, dd, _ in planes])
    dist = np.abs(c @ M.T - D[None, :])
    dist[np.abs(n @ M.T) <= 0.3] = np.inf
    best = np.argmin(np.where(np.isfinite(dist).any(axis=1)[:, None], dist, np.abs(c @ M.T - D[None, :])), axis=1)
    out = []
    for p, (m, dd, _) in enumerate(planes):
        sel = best == p
        if sel.any():
            band = float(np.abs(mesh.points_m[cut[sel]] @ m - dd).max())
            out.append((cut[sel], m, dd, band))
    return out


def _cut_fluxes(sm: TissueMesh, sigma: np.ndarray, applied: AppliedField) -> tuple[list, str]:
    """BoundaryFlux per cut plane of the FE mesh (module docstring) and the summary's ``truncation`` text."""
    from planner.fem.scalar_potential import BoundaryFlux

    planes = cut_planes(sm)
    if not planes:
        return [], "none: the model has no cut faces (the whole body outline is skin)"
    owner = _facet_owner(sm.cells, np.concatenate([f for f, _, _, _ in planes]))
    fluxes, cross, start = [], 0.0, 0
    for facets, m, d, band in planes:
        cell = owner[start:start + len(facets)]
        start += len(facets)
        x = sm.points_m[facets]
        area = 0.5 * np.linalg.norm(np.cross(x[:, 1] - x[:, 0], x[:, 2] - x[:, 0]), axis=1)
        w = area * sigma[cell]
        xbar = (x.mean(axis=1) * w[:, None]).sum(axis=0) / w.sum()
        H = np.asarray(applied.H_peak_at(xbar[None, :]), float)[0]
        cross = max(cross, float(np.linalg.norm(np.cross(m, H))) / max(float(np.linalg.norm(H)), 1e-300))
        tol = band * 1.01 + 1e-9 * float(np.ptp(sm.points_m, axis=0).max())

        def field(p, m=m, d=d, xbar=xbar, tol=tol):
            p = np.asarray(p, float)
            out = np.zeros_like(p)
            on = np.abs(p @ m - d) < tol
            if on.any():
                Hp = np.asarray(applied.H_peak_at(p[on]), float)
                out[on] = MU0_H_per_m * np.outer(np.cross(Hp, p[on] - xbar) @ m, m)
            return out
        fluxes.append(BoundaryFlux(facets, field))
    text = (f"{sum(len(f) for f, _, _, _ in planes)} cut facets on {len(planes)} plane(s) (image bounds / crop box) "
            "carry "
            "no skin condition: each carries the current of the undisturbed long body, n·J = σ μ0 n·(H0 × (x − x̄)) "
            f"(x̄ the σ-weighted centroid of the plane); applied H parallel to the cut planes (it drives current "
            f"across them): max |n × H0|/|H0| = {cross:.3g}")
    if cross > 0.1:
        log.warning("the applied field has a component along the model's cut planes (|n × H0|/|H0| up to %.2f): "
                    "induced currents cross them, modelled as in an infinitely long body; extend the imaged range "
                    "for fields near the cuts", cross)
        text += (" — WARNING: induced currents cross the cut planes; E near them assumes the body continues "
                 "unchanged beyond them")
    return fluxes, text


def _facet_owner(cells: np.ndarray, facets: np.ndarray) -> np.ndarray:
    """Index of a cell having each boundary triangle of ``facets`` as a face."""
    faces = np.concatenate([cells[:, [1, 2, 3]], cells[:, [0, 2, 3]], cells[:, [0, 1, 3]], cells[:, [0, 1, 2]]])
    _, inv = np.unique(np.sort(np.concatenate([faces, facets]), axis=1), axis=0, return_inverse=True)
    inv = inv.ravel()
    lut = np.full(int(inv.max()) + 1, 0, np.int64)
    lut[inv[:len(faces)]] = np.tile(np.arange(cells.shape[0]), 4)
    return lut[inv[len(faces):]]


def _per_tissue(mesh: TissueMesh, cond: np.ndarray, values: np.ndarray, how: str) -> dict:
    out: dict[str, float] = {}
    for reg in mesh.regions:
        sel = (mesh.cell_region == reg.tag) & cond
        if not sel.any():
            continue
        v = values[sel]
        val = float(v.sum()) if how == "sum" else float(v.max())
        if how == "sum":
            out[reg.tissue] = out.get(reg.tissue, 0.0) + val
        else:
            out[reg.tissue] = max(out.get(reg.tissue, 0.0), val)
    return out


# --- the stage -----------------------------------------------------------------------------------
def solve_eddy_currents(mesh: TissueMesh, applied: AppliedField, lib, section: ApplicatorSection | None = None, *,
                        insulated: Collection[str] = (), element_order: int | None = None,
                        comm=None, rtol: float = 1e-8, admittivity: str = "auto") -> FieldSolution:
    """Induced E, J, loss and SAR in tissue for ``applied`` (module docstring: formulation, implants, cuts).

    ``lib``: tissue library (``lib[name].kind``, ``.density_kg_per_m3``, ``.conductivity_S_per_m(f)``).
    ``section``: the plan's [applicator] (its ``element_order`` is the default order) or None;
    ``insulated``: implant regions kept insulating (:func:`insulated_bodies` of the plan's geometry).
    ``element_order``: 1 (P1) or 2 (P2) Lagrange for ψ (overrides the plan).
    ``admittivity``: the plan's ``[em] admittivity`` ('auto', 'real', 'complex'; :func:`admittivity_model`).
    Runs on ``comm`` (default MPI.COMM_WORLD; collective: call on every rank); results are complete on
    every rank.
    """
    from planner.fem.scalar_potential import solve_scalar_potential  # FEniCSx only here

    if element_order is None:
        element_order = int(getattr(section, "element_order", 1) or 1)
    if element_order not in (1, 2):
        raise InputError(bad_value("element_order", element_order, "1 or 2"))
    f = float(applied.frequency_Hz)
    if not (math.isfinite(applied.H_peak_A_per_m_at_target) and applied.H_peak_A_per_m_at_target > 0):
        raise InputError(bad_value("applicator.field_kA_per_m", applied.H_peak_A_per_m_at_target / 1e3,
                                   "a positive field amplitude (kA/m)"))
    cond, sigma, rho, excluded = conduction_domain(mesh, lib, f)
    tau, adm = admittivity_model(mesh, lib, f, cond, admittivity)
    models = implant_models(mesh, lib, insulated)
    _check_implants_off_cuts(mesh, models)
    t0 = time.perf_counter()
    keep = cond.copy()
    keep |= np.isin(mesh.cell_region, [mesh.region(n).tag for n, (m, _) in models.items() if m == "conductor"])
    floating, models = _floating_conductors(mesh, keep, cond, models, applied.A_peak_at)
    sm, ncomp, comp, _ = _conducting_mesh(mesh, keep)
    fluxes, truncation = _cut_fluxes(sm, sigma[keep], applied)
    t_prep = time.perf_counter() - t0
    kw = {} if comm is None else {"comm": comm}
    res = solve_scalar_potential(sm, sigma[keep], applied.A_peak_at, 2.0 * math.pi * f,
                                 cell_component=comp if ncomp > 1 else None, element_order=element_order,
                                 rtol=rtol, floating=floating, cut_flux=fluxes, vertex_values=True,
                                 sigma_imag_cell_S_per_m=None if tau is None else tau[keep], **kw)
    fs = _field_solution(mesh, applied, lib, cond, keep, sigma, rho, excluded, models, res, truncation,
                         {"prepare_s": t_prep, "conducting_components": ncomp, "rtol": rtol,
                          "floating_conductors": len(floating), "cut_planes": len(fluxes)})
    return replace(fs, admittivity=adm)


def _field_solution(mesh, applied, lib, cond, keep, sigma, rho, excluded, models, res, truncation,
                    info) -> FieldSolution:
    """Per-cell E, J, Q, SAR, SAR10g, the near-implant metrics and the solver block from the FE result."""
    f = float(applied.frequency_Hz)
    omega = 2.0 * math.pi * f
    M = mesh.num_cells
    E2 = np.zeros(M)
    E2[keep] = np.maximum(res.E2_mean_cell_V2_per_m2, 0.0)
    E2[~cond] = 0.0
    E = np.sqrt(E2)
    Ev = np.zeros(M)
    Ev[keep] = omega * np.linalg.norm(res.F_vertex_cell_V_s_per_m, axis=2).max(axis=1)
    Ev[~cond] = 0.0
    Ev = np.maximum(Ev, E)
    Q = 0.5 * sigma * E2
    rho_safe = np.where(rho > 0, rho, 1.0)
    SAR = np.where(rho > 0, Q / rho_safe, 0.0)
    SARv = np.where(rho > 0, 0.5 * sigma * Ev ** 2 / rho_safe, 0.0)
    vol = mesh.cell_volumes_m3()
    t1 = time.perf_counter()
    Fv = res.F_vertex_cell_V_s_per_m  # complex with the complex admittivity
    if not keep.all():  # (keep: a cell mask) cells outside the solve get 0
        Fv = np.zeros((M, 4, 3), dtype=Fv.dtype)
        Fv[keep] = res.F_vertex_cell_V_s_per_m
    SAR10, voxel_m = mesh_cube_sar_10g(mesh.points_m, mesh.cells, Fv, omega, sigma, rho, cond, cell_volumes_m3=vol,
                                       cell_centroids_m=mesh.cell_centroids_m())
    t_sar = time.perf_counter() - t1
    t1 = time.perf_counter()
    p99, n_edge = _internal_E(mesh, cond, Fv, omega)
    t_ie = time.perf_counter() - t1
    near = []
    for name, (model, why) in models.items():
        reg = mesh.cell_region == mesh.region(name).tag
        vals = tissue_near_region(mesh.points_m, mesh.cells, reg, cond, NEAR_IMPLANT_MM * 1e-3, E_cell=E,
                                  E_vertex_max=Ev, SAR_vertex_max=SARv, SAR10g=SAR10, volumes_m3=vol)
        near.append(ImplantTissue(name, model, why, *vals))
    solver = {
        "method": ("real scalar potential psi, E = -j*omega*(A0 + grad psi); CG + hypre BoomerAMG" if not
                   np.iscomplexobj(Fv) else "complex scalar potential psi (admittivity sigma + j omega eps0 eps_r), "
                   "E = -j*omega*(A0 + grad psi); real 2x2 block system, GMRES + PRESB with hypre BoomerAMG")
                  + "; implants as floating conductors (PtAP reduction), cut faces with the undisturbed long-body "
                    "current",
        "element_order": res.element_order, "dofs": res.dofs, "iterations": res.iterations, "rtol": info["rtol"],
        "mpi_ranks": res.ranks, "conducting_components": info["conducting_components"],
        "floating_conductors": info["floating_conductors"], "cut_planes": info["cut_planes"],
        "timings_s": {**{k: round(v, 4) for k, v in res.timings_s.items()}, "prepare_s": round(info["prepare_s"], 4),
                      "sar10g_s": round(t_sar, 4), "internal_E_s": round(t_ie, 4)},
        "internal_E_samples_per_cube_edge": n_edge,
        "sar10g_voxel_mm": round(voxel_m * 1e3, 4),
        "total_loss_assembled_W": res.total_loss_W,
    }
    log.info("eddy currents: %d dofs, %d CG iterations, tissue loss %.4g W", res.dofs, res.iterations,
             float((Q * vol).sum()))
    fs = FieldSolution(
        frequency_Hz=f, applied=applied, conducting=cond, sigma_S_per_m=sigma, density_kg_per_m3=rho,
        E_peak_V_per_m=E, J_peak_A_per_m2=sigma * E, Q_eddy_W_per_m3=Q, SAR_W_per_kg=SAR, SAR10g_W_per_kg=SAR10,
        tissue_loss_W=float((Q * vol).sum()),
        tissue_loss_W_by_tissue=_per_tissue(mesh, cond, Q * vol, "sum"),
        max_E_V_per_m_by_tissue=_per_tissue(mesh, cond, E, "max"),
        max_SAR_W_per_kg_by_tissue=_per_tissue(mesh, cond, SAR, "max"),
        max_SAR10g_W_per_kg_by_tissue=_per_tissue(mesh, cond, SAR10, "max"),
        excluded_regions=excluded, solver=solver, E_vertex_max_V_per_m=Ev, implant_tissue=tuple(near),
        truncation=truncation, internal_E_rms_p99_V_per_m_by_tissue=p99,
        F_vertex_cell_V_s_per_m=Fv,
    )
    return fs


def _internal_E(mesh: TissueMesh, cond: np.ndarray, Fv: np.ndarray, omega: float) -> tuple[dict, int]:
    """({tissue: 99th-percentile rms E over 2 mm cubes (V/m)}, samples per cube edge) over the conducting cells
    (:func:`planner.em.sar.internal_E_cube_p99`)."""
    tissues = sorted({r.tissue for r in mesh.regions})
    lut = np.full(max(r.tag for r in mesh.regions) + 1, -1, np.int64)
    for r in mesh.regions:
        lut[r.tag] = tissues.index(r.tissue)
    tid = np.where(cond, lut[mesh.cell_region], -1)
    vals, n = internal_E_cube_p99(mesh.points_m, mesh.cells, Fv, omega, tid, len(tissues))
    present = set(tid[tid >= 0].tolist())
    return {t: float(vals[i]) for i, t in enumerate(tissues) if i in present}, n
