"""Iron from CT: ``[nanoparticles.distribution] kind = "ct-hu-map"``.

Iron oxide raises CT attenuation linearly with the iron concentration up to the stock
concentration (no saturation in the therapeutic range of 10–112 mg Fe/mL, unlike R2*, which saturates
near 0.4 mg Fe/mL): c = max(ΔHU − floor, 0 if ΔHU < floor) / k, with ΔHU = post − pre (co-registered
CTs on the same grid) or post − ``tissue_baseline_HU`` (post-injection CT alone; bone and other dense
tissue must then lie outside the particle-hosting regions), and k = ``hu_per_mg_Fe_per_mL``, the
scanner's calibration at the plan's tube voltage — there is no cited default, the plan must state it
(phantom calibration: a tube of known iron concentration scanned with the patient protocol).
Deposit mask: a voxel holds iron when the ΔHU averaged over its 3×3×3 neighbourhood reaches
``hu_noise_floor_HU``. The mean of 27 voxels carries σ/√27 ≈ σ/5 of the CT noise, so a floor of
≈ 2σ (single-voxel noise) is ≈ 10σ of the mean: no noise voxel of the whole scan passes (a per-voxel
floor over ~10⁵–10⁶ body voxels would add a positive bias of order 0.1σ per voxel, i.e. hundreds of
mg), while the deposit and its one-voxel partial-volume rim are kept. Inside the mask the mass is the
unclipped ΔHU integral (noise is zero-mean there; clipping negative rim voxels would bias it up); the
concentration's shape clips negative voxels to 0 and is rescaled to that mass on the mesh.
Voxels at the 12-bit CT ceiling (≥ 3071 HU) are clipped: their iron is a lower bound and their share
of the mass is reported as ``saturated_fraction``.

The deposited mass is the measured map mass (never rescaled to a declared total); a declared
``total_mass_mg`` is reported beside it (``nanoparticles.map``). DICOM series are read by the imaging
reader and must share the planning CT's FrameOfReferenceUID (``read_plan_map``).
"""
from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
from scipy import ndimage

from planner.artefacts import TissueMesh
from planner.config.plan import DistributionSection
from planner.config.schema import one_of, positive, spec
from planner.errors import InputError, bad_value
from planner.nanoparticles.distributions import (
    KEY,
    MapVolume,
    ParticleDistribution,
    _map_to_mesh,
    read_plan_map,
    register_distribution,
)

log = logging.getLogger(__name__)

CT_MAX_HU = 3071.0  # 12-bit CT ceiling (stored 0..4095 with intercept −1024)


@dataclass(frozen=True)
class CtHuMapParams:
    """``ct-hu-map``: iron from the CT attenuation rise (post − pre CT, or post − tissue baseline HU)."""

    post_file: str = spec(check=lambda s: bool(s.strip()), expected="the post-injection CT: NIfTI file or DICOM folder")
    hu_per_mg_Fe_per_mL: float = spec(check=positive,
                                      expected="a positive CT calibration: HU rise per mg Fe/mL "
                                               "(the scanner's, at the plan's kVp)")
    pre_file: str | None = spec(None, check=lambda s: bool(s.strip()),
                                expected="the pre-injection CT on the same grid (or give tissue_baseline_HU)")
    format: str = spec("auto", check=one_of("auto", "nifti", "dicom")[0], expected="'auto', 'nifti' or 'dicom'")
    tissue_baseline_HU: float | None = spec(None, check=lambda h: math.isfinite(h) and -1100.0 < h < 3100.0,
                                            expected="the pre-injection tissue HU (post_file alone), in -1100..3100")
    hu_noise_floor_HU: float = spec(20.0, check=lambda h: math.isfinite(h) and h >= 0.0,
                                    expected="a non-negative HU rise below which a voxel holds no iron (≈ 2σ of the CT noise)")
    total_mass_mg: float | None = spec(None, check=positive, expected="a positive mass in mg",
                                       help="declared injected iron, reported beside the measured map mass (never rescaled)")

    def validate(self, path: str) -> None:
        if (self.pre_file is None) == (self.tissue_baseline_HU is None):
            raise InputError(f"{path}.pre_file/tissue_baseline_HU: expected exactly one (pre-injection CT, or the tissue HU "
                             "to subtract from the post-injection CT)")

    def validate_host(self, host: DistributionSection, path: str) -> None:
        if host.mass_of != "Fe":
            raise InputError(f"{path}.mass_of = {host.mass_of!r}: expected 'Fe' (maps give iron concentration)")


def _calibration(sec: Any) -> float:
    k = sec.hu_per_mg_Fe_per_mL
    if not isinstance(k, (int, float)) or isinstance(k, bool) or not (np.isfinite(k) and k > 0):
        raise InputError(bad_value(f"{KEY}.hu_per_mg_Fe_per_mL", k, "a positive HU rise per mg Fe/mL"))
    return float(k)


def _delta_hu(mesh: TissueMesh, sec: Any, base_dir: Path) -> tuple[MapVolume, np.ndarray, np.ndarray]:
    """(post volume, ΔHU, post HU) on the post-injection grid."""
    post = read_plan_map(mesh, base_dir, sec, "post_file", "CT" if sec.format != "nifti" else None)
    if sec.pre_file is not None:
        pre = read_plan_map(mesh, base_dir, sec, "pre_file", "CT" if sec.format != "nifti" else None)
        if pre.data.shape != post.data.shape or not np.allclose(pre.affine_lps_mm, post.affine_lps_mm, atol=1e-3):
            raise InputError(f"{KEY}.pre_file/post_file: grids differ (shapes {pre.data.shape} vs {post.data.shape}); "
                             "expected co-registered CTs on the same grid")
        if pre.frame_uid and post.frame_uid and pre.frame_uid != post.frame_uid:
            raise InputError(f"{KEY}.pre_file/post_file: FrameOfReferenceUID {pre.frame_uid!r} vs {post.frame_uid!r}; "
                             "expected co-registered CTs in one patient frame")
        delta = post.data - pre.data
    else:
        delta = post.data - float(sec.tissue_baseline_HU)
    if not np.all(np.isfinite(delta)):
        raise InputError(f"{KEY}.post_file = {post.path!r}: non-finite HU voxels; expected finite values")
    return post, delta, post.data


def deposit_mask(delta_HU: np.ndarray, floor_HU: float) -> np.ndarray:
    """Voxels whose 3×3×3-neighbourhood mean ΔHU reaches the floor (see module docstring)."""
    return np.asarray(ndimage.uniform_filter(delta_HU, size=3, mode="nearest") >= floor_HU)


@register_distribution("ct-hu-map", CtHuMapParams)
def ct_hu_map(mesh: TissueMesh, sec: Any, base_dir: Path, lib: Any = None) -> ParticleDistribution:
    k = _calibration(sec)
    post, delta, post_hu = _delta_hu(mesh, sec, base_dir)
    floor = float(sec.hu_noise_floor_HU)
    mask = deposit_mask(delta, floor)
    conc = np.where(mask, np.maximum(delta, 0.0), 0.0) / k  # the shape (mg Fe/mL, never negative)
    measured_mg = float(delta[mask].sum()) / k * post.voxel_volume_mL  # unclipped: unbiased in the mask
    clipped = post_hu >= CT_MAX_HU
    total_map = float(conc.sum())
    sat_frac = float(conc[clipped].sum() / total_map) if total_map > 0 else 0.0
    if sat_frac > 0:
        log.warning("ct-hu-map %r: %.1f %% of the iron in voxels at the CT ceiling (%.0f HU): a lower bound there",
                    post.path, 100 * sat_frac, CT_MAX_HU)
    if not measured_mg > 0:
        raise InputError(f"{KEY}.post_file = {post.path!r}: no voxel rises {floor:g} HU above the baseline "
                         f"(largest rise {float(delta.max(initial=0.0)):.0f} HU); expected a post-injection CT with a "
                         "deposit (check pre_file/tissue_baseline_HU and hu_noise_floor_HU)")
    declared = sec.total_mass_mg
    measured = SimpleNamespace(total_mass_mg=measured_mg)  # the measured mass: never rescaled to a declaration
    d = _map_to_mesh(mesh, MapVolume(conc, post.affine_lps_mm, post.path), conc, measured, lib, "ct-hu-map", {
        "hu_per_mg_Fe_per_mL": k, "hu_noise_floor_HU": floor, "deposit_mask_voxels": int(np.count_nonzero(mask)),
        "measured_mass_mg": measured_mg, "total_source": "ΔHU integral over the deposit mask / calibration",
        "baseline": "pre-injection CT" if sec.pre_file is not None else f"tissue {sec.tissue_baseline_HU} HU",
    })
    if declared is not None and abs(d.mapped_mass_mg - declared) > 0.1 * declared:
        log.warning("ct-hu-map %r: %.1f mg Fe on the mesh vs %.1f mg declared (check the calibration)",
                    post.path, d.mapped_mass_mg, declared)
    summary = {"kind": "ct-hu-map", "saturated_fraction": sat_frac, "mass_on_mesh_mg": d.mapped_mass_mg,
               "declared_mass_mg": None if declared is None else float(declared)}
    return dataclasses.replace(d, details={**d.details, "map": summary})
