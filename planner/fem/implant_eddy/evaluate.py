"""Total field of an implant sub-model at arbitrary points (applied + reaction; peak phasors, e^{jωt}).

The sub-model solves for the REACTION potential A_r only (``assembly``: A = A0 + A_r, A0 the
applicator's potential). At a point inside the sub-model mesh:

* total magnetic field  H = H0 + curl(A_r)/μ0, with H0 the applicator's field — exact from
  ``H0_peak_at`` when given, else curl(A0)/μ0 of the interpolated A0 (exact for a uniform field,
  whose A0 is linear). curl(A_r) is gauge-free, so H is unique everywhere in the box (metal and
  surroundings); it is interpolated exactly into discontinuous vector Lagrange of degree p − 1
  (curl of N1curl_p; on curved cells the interpolant of the pulled-back curl) and evaluated there.
* total electric field E = −jω(A0 + A_r) — only INSIDE THE METAL, where it is unique (σ > 0 fixes the
  gauge). In the surroundings A_r is defined only up to gradients (κ = 0 there) and the sub-model
  has no tissue conductivity (no charges, no galvanic currents), so its E there is not the tissue's:
  NaN, and callers take the tissue solve's E (planner.fem.scalar_potential) outside the metal.

Points outside the sub-model mesh get ``inside = False`` and NaN values. Collective under MPI: each
rank evaluates the points its cells hold; allreduces combine them (every rank gets all values; a point
held by several ranks takes the lowest rank's).
Nothing of the sub-model is kept: the caller passes the points before the solve
(``ImplantSolveOptions.sample_points_m``) and receives a :class:`SubModelFieldSample`.
"""
from __future__ import annotations

from collections.abc import Callable

import dolfinx
import dolfinx.fem
import numpy as np
import ufl
from mpi4py import MPI

from planner.fem import _compat
from planner.fem.implant_eddy.model import METAL_TAG, CellTags, SubModelFieldSample
from planner.units import MU0_H_per_m


def _eval(f: dolfinx.fem.Function, points: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Values (n, 3) of ``f`` at the points whose local cell is ≥ 0 (zeros elsewhere)."""
    out = np.zeros((points.shape[0], 3))
    ok = cells >= 0
    if ok.any():
        out[ok] = np.asarray(f.eval(points[ok], cells[ok]), float).reshape(-1, 3)
    return out


def _curl_dg(u: dolfinx.fem.Function, degree: int) -> dolfinx.fem.Function:
    """curl(u) interpolated into discontinuous vector Lagrange of degree max(degree − 1, 0)."""
    W = _compat.function_space(u.function_space.mesh, "DG", max(degree - 1, 0), (3,))
    c = dolfinx.fem.Function(W)
    _compat.interpolate_expression(c, ufl.curl(u))
    return c


def _combine(comm: MPI.Comm, found: np.ndarray, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """Every rank gets, per point, the values of the LOWEST rank that found it (a point on a face between
    ranks' cells takes one cell's value, deterministically, as in serial: the curl is discontinuous)."""
    rank, size = comm.rank, comm.size
    first = np.empty(found.shape[0], np.int64)
    comm.Allreduce(np.where(found, rank, size).astype(np.int64), first, op=MPI.MIN)
    mine = first == rank
    out = [first < size]
    for a in arrays:
        tot = np.empty(a.shape, float)
        comm.Allreduce(np.ascontiguousarray(np.where(mine[:, None], a, 0.0), dtype=float), tot, op=MPI.SUM)
        out.append(np.where(out[0][:, None], tot, np.nan))
    return tuple(out)


CHUNK = 50_000  # points per location/evaluation pass: bounds the collision lists and temporaries


def _sample_chunk(X: np.ndarray, fields: tuple[dolfinx.fem.Function, ...], metal_cells: np.ndarray,
                  with_H0: bool, tree: object) -> tuple[np.ndarray, ...]:
    """(inside, in_metal, H_r complex, H0 of curl A0 (or zeros), A0 + A_r complex) at the points X (collective).
    The potentials are evaluated only at points in metal cells (E is not defined elsewhere)."""
    curl_re, curl_im, curl_A0, A0, ur, vi = fields
    msh = ur.function_space.mesh
    cells = _compat.locate_cells(msh, X, tree)
    found = cells >= 0
    metal_local = np.where(found, metal_cells[np.maximum(cells, 0)], False)
    Hr_re, Hr_im = _eval(curl_re, X, cells) / MU0_H_per_m, _eval(curl_im, X, cells) / MU0_H_per_m
    H0_local = _eval(curl_A0, X, cells) / MU0_H_per_m if with_H0 else np.zeros_like(Hr_re)
    in_m = np.where(metal_local, cells, -1)
    A_re = _eval(A0, X, in_m) + _eval(ur, X, in_m)
    A_im = _eval(vi, X, in_m)
    inside, Hr_re, Hr_im, H0_fe, A_re, A_im, in_metal_f = _combine(
        msh.comm, found, Hr_re, Hr_im, H0_local, A_re, A_im, metal_local[:, None].astype(float))
    in_metal = inside & (np.nan_to_num(in_metal_f[:, 0]) > 0.5)
    return inside, in_metal, Hr_re + 1j * Hr_im, H0_fe, A_re + 1j * A_im


def sample_total_field(
    points_m: np.ndarray,
    *,
    A0: dolfinx.fem.Function,
    ur: dolfinx.fem.Function,
    vi: dolfinx.fem.Function,
    cell_tags: CellTags,
    degree: int,
    omega_rad_per_s: float,
    H0_peak_at: Callable[[np.ndarray], np.ndarray] | None = None,
    total_H: bool = True,
) -> SubModelFieldSample:
    """Total H (everywhere in the mesh) and E (metal only) at ``points_m`` (n, 3) from the reduced-field
    solution A_r = ur + j vi and the interpolated applied potential A0 (module docstring). Collective;
    every rank passes the same points; evaluated in chunks of :data:`CHUNK` points. ``total_H`` False:
    only the reaction (``H_peak_A_per_m`` None; the caller adds its own H0)."""
    msh = ur.function_space.mesh
    X = np.ascontiguousarray(np.asarray(points_m, float).reshape(-1, 3))
    im = msh.topology.index_map(msh.topology.dim)
    metal_cells = np.zeros(im.size_local + im.num_ghosts, bool)
    metal_cells[np.asarray(cell_tags.indices)[np.asarray(cell_tags.values) == METAL_TAG]] = True
    with_H0 = total_H and H0_peak_at is None
    fields = (_curl_dg(ur, degree), _curl_dg(vi, degree), _curl_dg(A0, max(degree, 2)) if with_H0 else ur, A0, ur, vi)
    tree = _compat.cell_tree(msh)
    parts = [_sample_chunk(X[i:i + CHUNK], fields, metal_cells, with_H0, tree) for i in range(0, X.shape[0], CHUNK)]
    del fields, tree
    if not parts:
        z = np.zeros((0, 3))
        return SubModelFieldSample(points_m=X, inside=np.zeros(0, bool), in_metal=np.zeros(0, bool),
                                   H_peak_A_per_m=z + 0j if total_H else None, H_reaction_peak_A_per_m=z + 0j,
                                   E_peak_V_per_m=z + 0j)
    inside, in_metal, Hr, H0_fe, A = (np.concatenate(c) for c in zip(*parts))
    del parts
    H = None
    if total_H:
        H0 = H0_fe if H0_peak_at is None else np.where(inside[:, None], np.asarray(H0_peak_at(X), float).reshape(-1, 3),
                                                        np.nan)
        H = H0 + Hr
    E = np.where(in_metal[:, None], -1j * omega_rad_per_s * A, np.nan + 0j)  # E = −jω(A0 + A_r)
    return SubModelFieldSample(points_m=X, inside=inside, in_metal=in_metal, H_peak_A_per_m=H,
                               H_reaction_peak_A_per_m=Hr, E_peak_V_per_m=E)


__all__ = ["sample_total_field"]
