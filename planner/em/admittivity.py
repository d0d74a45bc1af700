"""Tissue admittivity of the eddy-current solve (``[em] admittivity``, issue 11): real σ or σ* = σ + jωε0εr.

Both from the tissue's Cole–Cole data (``lib[t].conductivity_S_per_m(f)``, ``lib[t].relative_permittivity(f)``);
'auto' is complex above 300 kHz. See :mod:`planner.em.eddy` (what changes) and :mod:`planner.fem.admittivity`
(the block solver).
"""
from __future__ import annotations

import math

import numpy as np

from planner.artefacts import TissueMesh
from planner.config.plan import ADMITTIVITY_AUTO_COMPLEX_ABOVE_HZ, ADMITTIVITY_MODELS
from planner.errors import InputError, bad_value
from planner.units import EPS0_F_per_m

ADMITTIVITY_DEFINITION = ("complex: sigma* = sigma + j omega eps0 eps_r per tissue (4-term Cole-Cole, Gabriel et al. "
                          "1996; the same curve gives sigma), E a complex phasor, |E|^2 = |Re E|^2 + |Im E|^2; "
                          "real: sigma* = sigma (displacement current neglected). Dissipated power (Q, SAR, "
                          "10 g SAR, tissue loss) uses Re sigma* = sigma only: Q = sigma |E|^2 / 2")


def admittivity_model(mesh: TissueMesh, lib, frequency_Hz: float, cond: np.ndarray, mode: str = "auto"
                      ) -> tuple[np.ndarray | None, dict]:
    """(ωε0εr per cell, 0 outside ``cond``; None for the real model) and the summary's ``em.admittivity``
    block: model, mode, reason, definition and ωε0εr/σ per conducting tissue. ``mode``: 'real',
    'complex', or 'auto' = complex above ADMITTIVITY_AUTO_COMPLEX_ABOVE_HZ (300 kHz)."""
    if mode not in ADMITTIVITY_MODELS:
        raise InputError(bad_value("em.admittivity", mode, "'auto', 'real' or 'complex'"))
    w = 2.0 * math.pi * frequency_Hz
    tissues = sorted({r.tissue for r in mesh.regions if (cond & (mesh.cell_region == r.tag)).any()})
    eps = {t: getattr(lib[t], "relative_permittivity", None) for t in tissues}
    ratio = {t: float(w * EPS0_F_per_m * e(frequency_Hz) / lib[t].conductivity_S_per_m(frequency_Hz))
             for t, e in eps.items() if e is not None}
    top = max(ratio, key=lambda k: ratio[k]) if ratio else None
    peak = f"largest omega eps0 eps_r / sigma = {ratio[top]:.3g} ({top})" if top else "no permittivity data"
    if mode == "auto":
        model = "complex" if frequency_Hz > ADMITTIVITY_AUTO_COMPLEX_ABOVE_HZ else "real"
        cmp = ">" if model == "complex" else "<="
        reason = (f"em.admittivity = 'auto': f = {frequency_Hz / 1e3:g} kHz {cmp} "
                  f"{ADMITTIVITY_AUTO_COMPLEX_ABOVE_HZ / 1e3:g} kHz; {peak}")
    else:
        model, reason = mode, f"em.admittivity = '{mode}' in the plan; {peak}"
    block = {"model": model, "mode": mode, "reason": reason, "definition": ADMITTIVITY_DEFINITION,
             "omega_eps0_eps_r_over_sigma_by_tissue": ratio}
    if model == "real":
        return None, block
    missing = [t for t, e in eps.items() if e is None]
    if missing:
        raise InputError(bad_value("em.admittivity", mode, f"'real': tissue {missing[0]!r} has no permittivity "
                                   "data (relative_permittivity) for the complex admittivity"))
    lut = np.zeros(max(r.tag for r in mesh.regions) + 1)
    for r in mesh.regions:
        e = eps.get(r.tissue)
        if e is not None:
            lut[r.tag] = w * EPS0_F_per_m * float(e(frequency_Hz))
    return np.where(cond, lut[mesh.cell_region], 0.0), block


__all__ = ["ADMITTIVITY_DEFINITION", "admittivity_model"]
