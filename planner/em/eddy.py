"""Stage function: eddy currents, SAR and losses in tissue (the FE solve is in :mod:`planner.fem.scalar_potential`).

Physics (DESIGN.md §2; peak phasors, e^{jωt}): E = −jω(A0 + ∇ψ) with real ψ solving
∇·σ(∇ψ + A0) = 0 in the conducting tissue and n·J = 0 on its boundary (skin, air cavities, implant
surfaces). Per cell: |E| peak (root of the cell mean of |E|²), |J| = σ|E| (peak), time-averaged loss
density Q_eddy = σ|E|²/2 (W/m³), SAR = Q_eddy/ρ (W/kg), and the mass-averaged SAR over 10 g
(:mod:`planner.em.sar`). Low-frequency limit: valid while the skin depth δ = √(2/(ωμ0σ)) ≫ body
size (δ ≈ 1.6 m for σ = 1 S/m at 100 kHz); the induced currents' own field is neglected (quasi-static,
e.g. Bottauscio et al. 2014, IEEE Trans. Magn. 50, 7006604).

Which regions conduct: every region whose tissue has kind 'tissue' (σ = ``lib[t].conductivity_S_per_m
(f)`` must then be finite and > 0, else InputError). Excluded — treated as insulating holes whose walls
carry n·J = 0, with E, J, Q, SAR reported as 0 there:
  * implants (role 'implant' or tissue kind 'metal'): their own eddy currents need the full
    eddy-current model with skin effect (:mod:`planner.em.implants`, another stage), which fills
    ``Q_implant_W_per_m3`` / ``implants``. Treating the implant as an insulating hole neglects the
    implant's own reaction field (and the current it would carry between tissue contacts) in the
    tissue solve — an approximation stated in the summary (``excluded_regions``);
  * air (tissue kind 'air').
"""
from __future__ import annotations

import hashlib
import logging
import math
import time
import weakref
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from planner.artefacts import Role, TissueMesh
from planner.em.applicators import AppliedField
from planner.em.sar import mass_averaged_sar
from planner.errors import InputError, bad_value

log = logging.getLogger(__name__)

SAR_AVERAGING = ("10 g mass-averaged SAR (planner.em.sar): heat and mass of the conducting cells on a voxel grid of "
                 "~r0/3 (r0 = radius of 10 g at the mean tissue density); spheres of radii r0*2^((k-1)/3), k=0..4, "
                 "around each voxel; heat interpolated linearly in mass to exactly 10 g; a cell takes its voxel's "
                 "value; per tissue: max over that tissue's cells (the sphere may include neighbouring tissues)")


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

    def __post_init__(self) -> None:
        if self.Q_implant_W_per_m3 is None:
            object.__setattr__(self, "Q_implant_W_per_m3", np.zeros_like(self.Q_eddy_W_per_m3))

    def with_implants(self, implants: tuple, Q_implant_W_per_m3: np.ndarray) -> "FieldSolution":
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
            "E_convention": "peak; cell value = sqrt(cell mean of |E|^2)",
            "excluded_regions": list(self.excluded_regions),
            "implant_loss_W": float(sum(getattr(i, "loss_W", 0.0) for i in self.implants)),
            "implants": [i.summary_block() for i in self.implants],
            "solver": self.solver,
        })
        return out

    def write_fields(self, out_dir: Path, mesh: TissueMesh) -> list[Path]:
        """ParaView file ``em_fields.vtu``: per-cell |E|, |J|, Q, SAR, SAR10g, σ, region; per-vertex H0."""
        import meshio

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        H = self.applied.H_peak_at(mesh.points_m)
        cd = {
            "region": mesh.cell_region.astype(np.int32),
            "sigma_S_per_m": self.sigma_S_per_m,
            "E_peak_V_per_m": self.E_peak_V_per_m,
            "J_peak_A_per_m2": self.J_peak_A_per_m2,
            "Q_eddy_W_per_m3": self.Q_eddy_W_per_m3,
            "Q_implant_W_per_m3": self.Q_implant_W_per_m3,
            "SAR_W_per_kg": self.SAR_W_per_kg,
            "SAR10g_W_per_kg": self.SAR10g_W_per_kg,
        }
        path = out_dir / "em_fields.vtu"
        meshio.write(path, meshio.Mesh(
            mesh.points_m, [("tetra", mesh.cells)],
            point_data={"H0_peak_A_per_m": H, "H0_peak_magnitude_A_per_m": np.linalg.norm(H, axis=1)},
            cell_data={k: [np.asarray(v, dtype=np.float64 if k != "region" else np.int32)] for k, v in cd.items()}))
        return [path]


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
    finds the boundary itself) and the index of each new vertex in ``mesh``."""
    cells = mesh.cells[keep]
    used, inv = np.unique(cells, return_inverse=True)
    cr = mesh.cell_region[keep]
    tags = set(np.unique(cr).tolist())
    regs = tuple(r for r in mesh.regions if r.tag in tags)
    sm = TissueMesh(mesh.points_m[used], inv.reshape(-1, 4).astype(np.int64), cr, regs,
                    np.zeros((0, 3), np.int64), source=mesh.source + " | conducting sub-mesh")
    return sm, used


def cell_components(mesh: TissueMesh) -> tuple[int, np.ndarray]:
    """Connected components of cells that share at least one vertex (number, id per cell)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    M, N = mesh.num_cells, mesh.num_vertices
    rows = np.repeat(np.arange(M), 4)
    G = coo_matrix((np.ones(4 * M, np.int8), (rows, mesh.cells.ravel() + M)), shape=(M + N, M + N))
    n, lab = connected_components(G, directed=False)
    cell_lab = lab[:M]
    uniq, cell_comp = np.unique(cell_lab, return_inverse=True)
    return int(uniq.size), cell_comp


_SUBMESH_CACHE: dict[int, tuple] = {}


def _conducting_mesh(mesh: TissueMesh, cond: np.ndarray) -> tuple[TissueMesh, int, np.ndarray]:
    """(conducting sub-mesh, number of components, component per cell), reused for the same mesh and
    mask (the FE layer then reuses its DOLFINx mesh too: repeated solves skip mesh creation)."""
    digest = hashlib.sha1(np.packbits(cond).tobytes()).hexdigest()
    hit = _SUBMESH_CACHE.get(id(mesh))
    if hit is not None and hit[0]() is mesh and hit[1] == digest:
        return hit[2]
    sm = mesh if cond.all() else sub_mesh(mesh, cond)[0]
    ncomp, comp = cell_components(sm)
    for k in [k for k, v in _SUBMESH_CACHE.items() if v[0]() is None]:
        del _SUBMESH_CACHE[k]
    if len(_SUBMESH_CACHE) >= 2:
        _SUBMESH_CACHE.pop(next(iter(_SUBMESH_CACHE)))
    _SUBMESH_CACHE[id(mesh)] = (weakref.ref(mesh), digest, (sm, ncomp, comp))
    return sm, ncomp, comp


def _per_tissue(mesh: TissueMesh, cond: np.ndarray, values: np.ndarray, how: str) -> dict:
    out = {}
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
def solve_eddy_currents(mesh: TissueMesh, applied: AppliedField, lib, cfg=None, *, element_order: int | None = None,
                        comm=None, rtol: float = 1e-8) -> FieldSolution:
    """Induced E, J, loss and SAR in tissue for ``applied`` (module docstring: formulation, exclusions).

    ``lib``: tissue library (``lib[name].kind``, ``.density_kg_per_m3``, ``.conductivity_S_per_m(f)``).
    ``cfg``: the PlanConfig (``cfg.applicator.element_order`` is the default order) or None.
    ``element_order``: 1 (P1) or 2 (P2) Lagrange for ψ (overrides the plan). Runs on ``comm`` (default
    MPI.COMM_WORLD; collective: call on every rank); results are complete on every rank.
    """
    from planner.fem.scalar_potential import solve_scalar_potential  # FEniCSx only here

    if element_order is None:
        app_cfg = getattr(cfg, "applicator", None)
        element_order = int(getattr(app_cfg, "element_order", 1) or 1)

    if element_order not in (1, 2):
        raise InputError(bad_value("element_order", element_order, "1 or 2"))
    f = float(applied.frequency_Hz)
    if not (math.isfinite(applied.H_peak_A_per_m_at_target) and applied.H_peak_A_per_m_at_target > 0):
        raise InputError(bad_value("applicator.field_kA_per_m", applied.H_peak_A_per_m_at_target / 1e3,
                                   "a positive field amplitude (kA/m)"))
    cond, sigma, rho, excluded = conduction_domain(mesh, lib, f)
    omega = 2.0 * math.pi * f
    t0 = time.perf_counter()
    sm, ncomp, comp = _conducting_mesh(mesh, cond)
    t_prep = time.perf_counter() - t0
    kw = {} if comm is None else {"comm": comm}
    res = solve_scalar_potential(sm, sigma[cond], applied.A_peak_at, omega,
                                 cell_component=comp if ncomp > 1 else None,
                                 element_order=element_order, rtol=rtol, **kw)
    M = mesh.num_cells
    E2 = np.zeros(M)
    E2[cond] = np.maximum(res.E2_mean_cell_V2_per_m2, 0.0)
    E = np.sqrt(E2)
    Q = 0.5 * sigma * E2
    J = sigma * E
    SAR = np.where(rho > 0, Q / np.where(rho > 0, rho, 1.0), 0.0)
    vol = mesh.cell_volumes_m3()
    t1 = time.perf_counter()
    SAR10 = mass_averaged_sar(mesh.cell_centroids_m(), vol, Q, np.where(cond, rho, 0.0))
    t_sar = time.perf_counter() - t1
    solver = {
        "method": "real scalar potential psi, E = -j*omega*(A0 + grad psi); CG + hypre BoomerAMG",
        "element_order": res.element_order,
        "dofs": res.dofs,
        "iterations": res.iterations,
        "rtol": rtol,
        "mpi_ranks": res.ranks,
        "conducting_components": ncomp,
        "timings_s": {**{k: round(v, 4) for k, v in res.timings_s.items()}, "prepare_s": round(t_prep, 4),
                      "sar10g_s": round(t_sar, 4)},
        "total_loss_assembled_W": res.total_loss_W,
    }
    log.info("eddy currents: %d dofs, %d CG iterations, tissue loss %.4g W", res.dofs, res.iterations,
             float((Q * vol).sum()))
    return FieldSolution(
        frequency_Hz=f, applied=applied, conducting=cond, sigma_S_per_m=sigma, density_kg_per_m3=rho,
        E_peak_V_per_m=E, J_peak_A_per_m2=J, Q_eddy_W_per_m3=Q, SAR_W_per_kg=SAR, SAR10g_W_per_kg=SAR10,
        tissue_loss_W=float((Q * vol).sum()),
        tissue_loss_W_by_tissue=_per_tissue(mesh, cond, Q * vol, "sum"),
        max_E_V_per_m_by_tissue=_per_tissue(mesh, cond, E, "max"),
        max_SAR_W_per_kg_by_tissue=_per_tissue(mesh, cond, SAR, "max"),
        max_SAR10g_W_per_kg_by_tissue=_per_tissue(mesh, cond, SAR10, "max"),
        excluded_regions=excluded, solver=solver,
    )
