"""Shared helpers of the implant benchmarks: tables, observed orders, pass/fail bookkeeping."""
from __future__ import annotations

import math
import sys
from typing import Sequence

import numpy as np

SIGMA_TI64 = 5.6e5  # Ti-6Al-4V (S/m), as the brief fixes for the benchmarks
H0 = 1000.0  # peak A/m


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
        print(f"\n{len(self.passed)} checks passed, {len(self.failed)} failed")
        sys.exit(1 if self.failed else 0)


def frequency_for(a_over_delta: float, a_m: float, sigma: float) -> float:
    """f such that a/δ = a_over_delta (δ = √(2/(ωμ0σ)))."""
    from planner.units import MU0_H_per_m as MU0

    delta = a_m / a_over_delta
    return 2.0 / (delta**2 * MU0 * sigma) / (2.0 * math.pi)


def observed_orders(h: Sequence[float], err: Sequence[float]) -> tuple[list[float], float]:
    """Pairwise orders log(e_i/e_{i+1})/log(h_i/h_{i+1}) and the least-squares slope of log|e| vs log h."""
    h = np.asarray(h, float)
    e = np.abs(np.asarray(err, float))
    pair = [float(math.log(e[i] / e[i + 1]) / math.log(h[i] / h[i + 1])) for i in range(len(h) - 1)]
    slope = float(np.polyfit(np.log(h), np.log(e), 1)[0]) if len(h) >= 2 else float("nan")
    return pair, slope


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence]) -> None:
    def fmt(v):
        if isinstance(v, float):
            if math.isnan(v):
                return "-"
            return f"{v:.4g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.3e}"
        return str(v)

    cells = [[fmt(v) for v in r] for r in rows]
    w = [max(len(str(hd)), *(len(c[i]) for c in cells)) for i, hd in enumerate(header)]
    print(f"\n{title}")
    print("  ".join(str(hd).rjust(w[i]) for i, hd in enumerate(header)))
    for c in cells:
        print("  ".join(v.rjust(w[i]) for i, v in enumerate(c)))
    sys.stdout.flush()
