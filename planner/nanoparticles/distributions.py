"""Particle distributions on the mesh, keyed by ``[nanoparticles.distribution] kind`` (registry
:data:`planner.config.registry.DISTRIBUTIONS`: ``register_distribution`` / ``get_distribution`` /
``available_distributions``; each kind declares its own keys, checked when the plan is loaded).

Every distribution returns a per-cell mass concentration ``c_i`` (mg/mL = kg/m³, of iron or of
particle as ``mass_of`` says) in TissueMesh cell order, and conserves mass exactly on the mesh:
after sampling, ``c`` is rescaled so that Σ c_i V_i equals the declared or measured total (to
round-off); the rescaling factor is reported as ``sampling_correction`` (1 = the sampling alone
already conserved mass; it also absorbs map mass lying outside the body or outside the allowed
regions).

Kinds
-----
``uniform-in-target``
    ``total_mass_mg`` spread uniformly over the target regions (or ``regions``).
``deposit``
    Injection deposits, each an ``ellipsoid`` (uniform inside semi-axes a, b, c) or a ``gaussian``
    (density ∝ exp(−½ Σ ((x−x0)/σ)²)), with its own ``mass_mg``, sampled at cell centroids and
    renormalised per deposit. Cells of implant regions (and of metal/air tissues) never hold
    particles; ``regions`` restricts further.
``concentration-map``
    A 3-D map of iron concentration (``units`` mg_Fe_per_mL or mM_Fe; 1 mM Fe = 55.845 mg/L), e.g.
    from magnetic particle imaging, as NIfTI (nibabel) or a DICOM series (pydicom).
``r2star-map``
    An MRI ΔR2* map (``file``) or pre/post-injection R2* maps, converted with the transverse
    relaxivity r2* (s⁻¹ mM⁻¹): c[mM Fe] = ΔR2*/r2*. Presets (ferumoxytol in human plasma at 37 °C,
    Knobloch G. et al. 2018, Invest. Radiol. 53:257–263): 1.5 T 64.4, 3 T 55.7 s⁻¹ mM⁻¹. R2* is
    linear in iron only until the gradient-echo signal is lost: voxels whose (post-injection) R2*
    reaches ``r2star_saturation_per_s`` are counted, logged and flagged — their iron is a lower
    bound. Relaxivities of particles clustered in cells differ from those in plasma.

Geometry of maps
----------------
The mesh lives in the DICOM patient frame LPS in METRES: +x toward the patient's Left, +y toward
Posterior, +z toward Superior (DICOM PS3.3 C.7.6.2.1.1). NIfTI affines map voxel indices (i, j, k)
to RAS+ world MILLIMETRES: +x toward the patient's Right, +y Anterior, +z Superior (nibabel,
"Coordinate systems and affines"). Hence x_LPS = −x_RAS, y_LPS = −y_RAS, z_LPS = z_RAS, and the
voxel→LPS affine is diag(−1, −1, 1, 1) · A_RAS.

So a mesh centroid p (m, LPS) is looked up at voxel  inv(A_RAS) · [−1000 p_x, −1000 p_y, 1000 p_z, 1].
For a DICOM series the affine is built directly in LPS mm from ImagePositionPatient,
ImageOrientationPatient, PixelSpacing and the slice positions (slices sorted along the normal).
Values are interpolated trilinearly between voxel centres (scipy.ndimage.map_coordinates, order 1);
centroids more than half a voxel outside the grid get 0.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from planner.artefacts import Role, TissueLookup, TissueMesh
from planner.config.plan import DistributionSection
from planner.config.registry import DISTRIBUTIONS
from planner.config.schema import one_of, positive, positive_vec3, spec, vec3
from planner.errors import InputError, bad_value
from planner.nanoparticles.saturation import fill_saturated

log = logging.getLogger(__name__)

FE_mg_per_mmol = 55.845  # 1 mM Fe = 55.845 mg/L = 0.055845 mg/mL
#: r2* relaxivities (s⁻¹ mM⁻¹), ferumoxytol in human plasma, 37 °C (Knobloch et al. 2018).
RELAXIVITY_PRESETS_per_s_per_mM = {"ferumoxytol-1.5T": 64.4, "ferumoxytol-3T": 55.7}
KEY = "nanoparticles.distribution"
#: NanoTherm (MagForce) fluid, ~112 mg Fe/mL (DOMAIN.md): no tissue can hold more iron than the stock.
STOCK_MAX_mg_Fe_per_mL = 112.0
_NON_HOSTING_KINDS = ("metal", "air")


@dataclass(frozen=True)
class ParticleDistribution:
    """Per-cell particle concentration and its mass bookkeeping."""

    kind: str
    mass_of: str  # 'Fe' | 'particle'
    concentration_mg_per_mL: np.ndarray  # (M,) mg/mL == kg/m³
    total_mass_mg: float  # declared (or measured map) total
    mapped_mass_mg: float  # Σ c_i V_i after renormalisation
    sampling_correction: float  # factor applied after sampling
    details: dict = field(default_factory=dict)

    @property
    def mass_conservation_rel_error(self) -> float:
        return abs(self.mapped_mass_mg - self.total_mass_mg) / self.total_mass_mg if self.total_mass_mg > 0 else 0.0

    def summary_block(self) -> dict:
        return {"kind": self.kind, "mass_of": self.mass_of, "total_mass_mg": self.total_mass_mg,
                "mapped_mass_mg": self.mapped_mass_mg,
                "mass_conservation_rel_error": self.mass_conservation_rel_error,
                "sampling_correction_factor": self.sampling_correction, **self.details}


def mapped_mass_mg(mesh: TissueMesh, c_mg_per_mL: np.ndarray) -> float:
    """Σ c_i V_i in mg (c in mg/mL = kg/m³ → mg/m³ × 1e6)."""
    return float(np.dot(c_mg_per_mL, mesh.cell_volumes_m3()) * 1e6)


# --- which cells may hold particles --------------------------------------------------------------
def hosting_cells(mesh: TissueMesh, regions: tuple[str, ...] = (), lib: TissueLookup | None = None,
                  default_role: Role | None = None) -> np.ndarray:
    """Boolean mask of cells that may hold particles: never implants or metal/air tissues; only
    ``regions`` if given, else only regions with ``default_role`` if given."""
    names = {r.name for r in mesh.regions}
    for i, n in enumerate(regions):
        if n not in names:
            raise InputError(bad_value(f"{KEY}.regions[{i}]", n, "a region name of the mesh: " + ", ".join(sorted(names))))
    tags = []
    for reg in mesh.regions:
        if reg.role == Role.IMPLANT:
            continue
        kind = None
        if lib is not None:
            try:
                kind = getattr(lib[reg.tissue], "kind", None)
            except (KeyError, TypeError, ValueError):  # unknown tissue: the pipeline reports it
                kind = None
        if kind in _NON_HOSTING_KINDS:
            continue
        if regions:
            if reg.name not in regions:
                continue
        elif default_role is not None and reg.role != default_role:
            continue
        tags.append(reg.tag)
    return np.isin(mesh.cell_region, tags)


def _renormalise(mesh: TissueMesh, c_raw: np.ndarray, total_mg: float, what: str) -> tuple[np.ndarray, float]:
    raw = mapped_mass_mg(mesh, c_raw)
    if not raw > 0:
        raise InputError(f"{what}: no particle mass lands on the mesh cells allowed to hold particles; "
                         "expected a distribution overlapping the body (check position, units and regions)")
    corr = total_mg / raw
    return c_raw * corr, corr


# --- registry: each kind declares its own keys -----------------------------------------------------
_MASS = "a positive mass in mg"
_FORMAT = one_of("auto", "nifti", "dicom")
_REGIONS_HELP = "region names the particles may occupy"


def _nonempty(s: str) -> bool:
    return bool(s.strip())


@dataclass(frozen=True)
class DepositSpec:
    """[[nanoparticles.distribution.deposits]]: one injection deposit."""

    PLAN_SECTION = '[[nanoparticles.distribution.deposits]]'

    center_mm: tuple[float, float, float] = spec(check=vec3, expected="3 finite numbers [x, y, z] (patient LPS, mm)")
    mass_mg: float = spec(check=positive, expected="a positive mass in mg")
    shape: str = spec("ellipsoid", check=one_of("ellipsoid", "gaussian")[0], expected="'ellipsoid' or 'gaussian'")
    semi_axes_mm: tuple[float, float, float] | None = spec(None, check=positive_vec3, expected="3 positive numbers (ellipsoid)")
    sigma_mm: tuple[float, float, float] | None = spec(None, check=positive_vec3, expected="3 positive standard deviations (gaussian)")

    def validate(self, path: str) -> None:
        need, other = ("semi_axes_mm", "sigma_mm") if self.shape == "ellipsoid" else ("sigma_mm", "semi_axes_mm")
        if getattr(self, need) is None:
            raise InputError(f"{path}.{need}: missing required key for shape = {self.shape!r}")
        if getattr(self, other) is not None:
            raise InputError(f"{path}.{other} = {list(getattr(self, other))!r}: not used by shape = {self.shape!r}")


@dataclass(frozen=True)
class UniformInTargetParams:
    """``uniform-in-target``: ``total_mass_mg`` spread uniformly over the target regions (or ``regions``)."""

    total_mass_mg: float = spec(check=positive, expected=_MASS)
    regions: tuple[str, ...] = spec((), help=_REGIONS_HELP)


@dataclass(frozen=True)
class DepositParams:
    """``deposit``: injection deposits sampled at cell centroids, renormalised per deposit."""

    deposits: tuple[DepositSpec, ...] = spec(check=lambda d: len(d) > 0,
                                             expected="at least one [[nanoparticles.distribution.deposits]] entry")
    regions: tuple[str, ...] = spec((), help=_REGIONS_HELP)


def _maps_give_iron(host: DistributionSection, path: str) -> None:
    if host.mass_of != "Fe":
        raise InputError(f"{path}.mass_of = {host.mass_of!r}: expected 'Fe' (maps give iron concentration)")


@dataclass(frozen=True)
class ConcentrationMapParams:
    """``concentration-map``: a 3-D iron concentration map (NIfTI or DICOM)."""

    file: str = spec(check=_nonempty, expected="a NIfTI file or DICOM folder, relative to the plan file")
    format: str = spec("auto", check=_FORMAT[0], expected=_FORMAT[1])
    units: str | None = spec(None, check=one_of("mg_Fe_per_mL", "mM_Fe")[0], expected="'mg_Fe_per_mL' or 'mM_Fe'")
    total_mass_mg: float | None = spec(None, check=positive, expected=_MASS, help="default: the map integral")

    def validate_host(self, host: DistributionSection, path: str) -> None:
        _maps_give_iron(host, path)


@dataclass(frozen=True)
class R2starMapParams:
    """``r2star-map``: an MRI ΔR2* map (``file``) or pre/post-injection R2* maps, through the relaxivity r2*."""

    file: str | None = spec(None, check=_nonempty, expected="a ΔR2* map: NIfTI file or DICOM folder, relative to the plan file")
    pre_file: str | None = spec(None, check=_nonempty, expected="the pre-injection R2* map")
    post_file: str | None = spec(None, check=_nonempty, expected="the post-injection R2* map")
    format: str = spec("auto", check=_FORMAT[0], expected=_FORMAT[1])
    units: str | None = spec(None, check=one_of("per_s", "per_ms")[0], expected="'per_s' or 'per_ms'")
    relaxivity_per_s_per_mM: float | None = spec(None, check=positive, expected="a positive r2* relaxivity in s⁻¹ mM⁻¹")
    relaxivity_preset: str | None = spec(None, check=one_of(*RELAXIVITY_PRESETS_per_s_per_mM)[0],
                                         expected=one_of(*RELAXIVITY_PRESETS_per_s_per_mM)[1])
    r2star_saturation_per_s: float = spec(500.0, check=positive,
                                          expected="a positive R2* (s⁻¹) above which the signal is taken as saturated")
    max_saturated_fraction: float = spec(0.2, check=lambda f: 0.0 <= f <= 1.0,
                                         expected="a fraction in 0..1 of the mapped iron allowed in saturated voxels "
                                                  "without a declared total_mass_mg (planner.nanoparticles.saturation)")
    total_mass_mg: float | None = spec(None, check=positive, expected=_MASS, help="default: the map integral")
    residual_ct_file: str | None = spec(None, check=_nonempty,
                                        expected="a post-injection CT (NIfTI file or DICOM folder) in the planning frame",
                                        help="weights the saturated core's residual by the CT HU rise")
    residual_ct_baseline_HU: float = spec(40.0, check=lambda h: math.isfinite(h) and -1100.0 < h < 3100.0,
                                          expected="the pre-injection soft-tissue HU, in -1100..3100")

    def validate(self, path: str) -> None:
        if self.residual_ct_file is not None and self.total_mass_mg is None:
            raise InputError(f"{path}.residual_ct_file: needs total_mass_mg (the residual it distributes)")
        if (self.file is None) == (self.pre_file is None and self.post_file is None):
            raise InputError(f"{path}.file/pre_file/post_file: expected either file (ΔR2*) or both pre_file and post_file")
        if self.file is None and (self.pre_file is None or self.post_file is None):
            raise InputError(f"{path}.pre_file/post_file: expected both the pre- and the post-injection map")
        if (self.relaxivity_per_s_per_mM is None) == (self.relaxivity_preset is None):
            raise InputError(f"{path}.relaxivity_per_s_per_mM/relaxivity_preset: expected exactly one of the two")

    def validate_host(self, host: DistributionSection, path: str) -> None:
        _maps_give_iron(host, path)


Distribution = Callable[..., ParticleDistribution]


def register_distribution(kind: str, params: type | None = None, *, replace: bool = False) -> Callable[[Distribution], Distribution]:
    """Decorator: ``fn(mesh, section, base_dir, lib) -> ParticleDistribution`` available as
    ``[nanoparticles.distribution] kind = name``; ``params`` declares the kind's own keys."""
    return DISTRIBUTIONS.decorator(kind, params, replace=replace)


def get_distribution(kind: str) -> Distribution:
    return DISTRIBUTIONS.get(kind)


def available_distributions() -> tuple[str, ...]:
    return DISTRIBUTIONS.available()


def distribute(mesh: TissueMesh, sec: DistributionSection, base_dir: Path | None = None,
               lib: TissueLookup | None = None) -> ParticleDistribution:
    """Build the distribution of ``sec.kind`` (a :class:`planner.config.plan.DistributionSection`)."""
    d = get_distribution(sec.kind)(mesh, sec, Path(base_dir) if base_dir is not None else Path.cwd(), lib)
    c_max = float(d.concentration_mg_per_mL.max(initial=0.0))
    if d.mass_of == "Fe" and c_max > STOCK_MAX_mg_Fe_per_mL:
        log.warning("particle distribution %r: peak concentration %.0f mg Fe/mL exceeds the most concentrated clinical "
                    "stock (~%.0f mg Fe/mL, NanoTherm): a deposit is smaller than the mesh resolves or its mass is too "
                    "high", d.kind, c_max, STOCK_MAX_mg_Fe_per_mL)
        d.details["concentration_above_stock_warning"] = True
    if abs(d.sampling_correction - 1.0) > 0.2:
        log.warning("particle distribution %r: sampling correction factor %.3f (mass renormalised onto the mesh; "
                    "part of the declared/mapped mass fell outside the allowed cells or the mesh is coarse)",
                    d.kind, d.sampling_correction)
    return d


@register_distribution("uniform-in-target", UniformInTargetParams)
def uniform_in_target(mesh: TissueMesh, sec: DistributionSection, base_dir: Path,
                      lib: TissueLookup | None = None) -> ParticleDistribution:
    mask = hosting_cells(mesh, tuple(sec.regions), lib, default_role=Role.TARGET)
    if not mask.any():
        raise InputError(f"{KEY}: kind = 'uniform-in-target' but the mesh has no target region "
                         f"(regions = {list(sec.regions)!r}); expected a region with role = 'target' or a regions list")
    if sec.total_mass_mg is None:  # the registry makes total_mass_mg required for this kind
        raise InputError(f"{KEY}.total_mass_mg: missing; expected the injected mass (mg) for kind = 'uniform-in-target'")
    V = mesh.cell_volumes_m3()
    vol_mL = float(V[mask].sum()) * 1e6
    c = np.where(mask, sec.total_mass_mg / vol_mL, 0.0)
    return ParticleDistribution("uniform-in-target", sec.mass_of, c, float(sec.total_mass_mg), mapped_mass_mg(mesh, c),
                                1.0, {"target_volume_mL": vol_mL})


def deposit_profile(points_m: np.ndarray, dep: Any) -> tuple[np.ndarray, float]:
    """Unnormalised density of one deposit at points (m) and its exact integral (m³)."""
    c = np.asarray(dep.center_mm, dtype=float) * 1e-3
    d = points_m - c
    if dep.shape == "ellipsoid":
        a = np.asarray(dep.semi_axes_mm, dtype=float) * 1e-3
        w = (np.sum((d / a) ** 2, axis=1) <= 1.0).astype(float)
        return w, 4.0 / 3.0 * math.pi * float(np.prod(a))
    s = np.asarray(dep.sigma_mm, dtype=float) * 1e-3
    w = np.exp(-0.5 * np.sum((d / s) ** 2, axis=1))
    return w, (2.0 * math.pi) ** 1.5 * float(np.prod(s))


@register_distribution("deposit", DepositParams)
def deposits(mesh: TissueMesh, sec: DistributionSection, base_dir: Path,
             lib: TissueLookup | None = None) -> ParticleDistribution:
    mask = hosting_cells(mesh, tuple(sec.regions), lib)
    X = mesh.cell_centroids_m()
    V = mesh.cell_volumes_m3()
    c = np.zeros(mesh.num_cells)
    per = []
    total = 0.0
    for i, dep in enumerate(sec.deposits):
        w, exact_m3 = deposit_profile(X, dep)
        w = np.where(mask, w, 0.0)
        sampled_m3 = float(np.dot(w, V))
        if not sampled_m3 > 0:
            raise InputError(
                f"{KEY}.deposits[{i}]: {dep.shape} at center_mm = {list(dep.center_mm)!r} contains no centroid of a "
                "cell allowed to hold particles; expected a deposit inside the body/regions (or a finer mesh)")
        c += dep.mass_mg * 1e-6 * w / sampled_m3  # mg/m³ → mg/mL
        total += dep.mass_mg
        per.append({"shape": dep.shape, "mass_mg": dep.mass_mg, "sampling_correction_factor": exact_m3 / sampled_m3,
                    "cells": int(np.count_nonzero(w > 0))})
    mapped = mapped_mass_mg(mesh, c)
    # per-deposit renormalisation conserves each mass; report the overall factor as mass-weighted
    corr = sum(d["mass_mg"] * d["sampling_correction_factor"] for d in per) / total
    return ParticleDistribution("deposit", sec.mass_of, c, float(total), mapped, float(corr), {"deposits": per})


# --- image volumes ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class MapVolume:
    """A scalar volume with its voxel → patient LPS (mm) affine."""

    data: np.ndarray  # (ni, nj, nk) float64
    affine_lps_mm: np.ndarray  # (4, 4)
    path: str
    frame_uid: str = ""  # DICOM FrameOfReferenceUID ("" for NIfTI)

    @property
    def voxel_volume_mL(self) -> float:
        return abs(float(np.linalg.det(self.affine_lps_mm[:3, :3]))) * 1e-3

    def voxel_coordinates(self, points_m: np.ndarray) -> np.ndarray:
        """Continuous voxel indices (3, n) of patient-LPS points in metres."""
        ph = np.c_[points_m * 1e3, np.ones(points_m.shape[0])]
        return (np.linalg.inv(self.affine_lps_mm) @ ph.T)[:3]

    def sample(self, points_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Trilinear values at points (0 beyond half a voxel outside) and the inside mask."""
        ijk = self.voxel_coordinates(points_m)
        shape = np.array(self.data.shape, dtype=float)[:, None]
        inside = np.all((ijk >= -0.5) & (ijk <= shape - 0.5), axis=0)
        vals = ndimage.map_coordinates(self.data, ijk, order=1, mode="nearest")
        return np.where(inside, vals, 0.0), inside


RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


def read_nifti(path: Path) -> MapVolume:
    import nibabel as nib

    try:
        img: Any = nib.load(str(path))
        data = np.asarray(img.dataobj, dtype=np.float64)
    except Exception as exc:  # nibabel raises many types for bad files
        raise InputError(f"map file {str(path)!r}: cannot be read as NIfTI ({exc})") from None
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise InputError(f"map file {str(path)!r}: shape {data.shape}; expected a 3-D volume")
    return MapVolume(data, RAS_TO_LPS @ np.asarray(img.affine, dtype=float), str(path))


def read_dicom_map(folder: Path, field: str = KEY, modality: str | None = None) -> MapVolume:
    """A DICOM series folder → volume with its LPS affine (mm), read by the imaging reader
    (:func:`planner.imaging.dicom.read_dicom_series`: a damaged DICOM file, mixed series or a broken
    slice stack is a one-line error naming the file and ``field``, never silently skipped)."""
    from planner.imaging.dicom import read_dicom_series

    vol = read_dicom_series(folder, modality=modality, field=field)
    A = vol.grid.affine_m()
    A[:3, :] *= 1e3  # m → mm (linear part and origin)
    data = np.asarray(vol.array, dtype=np.float64).transpose(2, 1, 0)  # [k, j, i] → (i, j, k)
    return MapVolume(data, A, str(folder), vol.frame_of_reference_uid)


def read_map(path: Path, fmt: str = "auto", field: str = KEY, modality: str | None = None) -> MapVolume:
    if not path.exists():
        raise InputError(f"{field} = {str(path)!r}: does not exist; expected a NIfTI file or a DICOM folder")
    if fmt == "dicom" or (fmt == "auto" and path.is_dir()):
        return read_dicom_map(path, field, modality)
    return read_nifti(path)


def read_plan_map(mesh: TissueMesh, base_dir: Path, sec: Any, key: str, modality: str | None = None) -> MapVolume:
    """The map named by ``sec.<key>`` (relative to the plan file), frame of reference checked."""
    field = f"{KEY}.{key}"
    vol = read_map(_resolve(base_dir, getattr(sec, key)), sec.format, field, modality)
    check_frame(vol, mesh, field)
    return vol


def check_frame(vol: MapVolume, mesh: TissueMesh, field: str) -> None:
    """A DICOM map must lie in the planning image's patient frame (FrameOfReferenceUID), when both are known."""
    plan_uid = mesh.frame_of_reference_uid
    if vol.frame_uid and plan_uid and vol.frame_uid != plan_uid:
        raise InputError(f"{field} = {vol.path!r}: FrameOfReferenceUID {vol.frame_uid!r} differs from the planning "
                         f"image's {plan_uid!r}; expected a map in the planning CT's frame (register it first)")


def _map_to_mesh(mesh: TissueMesh, vol: MapVolume, conc_vox_mg_per_mL: np.ndarray, sec: Any, lib: Any,
                 kind: str, extra: dict) -> ParticleDistribution:
    mask = hosting_cells(mesh, (), lib)
    X = mesh.cell_centroids_m()
    vol_c = MapVolume(conc_vox_mg_per_mL, vol.affine_lps_mm, vol.path)
    vals, inside = vol_c.sample(X)
    if not np.any(inside & mask):
        lo = vol.affine_lps_mm @ np.array([0, 0, 0, 1.0])
        hi = vol.affine_lps_mm @ np.r_[np.array(vol.data.shape) - 1.0, 1.0]
        raise InputError(
            f"{KEY}.file = {vol.path!r}: the map grid (LPS mm corners {np.round(lo[:3], 1).tolist()} .. "
            f"{np.round(hi[:3], 1).tolist()}) does not overlap the body (mesh LPS mm "
            f"{np.round(mesh.points_m.min(0) * 1e3, 1).tolist()} .. {np.round(mesh.points_m.max(0) * 1e3, 1).tolist()}); "
            "expected a map in the same patient frame")
    measured = float(conc_vox_mg_per_mL.sum()) * vol.voxel_volume_mL
    total = float(sec.total_mass_mg) if sec.total_mass_mg is not None else measured
    if not total > 0:
        raise InputError(f"{KEY}.file = {vol.path!r}: the map holds no iron (integral {measured!r} mg); "
                         "expected positive concentrations")
    c_raw = np.where(mask, vals, 0.0)
    c, corr = _renormalise(mesh, c_raw, total, f"{KEY}.file = {vol.path!r}")
    details = {"map_file": vol.path, "map_integral_mg": measured,
               "total_source": "declared total_mass_mg" if sec.total_mass_mg is not None else "map integral",
               "cells_inside_map": int(np.count_nonzero(inside & mask)), **extra}
    mapped = mapped_mass_mg(mesh, c)
    details["map"] = {"kind": kind, "saturated_fraction": float(extra.get("saturated_fraction", 0.0)),
                      "mass_on_mesh_mg": mapped, "declared_mass_mg": sec.total_mass_mg}  # summary nanoparticles.map
    return ParticleDistribution(kind, "Fe", c, total, mapped, float(corr), details)


def _resolve(base_dir: Path, rel: str) -> Path:
    p = Path(rel)
    return p if p.is_absolute() else (base_dir / p).resolve()


@register_distribution("concentration-map", ConcentrationMapParams)
def concentration_map(mesh: TissueMesh, sec: Any, base_dir: Path, lib: Any = None) -> ParticleDistribution:
    vol = read_plan_map(mesh, base_dir, sec, "file")
    data = vol.data
    if not np.all(np.isfinite(data)):
        n_bad = int(np.count_nonzero(~np.isfinite(data)))
        raise InputError(f"{KEY}.file = {vol.path!r}: {n_bad} non-finite voxels; expected finite values")
    scale = FE_mg_per_mmol * 1e-3 if sec.units == "mM_Fe" else 1.0
    neg = int(np.count_nonzero(data < 0))
    if neg:
        log.warning("%s.file = %r: %d of %d voxels are negative (down to %.3g %s, noise?); clipped to 0", KEY, vol.path, neg,
                    data.size, float(data.min()), sec.units or "mg_Fe_per_mL")
    conc = np.maximum(data, 0.0) * scale
    return _map_to_mesh(mesh, vol, conc, sec, lib, "concentration-map",
                        {"units": sec.units or "mg_Fe_per_mL", "negative_voxels_clipped": neg})


def relaxivity_per_s_per_mM(sec: Any) -> float:
    if sec.relaxivity_preset is not None:
        if sec.relaxivity_preset not in RELAXIVITY_PRESETS_per_s_per_mM:
            raise InputError(bad_value(f"{KEY}.relaxivity_preset", sec.relaxivity_preset,
                                       "one of " + ", ".join(RELAXIVITY_PRESETS_per_s_per_mM)))
        return RELAXIVITY_PRESETS_per_s_per_mM[sec.relaxivity_preset]
    r = sec.relaxivity_per_s_per_mM
    if r is None or not (math.isfinite(r) and r > 0):
        raise InputError(bad_value(f"{KEY}.relaxivity_per_s_per_mM", r, "a positive relaxivity in s⁻¹ mM⁻¹"))
    return float(r)


def _ct_rise_weights(mesh: TissueMesh, base_dir: Path, sec: Any, vol: MapVolume, sat: np.ndarray) -> np.ndarray | None:
    """max(HU − residual_ct_baseline_HU, 0) of ``residual_ct_file`` at the saturated R2* voxel centres."""
    if sec.residual_ct_file is None or not sat.any():
        return None
    ct = read_plan_map(mesh, base_dir, sec, "residual_ct_file", "CT" if sec.format != "nifti" else None)
    ijk = np.argwhere(sat)
    pts_m = (vol.affine_lps_mm @ np.c_[ijk, np.ones(len(ijk))].T)[:3].T * 1e-3
    hu, inside = ct.sample(pts_m)
    if not inside.any():
        raise InputError(f"{KEY}.residual_ct_file = {ct.path!r}: does not cover the saturated R2* voxels; "
                         "expected a post-injection CT of the same region in the planning frame")
    w = np.zeros(sat.shape)
    w[sat] = np.where(inside, np.maximum(hu - float(sec.residual_ct_baseline_HU), 0.0), 0.0)
    return w


@register_distribution("r2star-map", R2starMapParams)
def r2star_map(mesh: TissueMesh, sec: Any, base_dir: Path, lib: Any = None) -> ParticleDistribution:
    r2s = relaxivity_per_s_per_mM(sec)
    unit = 1e3 if sec.units == "per_ms" else 1.0
    if sec.file is not None:
        vol = read_plan_map(mesh, base_dir, sec, "file")
        delta = vol.data * unit
        sat_ref = delta
    else:
        pre = read_plan_map(mesh, base_dir, sec, "pre_file")
        post = read_plan_map(mesh, base_dir, sec, "post_file")
        if pre.data.shape != post.data.shape or not np.allclose(pre.affine_lps_mm, post.affine_lps_mm, atol=1e-3):
            raise InputError(f"{KEY}.pre_file/post_file: grids differ (shapes {pre.data.shape} vs {post.data.shape}); "
                             "expected co-registered maps on the same grid")
        delta = (post.data - pre.data) * unit
        sat_ref = post.data * unit
        vol = MapVolume(delta, post.affine_lps_mm, post.path)
    if not np.all(np.isfinite(delta)):
        raise InputError(f"{KEY}.file = {vol.path!r}: non-finite R2* voxels; expected finite values")
    sat = sat_ref >= sec.r2star_saturation_per_s
    n_sat = int(np.count_nonzero(sat))
    if n_sat:
        log.warning("r2star-map %r: %d voxels at or above R2* = %.0f s⁻¹ (signal saturation): iron there is a lower "
                    "bound", vol.path, n_sat, sec.r2star_saturation_per_s)
    neg = int(np.count_nonzero(delta < 0))
    if neg:
        log.warning("r2star-map %r: %d of %d voxels have a negative ΔR2* (down to %.3g s⁻¹, noise?); clipped to 0",
                    vol.path, neg, delta.size, float(delta.min()))
    conc = np.maximum(delta, 0.0) / r2s * FE_mg_per_mmol * 1e-3  # mM Fe → mg/mL
    conc, sat_info = fill_saturated(conc, sat, vol.voxel_volume_mL, sec.total_mass_mg, sec.max_saturated_fraction,
                                    f"{KEY}.file = {vol.path!r}",
                                    _ct_rise_weights(mesh, base_dir, sec, vol, sat))  # planner.nanoparticles.saturation
    return _map_to_mesh(mesh, vol, conc, sec, lib, "r2star-map", {**sat_info,
        "relaxivity_per_s_per_mM": r2s, "relaxivity_preset": sec.relaxivity_preset,
        "r2star_saturation_per_s": sec.r2star_saturation_per_s, "r2star_saturated_voxels": n_sat,
        "r2star_saturation_warning": bool(n_sat > 0), "negative_delta_voxels_clipped": neg})
