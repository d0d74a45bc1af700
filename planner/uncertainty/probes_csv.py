"""Measured probe temperatures (CSV: ``time_s, probe, T_C``, one reading a row, as fibre-optic probe
systems export them). Bad rows give one-line errors naming the file, line and column."""
from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from planner.errors import InputError

COLUMNS = ("time_s", "probe", "T_C")


@dataclass(frozen=True)
class MeasuredProbes:
    """Readings per probe (times strictly increasing); probes in the order of the plan's [[thermal.probes]]."""

    path: Path
    names: tuple[str, ...]
    times_s: tuple[np.ndarray, ...]
    T_C: tuple[np.ndarray, ...]

    @property
    def count(self) -> int:
        return int(sum(t.size for t in self.times_s))


def _where(path: Path, line: int, col: int, name: str) -> str:
    return f"{path}: line {line}, column {col} ({name})"


def _number(path: Path, line: int, cols: dict[str, int], row: list[str], name: str) -> float:
    raw = row[cols[name]].strip() if cols[name] < len(row) else ""
    try:
        v = float(raw)
    except ValueError:
        raise InputError(f"{_where(path, line, cols[name] + 1, name)}: {raw!r} is not a number; expected "
                         f"{'seconds' if name == 'time_s' else 'a temperature in °C'}") from None
    if not math.isfinite(v):
        raise InputError(f"{_where(path, line, cols[name] + 1, name)}: reading {raw!r} is not finite; expected a "
                         "measured value (drop the row if the probe dropped out)")
    return v


def _header(path: Path, header: list[str]) -> dict[str, int]:
    names = [h.strip() for h in header]
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise InputError(f"{path}: line 1: header {names} lacks {missing}; expected the columns time_s, probe, T_C "
                         "(seconds, probe name as in [[thermal.probes]], °C)")
    return {c: names.index(c) for c in COLUMNS}


def read_measured_probes(path: str | Path, known: Sequence[str]) -> MeasuredProbes:
    """Parse and check ``path`` against the plan's probe names ``known``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot be read ({exc}); expected a CSV file time_s, probe, T_C") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        raise InputError(f"{path}: empty; expected a header time_s, probe, T_C and readings")
    cols = _header(path, rows[0])
    data: dict[str, tuple[list[float], list[float]]] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        name = row[cols["probe"]].strip() if cols["probe"] < len(row) else ""
        if name not in known:
            raise InputError(f"{_where(path, line, cols['probe'] + 1, 'probe')}: unknown probe {name!r}; expected one of "
                             f"the plan's [[thermal.probes]] names: {', '.join(known) or '(none)'}")
        t = _number(path, line, cols, row, "time_s")
        T = _number(path, line, cols, row, "T_C")
        ts, Ts = data.setdefault(name, ([], []))
        if ts and t <= ts[-1]:
            raise InputError(f"{_where(path, line, cols['time_s'] + 1, 'time_s')}: time {t:g} s of probe {name!r} is not "
                             f"after its previous reading ({ts[-1]:g} s); expected increasing times per probe")
        ts.append(t)
        Ts.append(T)
    if not data:
        raise InputError(f"{path}: no readings; expected rows time_s, probe, T_C")
    names = tuple(n for n in known if n in data)
    return MeasuredProbes(path, names, tuple(np.array(data[n][0]) for n in names), tuple(np.array(data[n][1]) for n in names))


def write_measured_probes(path: Path, names: Sequence[str], times_s: Sequence[np.ndarray], T_C: Sequence[np.ndarray]) -> None:
    """Write readings in the same CSV layout (synthetic thermometry for tests and benchmarks)."""
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        for n, ts, Ts in zip(names, times_s, T_C):
            for t, T in zip(ts, Ts):
                w.writerow([f"{t:.6g}", n, f"{T:.6f}"])
