"""Total field next to implants: the sub-model's reaction field on TissueMesh cells and probe points.

Each implant sub-model (:mod:`planner.fem.implant_eddy`) solves for the reaction potential A_r of the
implant's eddy currents; its reaction field H_r = curl(A_r)/μ0 is sampled
(:mod:`planner.fem.implant_eddy.evaluate`) at

* the centroids of the TissueMesh cells that lie inside the sub-model cube (particle heating next to
  implants uses the total |H0 + Σ H_r| there, :mod:`planner.nanoparticles.heat`), and
* the plan's field-probe points (:mod:`planner.em.probes`: total H, and E inside the metal).

Only the reaction is kept (complex peak phasors, e^{jωt}); the applied H0 is added exactly from the
applicator where needed. Several implants add their reactions (superposition; their mutual coupling —
the reaction of one induced by the other's reaction — is neglected, ≤ (a/d)³ of the reactions).
Arrays hold only the covered cells, (k,) indices and (k, 3) complex: 56 bytes per covered cell.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planner.artefacts import TissueMesh
from planner.units import MM


@dataclass(frozen=True, eq=False)
class ImplantTotalField:
    """Reaction field of one implant sub-model at TissueMesh cells and probe points (peak phasors)."""

    cells: np.ndarray  # (k,) TissueMesh cells whose centroid lies inside the sub-model mesh
    H_reaction_cells_peak_A_per_m: np.ndarray  # (k, 3) complex, curl(A_r)/μ0 at those centroids
    probe_inside: np.ndarray  # (p,) bool: probe point inside the sub-model mesh
    probe_in_metal: np.ndarray  # (p,) bool: ... inside the implant's metal
    probe_H_reaction_peak_A_per_m: np.ndarray  # (p, 3) complex (NaN outside)
    probe_E_peak_V_per_m: np.ndarray  # (p, 3) complex total E = −jω(A0 + A_r) in the metal (NaN elsewhere)

    def summary_block(self) -> dict:
        Hr = np.sqrt(np.sum(np.abs(self.H_reaction_cells_peak_A_per_m) ** 2, axis=1))
        return {"cells_covered": int(self.cells.size),
                "max_reaction_H_peak_A_per_m": float(Hr.max(initial=0.0)),
                "probe_points_covered": int(np.count_nonzero(self.probe_inside))}


def candidate_cells(mesh: TissueMesh, sel: np.ndarray, box_half_size_mm: float | None, box_factor: float
                    ) -> np.ndarray:
    """TissueMesh cells whose centroid may lie in the sub-model cube of the implant cells ``sel``: a cube
    about the region's bounding-box centre, half edge 1.2 × (the explicit half size, or ``box_factor`` ×
    the region's bounding radius) — a superset; the sub-model mesh decides (points outside are masked)."""
    v = mesh.points_m[np.unique(mesh.cells[sel])]
    lo, hi = v.min(axis=0), v.max(axis=0)
    centre = 0.5 * (lo + hi)
    R = box_half_size_mm * MM if box_half_size_mm is not None else box_factor * 0.5 * float(np.linalg.norm(hi - lo))
    half = 1.2 * R
    X = mesh.cell_centroids_m()
    return np.flatnonzero(np.all(np.abs(X - centre[None, :]) <= half, axis=1))


def split_sample(cells: np.ndarray, n_probe: int, inside: np.ndarray, in_metal: np.ndarray,
                 H_reaction: np.ndarray, E: np.ndarray) -> ImplantTotalField:
    """The evaluator's arrays over [cell centroids | probe points] → an :class:`ImplantTotalField`."""
    k = cells.size
    keep = np.flatnonzero(inside[:k])
    return ImplantTotalField(
        cells=np.asarray(cells[keep], np.int64),
        H_reaction_cells_peak_A_per_m=np.ascontiguousarray(H_reaction[:k][keep]),
        probe_inside=np.asarray(inside[k:k + n_probe], bool),
        probe_in_metal=np.asarray(in_metal[k:k + n_probe], bool),
        probe_H_reaction_peak_A_per_m=np.asarray(H_reaction[k:k + n_probe]),
        probe_E_peak_V_per_m=np.asarray(E[k:k + n_probe]),
    )


__all__ = ["ImplantTotalField", "candidate_cells", "split_sample"]
