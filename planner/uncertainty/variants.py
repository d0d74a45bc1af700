"""Heat-source variants of the uncertainty study that need a new field or particle map (issue 18).

* Conductivity per tissue (``conductivity_tissues``): a σ change in some tissues changes E itself
  (∇·σ(∇ψ + A0) = 0), so each distinct σ vector re-solves the tissue eddy-current stage
  (:func:`planner.em.solve_eddy_currents`) with a library whose σ of the listed tissues is s_t × σ_t(f)
  (the ``constant_conductivity_S_per_m`` override at the plan's frequency; ε_r keeps its Cole–Cole
  curve) and gives a new tissue-eddy heat. One common s for every conducting tissue leaves E unchanged
  and reproduces Q_eddy × s (the common ``conductivity_sigma_ln`` uses exactly that, without a solve).
* Deposit size (``deposit_size_sigma_ln``, distribution kind 'deposit' only): every deposit's
  ``semi_axes_mm`` (ellipsoid) or ``sigma_mm`` (gaussian) × s with the same masses (renormalised per
  deposit: mass conserved); the particle heat SLP(H) · c · k at the new concentration.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from planner.artefacts import TissueLookup, TissueMesh
from planner.errors import InputError
from planner.uncertainty.responses import ScaledTissueLibrary

#: distribution kinds with a size parameter (scaled by the deposit-size factor)
SIZED_KINDS = ("deposit",)


class ScaledConductivityLibrary(ScaledTissueLibrary):
    """The tissue library with the conductivity of some tissues (canonical names → factor) scaled at
    one frequency (a constant override s · σ(f); everything else unchanged)."""

    def __init__(self, lib, scales: Mapping[str, float], frequency_Hz: float) -> None:
        super().__init__(lib, scales)
        self._f = float(frequency_Hz)

    def _scaled(self, t, s: float):
        return dataclasses.replace(t, constant_conductivity_S_per_m=s * float(t.conductivity_S_per_m(self._f)))

    def resolve(self, name: str):
        return self._lib.resolve(name) if hasattr(self._lib, "resolve") else name


def check_sized(distribution, key: str = "uncertainty.deposit_size_sigma_ln") -> None:
    """One-line refusal of a deposit-size spread for a distribution without a size parameter."""
    kind = getattr(distribution, "kind", None)
    if kind is None:
        raise InputError(f"{key}: the plan has no particles ([nanoparticles]) whose deposit size could vary; "
                         f"expected {key} = 0")
    if kind not in SIZED_KINDS:
        raise InputError(f"{key}: [nanoparticles.distribution] kind = {kind!r} has no deposit size to scale; "
                         f"expected kind 'deposit' (semi_axes_mm / sigma_mm) or {key} = 0")


def scaled_deposits(distribution, size: float):
    """The [nanoparticles.distribution] with every deposit's semi-axes / sigma × ``size`` (same masses)."""
    check_sized(distribution)
    deps = []
    for d in distribution.deposits:
        if d.semi_axes_mm is not None:
            d = dataclasses.replace(d, semi_axes_mm=tuple(size * float(x) for x in d.semi_axes_mm))
        if d.sigma_mm is not None:
            d = dataclasses.replace(d, sigma_mm=tuple(size * float(x) for x in d.sigma_mm))
        deps.append(d)
    return dataclasses.replace(distribution, deposits=tuple(deps))


@dataclass(frozen=True)
class HeatVariants:
    """What re-solving a heat component needs: the plan's applied field and [applicator] (eddy), its
    particle distribution section and base folder (deposit size)."""

    mesh: TissueMesh
    lib: TissueLookup
    applicator: object = None
    applied: object = None
    insulated: frozenset[str] = frozenset()
    admittivity: str = "auto"
    distribution: object = None
    base_dir: Path = Path(".")

    @classmethod
    def from_plan(cls, cfg, mesh: TissueMesh, lib) -> HeatVariants:
        from planner import em
        from planner.em.eddy import insulated_bodies

        applied = em.applied_field(mesh, cfg.applicator, base_dir=cfg.base_dir) if cfg.applicator else None
        return cls(mesh, lib, cfg.applicator, applied, frozenset(insulated_bodies(cfg.geometry)),
                   cfg.em.admittivity if cfg.em is not None else "auto",
                   cfg.nanoparticles.distribution if cfg.nanoparticles is not None else None, Path(cfg.base_dir))

    def eddy_W_per_m3(self, scales: Mapping[str, float], comm=None) -> np.ndarray:
        """Tissue eddy heat (nominal field) with the conductivity of each tissue × its scale."""
        from planner.em import solve_eddy_currents

        if self.applied is None:
            raise InputError("uncertainty.conductivity_tissues: the plan has no [applicator] (no field to solve)")
        lib_s = ScaledConductivityLibrary(self.lib, scales, self.applied.frequency_Hz)  # type: ignore[attr-defined]
        fs = solve_eddy_currents(self.mesh, self.applied, lib_s, self.applicator,  # type: ignore[arg-type]
                                 insulated=self.insulated, admittivity=self.admittivity, comm=comm)
        return np.asarray(fs.Q_eddy_W_per_m3, dtype=float)

    def particles(self, heat, size: float):
        """``heat`` with its particles spread over deposits × ``size`` (the same SLP model and fields)."""
        from planner.nanoparticles.distributions import distribute

        dist = distribute(self.mesh, scaled_deposits(self.distribution, size), self.base_dir, self.lib)
        c = dist.concentration_mg_per_mL
        idx = np.flatnonzero(c > 0)
        slp = np.zeros_like(heat.slp_W_per_g)
        if idx.size:
            slp[idx] = heat.slp_at(idx, heat.H_peak_A_per_m[idx])
        Q = slp * 1e3 * c * heat.basis_factor
        return dataclasses.replace(heat, concentration_mg_per_mL=c, slp_W_per_g=slp, Q_np_W_per_m3=Q,
                                   distribution=dist)

    def heat(self, heat, conductivity: Mapping[str, float], size: float | None, comm=None):
        """The heat source of one sample's solve-requiring inputs (None / empty: unchanged)."""
        out = heat if size is None else self.particles(heat, size)
        if conductivity:
            out = dataclasses.replace(out, Q_eddy_W_per_m3=self.eddy_W_per_m3(conductivity, comm))
        return out
