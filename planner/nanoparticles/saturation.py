"""Saturated voxels of R2* iron maps: never a uniform rescale of the whole map.

R2* rises linearly with iron only until the gradient-echo signal is lost (near 0.4 mg Fe/mL at
clinical echo times, while deposits hold 10–112 mg Fe/mL): a saturated voxel's iron is a lower
bound. Rescaling the whole map to a declared total would move iron from the saturated core to the
unsaturated rim. Instead:

- with a declared total: the unsaturated voxels keep their measured iron; the saturated voxels get
  their lower bound plus a share of the residual R = declared − (unsaturated + lower bounds). The
  R2* map holds no information inside its saturated core; a co-registered post-injection CT does
  (the HU rise is linear in iron up to the stock concentration, see kind 'ct-hu-map'): with
  ``residual_ct_file`` the share of saturated voxel v is R · w_v / Σ w, w_v = max(HU_v − baseline, 0)
  (the CT sampled at the R2* voxel centre, trilinear; baseline ``residual_ct_baseline_HU``), else
  R / n_saturated (uniform; also when the CT shows no rise anywhere in the core, logged). A
  declaration below the measured mass is reported and the measurement kept.
- without a declared total: the map is refused when more than ``max_saturated_fraction`` of its
  measured iron lies in saturated voxels (its total would be a gross underestimate).
"""
from __future__ import annotations

import logging

import numpy as np

from planner.errors import InputError

log = logging.getLogger(__name__)


def fill_saturated(conc_mg_per_mL: np.ndarray, saturated: np.ndarray, voxel_mL: float, declared_mg: float | None,
                   max_saturated_fraction: float, what: str,
                   weights: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
    """(voxel concentrations with the saturated core filled, details). ``weights`` (same shape, ≥ 0):
    the residual's share per saturated voxel (CT HU rise), uniform if None or zero over the core."""
    conc = np.asarray(conc_mg_per_mL, dtype=float)
    sat = np.asarray(saturated, dtype=bool)
    m_unsat = float(conc[~sat].sum()) * voxel_mL
    m_sat_lb = float(conc[sat].sum()) * voxel_mL
    measured = m_unsat + m_sat_lb
    frac = m_sat_lb / measured if measured > 0 else 0.0
    info = {"saturated_fraction": frac, "saturated_mass_lower_bound_mg": m_sat_lb, "saturated_residual_mg": 0.0,
            "saturation_handling": "none"}
    if not sat.any():
        return conc, info
    if declared_mg is None:
        if frac > max_saturated_fraction:
            raise InputError(f"{what}: {100 * frac:.0f} % of the mapped iron lies in saturated voxels (more than "
                             f"max_saturated_fraction = {max_saturated_fraction}); expected total_mass_mg (the residual "
                             "goes to the saturated core) or an iron map that does not saturate (kind = 'ct-hu-map')")
        info["saturation_handling"] = "lower bound (no declared total)"
        return conc, info
    residual = float(declared_mg) - measured
    if residual < 0:
        log.warning("%s: declared %.3g mg Fe is below the measured %.3g mg (unsaturated + saturated lower bound): "
                    "the measurement is kept", what, declared_mg, measured)
        info["saturation_handling"] = "declared total below the measurement: measurement kept"
        return conc, info
    out = conc.copy()
    w = None if weights is None else np.maximum(np.asarray(weights, dtype=float)[sat], 0.0)
    how = "residual of the declared total in the saturated core"
    if w is not None and float(w.sum()) > 0:
        out[sat] += residual * w / (float(w.sum()) * voxel_mL)
        how += ", weighted by the CT HU rise"
    else:
        if w is not None:
            log.warning("%s: the CT shows no HU rise in the saturated core: its residual is spread uniformly", what)
        out[sat] += residual / (np.count_nonzero(sat) * voxel_mL)
        how += ", uniform"
    info.update(saturated_residual_mg=residual, saturation_handling=how)
    return out, info
