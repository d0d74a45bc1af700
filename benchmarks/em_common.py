"""Shared helpers of the eddy-current benchmarks: primitive meshes, constant-σ materials, tables, orders.

Benchmark materials are defined here (constant, tissue-like σ and ρ) so that the closed forms apply
exactly; they do not depend on the tissue library's data.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import numpy as np

from planner.config.plan import parse_plan


@dataclass(frozen=True)
class ConstantTissue:
    """Minimal tissue stand-in: constant conductivity, density, kind."""

    name: str
    sigma_S_per_m: float
    density_kg_per_m3: float = 1000.0
    kind: str = "tissue"

    def conductivity_S_per_m(self, frequency_Hz: float) -> float:
        return self.sigma_S_per_m


def library(**sigmas: float) -> dict[str, ConstantTissue]:
    """{"muscle": 0.5, ...} → a dict usable as a tissue library (``lib[name]``)."""
    return {k: ConstantTissue(k, v) for k, v in sigmas.items()}


def plan(bodies: list[dict], max_size_mm: float, applicator: dict | None = None, **mesh_kw):
    data = {"plan": {"name": "benchmark"}, "mesh": {"max_size_mm": max_size_mm, **mesh_kw},
            "geometry": {"bodies": bodies}}
    if applicator is not None:
        data["applicator"] = applicator
    return parse_plan(data)


def mesh_of(cfg):
    from planner.geometry.mesher import mesh_shapes

    return mesh_shapes(cfg.geometry, cfg.mesh)


def h_eff_mm(mesh) -> float:
    """Effective element size (mean cell volume)^{1/3} in mm — the refinement measure for orders."""
    return float(np.cbrt(mesh.cell_volumes_m3().mean()) * 1e3)


def observed_orders(h, err) -> tuple[list[float], float]:
    """Pairwise orders log(e_i/e_{i+1})/log(h_i/h_{i+1}) and the least-squares slope over all levels."""
    h, err = np.asarray(h, float), np.abs(np.asarray(err, float))
    pair = [float(math.log(err[i] / err[i + 1]) / math.log(h[i] / h[i + 1])) if err[i + 1] > 0 and err[i] > 0 else float("nan")
            for i in range(len(h) - 1)]
    slope = float(np.polyfit(np.log(h), np.log(np.maximum(err, 1e-300)), 1)[0])
    return pair, slope


def print_table(title: str, header: list[str], rows: list[list]) -> None:
    print(f"\n## {title}")
    fmt = []
    for j, _ in enumerate(header):
        fmt.append(max(len(header[j]), *(len(_fmt(r[j])) for r in rows)) if rows else len(header[j]))
    print("  ".join(h.rjust(w) for h, w in zip(header, fmt)))
    for r in rows:
        print("  ".join(_fmt(v).rjust(w) for v, w in zip(r, fmt)))


def _fmt(v) -> str:
    if isinstance(v, float):
        if v != v:
            return "-"
        return f"{v:.4g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.3e}"
    return str(v)


class Checks:
    """Collects pass/fail lines; ``exit()`` ends the process non-zero if any check failed."""

    def __init__(self) -> None:
        self.failed: list[str] = []

    def check(self, ok: bool, what: str) -> bool:
        print(("PASS  " if ok else "FAIL  ") + what)
        if not ok:
            self.failed.append(what)
        return ok

    def exit(self) -> None:
        if self.failed:
            print(f"\n{len(self.failed)} check(s) failed")
            sys.exit(1)
        print("\nall checks passed")


def structured_box_mesh(n: int, length_m: float = 0.1, *, center_m=(0.0, 0.0, 0.0), tissue: str = "muscle",
                        region_of=None, regions=None):
    """Cube of side ``length_m`` split into n³ cubes × 6 tetrahedra (Kuhn/Freudenthal, conforming).

    ``region_of(centroids (M,3)) -> tags`` and ``regions`` (tuple of Region) define several regions;
    default: one region (tag 1, role body) of ``tissue``. Pure NumPy, fast at millions of cells.
    """
    from planner.artefacts import Region, Role, TissueMesh
    from planner.geometry.mesher import boundary_facets

    g = np.linspace(-length_m / 2, length_m / 2, n + 1)
    X, Y, Z = np.meshgrid(g, g, g, indexing="ij")
    pts = np.column_stack([X.ravel(), Y.ravel(), Z.ravel()]) + np.asarray(center_m, float)
    idx = np.arange((n + 1) ** 3).reshape(n + 1, n + 1, n + 1)
    i, j, k = np.meshgrid(np.arange(n), np.arange(n), np.arange(n), indexing="ij")
    i, j, k = i.ravel(), j.ravel(), k.ravel()
    v = lambda a, b, c: idx[i + a, j + b, k + c]
    v000, v111 = v(0, 0, 0), v(1, 1, 1)
    # the 6 monotone lattice paths from (0,0,0) to (1,1,1)
    steps = [((1, 0, 0), (1, 1, 0)), ((1, 0, 0), (1, 0, 1)), ((0, 1, 0), (1, 1, 0)),
             ((0, 1, 0), (0, 1, 1)), ((0, 0, 1), (1, 0, 1)), ((0, 0, 1), (0, 1, 1))]
    cells = np.concatenate([np.column_stack([v000, v(*a), v(*b), v111]) for a, b in steps]).astype(np.int64)
    if region_of is None:
        regions = (Region(1, "box", tissue, Role.BODY),)
        cr = np.ones(cells.shape[0], np.int32)
    else:
        cr = np.asarray(region_of(pts[cells].mean(axis=1)), np.int32)
    skin = boundary_facets(cells) if n <= 64 else np.zeros((0, 3), np.int64)
    return TissueMesh(pts, cells, cr, tuple(regions), skin, source=f"structured box n={n}")
