"""Particle distribution ``kind = "organ-uptake"``: an intravenous dose split over named regions.

``total_mass_mg`` is the injected dose; ``uptake_fractions`` maps mesh region names to the fraction of
the dose each region holds, spread uniformly over the region (the rest — blood pool, bone marrow,
excretion, organs not in the model — leaves the model and is reported as ``unmodelled_fraction``).
Fractions must be ≥ 0 and sum to at most 1.

Defaults when ``uptake_fractions`` is not given (intravenous iron-oxide particles, late phase, taken up
by the mononuclear phagocyte system):

* liver 0.826 and spleen 0.062 of the injected dose — Weissleder R., Stark D.D., Engelstad B.L. et al.
  (1989) "Superparamagnetic iron oxide: pharmacokinetics and toxicity", AJR Am. J. Roentgenol.
  152:167–173 (⁵⁹Fe-labelled AMI-25, rats: 82.6 % liver, 6.2 % spleen of the dose);
* tumour (regions with role = "target") 0.007 — the median passive (EPR) delivery of 0.7 % of the
  injected dose in Wilhelm S., Tavares A.J., Dai Q. et al. (2016) "Analysis of nanoparticle delivery
  to tumours", Nat. Rev. Mater. 1:16014.

The defaults are assigned by a region's tissue (``liver``, ``spleen``) and role (``target``); several
regions of one class share its fraction by volume.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from planner.artefacts import Role, TissueLookup, TissueMesh
from planner.config.schema import positive, spec
from planner.errors import InputError, bad_value
from planner.nanoparticles.distributions import KEY, ParticleDistribution, mapped_mass_mg, register_distribution

#: Default fractions of the injected dose (module docstring for the sources).
DEFAULT_UPTAKE = {"liver": 0.826, "spleen": 0.062, "target": 0.007}
DEFAULT_UPTAKE_SOURCES = ("Weissleder et al. 1989, AJR 152:167 (liver 82.6 %, spleen 6.2 %)",
                          "Wilhelm et al. 2016, Nat. Rev. Mater. 1:16014 (tumour 0.7 % median)")


def _fractions_ok(d: Any) -> bool:
    return d is None or (isinstance(d, dict) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and 0.0 <= v <= 1.0
        for v in d.values()))


@dataclass(frozen=True)
class OrganUptakeParams:
    """``organ-uptake``: an injected dose split over named regions (intravenous delivery)."""

    total_mass_mg: float = spec(check=positive, expected="a positive injected dose in mg")
    uptake_fractions: dict[str, float] | None = spec(
        None, check=_fractions_ok,
        expected="a table region name = fraction of the injected dose in [0, 1] (default: liver 0.826, spleen "
                 "0.062, target 0.007)")

    def validate(self, path: str) -> None:
        if self.uptake_fractions is not None:
            total = sum(float(v) for v in self.uptake_fractions.values())
            if total > 1.0 + 1e-12:
                raise InputError(f"{path}.uptake_fractions: fractions sum to {total:.4g}; expected at most 1 (they are "
                                 "fractions of the injected dose, not percent)")


def default_fractions(mesh: TissueMesh) -> dict[str, float]:
    """Region name → fraction from :data:`DEFAULT_UPTAKE` (split by volume within a class)."""
    classes: dict[str, list[str]] = {"liver": [], "spleen": [], "target": []}
    for reg in mesh.regions:
        if reg.role == Role.TARGET:
            classes["target"].append(reg.name)
        elif reg.tissue in ("liver", "spleen"):
            classes[reg.tissue].append(reg.name)
    out: dict[str, float] = {}
    for cls, names in classes.items():
        vols = {n: mesh.region_volume_m3(mesh.region(n).tag) for n in names}
        total = sum(vols.values())
        for n in names:
            out[n] = DEFAULT_UPTAKE[cls] * vols[n] / total if total > 0 else 0.0
    return out


@register_distribution("organ-uptake", OrganUptakeParams)
def organ_uptake(mesh: TissueMesh, sec: Any, base_dir: Path, lib: TissueLookup | None = None) -> ParticleDistribution:
    names = {r.name for r in mesh.regions}
    given = sec.uptake_fractions
    fractions = {k: float(v) for k, v in given.items()} if given is not None else default_fractions(mesh)
    for k in fractions:
        if k not in names:
            raise InputError(bad_value(f"{KEY}.uptake_fractions.{k}", fractions[k],
                                       "a region name of the mesh as key: " + ", ".join(sorted(names))))
    total = sum(fractions.values())
    if total > 1.0 + 1e-12:
        raise InputError(f"{KEY}.uptake_fractions: fractions sum to {total:.4g}; expected at most 1")
    if not total > 0:
        raise InputError(f"{KEY}.uptake_fractions: no dose lands in the model (fractions {fractions!r}); expected a "
                         "positive fraction for at least one region (a liver/spleen/target region for the defaults)")
    V = mesh.cell_volumes_m3()
    c = np.zeros(mesh.num_cells)
    per_region = {}
    for name, frac in fractions.items():
        mask = mesh.cell_region == mesh.region(name).tag
        vol_mL = float(V[mask].sum()) * 1e6
        c[mask] += frac * sec.total_mass_mg / vol_mL  # later keys add to shared cells (none: regions are disjoint)
        per_region[name] = {"fraction": frac, "mass_mg": frac * sec.total_mass_mg, "volume_mL": vol_mL,
                            "concentration_mg_per_mL": frac * sec.total_mass_mg / vol_mL}
    modelled = total * sec.total_mass_mg
    details = {"injected_mass_mg": float(sec.total_mass_mg), "unmodelled_fraction": 1.0 - total,
               "uptake": per_region, "defaults_used": given is None,
               "sources": list(DEFAULT_UPTAKE_SOURCES) if given is None else []}
    return ParticleDistribution("organ-uptake", sec.mass_of, c, modelled, mapped_mass_mg(mesh, c), 1.0, details)
