"""Virtual temperature probes: points (mm in the plan) located in the TissueMesh.

A probe's temperature is the linear (barycentric) interpolation of the vertex temperatures of its
containing tetrahedron (for P2 runs: of the P2 solution's vertex values).
"""
from __future__ import annotations

import numpy as np

from planner.artefacts import TissueMesh
from planner.errors import InputError, bad_value
from planner.thermal._kernels import locate_points_nb


def locate_probes(mesh: TissueMesh, positions_m: np.ndarray, names: list[str] | None = None,
                  key: str = "thermal.probes") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cells (P,), vertices (P, 4), barycentric weights (P, 4)); InputError for a point outside."""
    pts = np.asarray(positions_m, dtype=float).reshape(-1, 3)
    if pts.shape[0] == 0:
        return np.zeros(0, np.int64), np.zeros((0, 4), np.int64), np.zeros((0, 4))
    scale = float(np.ptp(mesh.points_m, axis=0).max())
    cells, bary = locate_points_nb(mesh.points_m, mesh.cells.astype(np.int64), pts, 1e-9 * scale)
    for i, c in enumerate(cells):
        if c < 0:
            name = names[i] if names else str(i)
            lo = np.round(mesh.points_m.min(axis=0) * 1e3, 1).tolist()
            hi = np.round(mesh.points_m.max(axis=0) * 1e3, 1).tolist()
            raise InputError(bad_value(f"{key}[{i}].position_mm", np.round(pts[i] * 1e3, 3).tolist(),
                                       f"a point inside the body for probe {name!r} (mesh bounds {lo}..{hi} mm)"))
    return cells, mesh.cells[cells].astype(np.int64), bary
