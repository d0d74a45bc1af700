"""Convergence helpers of the benchmarks (one copy each): observed orders, tables, pass/fail checks.

``observed_orders(h, err)`` gives the pairwise orders log(e_i/e_{i+1}) / log(h_i/h_{i+1}) and the
least-squares slope of log|e| against log h; ``print_table`` prints one aligned table (rows as lists in
header order, or as dicts keyed by the header); ``Checks`` collects PASS/FAIL lines and ends a benchmark
script non-zero if any check failed; ``report(failed)`` prints a list of failed checks and gives the
exit code, for benchmarks whose ``check()`` returns the failures as a list.
"""
from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence

import numpy as np

from planner.errors import InputError, bad_value

Row = Sequence[object] | Mapping[str, object]


def observed_orders(h: Sequence[float], err: Sequence[float]) -> tuple[list[float], float]:
    """Pairwise orders log(e_i/e_{i+1})/log(h_i/h_{i+1}) (NaN where an error is 0) and the least-squares
    slope of log|e| vs log h over all levels (NaN with fewer than 2 levels)."""
    hs = np.asarray(h, float)
    e = np.abs(np.asarray(err, float))
    if hs.shape != e.shape:
        raise InputError(bad_value("observed_orders: number of errors", e.size, f"{hs.size}, one per refinement level"))
    pair = [float(math.log(e[i] / e[i + 1]) / math.log(hs[i] / hs[i + 1]))
            if e[i] > 0 and e[i + 1] > 0 else float("nan") for i in range(hs.size - 1)]
    slope = float(np.polyfit(np.log(hs), np.log(np.maximum(e, 1e-300)), 1)[0]) if hs.size >= 2 else float("nan")
    return pair, slope


def with_orders(rows: list[list], pair: Sequence[float]) -> list[list]:
    """Append the pairwise order to each table row (NaN, printed "-", on the coarsest level)."""
    for r, o in zip(rows, [float("nan"), *pair]):
        r.append(o)
    return rows


def fmt(v: object, digits: int = 4) -> str:
    """A table cell: floats to ``digits`` significant digits (scientific below 1e-3), NaN as "-"."""
    if isinstance(v, float):
        if math.isnan(v):
            return "-"
        return f"{v:.{digits}g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.{digits - 1}e}"
    return str(v)


def print_table(title: str, header: Sequence[str], rows: Sequence[Row], digits: int = 4) -> None:
    """Print ``title`` and an aligned table; a row is a list in header order or a dict keyed by header."""
    cells = [[fmt(r[c] if isinstance(r, Mapping) else r[j], digits) for j, c in enumerate(header)] for r in rows]
    w = [max(len(str(hd)), *(len(c[j]) for c in cells)) for j, hd in enumerate(header)]
    print(f"\n## {title}")
    print("  ".join(str(hd).rjust(w[j]) for j, hd in enumerate(header)))
    for c in cells:
        print("  ".join(v.rjust(w[j]) for j, v in enumerate(c)))
    sys.stdout.flush()


def report(failed: Sequence[str], passed: int | None = None) -> int:
    """Print the failed checks (one line each) and a summary; returns the exit code (1 if any failed)."""
    if passed is not None:
        print(f"\n{passed} checks passed, {len(failed)} failed")
    if failed:
        print("FAILED:\n  " + "\n  ".join(failed))
        return 1
    print("all checks passed")
    return 0


class Checks:
    """Collects pass/fail lines; ``exit()`` ends the process non-zero if any check failed."""

    def __init__(self) -> None:
        self.failed: list[str] = []
        self.passed: list[str] = []

    def check(self, ok: bool, what: str) -> bool:
        (self.passed if ok else self.failed).append(what)
        print(("PASS  " if ok else "FAIL  ") + what, flush=True)
        return ok

    def exit(self) -> None:
        if report(self.failed, len(self.passed)):
            sys.exit(1)


__all__ = ["Checks", "fmt", "observed_orders", "print_table", "report", "with_orders"]
