"""Volumetric heat source on the mesh: nanoparticle + eddy-current + implant losses.

    Q_np,i(a)  = SLP(a · |H_i|, f) · c_i · k_basis            [W/m³]
    Q_i(a)     = Q_np,i(a) + a² (Q_eddy,i + Q_implant,i)

for cell i at field fraction a (the applicator at a × its nominal amplitude): |H_i| is the local
PEAK field magnitude at the cell centroid from ``applied.H_peak_at`` — next to implants, where an
implant sub-model covers the centroid, the TOTAL field |H0 + Σ H_r| with the sub-models' reaction
fields H_r (``fields.implants[k].total_field``, :mod:`planner.em.implant_field`; |H| = √Σ|H_j|², the
peak amplitude of a linearly polarised field; the summary's ``implant_total_field`` counts the
particle cells that used it); c_i the particle
concentration (mg/mL = kg/m³, SLP in W/g → ×1e3 W/kg); k_basis converts the concentration's mass
(``mass_of``: Fe or particle) to the SLP model's basis with the iron mass fraction w_Fe
(Fe → per particle: 1/w_Fe; particle → per Fe: w_Fe). Eddy-current and implant losses are
quadratic in the field; the particle loss is re-evaluated through the SLP model (nonlinear in a).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from planner.artefacts import AppliedFieldLike, CellLossesLike, TissueLookup, TissueMesh
from planner.config.plan import NanoparticleSection
from planner.errors import InputError, bad_value
from planner.nanoparticles.distributions import ParticleDistribution, distribute
from planner.nanoparticles.slp import SLPModel, ilp_nH_m2_per_kg, make_slp_model

log = logging.getLogger(__name__)


def basis_factor(mass_of: str, slp_basis: str, iron_mass_fraction: float | None, key: str) -> float:
    """Grams of the SLP basis per gram of the distribution's ``mass_of``."""
    same = (mass_of == "Fe" and slp_basis == "per_g_Fe") or (mass_of == "particle" and slp_basis == "per_g_particle")
    if same:
        return 1.0
    if iron_mass_fraction is None or not (0 < iron_mass_fraction <= 1):
        raise InputError(bad_value(
            f"{key}.iron_mass_fraction", iron_mass_fraction,
            f"a fraction in (0, 1] to convert the distribution's {mass_of} mass to the SLP basis {slp_basis}"))
    return 1.0 / iron_mass_fraction if mass_of == "Fe" else iron_mass_fraction


@dataclass(frozen=True)
class HeatSource:
    """Per-cell heat sources in TissueMesh cell order (nominal field unless stated)."""

    Q_np_W_per_m3: np.ndarray
    Q_eddy_W_per_m3: np.ndarray
    Q_implant_W_per_m3: np.ndarray
    concentration_mg_per_mL: np.ndarray  # of `mass_of` (Fe or particle)
    H_peak_A_per_m: np.ndarray  # |H| peak at cell centroids, nominal
    slp_W_per_g: np.ndarray  # per cell at nominal field (0 where no particles), SLP basis
    cell_volumes_m3: np.ndarray
    frequency_Hz: float
    mass_basis: str | None  # SLP basis, None without particles
    mass_of: str | None
    basis_factor: float
    model: SLPModel | None = field(default=None, repr=False, compare=False)
    distribution: ParticleDistribution | None = field(default=None, repr=False, compare=False)
    reference_H_peak_A_per_m: float | None = None
    reference_field: str = ""
    diagnostics: dict = field(default_factory=dict)
    implant_total_field: dict = field(default_factory=dict)  # summary of the cells that used the total H

    def Q_np_at(self, field_fraction: float) -> np.ndarray:
        """Particle heat (W/m³) with the applicator at ``field_fraction`` × nominal."""
        a = float(field_fraction)
        if not (math.isfinite(a) and a >= 0):
            raise InputError(bad_value("field_fraction", field_fraction, "a finite number >= 0"))
        if self.model is None or a == 0.0:  # no particles, or field off: no particle heat
            return np.zeros_like(self.Q_np_W_per_m3)
        if a == 1.0:
            return self.Q_np_W_per_m3
        out = np.zeros_like(self.Q_np_W_per_m3)
        idx = np.flatnonzero(self.concentration_mg_per_mL > 0)
        if idx.size:
            slp = self.model.slp_W_per_g(a * self.H_peak_A_per_m[idx], self.frequency_Hz)
            out[idx] = slp * 1e3 * self.concentration_mg_per_mL[idx] * self.basis_factor
        return out

    def Q_W_per_m3(self, field_fraction: float = 1.0) -> np.ndarray:
        """Total volumetric heat per cell at ``field_fraction`` × the nominal field amplitude."""
        a = float(field_fraction)
        return self.Q_np_at(a) + a * a * (self.Q_eddy_W_per_m3 + self.Q_implant_W_per_m3)

    # --- reporting ------------------------------------------------------------------------
    def _power_W(self, q: np.ndarray) -> float:
        return float(np.dot(q, self.cell_volumes_m3))

    def summary_block(self) -> dict:
        """The ``nanoparticles`` block of summary.json (JSON-serialisable)."""
        d = self.distribution
        P_np = self._power_W(self.Q_np_W_per_m3)
        out: dict[str, Any] = {
            "slp_model": getattr(self.model, "name", None),
            "mass_basis": self.mass_basis,
            "frequency_Hz": self.frequency_Hz,
            "total_power_W": P_np,
            "eddy_power_W": self._power_W(self.Q_eddy_W_per_m3),
            "implant_power_W": self._power_W(self.Q_implant_W_per_m3),
            "linear_response_warning": bool(self.diagnostics.get("linear_response_warning", False)),
            "implant_total_field": self.implant_total_field or _total_field_block(None, None, None),
        }
        if self.model is None or d is None:
            out.update({"slp_W_per_g": None, "ilp_nH_m2_per_kg": None, "total_mass_mg": 0.0, "mapped_mass_mg": 0.0,
                        "mass_conservation_rel_error": 0.0})
            return out
        slp_ref = None
        if self.reference_H_peak_A_per_m is not None:
            slp_ref = float(self.model.slp_W_per_g(np.array([self.reference_H_peak_A_per_m]), self.frequency_Hz)[0])
        mass_basis_g = d.mapped_mass_mg * 1e-3 * self.basis_factor
        eff = P_np / mass_basis_g if mass_basis_g > 0 else 0.0
        out.update({
            "slp_W_per_g": slp_ref,
            "ilp_nH_m2_per_kg": (float(ilp_nH_m2_per_kg(slp_ref, self.reference_H_peak_A_per_m, self.frequency_Hz))
                                 if slp_ref is not None and self.reference_H_peak_A_per_m is not None else None),
            "slp_reference_H_peak_A_per_m": self.reference_H_peak_A_per_m,
            "slp_reference_field": self.reference_field,
            "effective_slp_W_per_g": eff,
            "mass_of": d.mass_of,
            "total_mass_mg": d.total_mass_mg,
            "mapped_mass_mg": d.mapped_mass_mg,
            "mass_conservation_rel_error": d.mass_conservation_rel_error,
            "sampling_correction_factor": d.sampling_correction,
            "distribution": d.summary_block(),
            "map": d.details.get("map"),
            "model": self.model.describe(),
            "diagnostics": self.diagnostics,
            "max_concentration_mg_per_mL": float(self.concentration_mg_per_mL.max(initial=0.0)),
            "max_Q_np_W_per_m3": float(self.Q_np_W_per_m3.max(initial=0.0)),
        })
        return out

def _per_cell(fields: CellLossesLike | None, name: str, n: int) -> np.ndarray:
    v = getattr(fields, name, None) if fields is not None else None
    if v is None:
        return np.zeros(n)
    v = np.asarray(v, dtype=float)
    if v.shape != (n,):
        raise InputError(bad_value(f"fields.{name} shape", v.shape, f"({n},) per mesh cell"))
    if not np.all(np.isfinite(v)) or np.any(v < 0):
        raise InputError(f"fields.{name}: non-finite or negative values; expected finite losses >= 0 W/m³")
    return v


def total_H_cells(H_applied_peak_A_per_m: np.ndarray, implants: tuple) -> tuple[np.ndarray, np.ndarray]:
    """(peak |H| per cell, covered mask): √Σ_j|H0 + Σ_k H_r,k|_j² where an implant sub-model covers the
    cell (its ``total_field``: ``cells`` and complex ``H_reaction_cells_peak_A_per_m``; several implants
    add their reactions), |H0| elsewhere."""
    H0 = np.asarray(H_applied_peak_A_per_m, float)
    mag = np.linalg.norm(H0, axis=1)
    covered = np.zeros(H0.shape[0], bool)
    tfs = [tf for tf in (getattr(i, "total_field", None) for i in implants) if tf is not None and tf.cells.size]
    if not tfs:
        return mag, covered
    cells = np.unique(np.concatenate([tf.cells for tf in tfs]))
    H = H0[cells].astype(complex)
    for tf in tfs:
        H[np.searchsorted(cells, tf.cells)] += tf.H_reaction_cells_peak_A_per_m
    mag[cells] = np.sqrt(np.sum(np.abs(H) ** 2, axis=1))
    covered[cells] = True
    return mag, covered


def _total_field_block(covered: np.ndarray | None, H: np.ndarray | None, H0: np.ndarray | None,
                       particles: np.ndarray | None = None) -> dict:
    """``nanoparticles.implant_total_field``: how many cells (and particle cells) used the total H."""
    if covered is None or H is None or H0 is None:
        return {"cells_covered": 0, "particle_cells_total_H": 0, "max_total_over_applied_in_particle_cells": None,
                "min_total_over_applied_in_particle_cells": None}
    p = np.zeros(0, np.int64) if particles is None else particles[covered[particles]]
    ratio = H[p] / np.maximum(np.linalg.norm(H0[p], axis=1), 1e-300) if p.size else np.zeros(0)
    return {"cells_covered": int(np.count_nonzero(covered)), "particle_cells_total_H": int(p.size),
            "max_total_over_applied_in_particle_cells": float(ratio.max()) if p.size else None,
            "min_total_over_applied_in_particle_cells": float(ratio.min()) if p.size else None}


def heat_source(mesh: TissueMesh, applied: AppliedFieldLike, fields: CellLossesLike | None,
                lib: TissueLookup | None, section: NanoparticleSection | None, *, base_dir: Path) -> HeatSource:
    """Build the heat source of a plan (see module docstring).

    ``applied``: needs ``frequency_Hz`` and ``H_peak_at(points_m) -> (n, 3)`` (peak A/m), and
    optionally ``H_peak_A_per_m_at_target`` (the SLP/ILP reference field of the summary).
    ``fields``: per-cell ``Q_eddy_W_per_m3`` and ``Q_implant_W_per_m3`` (None → zeros).
    ``section``: the plan's [nanoparticles]; None means no particles (eddy/implant heat only).
    ``base_dir``: the plan file's folder (relative paths of tables and maps).
    """
    n = mesh.num_cells
    f = float(applied.frequency_Hz)
    if not (math.isfinite(f) and f > 0):
        raise InputError(bad_value("applicator frequency_Hz", f, "a positive frequency"))
    Q_eddy = _per_cell(fields, "Q_eddy_W_per_m3", n)
    Q_imp = _per_cell(fields, "Q_implant_W_per_m3", n)
    V = mesh.cell_volumes_m3()
    X = mesh.cell_centroids_m()
    H_vec = np.asarray(applied.H_peak_at(X), dtype=float)
    if H_vec.shape != (n, 3) or not np.all(np.isfinite(H_vec)):
        raise InputError(bad_value("applied.H_peak_at(centroids) shape", H_vec.shape, f"finite ({n}, 3)"))
    H, covered = total_H_cells(H_vec, tuple(getattr(fields, "implants", ()) or ()))
    sec = section
    if sec is None:
        z = np.zeros(n)
        return HeatSource(z, Q_eddy, Q_imp, z.copy(), H, z.copy(), V, f, None, None, 1.0,
                          implant_total_field=_total_field_block(covered, H, H_vec))
    model = make_slp_model(sec, base_dir)
    dist = distribute(mesh, sec.distribution, base_dir, lib)
    key = f"nanoparticles.{sec.slp_model.replace('-', '_')}"
    k = basis_factor(dist.mass_of, model.mass_basis, model.iron_mass_fraction, key)
    c = dist.concentration_mg_per_mL
    idx = np.flatnonzero(c > 0)
    slp = np.zeros(n)
    slp[idx] = model.slp_W_per_g(H[idx], f)
    Q_np = slp * 1e3 * c * k
    diag = model.field_diagnostics(H[idx], f)
    # SLP/ILP reference field: nominal target field if the model can evaluate it, else the
    # particle-mass-weighted rms field
    ref_H = getattr(applied, "H_peak_A_per_m_at_target", None)
    ref_name = "nominal peak field at the target (applicator)"
    if ref_H is not None:
        try:
            model.slp_W_per_g(np.array([float(ref_H)]), f)
        except InputError:
            ref_H = None
    if ref_H is None and idx.size:
        w = c[idx] * V[idx]
        ref_H = float(np.sqrt(np.dot(w, H[idx] ** 2) / w.sum()))
        ref_name = "particle-mass-weighted rms peak field"
    return HeatSource(Q_np, Q_eddy, Q_imp, c, H, slp, V, f, model.mass_basis, dist.mass_of, k, model, dist,
                      float(ref_H) if ref_H is not None else None, ref_name if ref_H is not None else "", diag,
                      implant_total_field=_total_field_block(covered, H, H_vec, idx))


def input_files(sec: NanoparticleSection | None, *, base_dir: Path) -> dict[str, Path]:
    """Files the [nanoparticles] section reads (for provenance hashes in summary.json)."""
    if sec is None:
        return {}
    out: dict[str, Path] = {}
    if sec.slp_model == "table" and sec.model_parameters is not None:
        out["nanoparticles.table.file"] = (base_dir / sec.model_parameters.file).resolve()
    d = sec.distribution
    for key in ("file", "pre_file", "post_file", "residual_ct_file"):
        v = getattr(d, key, None)
        if v is not None:
            p = (base_dir / v).resolve()
            if p.is_dir():  # a DICOM series: hash every file
                for i, f in enumerate(sorted(x for x in p.iterdir() if x.is_file())):
                    out[f"nanoparticles.distribution.{key}[{i}]"] = f
            else:
                out[f"nanoparticles.distribution.{key}"] = p
    return out
