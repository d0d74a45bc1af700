"""Small hand-built meshes and stand-ins for other stages, for tests and benchmarks (NumPy only)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from planner.artefacts import Region, Role, TissueMesh
from planner.nanoparticles.heat import HeatSource, heat_source

# Kuhn (Freudenthal) split of the unit cube into 6 tetrahedra along the main diagonal 0-7;
# vertex v of the cube has offset ((v>>0)&1, (v>>1)&1, (v>>2)&1).
_KUHN = np.array([[0, 1, 3, 7], [0, 1, 5, 7], [0, 2, 3, 7], [0, 2, 6, 7], [0, 4, 5, 7], [0, 4, 6, 7]])


def box_mesh(n: int, half_size_m: float = 0.05, center_m=(0.0, 0.0, 0.0), target_radius_m: float | None = 0.02,
             target_center_m=(0.0, 0.0, 0.0), implant_box_m: tuple | None = None) -> TissueMesh:
    """A cube [c−h, c+h]³ split into n³ cubes × 6 tetrahedra (conforming).

    Regions: 'body' (tag 1, muscle), 'tumour' (tag 2, role target: cells whose centroid lies within
    ``target_radius_m`` of ``target_center_m``), optionally 'implant' (tag 3, role implant: cells whose
    centroid lies in the axis-aligned box ((x0, y0, z0), (x1, y1, z1)))."""
    c = np.asarray(center_m, dtype=float)
    g = np.linspace(-half_size_m, half_size_m, n + 1)
    X, Y, Z = np.meshgrid(g, g, g, indexing="ij")
    pts = np.c_[X.ravel(), Y.ravel(), Z.ravel()] + c
    idx = np.arange((n + 1) ** 3).reshape(n + 1, n + 1, n + 1)
    i, j, k = np.meshgrid(np.arange(n), np.arange(n), np.arange(n), indexing="ij")
    i, j, k = i.ravel(), j.ravel(), k.ravel()
    corners = np.stack([idx[i + ((v >> 0) & 1), j + ((v >> 1) & 1), k + ((v >> 2) & 1)] for v in range(8)], axis=1)
    cells = corners[:, _KUHN].reshape(-1, 4).astype(np.int64)
    cen = pts[cells].mean(axis=1)
    region = np.ones(cells.shape[0], dtype=np.int32)
    regions = [Region(1, "body", "muscle", Role.BODY, (2 * half_size_m) ** 3)]
    if target_radius_m is not None:
        inside = np.linalg.norm(cen - np.asarray(target_center_m, dtype=float), axis=1) <= target_radius_m
        region[inside] = 2
        regions.append(Region(2, "tumour", "tumour", Role.TARGET, 4 / 3 * np.pi * target_radius_m**3))
    if implant_box_m is not None:
        lo, hi = (np.asarray(b, dtype=float) for b in implant_box_m)
        inside = np.all((cen >= lo) & (cen <= hi), axis=1)
        region[inside] = 3
        regions.append(Region(3, "implant", "titanium", Role.IMPLANT))
    faces = np.sort(np.concatenate([cells[:, [0, 1, 2]], cells[:, [0, 1, 3]], cells[:, [0, 2, 3]], cells[:, [1, 2, 3]]]), axis=1)
    uniq, counts = np.unique(faces, axis=0, return_counts=True)
    return TissueMesh(pts, cells, region, tuple(regions), uniq[counts == 1], source=f"box_mesh n={n}")


@dataclass(frozen=True)
class UniformField:
    """Stand-in AppliedField: H(x) = H0 · profile(x) · direction (peak, A/m)."""

    frequency_Hz: float
    H_peak_A_per_m_at_target: float
    direction: tuple = (0.0, 0.0, 1.0)
    profile: Callable[[np.ndarray], np.ndarray] | None = None
    coil_current_peak_A: float | None = None

    def H_peak_at(self, points_m: np.ndarray) -> np.ndarray:
        d = np.asarray(self.direction, dtype=float)
        d = d / np.linalg.norm(d)
        s = np.ones(points_m.shape[0]) if self.profile is None else self.profile(points_m)
        return self.H_peak_A_per_m_at_target * s[:, None] * d[None, :]


@dataclass(frozen=True)
class Losses:
    """Stand-in FieldSolution with per-cell eddy and implant loss densities."""

    Q_eddy_W_per_m3: np.ndarray | None = None
    Q_implant_W_per_m3: np.ndarray | None = None


@dataclass(frozen=True)
class Tissue:
    name: str
    kind: str = "tissue"


class Library(dict):
    """Stand-in TissueLibrary: lib[name] → object with ``kind``."""

    def __missing__(self, key: str) -> Tissue:
        return Tissue(key, "metal" if key in ("titanium", "steel") else "tissue")


def heat_for_plan(mesh: TissueMesh, applied, fields, lib, plan) -> HeatSource:
    """The heat stage with a plan's [nanoparticles] section and folder (tests)."""
    return heat_source(mesh, applied, fields, lib, plan.nanoparticles, base_dir=getattr(plan, "base_dir", Path.cwd()))
