"""Shared helpers of the eddy-current benchmarks: primitive meshes, constant-σ materials.

Tables, orders and checks: planner.verification.convergence (re-exported here for older imports).

Benchmark materials are defined here (constant, tissue-like σ and ρ) so that the closed forms apply
exactly; they do not depend on the tissue library's data.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planner.config.plan import parse_plan
from planner.verification.convergence import Checks, observed_orders, print_table  # noqa: F401  (re-export)


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


def structured_box_mesh(n: int, length_m: float = 0.1, *, center_m=(0.0, 0.0, 0.0), tissue: str = "muscle",
                        region_of=None, regions=None):
    """planner.verification.meshes.structured_cube (n³ cubes × 6 tets); skin facets only up to n = 64."""
    from planner.verification.meshes import structured_cube

    return structured_cube(n, length_m, center_m=tuple(center_m), tissue=tissue, region_of=region_of, regions=regions,
                           skin=n <= 64)
