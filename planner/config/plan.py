"""Plan files: TOML → typed, validated :class:`PlanConfig`.

Keys carry their units (``frequency_kHz``, ``radius_mm``); the dataclasses keep plan units and give
SI through properties (``frequency_Hz``). Sections of later stages are defined here too so a plan is
validated completely before anything runs.
"""
from __future__ import annotations

import hashlib
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from planner.config.registry import APPLICATORS, DISTRIBUTIONS, PERFUSION_MODELS, SHAPES, SLP_MODELS, STAGE_SECTIONS
from planner.config.schema import (
    model_key,
    model_parameters,
    model_section,
    non_negative,
    nonzero_vec3,
    one_of,
    parse_section,
    positive,
    spec,
    vec3,
)
from planner.errors import InputError, InputErrors, bad_value, error_lines
from planner.units import MM


# --- [plan] ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PlanSection:
    name: str = spec(check=lambda s: bool(s.strip()), expected="a non-empty string")
    output_dir: str = spec("results", check=lambda s: bool(s.strip()),
                           expected="a folder path, relative to the plan file")
    description: str = spec("")
    overwrite: bool = spec(True, help="replace an existing results folder atomically")


# --- [geometry] ---------------------------------------------------------------------------------
_ROLES = one_of("body", "target", "organ", "implant")


@dataclass(frozen=True)
class BodySpec:
    """One primitive. Later bodies override earlier ones where they overlap. The keys of each
    ``shape`` are declared by the shape (planner.geometry): see ``[[geometry.bodies]] shape = ...``."""

    name: str = spec(check=lambda s: bool(s.strip()), expected="a non-empty string")
    shape: str = spec(choice=SHAPES, selects="keys")
    tissue: str = spec(check=lambda s: bool(s.strip()), expected="a tissue name from the library or [tissues.*]")
    role: str = spec("body", check=_ROLES[0], expected=_ROLES[1])
    center_mm: tuple[float, float, float] = spec((0.0, 0.0, 0.0), check=vec3, expected="3 finite numbers [x, y, z]")
    insulated: bool = spec(False, help="implants only: an electrically insulated (coated, ceramic) part, a hole with "
                           "n·J = 0 in the tissue eddy-current solve; default false: a floating conductor (galvanic short circuit)")
    # per-shape keys (declared by the shapes' parameter sections)
    radius_mm: float | None = model_key()
    length_mm: float | None = model_key()
    size_mm: tuple[float, float, float] | None = model_key()
    semi_axes_mm: tuple[float, float, float] | None = model_key()
    axis: tuple[float, float, float] = model_key((0.0, 0.0, 1.0))
    parameters: dict[str, Any] = model_key(default_factory=dict)

    def validate(self, path: str) -> None:
        if self.insulated and self.role != "implant":
            raise InputError(f"{path}.insulated = true: only bodies with role = 'implant' can be insulated (role is {self.role!r})")

    @property
    def center_m(self) -> tuple[float, float, float]:
        return tuple(c * MM for c in self.center_mm)  # type: ignore[return-value]

    @property
    def model_parameters(self) -> Any:
        """The parameter object of the body's shape."""
        return model_parameters(self)

    def exact_volume_m3(self) -> float | None:
        """Closed-form volume, or None where there is none (hip stem: the CAD volume is used)."""
        return self.model_parameters.exact_volume_m3()


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
                f"{path}.bodies[0].role = {self.bodies[0].role!r}: expected 'body' (the first body is the outer "
                "patient volume)"
            )


# --- [mesh] -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class MeshSection:
    max_size_mm: float = spec(check=positive, expected="a positive number (largest element size)")
    target_size_mm: float | None = spec(None, check=positive, expected="a positive number")
    implant_size_mm: float | None = spec(None, check=positive, expected="a positive number")
    organ_size_mm: float | None = spec(None, check=positive, expected="a positive number")
    growth_distance_mm: float | None = spec(None, check=positive,
                                            expected="a positive number (distance over which sizes grade to "
                                                     "max_size_mm)")
    seed: int = spec(0, help="gmsh random seed, for reproducible meshes")

    def validate(self, path: str) -> None:
        for k in ("target_size_mm", "implant_size_mm", "organ_size_mm"):
            v = getattr(self, k)
            if v is not None and v > self.max_size_mm:
                raise InputError(f"{path}.{k} = {v!r}: expected at most max_size_mm = {self.max_size_mm}")


# --- [applicator] -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ApplicatorSection:
    """The alternating-field applicator; the keys of each ``type`` are declared by the applicator
    (planner.em.applicators): see ``[applicator] type = ...``."""

    type: str = spec(choice=APPLICATORS, selects="keys")
    frequency_kHz: float = spec(check=positive, expected="a positive number (kHz)")
    field_kA_per_m: float = spec(check=positive,
                                 expected="a positive number: field amplitude at the target centre (kA/m)")
    amplitude: str = spec(check=one_of("peak", "rms")[0], expected="'peak' or 'rms' (no default: say which)")
    direction: tuple[float, float, float] = spec((0.0, 0.0, 1.0), check=nonzero_vec3, expected="a non-zero direction")
    center_mm: tuple[float, float, float] = spec((0.0, 0.0, 0.0), check=vec3, expected="3 finite numbers")
    axis: tuple[float, float, float] = spec((0.0, 0.0, 1.0), check=nonzero_vec3, expected="a non-zero direction")
    target_point_mm: tuple[float, float, float] | None = spec(None, check=vec3, expected="3 finite numbers")
    segments_per_turn: int = spec(64, check=lambda n: n >= 8,
                                  expected="an integer >= 8 (straight segments per circular turn)")
    element_order: int = spec(1, check=lambda k: k in (1, 2),
                              expected="1 or 2 (Lagrange degree of the tissue eddy-current potential)")
    # per-type keys (declared by the applicators' parameter sections)
    radius_mm: float | None = model_key()
    inner_radius_mm: float | None = model_key()
    turns: int | None = model_key()
    length_mm: float | None = model_key()
    spacing_mm: float | None = model_key()
    path_file: str | None = model_key()

    @property
    def model_parameters(self) -> Any:
        """The parameter object of the applicator type (None for types without keys of their own)."""
        return model_parameters(self)

    @property
    def frequency_Hz(self) -> float:
        return self.frequency_kHz * 1e3

    @property
    def H_peak_A_per_m(self) -> float:
        """Requested field amplitude at the target centre, as a peak value."""
        h = self.field_kA_per_m * 1e3
        return h * math.sqrt(2.0) if self.amplitude == "rms" else h


# --- [em] ---------------------------------------------------------------------------------------
ADMITTIVITY_MODELS = ("auto", "real", "complex")
ADMITTIVITY_AUTO_COMPLEX_ABOVE_HZ = 300e3  # [em] admittivity = "auto": complex σ* above this frequency


@dataclass(frozen=True)
class FieldProbeSpec:
    """A field probe for applicator QA: a point (``position_mm``) or a line (``start_mm``, ``end_mm``,
    ``points`` evenly spaced, ends included) where the peak H and tissue E are written to
    summary.json (``em.field_probes``) and ``field_probes.csv``. Points must lie inside the body."""

    PLAN_SECTION = "[[em.field_probes]]"

    name: str = spec(check=lambda s: bool(s.strip()), expected="a non-empty string")
    position_mm: tuple[float, float, float] | None = spec(None, check=vec3, expected="3 finite numbers (mm)")
    start_mm: tuple[float, float, float] | None = spec(None, check=vec3, expected="3 finite numbers (mm): line start")
    end_mm: tuple[float, float, float] | None = spec(None, check=vec3, expected="3 finite numbers (mm): line end")
    points: int | None = spec(None, check=lambda n: 2 <= n <= 10000,
                              expected="an integer in 2..10000 (points along the line, ends included)")

    def validate(self, path: str) -> None:
        line = (self.start_mm, self.end_mm, self.points)
        if self.position_mm is not None and any(v is not None for v in line):
            raise InputError(f"{path}: both position_mm and start_mm/end_mm/points given; expected a point "
                             "(position_mm) or a line (start_mm, end_mm, points), not both")
        if self.position_mm is None and any(v is None for v in line):
            missing = [k for k, v in zip(("start_mm", "end_mm", "points"), line) if v is None]
            raise InputError(f"{path}: missing {', '.join(missing)}; expected position_mm (a point) or all of "
                             "start_mm, end_mm and points (a line)")

    def positions_mm(self) -> tuple[tuple[float, float, float], ...]:
        """The probe's points (mm): one, or ``points`` evenly spaced from start to end."""
        if self.position_mm is not None:
            return (tuple(self.position_mm),)  # type: ignore[return-value]
        a, b, n = self.start_mm, self.end_mm, int(self.points or 2)
        assert a is not None and b is not None
        return tuple(tuple(a[k] + (b[k] - a[k]) * i / (n - 1) for k in range(3))  # type: ignore[misc]
                     for i in range(n))


@dataclass(frozen=True)
class EMSection:
    """Outputs of the field stage (planner.em)."""

    field_probes: tuple[FieldProbeSpec, ...] = spec((), help="points and lines where H and E are reported "
                                                             "[[em.field_probes]]")
    admittivity: str = spec("auto", check=one_of(*ADMITTIVITY_MODELS)[0],
                            expected="'auto', 'real' or 'complex' (tissue admittivity model of the eddy-current solve)",
                            help="tissue admittivity in the eddy-current solve: 'real' = conductivity σ only, "
                                 "'complex' = σ + jωε0εr (displacement currents; both from the Cole–Cole tissue "
                                 f"data), 'auto' = complex above {ADMITTIVITY_AUTO_COMPLEX_ABOVE_HZ / 1e3:g} kHz")


# --- [implants] -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ImplantsSection:
    """Controls of the metal-implant eddy-current sub-models (planner.em.implants.ImplantOptions);
    unset values are chosen automatically from implant size a and skin depth δ, and reported."""

    degree: int = spec(2, check=lambda k: k in (1, 2), expected="1 or 2 (N1curl degree)")
    geometry_order: int = spec(2, check=lambda k: k in (1, 2),
                               expected="1 or 2 (2 = curved tetrahedra, primitives only)")
    elements_per_skin_depth: float | None = spec(None, check=positive,
                                                 expected="a positive number of elements per skin depth at the surface")
    elements_per_size: float = spec(4.0, check=positive, expected="a positive number (surface size capped at a / this)")
    box_half_size_mm: float | None = spec(None, check=positive,
                                          expected="a positive half edge of the box around the implant (mm)")
    box_factor: float = spec(10.0, check=lambda x: math.isfinite(x) and x > 1.05,
                             expected="more than 1.05 (box half size / implant bounding radius)")
    refinement: float = spec(1.0, check=positive, expected="a positive divisor of all sub-model sizes")
    rtol: float = spec(1e-4, check=positive,
                       expected="a positive relative tolerance of the implant Krylov solver (PRESB-GMRES, "
                                "preconditioned residual)")
    max_iterations: int = spec(300, check=lambda n: n >= 1, expected="an integer >= 1")
    solver: str = spec("auto", check=lambda s: s in ("auto", "direct", "ams"),
                       expected="'auto' (sparse direct up to 8 000 N1curl dofs, else PRESB-GMRES with AMS), 'direct' or 'ams'")


# --- [selection_field] --------------------------------------------------------------------------
@dataclass(frozen=True)
class MagnetSpec:
    """[[selection_field.magnets]]: a permanent magnet (uniformly magnetised): a ``block`` (``size_mm``) or
    a ``cylinder`` (``diameter_mm``, ``height_mm``, its axis along ``axis``)."""

    PLAN_SECTION = "[[selection_field.magnets]]"

    shape: str = spec(check=one_of("block", "cylinder")[0], expected="'block' or 'cylinder'")
    center_mm: tuple[float, float, float] = spec(check=vec3, expected="3 finite numbers (patient LPS, mm)")
    polarization_T: tuple[float, float, float] = spec(
        check=nonzero_vec3, expected="the remanent polarisation J = μ0 M in tesla, a non-zero vector (NdFeB ≈ 1.2–1.4 T)")
    size_mm: tuple[float, float, float] | None = spec(None, check=lambda v: vec3(v) and all(x > 0 for x in v),
                                                      expected="3 positive edge lengths (mm) of the block")
    diameter_mm: float | None = spec(None, check=positive, expected="a positive diameter (mm) of the cylinder")
    height_mm: float | None = spec(None, check=positive, expected="a positive height (mm) of the cylinder")
    axis: tuple[float, float, float] = spec((0.0, 0.0, 1.0), check=nonzero_vec3,
                                            expected="a non-zero direction (cylinder axis)")

    def validate(self, path: str) -> None:
        need = ("size_mm",) if self.shape == "block" else ("diameter_mm", "height_mm")
        for k in need:
            if getattr(self, k) is None:
                raise InputError(f"{path}.{k}: missing; expected it for shape = {self.shape!r}")
        for k in {"size_mm", "diameter_mm", "height_mm"} - set(need):
            if getattr(self, k) is not None:
                raise InputError(f"{path}.{k}: not used by shape = {self.shape!r}; expected only {', '.join(need)}")
        if abs(max(abs(c) for c in self.polarization_T)) > 2.5:
            raise InputError(bad_value(f"{path}.polarization_T", list(self.polarization_T),
                                       "a polarisation of at most 2.5 T (NdFeB ≈ 1.3 T; mT entered as T?)"))


@dataclass(frozen=True)
class CoilPairSpec:
    """[[selection_field.coil_pairs]]: two coaxial circular DC coils (thin loops of ``turns`` × ``current_A``)
    ``spacing_mm`` apart along ``axis``: ``maxwell`` (opposed currents: a gradient, FFR at the centre) or
    ``helmholtz`` (same direction: a uniform offset field)."""

    PLAN_SECTION = "[[selection_field.coil_pairs]]"

    radius_mm: float = spec(check=positive, expected="a positive coil radius (mm)")
    current_A: float = spec(check=lambda x: math.isfinite(x) and x != 0.0, expected="a non-zero DC current (A)")
    turns: int = spec(1, check=lambda n: n >= 1, expected="an integer >= 1")
    kind: str = spec("maxwell", check=one_of("maxwell", "helmholtz")[0], expected="'maxwell' or 'helmholtz'")
    spacing_mm: float | None = spec(None, check=positive,
                                    expected="a positive distance (mm) between the coils (default: √3 R for maxwell, "
                                             "R for helmholtz)")
    center_mm: tuple[float, float, float] = spec((0.0, 0.0, 0.0), check=vec3, expected="3 finite numbers (mm)")
    axis: tuple[float, float, float] = spec((0.0, 0.0, 1.0), check=nonzero_vec3, expected="a non-zero direction")

    @property
    def spacing_m(self) -> float:
        if self.spacing_mm is not None:
            return self.spacing_mm * MM
        return (math.sqrt(3.0) if self.kind == "maxwell" else 1.0) * self.radius_mm * MM


@dataclass(frozen=True)
class SelectionFieldSection:
    """A static selection (gradient) field with a field-free region (FFR), as in magnetic particle
    imaging: permanent magnets and/or DC coil pairs (planner.em.selection_field, magpylib). Particles
    outside the FFR are held in saturation by the bias and heat little (needs an SLP model with a bias
    dependence: ``slp_model = "nonlinear-relaxation"``)."""

    magnets: tuple[MagnetSpec, ...] = spec((), help="permanent magnets")
    coil_pairs: tuple[CoilPairSpec, ...] = spec((), help="DC coil pairs")
    shift_mm: tuple[float, float, float] = spec((0.0, 0.0, 0.0), check=vec3,
                                                expected="3 finite numbers (mm): translation of the whole assembly")
    place_ffr_on_target: bool = spec(False, help="translate the assembly so the FFR lies on the target centre "
                                                 "(then shift_mm must stay 0)")
    search_offsets_mm: tuple[float, ...] = spec(
        (), check=lambda v: all(math.isfinite(x) for x in v),
        expected="finite offsets (mm) of the FFR along x, y and z from its planned position, tried by [search]")
    outline_mT: float | None = spec(None, check=positive,
                                    expected="a positive |B| (mT) drawn as the FFR outline (default: the bias that "
                                             "halves the particle heating at the nominal AC field)")

    def validate(self, path: str) -> None:
        if not self.magnets and not self.coil_pairs:
            raise InputError(f"{path}: no [[{path}.magnets]] and no [[{path}.coil_pairs]]; expected at least one source")
        if self.place_ffr_on_target and any(c != 0.0 for c in self.shift_mm):
            raise InputError(f"{path}.shift_mm = {list(self.shift_mm)!r}: expected [0, 0, 0] with place_ffr_on_target = "
                             "true (the shift is computed)")


# --- [nanoparticles] ----------------------------------------------------------------------------
@dataclass(frozen=True)
class DistributionSection:
    """[nanoparticles.distribution]: where the particles are; the keys of each ``kind`` are declared by
    the distribution (planner.nanoparticles.distributions): see ``[nanoparticles.distribution] kind = ...``."""

    PLAN_SECTION = '[nanoparticles.distribution]'

    kind: str = spec(choice=DISTRIBUTIONS, selects="keys")
    mass_of: str = spec("Fe", check=one_of("Fe", "particle")[0],
                        expected="'Fe' or 'particle' (what the masses/concentrations count)")
    # per-kind keys (declared by the distributions' parameter sections)
    total_mass_mg: float | None = model_key()
    regions: tuple[str, ...] = model_key(())
    uptake_fractions: dict[str, float] | None = model_key()
    deposits: tuple[Any, ...] = model_key(())
    file: str | None = model_key()
    pre_file: str | None = model_key()
    post_file: str | None = model_key()
    format: str = model_key("auto")
    units: str | None = model_key()
    relaxivity_per_s_per_mM: float | None = model_key()
    relaxivity_preset: str | None = model_key()
    r2star_saturation_per_s: float = model_key(500.0)
    max_saturated_fraction: float = model_key(0.2)
    hu_per_mg_Fe_per_mL: float | None = model_key()
    tissue_baseline_HU: float | None = model_key()
    hu_noise_floor_HU: float = model_key(20.0)
    residual_ct_file: str | None = model_key()
    residual_ct_baseline_HU: float = model_key(40.0)

    @property
    def model_parameters(self) -> Any:
        return model_parameters(self)


@dataclass(frozen=True)
class NanoparticleSection:
    """The particles: an SLP model whose parameters sit in ``[nanoparticles.<slp_model>]`` (declared by
    the model, planner.nanoparticles.slp) and their distribution."""

    slp_model: str = spec(choice=SLP_MODELS, selects="section")
    distribution: DistributionSection = spec(expected="a [nanoparticles.distribution] table")
    slp_scale: float = spec(1.0, check=positive, expected="a positive factor on the SLP model (1 = as modelled; "
                            "`planner calibrate` writes the factor fitted to thermometry)")
    model_parameters: Any = model_section()


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
            raise InputError(bad_value(f"{path}.field_fraction", self.field_fraction,
                                       "no field_fraction (or 0) for kind = 'off'"))

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
    perfusion_model: str = spec("constant", choice=PERFUSION_MODELS, help="temperature dependence of blood perfusion")
    element_order: int = spec(1, check=lambda k: k in (1, 2), expected="1 or 2")
    probes: tuple[ProbeSpec, ...] = spec(())
    schedule: tuple[ScheduleSegment, ...] = spec((),
                                                 help="field on/off segments [[thermal.schedule]]; empty: on for "
                                                      "duration_min")
    # --- additions of the thermal stage -------------------------------------------------------
    perfusion_curves: dict[str, str] = spec(
        default_factory=dict,
        help="temperature-dependent perfusion: tissue name -> curve ('muscle', 'fat', 'tumour', 'constant'); "
             "tissues not listed are mapped by name (muscle*, fat*/adipose*, tumour*/tumor*) or stay constant",
    )
    picard_tol_K: float = spec(1e-3, check=positive, expected="a positive temperature change (K)")
    picard_max_iter: int = spec(50, check=lambda n: n >= 1, expected="an integer >= 1")
    linear_rtol: float = spec(1e-10, check=lambda x: math.isfinite(x) and 0 < x < 1e-3,
                              expected="a relative tolerance in (0, 1e-3)")
    field_output_interval_s: float = spec(60.0, check=non_negative,
                                          expected="a non-negative interval (s) between written temperature fields; "
                                                   "0: baseline and final only")
    dvh_bin_K: float = spec(0.5, check=positive, expected="a positive histogram bin width (K)")
    linear_pc: str = spec("auto", check=one_of("auto", "amg", "jacobi")[0],
                          expected="'auto' (Jacobi for mass-dominated transient steps, else BoomerAMG), 'amg' or "
                                   "'jacobi'")
    adaptive: bool = spec(False,
                          help="adaptive Crank–Nicolson steps with local-error control (TR-AB2); needs scheme = "
                               "'crank-nicolson'; "
                                      "time_step_s is then the first step after each segment start")
    adaptive_tol_K: float = spec(0.01, check=positive,
                                 expected="a positive local error per step (K, max over the mesh)")
    max_time_step_s: float | None = spec(None, check=positive,
                                         expected="a positive largest adaptive step (s); default 8 × time_step_s")
    min_time_step_s: float = spec(0.5, check=positive, expected="a positive smallest adaptive step (s)")
    # --- systemic heat (planner.thermal.systemic) -------------------------------------------------
    systemic: str = spec("blood-pool", check=one_of("blood-pool", "off")[0],
                         expected="'blood-pool' (arterial temperature as a state) or 'off' (arterial blood fixed at arterial_T_C)")
    body_mass_kg: float = spec(70.0, check=lambda m: math.isfinite(m) and 1.0 <= m <= 400.0,
                               expected="the whole patient's mass in 1..400 kg")
    body_heat_capacity_J_per_kg_K: float = spec(3500.0, check=lambda c: math.isfinite(c) and 1000.0 <= c <= 5000.0,
                                                expected="a mean body heat capacity in 1000..5000 J/(kg K)")
    thermoregulation_W_per_K: float = spec(280.0, check=non_negative,
                                           expected="a non-negative whole-body loss conductance (W/K); 0: no thermoregulation")
    cut_faces: str = spec("adiabatic", check=one_of("adiabatic", "baseline")[0],
                          expected="'adiabatic' (zero flux on cut planes: the body goes on) or 'baseline' (held at the no-field "
                                   "baseline temperature; not with adaptive = true)")

    @property
    def session_duration_s(self) -> float:
        if self.schedule:
            return sum(seg.duration_s for seg in self.schedule)
        return self.duration_min * 60.0

    def validate(self, path: str) -> None:
        if self.mode == "transient" and self.time_step_s > self.session_duration_s:
            raise InputError(
                f"{path}.time_step_s = {self.time_step_s!r}: expected at most the duration ({self.session_duration_s} "
                "s)"
            )
        if self.adaptive and self.scheme != "crank-nicolson":
            raise InputError(bad_value(f"{path}.scheme", self.scheme,
                                       "'crank-nicolson' with adaptive = true (TR-AB2 error control)"))
        if self.adaptive and self.cut_faces == "baseline":
            raise InputError(bad_value(f"{path}.cut_faces", self.cut_faces, "'adiabatic' with adaptive = true"))
        if self.adaptive and self.min_time_step_s > self.time_step_s:
            raise InputError(bad_value(f"{path}.min_time_step_s", self.min_time_step_s,
                                       f"at most time_step_s = {self.time_step_s}"))
        if self.mode == "steady" and self.schedule:
            raise InputError(bad_value(f"{path}.schedule", "[...]",
                                       "no schedule with mode = 'steady' (steady state at field fraction 1)"))
        for k, v in self.perfusion_curves.items():
            if v not in ("muscle", "fat", "tumour", "constant"):
                raise InputError(bad_value(f"{path}.perfusion_curves.{k}", v,
                                           "one of 'muscle', 'fat', 'tumour', 'constant'"))
        names = [p.name for p in self.probes]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise InputError(f"{path}.probes: probe names {dup} repeat; expected unique names")


# --- [safety] -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class StructureLimit:
    """A limit on one structure (a mesh region by name: RTSTRUCT ROI / segment / label / body name), checked
    against the per-structure metrics of metrics.csv (planner.reporting.structure_metrics); a violation
    is named in summary.json ``safety.violations`` and `planner run` exits 3; the settings search keeps to it."""

    PLAN_SECTION = "[[safety.structure_limits]]"

    structure: str = spec(check=lambda s: bool(s.strip()), expected="a structure (region) name, e.g. 'Rectum'")
    T_max_C: float | None = spec(None, check=lambda t: 37.0 <= t <= 60.0,
                                 expected="a temperature in 37..60 °C: the structure's highest temperature")
    T10_max_C: float | None = spec(None, check=lambda t: 37.0 <= t <= 60.0,
                                   expected="a temperature in 37..60 °C: the temperature reached by 10 % of the structure")
    CEM43_max_min: float | None = spec(None, check=positive, expected="a positive thermal dose (CEM43, minutes): the structure's "
                                                                      "highest CEM43")

    def validate(self, path: str) -> None:
        if self.T_max_C is None and self.T10_max_C is None and self.CEM43_max_min is None:
            raise InputError(f"{path}: structure {self.structure!r} has no limit; expected T_max_C, T10_max_C and/or CEM43_max_min")


@dataclass(frozen=True)
class SafetySection:
    Hf_limit_A_per_m_s: float = spec(4.85e8, check=positive,
                                     expected="a positive H·f product (A m⁻¹ s⁻¹); Atkinson–Brezovich 4.85e8")
    Hf_amplitude: str = spec("peak", check=one_of("peak", "rms")[0],
                             expected="'peak' or 'rms': how H in the H·f limit is measured")
    max_healthy_T_C: float = spec(43.0, check=lambda t: 37.0 <= t <= 60.0, expected="a temperature in 37..60 °C")
    max_implant_dT_K: float = spec(2.0, check=positive, expected="a positive temperature rise (K)")
    max_E_V_per_m: float | None = spec(None, check=positive, expected="a positive peak induced field (V/m) in healthy tissue, "
                                       "implant-adjacent tissue included; unset: reported, not checked")
    max_SAR10g_W_per_kg: float | None = spec(None, check=positive, expected="a positive 10 g SAR (W/kg), IEC/IEEE 62704-1 cubes; "
                                             "unset: reported, not checked")
    stop_on_violation: bool = spec(False, help="true: a violation at the plan's settings skips the settings search; "
                                   "the results (with the violations) are written either way and `planner run` exits 3")
    # --- systemic limits (IEC 60601-2-33 style; planner.planning.safety) -------------------------
    sar_operating_mode: str = spec("normal", check=one_of("normal", "first-level")[0],
                                   expected="'normal' (whole-body SAR 2 W/kg, core rise 0.5 K) or 'first-level' (4 W/kg, 1 K)")
    whole_body_SAR_limit_W_per_kg: float | None = spec(None, check=positive,
                                                       expected="a positive whole-body SAR limit (W/kg); default by sar_operating_mode")
    max_arterial_rise_K: float | None = spec(None, check=positive,
                                             expected="a positive arterial (core) temperature rise (K); default by sar_operating_mode")
    max_implant_adjacent_CEM43_min: float | None = spec(None, check=positive,
                                                        expected="a positive CEM43 (min) allowed in tissue touching an implant; "
                                                                 "default: reported, not limited")
    structure_limits: tuple[StructureLimit, ...] = spec((), help="per-structure limits [[safety.structure_limits]] (e.g. "
                                                                 "structure = 'Rectum', T_max_C = 42.0)")

    def validate(self, path: str) -> None:
        names = [s.structure for s in self.structure_limits]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise InputError(f"{path}.structure_limits: structures {dup} repeat; expected one row per structure")


# --- [search] -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class SearchSection:
    """Find the largest safe field amplitude and the smallest one reaching the goal T90 (planner.planning.search)."""

    goal_T90_C: float = spec(42.0, check=lambda t: 37.0 < t < 60.0, expected="a target T90 in 37..60 °C")
    max_field_kA_per_m: float = spec(
        30.0, check=positive, expected="a positive upper bound of the search (kA/m, plan's amplitude convention)")
    tolerance_kA_per_m: float = spec(0.05, check=positive, expected="a positive bisection tolerance (kA/m)")
    mode: str = spec("transient", check=one_of("transient", "steady-upper-bound", "steady", "plan")[0],
                     expected="'transient' (the [thermal] session per evaluation) or 'steady-upper-bound' (steady Pennes: an "
                              "upper bound for constant perfusion); 'plan' and 'steady' are older names of the two")
    sweep_points: int = spec(6, check=lambda n: 3 <= n <= 50,
                             expected="an integer in 3..50 (fields swept from 0 to the ceiling before root finding)")
    frequencies_kHz: tuple[float, ...] = spec((), check=lambda fs: all(math.isfinite(f) and f > 0 for f in fs),
                                              expected="positive frequencies in kHz (each searched for its field; the best (H, f) is "
                                                       "reported)")


# --- [uncertainty] ------------------------------------------------------------------------------
@dataclass(frozen=True)
class UncertaintySection:
    """Uncertainty study (planner.uncertainty): log-normal scale factors (median 1, spread ``*_sigma_ln``:
    the standard deviation of the natural log; 0 = not uncertain) sampled by scrambled Sobol QMC."""

    samples: int = spec(64, check=lambda n: 4 <= n <= 65536 and (n & (n - 1)) == 0,
                        expected="a power of two in 4..65536 (Sobol points come in powers of two)")
    method: str = spec("sobol", check=one_of("sobol", "mc")[0],
                       expected="'sobol' (scrambled Sobol quasi-Monte Carlo) or 'mc' (plain Monte Carlo)")
    seed: int = spec(0, check=lambda n: n >= 0, expected="a non-negative integer seed")
    slp_sigma_ln: float = spec(0.3, check=non_negative, expected="a non-negative log-spread of the SLP scale")
    mass_sigma_ln: float = spec(0.2, check=non_negative, expected="a non-negative log-spread of the particle mass")
    field_sigma_ln: float = spec(0.05, check=non_negative, expected="a non-negative log-spread of the field amplitude")
    conductivity_sigma_ln: float = spec(0.0, check=non_negative,
                                        expected="a non-negative log-spread of all tissue conductivities (one common scale)")
    perfusion_sigma_ln: float = spec(0.5, check=non_negative,
                                     expected="a non-negative log-spread of perfusion (per tissue of perfusion_tissues)")
    perfusion_tissues: tuple[str, ...] = spec((), help="tissues whose perfusion is uncertain (each its own scale; re-solves)")
    conductivity_tissues: tuple[str, ...] = spec((), help="tissues whose electrical conductivity is uncertain (each "
                                                 "its own scale; each sample re-solves the eddy currents)")
    conductivity_tissue_sigma_ln: float = spec(0.2, check=non_negative,
                                               expected="a non-negative log-spread of the conductivity of each tissue "
                                                        "of conductivity_tissues")
    deposit_size_sigma_ln: float = spec(0.0, check=non_negative,
                                        expected="a non-negative log-spread of the deposit size (semi_axes_mm / "
                                                 "sigma_mm of distribution kind 'deposit'; each sample re-solves)")
    arterial_sd_K: float = spec(0.0, check=non_negative, expected="a non-negative standard deviation of T_arterial (K)")
    alpha: float = spec(0.05, check=lambda a: 0.0 < a < 1.0, expected="a probability in (0, 1): allowed P(violation)")
    beta: float = spec(0.1, check=lambda b: 0.0 < b < 1.0, expected="a probability in (0, 1): allowed P(T90 < goal)")
    goal_T90_C: float | None = spec(None, check=lambda t: 37.0 < t < 60.0,
                                    expected="a target T90 in 37..60 °C (default: [search] goal_T90_C, else 42)")
    max_field_factor: float = spec(3.0, check=lambda f: 1.0 <= f <= 20.0,
                                   expected="a factor in 1..20: the robust search looks up to this × the plan's field")
    cache_dir: str | None = spec(None, check=lambda s: bool(s.strip()),
                                 expected="a folder (relative to the plan file) for per-sample thermal responses: an "
                                          "interrupted study resumes from it; unset: no cache")
    ranks_per_group: int = spec(0, check=lambda n: n >= 0,
                                expected="ranks per sample group under mpirun (N ranks: N/k samples at once on k ranks "
                                         "each); 0: all ranks solve each sample together")


# --- [tissues.<name>] ---------------------------------------------------------------------------
@dataclass(frozen=True)
class TissueOverride:
    """Override any tissue property, or define a new tissue with ``base`` = an existing one."""

    base: str | None = spec(None, expected="an existing tissue name to copy")
    conductivity_S_per_m: float | None = spec(None, check=non_negative, expected="a non-negative conductivity (S/m)")
    density_kg_per_m3: float | None = spec(None, check=positive, expected="a positive density")
    heat_capacity_J_per_kg_K: float | None = spec(None, check=positive, expected="a positive heat capacity")
    thermal_conductivity_W_per_m_K: float | None = spec(None, check=positive,
                                                        expected="a positive thermal conductivity")
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
    "em": EMSection,
    "selection_field": SelectionFieldSection,
    "uncertainty": UncertaintySection,
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
    em: EMSection | None = None
    selection_field: SelectionFieldSection | None = None
    uncertainty: UncertaintySection | None = None
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


def _collect(errors: list[str], fn: Any, *args: Any) -> Any:
    """``fn(*args)``, or None with its error lines appended to ``errors``."""
    try:
        return fn(*args)
    except InputError as exc:
        errors.extend(error_lines(exc))
        return None


def _parse_tissues(t: Any, errors: list[str]) -> dict[str, TissueOverride] | None:
    if not isinstance(t, dict):
        errors.append(bad_value("tissues", t, "tables [tissues.<name>]"))
        return None
    out = {k: _collect(errors, parse_section, TissueOverride, v, f"tissues.{k}") for k, v in t.items()}
    return out


def _raw_table(name: str, value: Any) -> dict:
    if not isinstance(value, dict):
        raise InputError(bad_value(name, value, "a table"))
    return value


def parse_plan(data: dict, plan_file: Path | None = None, sha256: str = "") -> PlanConfig:
    """Validate a whole plan; ALL its errors are reported together (:class:`InputErrors`, one line each)."""
    errors: list[str] = []
    allowed = set(_SECTIONS) | set(_RAW_SECTIONS) | {"tissues"}
    for k in sorted(set(data) - allowed):
        errors.append(f"[{k}]: unknown section; expected one of: {', '.join(sorted(allowed))}")
    errors += [f"[{req}]: missing required section" for req in ("plan", "mesh") if req not in data]
    if ("geometry" in data) == ("imaging" in data):
        errors.append("[geometry]/[imaging]: expected exactly one of the two (primitives or DICOM images)")
    kwargs: dict[str, Any] = {}
    for name, cls in _SECTIONS.items():
        if name in data:
            kwargs[name] = _collect(errors, parse_section, cls, data[name], name)
    for name in _RAW_SECTIONS:
        if name in data:
            kwargs[name] = _collect(errors, _raw_table, name, data[name])
    if "tissues" in data:
        kwargs["tissues"] = _parse_tissues(data["tissues"], errors)
    for name, validate in STAGE_SECTIONS.items():  # sections owned by stages (e.g. [imaging])
        if isinstance(data.get(name), dict):
            _collect(errors, validate, data)
    if len(errors) == 1:
        raise InputError(errors[0])
    if errors:
        raise InputErrors(errors)
    return PlanConfig(plan_file=plan_file, plan_sha256=sha256, **kwargs)


def load_plan(path: str | Path) -> PlanConfig:
    """Read and validate a plan file: :class:`InputError` with a one-line message, or
    :class:`InputErrors` with every error of the plan, one line each."""
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
