"""Tissue library: material properties as cited data (``planner/tissues/data/tissues.csv``) and its loader.

Every row of the CSV carries a citation. Thermal values are IT'IS-Foundation-style mean values
(IT'IS Foundation, Tissue Properties Database V4.1, 2022); electrical conductivity follows the
4-term Cole–Cole model of Gabriel, Lau & Gabriel (1996), Phys. Med. Biol. 41:2271, Table 1:

    ε*(ω) = ε∞ + Σ_{n=1..4} Δε_n / (1 + (jωτ_n)^(1−α_n)) + σ_i / (jωε0)
    σ(ω)  = Re(jωε0 ε*(ω)) = σ_i − ωε0 Σ_n Im[Δε_n / (1 + (jωτ_n)^(1−α_n))]      (S/m)

Metals and air are rows with all Δε_n = 0, so σ(ω) = σ_i (frequency independent). A plan can
override any property (``[tissues.<name>]`` → :class:`planner.config.plan.TissueOverride`); a constant
``conductivity_S_per_m`` override replaces the Cole–Cole curve.

Usage::

    lib = load_library(cfg.tissues)
    t = lib["muscle"]; t.conductivity_S_per_m(100e3); t.perfusion_per_s; lib.blood
"""
from __future__ import annotations

import csv
import dataclasses
import io
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

from planner.config.plan import TissueOverride
from planner.config.schema import parse_section
from planner.errors import InputError, bad_value
from planner.units import EPS0_F_per_m

"""Vacuum permittivity ε0 (F/m), CODATA 2018."""

KINDS = ("tissue", "metal", "air")
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_DATA_FILE = "tissues.csv"
_OVERRIDE_NOTE = "; overridden by plan"

# Properties a [tissues.<name>] table may override (TissueOverride field -> Tissue field).
_THERMAL_KEYS = (
    "density_kg_per_m3",
    "heat_capacity_J_per_kg_K",
    "thermal_conductivity_W_per_m_K",
    "perfusion_mL_per_min_per_kg",
    "metabolic_heat_W_per_kg",
    "relative_permeability",
)


# --- Cole–Cole dispersion -------------------------------------------------------------------
@dataclass(frozen=True)
class ColeColeParameters:
    """Four-term Cole–Cole dielectric dispersion (Gabriel, Lau & Gabriel 1996, Phys. Med. Biol. 41:2271).

    ``eps_inf`` ε∞ (1), ``sigma_i_S_per_m`` static ionic conductivity σ_i (S/m), and per term n = 1..4
    ``delta_eps[n]`` Δε_n (1), ``tau_s[n]`` τ_n (s), ``alpha[n]`` α_n ∈ [0, 1). Terms with Δε_n = 0
    are ignored.
    """

    eps_inf: float
    sigma_i_S_per_m: float
    delta_eps: tuple[float, float, float, float]
    tau_s: tuple[float, float, float, float]
    alpha: tuple[float, float, float, float]

    def _terms(self) -> list[tuple[float, float, float]]:
        return [(d, t, a) for d, t, a in zip(self.delta_eps, self.tau_s, self.alpha) if d != 0.0]

    @property
    def is_dispersive(self) -> bool:
        """True if any relaxation term is active (σ depends on frequency)."""
        return bool(self._terms())

    def complex_relative_permittivity(self, frequency_Hz: float | np.ndarray) -> np.ndarray:
        """ε*(ω) = ε' − jε'' including the ionic term σ_i/(jωε0); e^{jωt} convention."""
        f = _check_frequency(frequency_Hz)
        w = 2.0 * np.pi * f
        eps = np.full(f.shape, self.eps_inf, dtype=complex)
        for d, t, a in self._terms():
            eps = eps + d / (1.0 + (1j * w * t) ** (1.0 - a))
        if self.sigma_i_S_per_m != 0.0:
            eps = eps + self.sigma_i_S_per_m / (1j * w * EPS0_F_per_m)
        return eps

    def relative_permittivity(self, frequency_Hz: float | np.ndarray) -> np.ndarray:
        """Relative permittivity ε_r(ω) = Re ε*(ω) = ε∞ + Σ Re Δε_n/(1 + (jωτ_n)^(1−α_n)) (1); with
        σ(ω) the admittivity is σ* = σ + jωε0 ε_r."""
        return np.real(self.complex_relative_permittivity(frequency_Hz))

    def conductivity_S_per_m(self, frequency_Hz: float | np.ndarray) -> np.ndarray:
        """Effective conductivity σ(ω) = Re(jωε0 ε*(ω)) = σ_i + ωε0 ε''_dipolar(ω), S/m."""
        f = _check_frequency(frequency_Hz)
        w = 2.0 * np.pi * f
        sigma = np.full(f.shape, self.sigma_i_S_per_m, dtype=float)
        for d, t, a in self._terms():
            sigma = sigma - w * EPS0_F_per_m * np.imag(d / (1.0 + (1j * w * t) ** (1.0 - a)))
        return sigma


def _check_frequency(frequency_Hz: float | np.ndarray) -> np.ndarray:
    try:
        f = np.asarray(frequency_Hz, dtype=float)
    except (TypeError, ValueError):
        raise InputError(bad_value("frequency_Hz", frequency_Hz, "a positive frequency in Hz")) from None
    if f.size == 0:
        raise InputError(bad_value("frequency_Hz", frequency_Hz, "at least one frequency > 0 Hz"))
    good = np.isfinite(f) & (f > 0)
    if not np.all(good):
        bad = float(f[~good].flat[0])
        raise InputError(bad_value("frequency_Hz", bad, "finite frequencies > 0 Hz"))
    return f


def _as_output(f_in: float | np.ndarray, values: np.ndarray) -> float | np.ndarray:
    return float(values) if np.ndim(f_in) == 0 else values


# --- one tissue -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tissue:
    """Material properties of one tissue or implant material (SI units, see field names).

    ``perfusion_mL_per_min_per_kg`` is the blood volume flow per tissue mass (IT'IS "heat transfer
    rate" convention); :attr:`perfusion_per_s` converts it to the Pennes volumetric rate ω_b (1/s).
    ``constant_conductivity_S_per_m`` set (by a plan override) replaces the Cole–Cole curve.
    """

    name: str
    kind: str
    density_kg_per_m3: float
    heat_capacity_J_per_kg_K: float
    thermal_conductivity_W_per_m_K: float
    perfusion_mL_per_min_per_kg: float
    metabolic_heat_W_per_kg: float
    relative_permeability: float
    citation: str
    cole_cole: ColeColeParameters
    constant_conductivity_S_per_m: float | None = None
    overridden: bool = False

    @property
    def perfusion_per_s(self) -> float:
        """Pennes ω_b (1/s) = perfusion [mL/min/kg] × 1e-6 m³/mL / 60 s/min × ρ [kg/m³]."""
        return self.perfusion_mL_per_min_per_kg * 1e-6 / 60.0 * self.density_kg_per_m3

    @property
    def metabolic_heat_W_per_m3(self) -> float:
        """Volumetric metabolic heat Q_m (W/m³) = q_m [W/kg] × ρ [kg/m³]."""
        return self.metabolic_heat_W_per_kg * self.density_kg_per_m3

    @property
    def volumetric_heat_capacity_J_per_m3_K(self) -> float:
        """ρc (J m⁻³ K⁻¹)."""
        return self.density_kg_per_m3 * self.heat_capacity_J_per_kg_K

    @property
    def is_conductor(self) -> bool:
        """True if σ(f) > 0 at every frequency f > 0."""
        if self.constant_conductivity_S_per_m is not None:
            return self.constant_conductivity_S_per_m > 0.0
        return self.cole_cole.sigma_i_S_per_m > 0.0 or self.cole_cole.is_dispersive

    @property
    def is_dispersive(self) -> bool:
        """True if the conductivity depends on frequency."""
        return self.constant_conductivity_S_per_m is None and self.cole_cole.is_dispersive

    def conductivity_S_per_m(self, frequency_Hz: float | np.ndarray) -> float | np.ndarray:
        """Effective electrical conductivity σ(f) in S/m (vectorised over ``frequency_Hz`` > 0).

        Cole–Cole: σ(ω) = Re(jωε0 ε*(ω)), see the module docstring; or the constant override.
        Returns a float for a scalar frequency, else an array of the same shape.
        """
        f = _check_frequency(frequency_Hz)
        if self.constant_conductivity_S_per_m is not None:
            sigma = np.full(f.shape, self.constant_conductivity_S_per_m, dtype=float)
        else:
            sigma = self.cole_cole.conductivity_S_per_m(f)
        return _as_output(frequency_Hz, sigma)

    def relative_permittivity(self, frequency_Hz: float | np.ndarray) -> float | np.ndarray:
        """Relative permittivity ε_r(f) = Re ε*(f) of the Cole–Cole dispersion (a conductivity override
        keeps the curve's ε_r); a float for a scalar frequency."""
        f = _check_frequency(frequency_Hz)
        return _as_output(frequency_Hz, self.cole_cole.relative_permittivity(f))

    def summary_block(self, frequency_Hz: float | None = None) -> dict[str, Any]:
        """JSON-serialisable properties (and σ at ``frequency_Hz`` if given) for summary.json."""
        out: dict[str, Any] = {
            "kind": self.kind,
            "density_kg_per_m3": self.density_kg_per_m3,
            "heat_capacity_J_per_kg_K": self.heat_capacity_J_per_kg_K,
            "thermal_conductivity_W_per_m_K": self.thermal_conductivity_W_per_m_K,
            "perfusion_mL_per_min_per_kg": self.perfusion_mL_per_min_per_kg,
            "perfusion_per_s": self.perfusion_per_s,
            "metabolic_heat_W_per_kg": self.metabolic_heat_W_per_kg,
            "relative_permeability": self.relative_permeability,
            "overridden": self.overridden,
            "citation": self.citation,
        }
        if frequency_Hz is not None:
            out["conductivity_S_per_m"] = float(self.conductivity_S_per_m(float(frequency_Hz)))
            out["frequency_Hz"] = float(frequency_Hz)
        return out


# --- the library ------------------------------------------------------------------------------
class TissueLibrary:
    """Read-only collection of :class:`Tissue` by name (aliases such as ``tumor`` also resolve)."""

    def __init__(self, tissues: Mapping[str, Tissue], aliases: Mapping[str, str] | None = None) -> None:
        self._tissues: dict[str, Tissue] = dict(tissues)
        self._aliases: dict[str, str] = {a: n for a, n in (aliases or {}).items() if n in self._tissues}

    def resolve(self, name: str) -> str | None:
        """Canonical name for ``name`` (a name or an alias), or None if unknown."""
        if not isinstance(name, str):
            return None
        if name in self._tissues:
            return name
        return self._aliases.get(name)

    def __getitem__(self, name: str) -> Tissue:
        canonical = self.resolve(name)
        if canonical is None:
            raise InputError(bad_value("tissue", name, "a known tissue: " + ", ".join(self.names())))
        return self._tissues[canonical]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.resolve(name) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._tissues)

    def get(self, name: str, default: Tissue | None = None) -> Tissue | None:
        canonical = self.resolve(name)
        return default if canonical is None else self._tissues[canonical]

    def names(self) -> list[str]:
        """Canonical tissue names, in library (CSV) order, plan-defined tissues last."""
        return list(self._tissues)

    def aliases(self) -> dict[str, str]:
        """Alias → canonical name."""
        return dict(self._aliases)

    def items(self) -> list[tuple[str, Tissue]]:
        return list(self._tissues.items())

    @property
    def blood(self) -> Tissue:
        """The blood tissue (ρ_b, c_b of the Pennes perfusion term)."""
        return self["blood"]

    def summary_block(self, names: list[str] | None = None, frequency_Hz: float | None = None) -> dict[str, Any]:
        """Properties and citations of ``names`` (default: all) for summary.json."""
        chosen = self.names() if names is None else [self[n].name for n in names]
        return {n: self._tissues[n].summary_block(frequency_Hz) for n in dict.fromkeys(chosen)}

    def __repr__(self) -> str:
        return f"TissueLibrary({len(self)} tissues: {', '.join(self.names())})"


# --- CSV reading ------------------------------------------------------------------------------
def _read_rows(text: str, source: str) -> list[tuple[int, dict[str, str]]]:
    lines = text.splitlines()
    numbered = [(i + 1, ln) for i, ln in enumerate(lines) if ln.strip() and not ln.lstrip().startswith("#")]
    if not numbered:
        raise InputError(f"{source}: no header row; expected a CSV table")
    reader = csv.reader(io.StringIO("\n".join(ln for _, ln in numbered)))
    rows = list(reader)
    header = rows[0]
    required = ["name", "kind", "aliases", *_THERMAL_KEYS, "eps_inf", "sigma_i_S_per_m", "citation"]
    for n in range(1, 5):
        required += [f"delta_eps_{n}", f"tau_{n}_s", f"alpha_{n}"]
    missing = [c for c in required if c not in header]
    if missing:
        raise InputError(f"{source}: missing column(s) {missing}; header is {header}")
    out = []
    for (lineno, _), values in zip(numbered[1:], rows[1:]):
        if len(values) != len(header):
            raise InputError(f"{source}:{lineno}: {len(values)} fields; expected {len(header)} (one per column)")
        out.append((lineno, dict(zip(header, values))))
    return out


def _num(row: dict[str, str], key: str, where: str, check: str = "finite") -> float:
    raw = row[key].strip()
    try:
        v = float(raw)
    except ValueError:
        raise InputError(bad_value(f"{where}.{key}", raw, "a number")) from None
    ok = math.isfinite(v) and {"finite": True, "positive": v > 0, "non_negative": v >= 0}[check]
    if not ok:
        raise InputError(bad_value(f"{where}.{key}", v, f"a {check.replace('_', '-')} number"))
    return v


def _tissue_from_row(row: dict[str, str], where: str) -> Tissue:
    name = row["name"].strip()
    if not _NAME_RE.match(name):
        raise InputError(bad_value(f"{where}.name", name, "a lowercase snake_case name"))
    kind = row["kind"].strip()
    if kind not in KINDS:
        raise InputError(bad_value(f"{where}.kind", kind, "one of " + ", ".join(KINDS)))
    citation = row["citation"].strip()
    if not citation:
        raise InputError(bad_value(f"{where}.citation", citation, "a non-empty literature citation"))
    d, t, a = [], [], []
    for n in range(1, 5):
        d.append(_num(row, f"delta_eps_{n}", where, "non_negative"))
        t.append(_num(row, f"tau_{n}_s", where, "non_negative"))
        alpha = _num(row, f"alpha_{n}", where, "non_negative")
        if alpha >= 1.0:
            raise InputError(bad_value(f"{where}.alpha_{n}", alpha, "0 <= alpha < 1"))
        a.append(alpha)
        if d[-1] > 0 and t[-1] <= 0:
            raise InputError(bad_value(f"{where}.tau_{n}_s", t[-1], "a positive relaxation time where delta_eps > 0"))
    cc = ColeColeParameters(
        eps_inf=_num(row, "eps_inf", where, "positive"),
        sigma_i_S_per_m=_num(row, "sigma_i_S_per_m", where, "non_negative"),
        delta_eps=tuple(d),  # type: ignore[arg-type]
        tau_s=tuple(t),  # type: ignore[arg-type]
        alpha=tuple(a),  # type: ignore[arg-type]
    )
    return Tissue(
        name=name,
        kind=kind,
        density_kg_per_m3=_num(row, "density_kg_per_m3", where, "positive"),
        heat_capacity_J_per_kg_K=_num(row, "heat_capacity_J_per_kg_K", where, "positive"),
        thermal_conductivity_W_per_m_K=_num(row, "thermal_conductivity_W_per_m_K", where, "positive"),
        perfusion_mL_per_min_per_kg=_num(row, "perfusion_mL_per_min_per_kg", where, "non_negative"),
        metabolic_heat_W_per_kg=_num(row, "metabolic_heat_W_per_kg", where, "non_negative"),
        relative_permeability=_num(row, "relative_permeability", where, "positive"),
        citation=citation,
        cole_cole=cc,
    )


def parse_library_csv(text: str, source: str = _DATA_FILE) -> TissueLibrary:
    """Build a :class:`TissueLibrary` from CSV text in the ``tissues.csv`` format."""
    tissues: dict[str, Tissue] = {}
    aliases: dict[str, str] = {}
    for lineno, row in _read_rows(text, source):
        where = f"{source}:{lineno}"
        t = _tissue_from_row(row, where)
        if t.name in tissues or t.name in aliases:
            raise InputError(bad_value(f"{where}.name", t.name, "a name not used by another row"))
        tissues[t.name] = t
        for alias in filter(None, (s.strip() for s in row["aliases"].split("|"))):
            if not _NAME_RE.match(alias) or alias in tissues or alias in aliases:
                raise InputError(bad_value(f"{where}.aliases", alias, "a new lowercase snake_case name"))
            aliases[alias] = t.name
    clash = sorted(set(aliases) & set(tissues))
    if clash:
        raise InputError(bad_value(f"{source}.aliases", clash[0], "an alias that is not also a tissue name"))
    return TissueLibrary(tissues, aliases)


def _default_library() -> TissueLibrary:
    text = resources.files("planner.tissues").joinpath("data", _DATA_FILE).read_text(encoding="utf-8")
    return parse_library_csv(text, f"planner/tissues/data/{_DATA_FILE}")


# --- overrides --------------------------------------------------------------------------------
def _coerce_override(name: str, value: Any) -> TissueOverride:
    path = f"tissues.{name}"
    if isinstance(value, TissueOverride):
        ov = value
    elif isinstance(value, dict):
        ov = parse_section(TissueOverride, value, path)
    else:
        raise InputError(bad_value(path, value, "a [tissues.<name>] table of property overrides"))
    # Re-check values (an override may be built in code rather than parsed from a plan).
    for f in dataclasses.fields(TissueOverride):
        v = getattr(ov, f.name)
        if v is None or f.name == "base":
            continue
        check = f.metadata.get("check")
        ok = isinstance(v, (int, float)) and not isinstance(v, bool)
        if ok and check is not None:
            try:
                ok = bool(check(float(v)))
            except (TypeError, ValueError):
                ok = False
        if not ok:
            raise InputError(bad_value(f"{path}.{f.name}", v, f.metadata.get("expected") or "a valid number"))
    if ov.base is not None and not isinstance(ov.base, str):
        raise InputError(bad_value(f"{path}.base", ov.base, "an existing tissue name to copy"))
    return ov


def _apply(name: str, start: Tissue, ov: TissueOverride, based_on: str | None) -> Tissue:
    changes: dict[str, Any] = {k: float(getattr(ov, k)) for k in _THERMAL_KEYS if getattr(ov, k) is not None}
    if ov.conductivity_S_per_m is not None:
        changes["constant_conductivity_S_per_m"] = float(ov.conductivity_S_per_m)
    citation = start.citation if based_on is None else f"copy of '{based_on}' ({start.citation})"
    if not citation.endswith(_OVERRIDE_NOTE):
        citation += _OVERRIDE_NOTE
    return dataclasses.replace(start, name=name, citation=citation, overridden=True, **changes)


def apply_overrides(lib: TissueLibrary, overrides: Mapping[str, Any] | None) -> TissueLibrary:
    """Return a new library with ``[tissues.<name>]`` overrides applied.

    An existing name (or alias) keeps its properties except the ones given; with ``base`` it starts
    from a copy of ``base`` instead. A new name must give ``base`` (an existing tissue, or another
    plan-defined one). Every overridden tissue gets ``overridden=True`` and "; overridden by plan"
    appended to its citation.
    """
    if not overrides:
        return lib
    if not isinstance(overrides, Mapping):
        raise InputError(bad_value("tissues", overrides, "tables [tissues.<name>]"))
    tissues = dict(lib.items())
    aliases = lib.aliases()
    pending: dict[str, tuple[str, TissueOverride]] = {}  # target canonical name -> (plan key, override)
    for key, value in overrides.items():
        if not isinstance(key, str) or not _NAME_RE.match(key):
            raise InputError(bad_value(f"tissues.{key}", key, "a lowercase snake_case tissue name"))
        ov = _coerce_override(key, value)
        target = lib.resolve(key) or key
        if target in pending:
            raise InputError(
                bad_value(f"tissues.{key}", key, f"one table per tissue ([tissues.{pending[target][0]}] names the same one)")
            )
        pending[target] = (key, ov)
    # Existing tissues without base first (so new tissues copy the overridden values), then the rest in
    # dependency order.
    for target, (_key, ov) in list(pending.items()):
        if target in tissues and ov.base is None:
            tissues[target] = _apply(target, tissues[target], ov, None)
            del pending[target]
    while pending:
        progressed = False
        for target, (key, ov) in list(pending.items()):
            if ov.base is None:
                raise InputError(
                    f"tissues.{key}.base: missing; a new tissue {key!r} must copy an existing one; "
                    f"expected one of: {', '.join(tissues)}"
                )
            base = ov.base if ov.base in tissues else aliases.get(ov.base, ov.base)
            if base in pending and base != target:
                continue  # defined later in this loop
            if base not in tissues:
                raise InputError(
                    bad_value(f"tissues.{key}.base", ov.base, "an existing tissue: " + ", ".join(tissues))
                )
            tissues[target] = _apply(target, tissues[base], ov, base)
            del pending[target]
            progressed = True
        if not progressed:
            key, ov = next(iter(pending.values()))
            raise InputError(bad_value(f"tissues.{key}.base", ov.base, "a tissue that does not (indirectly) copy itself"))
    return TissueLibrary(tissues, aliases)


def load_library(overrides: Mapping[str, TissueOverride] | None = None) -> TissueLibrary:
    """The packaged tissue library (``planner/tissues/data/tissues.csv``) with plan overrides applied.

    ``overrides`` is ``PlanConfig.tissues``: ``{name: TissueOverride}`` (plain dicts are parsed too).
    Raises :class:`planner.errors.InputError` naming ``tissues.<name>.<key>`` for bad overrides.
    """
    return apply_overrides(_default_library(), overrides)


__all__ = [
    "EPS0_F_per_m",
    "KINDS",
    "ColeColeParameters",
    "Tissue",
    "TissueLibrary",
    "apply_overrides",
    "load_library",
    "parse_library_csv",
]
