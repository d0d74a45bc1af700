"""Unit temperature responses of each heat-source component (Pennes superposition).

With temperature-independent perfusion, the Pennes–blood-pool system is linear in its sources, so the
temperature of any plan variant with the same perfusion is T(x, t) = T_baseline(x) + Σ_k c_k θ_k(x, t)
with θ_k the rise caused by component k alone at the plan's settings (particles, tissue eddy, implant)
and c_k its scale; an arterial offset adds c_a θ_a (θ_a: baseline change per kelvin of T_arterial).
Each response is one run of the plan's own [thermal] section (steady or transient, same schedule).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from planner.artefacts import TissueMesh
from planner.thermal.superposition import ComponentHeat as _Component
from planner.thermal.superposition import heat_components as components


class ScaledTissueLibrary:
    """The tissue library with one property of some tissues (canonical names → factor) scaled by
    :meth:`_scaled`; every other tissue and property as in ``lib``."""

    def __init__(self, lib, scales: Mapping[str, float]) -> None:
        self._lib = lib
        self._scales = dict(scales)
        self.blood = lib.blood

    def _scaled(self, t, s: float):
        raise NotImplementedError

    def __getitem__(self, name: str):
        t = self._lib[name]
        s = self._scales.get(t.name)
        return t if s is None or s == 1.0 else self._scaled(t, s)

    def __contains__(self, name: object) -> bool:
        return name in self._lib

    def get(self, name: str, default=None):
        return self[name] if name in self._lib else default


class ScaledPerfusionLibrary(ScaledTissueLibrary):
    """The tissue library with the perfusion of some tissues scaled (canonical names → factor)."""

    def _scaled(self, t, s: float):
        return dataclasses.replace(t, perfusion_mL_per_min_per_kg=t.perfusion_mL_per_min_per_kg * s)


@dataclass(frozen=True)
class UnitResponses:
    """θ_k as (rows, vertices): rows are the session maximum (row 0) then the snapshots; ``monotone``:
    every θ_k is non-decreasing in time with its maximum at the end, so any non-negative combination
    peaks at row 0 (exact T_max from that row alone); otherwise the combination's maximum over the
    rows is used (exact at the snapshot times)."""

    T_baseline_C: np.ndarray
    theta: dict[str, np.ndarray]
    monotone: bool
    solves: int


def _rows(hist) -> tuple[np.ndarray, np.ndarray]:
    snaps = np.asarray(hist.T_snapshots_C, dtype=float).reshape(-1, hist.T_max_C.shape[0])
    return np.vstack([hist.T_max_C[None, :], snaps]), hist.T_baseline_C


def _is_monotone(rows: np.ndarray, tol_K: float = 1e-6) -> bool:
    snaps = rows[1:]
    if snaps.shape[0] == 0:
        return True
    return bool(np.all(np.diff(snaps, axis=0) >= -tol_K) and np.all(np.abs(snaps[-1] - rows[0]) <= tol_K))


def unit_responses(mesh: TissueMesh, heat, lib, th, perfusion_scales: Mapping[str, float] | None = None,
                   arterial: bool = False, comm=None, reuse: dict | None = None,
                   tags: Mapping[str, object] | None = None) -> UnitResponses:
    """One thermal run per heat component (+ one for the arterial offset) with the given perfusion
    (on ``comm``: a rank group's communicator; None: all ranks). ``reuse``: a dict of component
    responses already solved, keyed by (component, perfusion, ``tags[component]``: what else changed
    that component, e.g. its deposit size or conductivity vector); filled with the new ones."""
    from planner.thermal import solve_bioheat

    lib_s = ScaledPerfusionLibrary(lib, perfusion_scales or {})
    th_u = dataclasses.replace(th, probes=())
    perf = tuple(sorted((perfusion_scales or {}).items()))
    memo: dict = {} if reuse is None else reuse
    n = 0

    def run(key: tuple, q: Callable[[float], np.ndarray], th_k) -> tuple[np.ndarray, np.ndarray, bool]:
        nonlocal n
        if key not in memo:
            hist = solve_bioheat(mesh, _Component(q), lib_s, th_k, check_physical=False, comm=comm)
            rows, b = _rows(hist)
            memo[key] = (rows - b[None, :], b, _is_monotone(rows))
            n += 1
        return memo[key]

    theta: dict[str, np.ndarray] = {}
    base = None
    monotone = True
    for name, q in components(heat).items():
        theta[name], base, mono = run((name, perf, (tags or {}).get(name)), q, th_u)
        monotone = monotone and mono
    zero = np.zeros(mesh.num_cells)
    if base is None or arterial:
        _, base, _ = run(("baseline", perf, None), lambda f: zero, th_u)
    if arterial:
        th_a = dataclasses.replace(th_u, arterial_T_C=th.arterial_T_C + 1.0)
        _, b_a, _ = run(("arterial", perf, None), lambda f: zero, th_a)
        theta["arterial"] = np.broadcast_to(b_a - base, (1, base.shape[0])).copy()
    return UnitResponses(T_baseline_C=np.asarray(base, dtype=float), theta=theta, monotone=monotone, solves=n)


def save_responses(path, r: UnitResponses) -> None:
    """Write one cache entry atomically (``.npz``: an interrupted write leaves no entry)."""
    import os
    from pathlib import Path

    path = Path(path)
    tmp = path.with_name(path.name + ".partial.npz")
    np.savez(tmp, T_baseline_C=r.T_baseline_C, monotone=r.monotone, solves=r.solves,
             **{f"theta_{k}": v for k, v in r.theta.items()})
    os.replace(tmp, path)


def load_responses(path) -> UnitResponses:
    with np.load(path) as z:
        theta = {k[len("theta_"):]: z[k] for k in z.files if k.startswith("theta_")}
        return UnitResponses(z["T_baseline_C"], theta, bool(z["monotone"]), 0)
