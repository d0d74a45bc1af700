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

from planner.config_schema import (
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

MM = 1e-3


# --- [plan] ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PlanSection:
    name: str = spec(check=lambda s: bool(s.strip()), expected="a non-empty string")
    output_dir: str = spec("results", check=lambda s: bool(s.strip()), expected="a folder path, relative to the plan file")
    description: str = spec("")
    overwrite: bool = spec(True, help="replace an existing results folder atomically")


# --- [geometry] ---------------------------------------------------------------------------------
_SHAPES = one_of("box", "sphere", "cylinder", "ellipsoid")
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

    def validate(self, path: str) -> None:
        needed = {
            "box": ("size_mm",),
            "sphere": ("radius_mm",),
            "cylinder": ("radius_mm", "length_mm"),
            "ellipsoid": ("semi_axes_mm",),
        }[self.shape]
        allowed = set(needed) | ({"axis"} if self.shape == "cylinder" else set())
        for k in needed:
            if getattr(self, k) is None:
                raise InputError(f"{path}.{k}: missing required key for shape = {self.shape!r}")
        for k in ("radius_mm", "length_mm", "size_mm", "semi_axes_mm"):
            if k not in allowed and getattr(self, k) is not None:
                raise InputError(
                    f"{path}.{k} = {getattr(self, k)!r}: not used by shape = {self.shape!r}; expected only {sorted(allowed)}"
                )
        if self.shape != "cylinder" and self.axis != (0.0, 0.0, 1.0):
            raise InputError(f"{path}.axis = {list(self.axis)!r}: only cylinders take an axis")

    @property
    def center_m(self) -> tuple[float, float, float]:
        return tuple(c * MM for c in self.center_mm)  # type: ignore[return-value]

    def exact_volume_m3(self) -> float:
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

    @property
    def frequency_Hz(self) -> float:
        return self.frequency_kHz * 1e3

    @property
    def H_peak_A_per_m(self) -> float:
        """Requested field amplitude at the target centre, as a peak value."""
        h = self.field_kA_per_m * 1e3
        return h * math.sqrt(2.0) if self.amplitude == "rms" else h


# --- [nanoparticles] ----------------------------------------------------------------------------
@dataclass(frozen=True)
class NanoparticleSection:
    slp_model: str = spec(check=lambda s: bool(s), expected="an SLP model name")
    parameters: dict[str, Any] = spec(default_factory=dict, help="model parameters, validated by the model")
    distribution: dict[str, Any] = spec(default_factory=dict, help="[nanoparticles.distribution], validated by its kind")


# --- [thermal] ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProbeSpec:
    name: str = spec(check=lambda s: bool(s.strip()), expected="a non-empty string")
    position_mm: tuple[float, float, float] = spec(check=vec3, expected="3 finite numbers")


@dataclass(frozen=True)
class ThermalSection:
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
    schedule: tuple[dict, ...] = spec((), help="field on/off segments, validated by the thermal stage")

    def validate(self, path: str) -> None:
        if self.mode == "transient" and self.time_step_s > self.duration_min * 60.0:
            raise InputError(
                f"{path}.time_step_s = {self.time_step_s!r}: expected at most the duration ({self.duration_min * 60.0} s)"
            )


# --- [safety] -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class SafetySection:
    Hf_limit_A_per_m_s: float = spec(4.85e8, check=positive, expected="a positive H·f product (A m⁻¹ s⁻¹); Atkinson–Brezovich 4.85e8")
    Hf_amplitude: str = spec("peak", check=one_of("peak", "rms")[0], expected="'peak' or 'rms': how H in the H·f limit is measured")
    max_healthy_T_C: float = spec(43.0, check=lambda t: 37.0 <= t <= 60.0, expected="a temperature in 37..60 °C")
    max_implant_dT_K: float = spec(2.0, check=positive, expected="a positive temperature rise (K)")
    stop_on_violation: bool = spec(False)


# --- [search] -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class SearchSection:
    """Find the largest safe field amplitude and the smallest one reaching the goal T90 (planner.search)."""

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
