"""SLP model ``table``: measured SLP(H, f) from a CSV file.

``table``
    Measured SLP(H, f) from a CSV (see :func:`read_slp_table` for the format). Monotone piecewise
    cubic Hermite (PCHIP, Fritsch & Carlson 1980) interpolation in H at each tabulated f, then in f.
    Outside the table: an InputError, unless ``extrapolate = true``, which continues from the
    nearest edge at constant ILP (SLP ∝ f·H², the linear-response scaling; an overestimate above
    saturation).
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.interpolate import PchipInterpolator

from planner.config.registry import SLP_MODELS
from planner.config.schema import spec
from planner.errors import InputError, bad_value
from planner.nanoparticles.slp.base import _FRACTION, MASS_BASES
from planner.units import MU0_H_per_m


@dataclass(frozen=True)
class SlpTableSection:
    """[nanoparticles.table]: measured SLP(H, f) from a CSV file with declared units and basis."""

    PLAN_SECTION = '[nanoparticles.table]'

    file: str = spec(check=lambda s: bool(s.strip()), expected="a CSV file, relative to the plan file")
    extrapolate: bool = spec(False, help="allow H, f beyond the table (constant ILP from the nearest edge)")
    iron_mass_fraction: float | None = spec(None, check=_FRACTION[0], expected=_FRACTION[1])


_H_UNITS = {"H_A_per_m": 1.0, "H_kA_per_m": 1e3, "B_mT": 1e-3 / MU0_H_per_m}  # → A/m
_F_UNITS = {"f_Hz": 1.0, "f_kHz": 1e3}
_SLP_UNITS = {"SLP_W_per_g": 1.0, "SLP_W_per_kg": 1e-3}  # → W/g
_REQUIRED_META = ("mass_basis", "amplitude", "temperature_C", "source")


@dataclass(frozen=True)
class SlpTable:
    """A measured SLP table on a rectangular (H, f) grid, SI, H as PEAK amplitude."""

    H_peak_A_per_m: np.ndarray  # (nH,) increasing
    frequency_Hz: np.ndarray  # (nf,) increasing
    slp_W_per_g: np.ndarray  # (nf, nH)
    mass_basis: str
    temperature_C: float
    source: str
    metadata: dict = field(default_factory=dict)
    path: str = ""


def read_slp_table(path: str | Path) -> SlpTable:
    """Read an SLP CSV.

    Format: ``# key: value`` metadata lines (required: ``mass_basis`` = per_g_Fe | per_g_particle,
    ``amplitude`` = peak | rms (of the tabulated field), ``temperature_C``, ``source``; optional:
    ``product``, ``iron_mass_fraction``, ``note``), then a header row naming three columns WITH
    units — field ``H_A_per_m`` | ``H_kA_per_m`` | ``B_mT`` (μ0H), frequency ``f_Hz`` | ``f_kHz``,
    loss ``SLP_W_per_g`` | ``SLP_W_per_kg`` — then one row per (H, f) point on a full rectangular
    grid (every H at every f).
    """
    path = Path(path)
    name = f"SLP table {str(path)!r}"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{name}: cannot be read ({exc.strerror}); expected a CSV file") from None
    except UnicodeDecodeError:
        raise InputError(f"{name}: not UTF-8 text (an .xlsx workbook or binary file?); expected a CSV file") from None
    meta: dict[str, str] = {}
    rows: list[list[str]] = []
    for line in text.splitlines():
        s = line.strip()
        if not s:
            continue
        if s.startswith("#"):
            body = s.lstrip("#").strip()
            if ":" in body:
                k, v = body.split(":", 1)
                meta[k.strip()] = v.strip()
            continue
        rows.append(next(csv.reader([s])))
    for k in _REQUIRED_META:
        if not meta.get(k):
            raise InputError(f"{name}: metadata '# {k}: ...' missing; expected {', '.join(_REQUIRED_META)} in '# key: "
                             "value' lines")
    if meta["mass_basis"] not in MASS_BASES:
        raise InputError(bad_value(f"{name} mass_basis", meta["mass_basis"], "'per_g_Fe' or 'per_g_particle'"))
    if meta["amplitude"] not in ("peak", "rms"):
        raise InputError(bad_value(f"{name} amplitude", meta["amplitude"], "'peak' or 'rms'"))
    try:
        temperature_C = float(meta["temperature_C"])
    except ValueError:
        raise InputError(bad_value(f"{name} temperature_C", meta["temperature_C"], "a number (°C)")) from None
    if not rows:
        raise InputError(f"{name}: no header/data rows; expected a header with units and data rows")
    header = [h.strip() for h in rows[0]]
    cols: dict[str, tuple[int, float]] = {}
    for role, units in (("H", _H_UNITS), ("f", _F_UNITS), ("SLP", _SLP_UNITS)):
        hits = [(i, units[h]) for i, h in enumerate(header) if h in units]
        if len(hits) != 1:
            raise InputError(
                f"{name}: header {header!r} has {len(hits)} {role} columns with a declared unit; "
                f"expected exactly one of {', '.join(units)}")
        cols[role] = hits[0]
    if len(header) != 3:
        raise InputError(f"{name}: header {header!r}: expected exactly the three columns H, f, SLP with units")
    data = []
    for n, r in enumerate(rows[1:], start=2):
        try:
            vals = [float(r[cols[k][0]]) * cols[k][1] for k in ("H", "f", "SLP")]
        except (ValueError, IndexError):
            raise InputError(f"{name}: data row {n} = {r!r}: expected three numbers") from None
        if not all(math.isfinite(v) for v in vals) or vals[0] <= 0 or vals[1] <= 0 or vals[2] < 0:
            raise InputError(f"{name}: data row {n} = {r!r}: expected H > 0, f > 0, SLP ≥ 0 (finite)")
        data.append(vals)
    arr = np.array(data, dtype=float).reshape(-1, 3)
    if meta["amplitude"] == "rms":
        arr[:, 0] *= math.sqrt(2.0)
    Hs = np.unique(arr[:, 0])
    fs = np.unique(arr[:, 1])
    if Hs.size < 2:
        raise InputError(f"{name}: {Hs.size} distinct field values; expected at least 2")
    if arr.shape[0] != Hs.size * fs.size:
        raise InputError(f"{name}: {arr.shape[0]} rows for {Hs.size} fields × {fs.size} frequencies; "
                         "expected a full rectangular grid (each H at each f exactly once)")
    grid = np.full((fs.size, Hs.size), np.nan)
    grid[np.searchsorted(fs, arr[:, 1]), np.searchsorted(Hs, arr[:, 0])] = arr[:, 2]
    if np.isnan(grid).any():
        raise InputError(f"{name}: repeated (H, f) rows; expected each H at each f exactly once")
    return SlpTable(Hs, fs, grid, meta["mass_basis"], temperature_C, meta["source"], meta, str(path))


class TableModel:
    """Measured SLP(H, f) with monotone (PCHIP) interpolation; see module docstring."""

    name = "table"

    def __init__(self, table: SlpTable, *, extrapolate: bool = False, iron_mass_fraction: float | None = None,
                 key: str = "nanoparticles.table") -> None:
        self.table = table
        self.extrapolate = extrapolate
        self.mass_basis = table.mass_basis
        self.key = key
        w = iron_mass_fraction
        if w is None and "iron_mass_fraction" in table.metadata:
            try:
                w = float(table.metadata["iron_mass_fraction"])
            except ValueError:
                raise InputError(bad_value(f"SLP table {table.path!r} iron_mass_fraction",
                                           table.metadata["iron_mass_fraction"], "a number in (0, 1]")) from None
            if not 0 < w <= 1:
                raise InputError(bad_value(f"SLP table {table.path!r} iron_mass_fraction", w, "a number in (0, 1]"))
        self.iron_mass_fraction = w
        self._interp_H = [PchipInterpolator(table.H_peak_A_per_m, row, extrapolate=False) for row in table.slp_W_per_g]

    @classmethod
    def from_section(cls, sec: Any, base_dir: Path) -> TableModel:
        p = Path(sec.file)
        p = p if p.is_absolute() else (Path(base_dir) / p)
        return cls(read_slp_table(p), extrapolate=sec.extrapolate, iron_mass_fraction=sec.iron_mass_fraction)

    def _range_error(self, what: str, value: float, lo: float, hi: float, unit_scale: float, unit: str) -> InputError:
        return InputError(
            f"{self.key}: {what} = {value / unit_scale:.6g} {unit} outside the SLP table {self.table.path!r} "
            f"range [{lo / unit_scale:.6g}, {hi / unit_scale:.6g}] {unit}; expected a value inside it, "
            f"or set {self.key}.extrapolate = true (constant-ILP continuation)")

    def slp_W_per_g(self, H_peak_A_per_m: np.ndarray, frequency_Hz: float) -> np.ndarray:
        t = self.table
        H = np.abs(np.asarray(H_peak_A_per_m, dtype=float))
        shape = H.shape
        H = H.ravel()
        f = float(frequency_Hz)
        f_lo, f_hi = float(t.frequency_Hz[0]), float(t.frequency_Hz[-1])
        H_lo, H_hi = float(t.H_peak_A_per_m[0]), float(t.H_peak_A_per_m[-1])
        rtol = 1e-9
        f_in = f_lo * (1 - rtol) <= f <= f_hi * (1 + rtol)
        if not f_in and not self.extrapolate:
            raise self._range_error("frequency", f, f_lo, f_hi, 1e3, "kHz")
        if H.size and not self.extrapolate:
            bad = (H < H_lo * (1 - rtol)) | (H > H_hi * (1 + rtol))
            if bad.any():
                v = float(H[bad][0])
                raise self._range_error("peak field", v, H_lo, H_hi, 1e3, "kA/m")
        fc = min(max(f, f_lo), f_hi)
        Hc = np.clip(H, H_lo, H_hi)
        vals = np.stack([ip(Hc) for ip in self._interp_H])  # (nf, n)
        if t.frequency_Hz.size == 1:
            out = vals[0]
        else:
            out = PchipInterpolator(t.frequency_Hz, vals, axis=0, extrapolate=False)(fc)
        # constant-ILP continuation beyond the table (only reachable with extrapolate = true)
        out = out * (f / fc)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(Hc > 0, (H / Hc) ** 2, 0.0)
        out = np.where(H == Hc, out, out * scale)
        return np.maximum(out, 0.0).reshape(shape)

    def field_diagnostics(self, H_peak_A_per_m: np.ndarray, frequency_Hz: float) -> dict:
        H = np.asarray(H_peak_A_per_m, dtype=float)
        t = self.table
        outside = int(np.count_nonzero((H < t.H_peak_A_per_m[0]) | (H > t.H_peak_A_per_m[-1])))
        return {"linear_response_warning": False, "cells_outside_table_H_range": outside,
                "frequency_inside_table": bool(t.frequency_Hz[0] <= frequency_Hz <= t.frequency_Hz[-1])}

    def describe(self) -> dict:
        t = self.table
        return {"file": t.path, "source": t.source, "temperature_C": t.temperature_C,
                "product": t.metadata.get("product", ""),
                "H_range_peak_kA_per_m": [float(t.H_peak_A_per_m[0] / 1e3), float(t.H_peak_A_per_m[-1] / 1e3)],
                "f_range_kHz": [float(t.frequency_Hz[0] / 1e3), float(t.frequency_Hz[-1] / 1e3)],
                "extrapolate": self.extrapolate, "interpolation": "PCHIP in H, then PCHIP in f"}

@SLP_MODELS.decorator("table", SlpTableSection)
def _make_table(sec: Any, base_dir: Path) -> TableModel:
    return TableModel.from_section(sec, base_dir)
