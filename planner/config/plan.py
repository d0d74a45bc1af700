"""Plan files: TOML → typed, validated :class:`PlanConfig`.

Keys carry their units (``frequency_kHz``, ``radius_mm``); the dataclasses keep plan units and give
SI through properties (``frequency_Hz``). Sections of later stages are defined here too so a plan is
validated completely before anything runs.
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from planner.config.schema import (
    finite,
    non_negative,
    nonzero_vec3,
    one_of,
    parse_section,
    positive,
    positive_vec3,
    spec,
    vec3,
)
from planner.errors import InputError, bad_value
from planner.units import MM



# --- [plan] ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PlanSection:
    name: str = spec(check=lambda s: bool(s.strip()), expected="a non-empty string")
    output_dir: str = spec("results", check=lambda s: bool(s.strip()), expected="a folder path, relative to the plan file")
    description: str = spec("")
    overwrite: bool = spec(True, help="replace an existing results folder atomically")


# --- [geometry] ---------------------------------------------------------------------------------
_SHAPES = one_of("box", "sphere", "cylinder", "ellipsoid", "hip-stem")
_ROLES = one_of("body", "target", "organ", "implant")


@dataclass(frozen=True)
class BodySpec:
    """One primitive. Later bodies override earlier ones where they overlap."""

    name: str = spec(check=lambda s: bool(s.strip()), expected="a non-empty string")
    shape: str = spec(check=_SHAPES[0], expected=_SHAPES[1])
    tissue: str = spec(check=lambda s: bool(s.strip()), expected="a tissue name from the library or [tissues.*]")
    role: str = spec("body", check=_ROLES[0], expected=_ROLES[1])
    center_mm: tuple[float, float, float] = spec((0.0, 0.0, 0.0), check=vec3, expected="3 finite numbers [x, y, z]")
    radius_mm: float | None = spec(None, check=positive, expected="a positive number")
    length_mm: float | None = spec(None, check=positive, expected="a positive number")
    size_mm: tuple[float, float, float] | None = spec(None, check=positive_vec3, expected="3 positive numbers [lx, ly, lz]")
    semi_axes_mm: tuple[float, float, float] | None = spec(None, check=positive_vec3, expected="3 positive numbers [a, b, c]")
    axis: tuple[float, float, float] = spec((0.0, 0.0, 1.0), check=nonzero_vec3, expected="a non-zero direction [x, y, z]")
    insulated: bool = spec(False, help="implants only: an electrically insulated (coated, ceramic) part, a hole with "
                           "n·J = 0 in the tissue eddy-current solve; default false: a floating conductor (galvanic short circuit)")
    parameters: dict[str, Any] = spec(default_factory=dict, help="hip-stem only: stem_length_mm, proximal_radius_mm, "
                                      "distal_radius_mm, neck_length_mm, neck_radius_mm, head_radius_mm, ccd_angle_deg, medial")

    def validate(self, path: str) -> None:
        needed = {
            "box": ("size_mm",),
            "sphere": ("radius_mm",),
            "cylinder": ("radius_mm", "length_mm"),
            "ellipsoid": ("semi_axes_mm",),
            "hip-stem": (),
        }[self.shape]
        # hip stem: center_mm = shoulder, axis = distal → proximal, length_mm = stem length,
        # radius_mm = head radius (planner.geometry.hip_stem)
        allowed = set(needed) | ({"axis"} if self.shape in ("cylinder", "hip-stem") else set())
        if self.shape == "hip-stem":
            allowed |= {"radius_mm", "length_mm"}
            from planner.geometry.hip_stem import hip_stem_parameters

            bad = sorted({"center_mm", "axis"} & set(self.parameters))
            if bad:
                raise InputError(f"{path}.parameters.{bad[0]}: give it as {path}.{bad[0]}")
            try:
                hip_stem_parameters(self.parameters)
            except InputError as exc:
                raise InputError(f"{path}.parameters: {exc}") from None
        elif self.parameters:
            raise InputError(f"{path}.parameters = {self.parameters!r}: only shape = 'hip-stem' takes parameters")
        for k in needed:
            if getattr(self, k) is None:
                raise InputError(f"{path}.{k}: missing required key for shape = {self.shape!r}")
        for k in ("radius_mm", "length_mm", "size_mm", "semi_axes_mm"):
            if k not in allowed and getattr(self, k) is not None:
                raise InputError(
                    f"{path}.{k} = {getattr(self, k)!r}: not used by shape = {self.shape!r}; expected only {sorted(allowed)}"
                )
        if self.insulated and self.role != "implant":
            raise InputError(f"{path}.insulated = true: only bodies with role = 'implant' can be insulated (role is {self.role!r})")
        if self.shape not in ("cylinder", "hip-stem") and self.axis != (0.0, 0.0, 1.0):
            raise InputError(f"{path}.axis = {list(self.axis)!r}: only cylinders and hip stems take an axis")

    @property
    def center_m(self) -> tuple[float, float, float]:
        return tuple(c * MM for c in self.center_mm)  # type: ignore[return-value]

    def exact_volume_m3(self) -> float | None:
        """Closed-form volume, or None where there is none (hip stem: the CAD volume is used)."""
        if self.shape == "hip-stem":
            return None
        if self.shape == "box":
            lx, ly, lz = (s * MM for s in self.size_mm)  # type: ignore[union-attr]
            return lx * ly * lz
        if self.shape == "sphere":
            return 4.0 / 3.0 * math.pi * (self.radius_mm * MM) ** 3  # type: ignore[operator]
        if self.shape == "cylinder":
            return math.pi * (self.radius_mm * MM) ** 2 * self.length_mm * MM  # type: ignore[operator]
        a, b, c = (s * MM for s in self.semi_axes_mm)  # type: ignore[union-attr]
        return 4.0 / 3.0 * math.pi * a * b * c


@dataclass(frozen=True)
class GeometrySection:
    bodies: tuple[BodySpec, ...] = spec(check=lambda b: len(b) > 0, expected="at least one [[geometry.bodies]] entry")

    def validate(self, path: str) -> None:
        names = [b.name for b in self.bodies]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise InputError(f"{path}.bodies: body names {dup} repeat; expected unique names")
        if self.bodies[0].role != "body":
            raise InputError(
                f"{path}.bodies[0].role = {self.bodies[0].role!r}: expected 'body' (the first body is the outer patient volume)"
            )


# --- [mesh] -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class MeshSection:
    max_size_mm: float = spec(check=positive, expected="a positive number (largest element size)")
    target_size_mm: float | None = spec(None, check=positive, expected="a positive number")
    implant_size_mm: float | None = spec(None, check=positive, expected="a positive number")
    organ_size_mm: float | None = spec(None, check=positive, expected="a positive number")
    growth_distance_mm: float | None = spec(None, check=positive, expected="a positive number (distance over which sizes grade to max_size_mm)")
    seed: int = spec(0, help="gmsh random seed, for reproducible meshes")

    def validate(self, path: str) -> None:
        for k in ("target_size_mm", "implant_size_mm", "organ_size_mm"):
            v = getattr(self, k)
            if v is not None and v > self.max_size_mm:
                raise InputError(f"{path}.{k} = {v!r}: expected at most max_size_mm = {self.max_size_mm}")


# --- [applicator] -------------------------------------------------------------------------------
_APPLICATORS = one_of("uniform", "solenoid", "helmholtz", "pancake", "wire")


@dataclass(frozen=True)
class ApplicatorSection:
    type: str = spec(check=_APPLICATORS[0], expected=_APPLICATORS[1])
    frequency_kHz: float = spec(check=positive, expected="a positive number (kHz)")
    field_kA_per_m: float = spec(check=positive, expected="a positive number: field amplitude at the target centre (kA/m)")
    amplitude: str = spec(check=one_of("peak", "rms")[0], expected="'peak' or 'rms' (no default: say which)")
    direction: tuple[float, float, float] = spec((0.0, 0.0, 1.0), check=nonzero_vec3, expected="a non-zero direction")
    center_mm: tuple[float, float, float] = spec((0.0, 0.0, 0.0), check=vec3, expected="3 finite numbers")
    axis: tuple[float, float, float] = spec((0.0, 0.0, 1.0), check=nonzero_vec3, expected="a non-zero direction")
    radius_mm: float | None = spec(None, check=positive, expected="a positive number")
    inner_radius_mm: float | None = spec(None, check=positive, expected="a positive number")
    turns: int | None = spec(None, check=lambda n: n >= 1, expected="an integer >= 1")
    length_mm: float | None = spec(None, check=positive, expected="a positive number")
    spacing_mm: float | None = spec(None, check=positive, expected="a positive number")
    path_file: str | None = spec(None, expected="a file of 3-D points in mm, relative to the plan file")
    target_point_mm: tuple[float, float, float] | None = spec(None, check=vec3, expected="3 finite numbers")
    segments_per_turn: int = spec(64, check=lambda n: n >= 8, expected="an integer >= 8 (straight segments per circular turn)")
    element_order: int = spec(1, check=lambda k: k in (1, 2), expected="1 or 2 (Lagrange degree of the tissue eddy-current potential)")

    @property
    def frequency_Hz(self) -> float:
        return self.frequency_kHz * 1e3

    @property
    def H_peak_A_per_m(self) -> float:
        """Requested field amplitude at the target centre, as a peak value."""
        h = self.field_kA_per_m * 1e3
        return h * math.sqrt(2.0) if self.amplitude == "rms" else h


# --- [implants] -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ImplantsSection:
    """Controls of the metal-implant eddy-current sub-models (planner.em.implants.ImplantOptions);
    unset values are chosen automatically from implant size a and skin depth δ, and reported."""

    degree: int = spec(2, check=lambda k: k in (1, 2), expected="1 or 2 (N1curl degree)")
    geometry_order: int = spec(2, check=lambda k: k in (1, 2), expected="1 or 2 (2 = curved tetrahedra, primitives only)")
    elements_per_skin_depth: float | None = spec(None, check=positive, expected="a positive number of elements per skin depth at the surface")
    elements_per_size: float = spec(4.0, check=positive, expected="a positive number (surface size capped at a / this)")
    box_half_size_mm: float | None = spec(None, check=positive, expected="a positive half edge of the box around the implant (mm)")
    box_factor: float = spec(10.0, check=lambda x: math.isfinite(x) and x > 1.05, expected="more than 1.05 (box half size / implant bounding radius)")
    refinement: float = spec(1.0, check=positive, expected="a positive divisor of all sub-model sizes")
    rtol: float = spec(1e-6, check=positive, expected="a positive MINRES relative tolerance")
    max_iterations: int = spec(300, check=lambda n: n >= 1, expected="an integer >= 1")


# --- [nanoparticles] ----------------------------------------------------------------------------
# Material and relaxivity preset names; the values live in planner.nanoparticles (materials.py,
# distributions.py), a test checks that these tuples match them.
NP_MATERIALS = ("magnetite", "maghemite", "cobalt-ferrite")
NP_RELAXIVITY_PRESETS = ("ferumoxytol-1.5T", "ferumoxytol-3T")
_MASS_BASIS = one_of("per_g_Fe", "per_g_particle")
_FRACTION = (lambda w: math.isfinite(w) and 0.0 < w <= 1.0, "a mass fraction in (0, 1]")


@dataclass(frozen=True)
class LinearResponseSection:
    """[nanoparticles.linear_response]: Rosensweig (2002) model, log-normal core sizes."""

    PLAN_SECTION = '[nanoparticles.linear_response]'

    median_diameter_nm: float = spec(check=positive, expected="a positive core diameter in nm (median of the log-normal number distribution)")
    material: str = spec("magnetite", check=one_of(*NP_MATERIALS)[0], expected=one_of(*NP_MATERIALS)[1])
    sigma_ln: float = spec(0.0, check=lambda s: math.isfinite(s) and 0.0 <= s <= 1.0,
                           expected="a log-normal width σ_ln in [0, 1] (0 = monodisperse)")
    shell_thickness_nm: float | None = spec(None, check=non_negative,
                                            expected="a non-negative coating thickness in nm (hydrodynamic diameter = core + 2 × shell)")
    viscosity_mPa_s: float = spec(0.692, check=positive, expected="a positive viscosity in mPa·s (water at 37 °C: 0.692)")
    brownian: bool = spec(True, help="false: Brownian rotation blocked (particles immobilised in cells/tissue)")
    temperature_C: float = spec(37.0, check=lambda t: math.isfinite(t) and -50.0 < t < 200.0, expected="a temperature in °C")
    tau0_s: float = spec(1e-9, check=positive, expected="a positive attempt time τ0 in s (Rosensweig 2002: 1e-9)")
    saturation_magnetization_kA_per_m: float | None = spec(None, check=positive, expected="a positive Ms in kA/m")
    anisotropy_kJ_per_m3: float | None = spec(None, check=positive, expected="a positive anisotropy constant K in kJ/m³")
    density_kg_per_m3: float | None = spec(None, check=positive, expected="a positive core density in kg/m³")
    iron_mass_fraction: float | None = spec(None, check=_FRACTION[0], expected=_FRACTION[1])
    mass_basis: str = spec("per_g_Fe", check=_MASS_BASIS[0], expected=_MASS_BASIS[1])
    quadrature_nodes: int = spec(0, check=lambda n: n == 0 or 1 <= n <= 64,
                                 expected="0 (automatic, 1e-10 target) or an integer in 1..64 (Gauss nodes over the size distribution)")
    fine_panels: int = spec(0, check=lambda n: n == 0 or 2 <= n <= 4096,
                            expected="0 (automatic) or an integer in 2..4096 (8-point Gauss–Legendre panels)")
    linear_response_warning_fraction: float = spec(0.1, check=lambda w: math.isfinite(w) and 0.0 <= w <= 1.0,
                                                   expected="a mass fraction in [0, 1]")

    def validate(self, path: str) -> None:
        if self.brownian and self.shell_thickness_nm is None:
            raise InputError(f"{path}.shell_thickness_nm: missing; expected a coating thickness in nm when brownian = true")


@dataclass(frozen=True)
class SlpTableSection:
    """[nanoparticles.table]: measured SLP(H, f) from a CSV file with declared units and basis."""

    PLAN_SECTION = '[nanoparticles.table]'

    file: str = spec(check=lambda s: bool(s.strip()), expected="a CSV file, relative to the plan file")
    extrapolate: bool = spec(False, help="allow H, f beyond the table (constant ILP from the nearest edge)")
    iron_mass_fraction: float | None = spec(None, check=_FRACTION[0], expected=_FRACTION[1])


@dataclass(frozen=True)
class SlpConstantSection:
    """[nanoparticles.constant]: one SLP value (studies, benchmarks)."""

    PLAN_SECTION = '[nanoparticles.constant]'

    slp_W_per_g: float = spec(check=non_negative, expected="a non-negative SLP in W/g")
    mass_basis: str = spec(check=_MASS_BASIS[0], expected=_MASS_BASIS[1] + " (no default: say which)")
    iron_mass_fraction: float | None = spec(None, check=_FRACTION[0], expected=_FRACTION[1])


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


_DIST_KINDS = ("uniform-in-target", "deposit", "concentration-map", "r2star-map")
_DIST_KEYS = {
    "uniform-in-target": {"total_mass_mg", "regions"},
    "deposit": {"deposits", "regions"},
    "concentration-map": {"file", "format", "units", "total_mass_mg"},
    "r2star-map": {"file", "pre_file", "post_file", "format", "units", "relaxivity_per_s_per_mM",
                   "relaxivity_preset", "r2star_saturation_per_s", "total_mass_mg"},
}


@dataclass(frozen=True)
class DistributionSection:
    """[nanoparticles.distribution]: where the particles are; keys depend on ``kind``."""

    PLAN_SECTION = '[nanoparticles.distribution]'

    kind: str = spec(check=one_of(*_DIST_KINDS)[0], expected=one_of(*_DIST_KINDS)[1])
    mass_of: str = spec("Fe", check=one_of("Fe", "particle")[0], expected="'Fe' or 'particle' (what the masses/concentrations count)")
    total_mass_mg: float | None = spec(None, check=positive, expected="a positive mass in mg")
    regions: tuple[str, ...] = spec((), help="region names the particles may occupy")
    deposits: tuple[DepositSpec, ...] = spec(())
    file: str | None = spec(None, check=lambda s: bool(s.strip()), expected="a NIfTI file or DICOM folder, relative to the plan file")
    pre_file: str | None = spec(None, check=lambda s: bool(s.strip()), expected="the pre-injection R2* map")
    post_file: str | None = spec(None, check=lambda s: bool(s.strip()), expected="the post-injection R2* map")
    format: str = spec("auto", check=one_of("auto", "nifti", "dicom")[0], expected="'auto', 'nifti' or 'dicom'")
    units: str | None = spec(None, check=one_of("mg_Fe_per_mL", "mM_Fe", "per_s", "per_ms")[0],
                             expected="'mg_Fe_per_mL' or 'mM_Fe' (concentration-map), 'per_s' or 'per_ms' (r2star-map)")
    relaxivity_per_s_per_mM: float | None = spec(None, check=positive, expected="a positive r2* relaxivity in s⁻¹ mM⁻¹")
    relaxivity_preset: str | None = spec(None, check=one_of(*NP_RELAXIVITY_PRESETS)[0], expected=one_of(*NP_RELAXIVITY_PRESETS)[1])
    r2star_saturation_per_s: float = spec(500.0, check=positive, expected="a positive R2* (s⁻¹) above which the signal is taken as saturated")

    def validate(self, path: str) -> None:
        allowed = _DIST_KEYS[self.kind] | {"kind", "mass_of"}
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        for k, default in defaults.items():
            v = getattr(self, k)
            if k not in allowed and v != default and not (isinstance(v, tuple) and len(v) == 0):
                raise InputError(f"{path}.{k} = {v!r}: not used by kind = {self.kind!r}; expected only {sorted(allowed)}")
        if self.kind == "uniform-in-target" and self.total_mass_mg is None:
            raise InputError(f"{path}.total_mass_mg: missing required key for kind = 'uniform-in-target'")
        if self.kind == "deposit" and not self.deposits:
            raise InputError(f"{path}.deposits: missing; expected at least one [[{path}.deposits]] entry")
        if self.kind in ("concentration-map", "r2star-map") and self.mass_of != "Fe":
            raise InputError(f"{path}.mass_of = {self.mass_of!r}: expected 'Fe' (maps give iron concentration)")
        if self.kind == "concentration-map":
            if self.file is None:
                raise InputError(f"{path}.file: missing required key for kind = 'concentration-map'")
            if self.units not in (None, "mg_Fe_per_mL", "mM_Fe"):
                raise InputError(bad_value(f"{path}.units", self.units, "'mg_Fe_per_mL' or 'mM_Fe'"))
        if self.kind == "r2star-map":
            if (self.file is None) == (self.pre_file is None and self.post_file is None):
                raise InputError(f"{path}.file/pre_file/post_file: expected either file (ΔR2*) or both pre_file and post_file")
            if self.file is None and (self.pre_file is None or self.post_file is None):
                raise InputError(f"{path}.pre_file/post_file: expected both the pre- and the post-injection map")
            if self.units not in (None, "per_s", "per_ms"):
                raise InputError(bad_value(f"{path}.units", self.units, "'per_s' or 'per_ms'"))
            if (self.relaxivity_per_s_per_mM is None) == (self.relaxivity_preset is None):
                raise InputError(f"{path}.relaxivity_per_s_per_mM/relaxivity_preset: expected exactly one of the two")


_SLP_SUBSECTIONS = {"linear-response": "linear_response", "table": "table", "constant": "constant"}


@dataclass(frozen=True)
class NanoparticleSection:
    slp_model: str = spec(check=one_of(*_SLP_SUBSECTIONS)[0], expected=one_of(*_SLP_SUBSECTIONS)[1])
    distribution: DistributionSection = spec(expected="a [nanoparticles.distribution] table")
    linear_response: LinearResponseSection | None = spec(None)
    table: SlpTableSection | None = spec(None)
    constant: SlpConstantSection | None = spec(None)

    def validate(self, path: str) -> None:
        own = _SLP_SUBSECTIONS[self.slp_model]
        if getattr(self, own) is None:
            raise InputError(f"[{path}.{own}]: missing; expected the parameters of slp_model = {self.slp_model!r}")
        for other in _SLP_SUBSECTIONS.values():
            if other != own and getattr(self, other) is not None:
                raise InputError(f"[{path}.{other}]: not used by slp_model = {self.slp_model!r}")

    @property
    def model_parameters(self) -> Any:
        """The parameter section of the selected SLP model."""
        return getattr(self, _SLP_SUBSECTIONS[self.slp_model])


# --- [thermal] ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProbeSpec:
    """A virtual temperature probe: a point in the body whose temperature is recorded every step."""

    PLAN_SECTION = "[[thermal.probes]]"

    name: str = spec(check=lambda s: bool(s.strip()), expected="a non-empty string")
    position_mm: tuple[float, float, float] = spec(check=vec3, expected="3 finite numbers")

    @property
    def position_m(self) -> tuple[float, float, float]:
        return tuple(c * MM for c in self.position_mm)  # type: ignore[return-value]


_SEGMENT_KINDS = one_of("ramp", "hold", "off")


@dataclass(frozen=True)
class ScheduleSegment:
    """One ``[[thermal.schedule]]`` segment of the applicator's field amplitude.

    ``hold``: field at ``field_fraction`` (default 1) of the nominal amplitude for ``duration_min``;
    ``ramp``: linear change of the fraction from the end of the previous segment (0 at the start)
    to ``field_fraction`` (default 1); ``off``: field off (cool-down or pause), no ``field_fraction``.
    """

    kind: str = spec(check=_SEGMENT_KINDS[0], expected=_SEGMENT_KINDS[1])
    duration_min: float = spec(check=positive, expected="a positive number of minutes")
    field_fraction: float | None = spec(None, check=lambda f: math.isfinite(f) and 0.0 <= f <= 2.0,
                                        expected="a fraction of the nominal field amplitude in 0..2")

    def validate(self, path: str) -> None:
        if self.kind == "off" and self.field_fraction not in (None, 0.0):
            raise InputError(bad_value(f"{path}.field_fraction", self.field_fraction, "no field_fraction (or 0) for kind = 'off'"))

    @property
    def duration_s(self) -> float:
        return self.duration_min * 60.0


@dataclass(frozen=True)
class ThermalSection:
    """Pennes bioheat stage. Without ``schedule`` the field is on at fraction 1 for ``duration_min``;
    with a schedule the session lasts the sum of its segments (``duration_min`` is then unused)."""

    mode: str = spec("transient", check=one_of("steady", "transient")[0], expected="'steady' or 'transient'")
    duration_min: float = spec(30.0, check=positive, expected="a positive number of minutes")
    time_step_s: float = spec(30.0, check=positive, expected="a positive number of seconds")
    scheme: str = spec("bdf2", check=one_of("implicit-euler", "crank-nicolson", "bdf2")[0],
                       expected="'implicit-euler', 'crank-nicolson' or 'bdf2'")
    arterial_T_C: float = spec(37.0, check=lambda t: 20.0 <= t <= 45.0, expected="a temperature in 20..45 °C")
    ambient_T_C: float = spec(25.0, check=lambda t: 0.0 <= t <= 60.0, expected="a temperature in 0..60 °C")
    skin_h_W_per_m2_K: float = spec(10.0, check=non_negative, expected="a non-negative heat-transfer coefficient")
    perfusion_model: str = spec("constant", check=lambda s: bool(s), expected="a perfusion model name")
    element_order: int = spec(1, check=lambda k: k in (1, 2), expected="1 or 2")
    probes: tuple[ProbeSpec, ...] = spec(())
    schedule: tuple[ScheduleSegment, ...] = spec((), help="field on/off segments [[thermal.schedule]]; empty: on for duration_min")
    # --- additions of the thermal stage -------------------------------------------------------
    perfusion_curves: dict[str, str] = spec(
        default_factory=dict,
        help="temperature-dependent perfusion: tissue name -> curve ('muscle', 'fat', 'tumour', 'constant'); "
             "tissues not listed are mapped by name (muscle*, fat*/adipose*, tumour*/tumor*) or stay constant",
    )
    picard_tol_K: float = spec(1e-3, check=positive, expected="a positive temperature change (K)")
    picard_max_iter: int = spec(50, check=lambda n: n >= 1, expected="an integer >= 1")
    linear_rtol: float = spec(1e-10, check=lambda x: math.isfinite(x) and 0 < x < 1e-3, expected="a relative tolerance in (0, 1e-3)")
    field_output_interval_s: float = spec(60.0, check=non_negative,
                                          expected="a non-negative interval (s) between written temperature fields; 0: baseline and final only")
    dvh_bin_K: float = spec(0.5, check=positive, expected="a positive histogram bin width (K)")
    linear_pc: str = spec("auto", check=one_of("auto", "amg", "jacobi")[0],
                          expected="'auto' (Jacobi for mass-dominated transient steps, else BoomerAMG), 'amg' or 'jacobi'")
    adaptive: bool = spec(False, help="adaptive Crank–Nicolson steps with local-error control (TR-AB2); needs scheme = 'crank-nicolson'; "
                                      "time_step_s is then the first step after each segment start")
    adaptive_tol_K: float = spec(0.01, check=positive, expected="a positive local error per step (K, max over the mesh)")
    max_time_step_s: float | None = spec(None, check=positive, expected="a positive largest adaptive step (s); default 8 × time_step_s")
    min_time_step_s: float = spec(0.5, check=positive, expected="a positive smallest adaptive step (s)")

    @property
    def session_duration_s(self) -> float:
        if self.schedule:
            return sum(seg.duration_s for seg in self.schedule)
        return self.duration_min * 60.0

    def validate(self, path: str) -> None:
        if self.mode == "transient" and self.time_step_s > self.session_duration_s:
            raise InputError(
                f"{path}.time_step_s = {self.time_step_s!r}: expected at most the duration ({self.session_duration_s} s)"
            )
        if self.adaptive and self.scheme != "crank-nicolson":
            raise InputError(bad_value(f"{path}.scheme", self.scheme, "'crank-nicolson' with adaptive = true (TR-AB2 error control)"))
        if self.adaptive and self.min_time_step_s > self.time_step_s:
            raise InputError(bad_value(f"{path}.min_time_step_s", self.min_time_step_s, f"at most time_step_s = {self.time_step_s}"))
        if self.mode == "steady" and self.schedule:
            raise InputError(bad_value(f"{path}.schedule", "[...]", "no schedule with mode = 'steady' (steady state at field fraction 1)"))
        for k, v in self.perfusion_curves.items():
            if v not in ("muscle", "fat", "tumour", "constant"):
                raise InputError(bad_value(f"{path}.perfusion_curves.{k}", v, "one of 'muscle', 'fat', 'tumour', 'constant'"))
        names = [p.name for p in self.probes]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise InputError(f"{path}.probes: probe names {dup} repeat; expected unique names")


# --- [safety] -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class SafetySection:
    Hf_limit_A_per_m_s: float = spec(4.85e8, check=positive, expected="a positive H·f product (A m⁻¹ s⁻¹); Atkinson–Brezovich 4.85e8")
    Hf_amplitude: str = spec("peak", check=one_of("peak", "rms")[0], expected="'peak' or 'rms': how H in the H·f limit is measured")
    max_healthy_T_C: float = spec(43.0, check=lambda t: 37.0 <= t <= 60.0, expected="a temperature in 37..60 °C")
    max_implant_dT_K: float = spec(2.0, check=positive, expected="a positive temperature rise (K)")
    max_E_V_per_m: float | None = spec(None, check=positive, expected="a positive peak induced field (V/m) in healthy tissue, "
                                       "implant-adjacent tissue included; unset: reported, not checked")
    max_SAR10g_W_per_kg: float | None = spec(None, check=positive, expected="a positive 10 g SAR (W/kg), IEC/IEEE 62704-1 cubes; "
                                             "unset: reported, not checked")
    stop_on_violation: bool = spec(False)


# --- [search] -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class SearchSection:
    """Find the largest safe field amplitude and the smallest one reaching the goal T90 (planner.planning.search)."""

    goal_T90_C: float = spec(42.0, check=lambda t: 37.0 < t < 60.0, expected="a target T90 in 37..60 °C")
    max_field_kA_per_m: float = spec(30.0, check=positive, expected="a positive upper bound of the search (kA/m, plan's amplitude convention)")
    tolerance_kA_per_m: float = spec(0.05, check=positive, expected="a positive bisection tolerance (kA/m)")
    mode: str = spec("steady", check=one_of("steady", "plan")[0],
                     expected="'steady' (steady Pennes per evaluation) or 'plan' (the [thermal] run as configured)")


# --- [tissues.<name>] ---------------------------------------------------------------------------
@dataclass(frozen=True)
class TissueOverride:
    """Override any tissue property, or define a new tissue with ``base`` = an existing one."""

    base: str | None = spec(None, expected="an existing tissue name to copy")
    conductivity_S_per_m: float | None = spec(None, check=non_negative, expected="a non-negative conductivity (S/m)")
    density_kg_per_m3: float | None = spec(None, check=positive, expected="a positive density")
    heat_capacity_J_per_kg_K: float | None = spec(None, check=positive, expected="a positive heat capacity")
    thermal_conductivity_W_per_m_K: float | None = spec(None, check=positive, expected="a positive thermal conductivity")
    perfusion_mL_per_min_per_kg: float | None = spec(None, check=non_negative, expected="a non-negative perfusion rate")
    metabolic_heat_W_per_kg: float | None = spec(None, check=non_negative, expected="a non-negative metabolic heat")
    relative_permeability: float | None = spec(None, check=positive, expected="a positive relative permeability")


# --- the whole plan -----------------------------------------------------------------------------
_SECTIONS: dict[str, type] = {
    "plan": PlanSection,
    "geometry": GeometrySection,
    "mesh": MeshSection,
    "applicator": ApplicatorSection,
    "nanoparticles": NanoparticleSection,
    "thermal": ThermalSection,
    "safety": SafetySection,
    "search": SearchSection,
    "implants": ImplantsSection,
}
# Sections owned by stages defined elsewhere (validated there, kept as raw tables here).
_RAW_SECTIONS = ("imaging", "segmentation")


@dataclass(frozen=True)
class PlanConfig:
    plan: PlanSection
    mesh: MeshSection
    geometry: GeometrySection | None = None
    imaging: dict | None = None
    segmentation: dict | None = None
    applicator: ApplicatorSection | None = None
    nanoparticles: NanoparticleSection | None = None
    thermal: ThermalSection | None = None
    safety: SafetySection | None = None
    search: SearchSection | None = None
    implants: ImplantsSection | None = None
    tissues: dict[str, TissueOverride] | None = None
    plan_file: Path | None = None
    plan_sha256: str = ""

    @property
    def base_dir(self) -> Path:
        return self.plan_file.parent if self.plan_file is not None else Path.cwd()

    @property
    def output_path(self) -> Path:
        return (self.base_dir / self.plan.output_dir).resolve()

    def resolve(self, relative: str) -> Path:
        """A path from the plan, relative to the plan file's folder."""
        return (self.base_dir / relative).resolve()


def parse_plan(data: dict, plan_file: Path | None = None, sha256: str = "") -> PlanConfig:
    allowed = set(_SECTIONS) | set(_RAW_SECTIONS) | {"tissues"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise InputError(f"[{unknown[0]}]: unknown section; expected one of: {', '.join(sorted(allowed))}")
    for req in ("plan", "mesh"):
        if req not in data:
            raise InputError(f"[{req}]: missing required section")
    if ("geometry" in data) == ("imaging" in data):
        raise InputError("[geometry]/[imaging]: expected exactly one of the two (primitives or DICOM images)")
    kwargs: dict[str, Any] = {}
    for name, cls in _SECTIONS.items():
        if name in data:
            kwargs[name] = parse_section(cls, data[name], name)
    for name in _RAW_SECTIONS:
        if name in data:
            if not isinstance(data[name], dict):
                raise InputError(bad_value(name, data[name], "a table"))
            kwargs[name] = data[name]
    if "tissues" in data:
        t = data["tissues"]
        if not isinstance(t, dict):
            raise InputError(bad_value("tissues", t, "tables [tissues.<name>]"))
        kwargs["tissues"] = {k: parse_section(TissueOverride, v, f"tissues.{k}") for k, v in t.items()}
    return PlanConfig(plan_file=plan_file, plan_sha256=sha256, **kwargs)


def load_plan(path: str | Path) -> PlanConfig:
    """Read and validate a plan file. Raises :class:`InputError` with a one-line message."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"plan file {str(path)!r}: cannot be read ({exc.strerror}); expected a TOML file") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"plan file {str(path)!r}: not valid TOML ({exc})") from None
    return parse_plan(data, plan_file=path.resolve(), sha256=hashlib.sha256(raw).hexdigest())
