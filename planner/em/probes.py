"""Field probes (``[[em.field_probes]]``): peak H and tissue E at points and along lines, for QA of the
applicator against a measured field (issue 11, deliverable 5).

At each probe point (peak phasors, e^{jωt}, all coil currents in phase):

* **H** is the applicator's field H0 (Biot–Savart or uniform, :mod:`planner.em.applicators`), real
  and in phase with the coil current. The reaction field of the eddy currents is NOT included: in
  tissue it is negligible (quasi-static, δ ≫ body), and the implant sub-models
  (:mod:`planner.fem.implant_eddy`) do not expose their reaction field A_r outside the FE package
  (only the loss); points inside an implant's sub-model box are flagged (``implant_submodel``), where
  the measured field can differ from H0 by the implant's reaction (a dipole ~ (a/r)³ of H0 for an
  implant of size a at distance r, a/δ ≳ 1).
* **E** is the tissue solve's field E = −jω(A0 + ∇ψ) (:mod:`planner.fem.scalar_potential`, implants
  as floating conductors): A0 evaluated exactly at the point plus ∇ψ interpolated linearly from the
  containing cell's vertex values (exact for P1, where ∇ψ is constant per cell, and for P2, where it is
  linear). E lags H by 90°; the reported components are the amplitudes ω(A0 + ∇ψ), i.e. the phasor is
  −j × the value. E is not defined (null / empty) outside conducting tissue (implant metal, air).

A point outside the body is an :class:`~planner.errors.InputError` naming the key, before the field
solve (:func:`locate_field_probes`); a point on the true (curved) skin, just outside the faceted mesh
surface, is taken in the nearest cell (``SKIN_TOLERANCE``).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from planner.artefacts import TissueMesh
from planner.config.plan import FieldProbeSpec
from planner.em.eddy import FieldSolution
from planner.errors import InputError, bad_value
from planner.units import MM

H_NOTE = ("applied field H0 of the applicator (peak, in phase with the coil current); the implant sub-models' "
          "reaction field is not included (not exposed by planner.fem.implant_eddy): points flagged in "
          "implant_submodel lie where it may matter")
E_NOTE = ("tissue field of the scalar-potential solve, E = -j omega (A0 + grad psi) (implants as floating "
          "conductors); components are the peak amplitudes omega (A0 + grad psi), the phasor lags H by 90 deg; "
          "with the complex admittivity E_peak_vector is omega Re(A0 + grad psi) (lagging H by 90 deg), "
          "E_in_phase_vector omega Im(A0 + grad psi) (in phase with H), E_peak = sqrt(|Re|^2 + |Im|^2); "
          "null outside conducting tissue")


@dataclass(frozen=True, eq=False)
class LocatedProbes:
    """The plan's probe points in the mesh: one row per point."""

    probe: tuple[str, ...]  # probe name per point
    kind: tuple[str, ...]  # 'point' or 'line'
    index: np.ndarray  # (n,) point index along its probe
    points_m: np.ndarray  # (n, 3)
    cell: np.ndarray  # (n,) containing cell
    bary: np.ndarray  # (n, 4) barycentric weights in that cell


@dataclass(frozen=True, eq=False)
class FieldProbes:
    """H and E at the probe points (peak amplitudes; module docstring)."""

    located: LocatedProbes
    frequency_Hz: float
    region: tuple[str, ...]  # mesh region of each point
    H_peak_A_per_m: np.ndarray  # (n, 3)
    E_peak_V_per_m: np.ndarray  # (n, 3) ω(A0 + ∇ψ) (phasor = −j × it; complex with the complex admittivity), NaN outside
    implant_submodel: tuple[str, ...]  # implant whose sub-model box holds the point, or ''

    def rows(self) -> tuple[list[str], list[list]]:
        """CSV header (units and peak in the names) and rows."""
        header = ["probe", "kind", "index", "x_mm", "y_mm", "z_mm", "region",
                  "Hx_peak_A_per_m", "Hy_peak_A_per_m", "Hz_peak_A_per_m", "H_peak_A_per_m",
                  "Ex_peak_V_per_m", "Ey_peak_V_per_m", "Ez_peak_V_per_m", "E_peak_V_per_m", "implant_submodel"]
        L = self.located
        H, E = self.H_peak_A_per_m, self.E_peak_V_per_m
        Hm, Em = np.linalg.norm(H, axis=1), np.linalg.norm(E, axis=1)  # complex E: |E|² = |Re|² + |Im|²
        cplx = np.iscomplexobj(E)
        if cplx:  # complex admittivity: the in-phase (with H) components Im ω(A0 + ∇ψ) as extra columns
            header += ["Ex_in_phase_V_per_m", "Ey_in_phase_V_per_m", "Ez_in_phase_V_per_m"]
        rows = []
        for i in range(L.points_m.shape[0]):
            rows.append([L.probe[i], L.kind[i], int(L.index[i]), *(L.points_m[i] / MM).tolist(), self.region[i],
                         *H[i].tolist(), float(Hm[i]), *E[i].real.tolist(), float(Em[i]), self.implant_submodel[i],
                         *(E[i].imag.tolist() if cplx else [])])
        return header, rows

    def summary_block(self) -> list[dict]:
        """``em.field_probes``: one block per probe (lists along a line)."""
        out: dict[str, dict] = {}
        L = self.located
        for i in range(L.points_m.shape[0]):
            b = out.setdefault(L.probe[i], {
                "name": L.probe[i], "kind": L.kind[i], "amplitude_convention": "peak",
                "H_definition": H_NOTE, "E_definition": E_NOTE, "H_includes_implant_reaction": False,
                "position_mm": [], "region": [], "H_peak_A_per_m": [], "H_peak_vector_A_per_m": [],
                "E_peak_V_per_m": [], "E_peak_vector_V_per_m": [], "implant_submodel": []})
            e = self.E_peak_V_per_m[i]
            ok = bool(np.isfinite(e).all())
            b["position_mm"].append([round(float(v), 6) for v in L.points_m[i] / MM])
            b["region"].append(self.region[i])
            b["H_peak_A_per_m"].append(float(np.linalg.norm(self.H_peak_A_per_m[i])))
            b["H_peak_vector_A_per_m"].append([float(v) for v in self.H_peak_A_per_m[i]])
            b["E_peak_V_per_m"].append(float(np.linalg.norm(e)) if ok else None)
            b["E_peak_vector_V_per_m"].append([float(v) for v in e.real] if ok else None)
            if np.iscomplexobj(e):  # complex admittivity: the components in phase with H (E = −jω Re F + ω Im F)
                b.setdefault("E_in_phase_vector_V_per_m", []).append([float(v) for v in e.imag] if ok else None)
            b["implant_submodel"].append(self.implant_submodel[i] or None)
        return list(out.values())


def locate_field_probes(mesh: TissueMesh, specs: Sequence[FieldProbeSpec], key: str = "em.field_probes"
                        ) -> LocatedProbes:
    """Every probe point in its containing cell; InputError naming the key for a point outside the body."""
    probe, kind, index, pts, keys = [], [], [], [], []
    for j, s in enumerate(specs):
        ps = s.positions_mm()
        line = s.position_mm is None
        for i, p in enumerate(ps):
            probe.append(s.name)
            kind.append("line" if line else "point")
            index.append(i)
            pts.append(p)
            keys.append(f"{key}[{j}]." + (("start_mm/end_mm" + f" (point {i} of {len(ps)})") if line
                                           else "position_mm"))
    X = np.asarray(pts, float).reshape(-1, 3) * MM
    cell, bary = _locate(mesh, X)
    bad = np.flatnonzero(cell < 0)
    if bad.size:
        i = int(bad[0])
        lo = np.round(mesh.points_m.min(axis=0) / MM, 1).tolist()
        hi = np.round(mesh.points_m.max(axis=0) / MM, 1).tolist()
        hint = (" (coordinates look like metres: the plan's positions are in mm)"
                if np.abs(np.asarray(pts[i])).max() < 1.0 and max(map(abs, lo + hi)) > 10.0 else "")
        raise InputError(bad_value(keys[i], [round(float(v), 3) for v in pts[i]],
                                   f"a point inside the body for field probe {probe[i]!r} (mesh bounds {lo}..{hi} "
                                   f"mm){hint}"))
    return LocatedProbes(tuple(probe), tuple(kind), np.asarray(index, np.int64), X, cell, bary)


def _barycentric(x: np.ndarray, p: np.ndarray) -> np.ndarray:
    """(k, 4) barycentric coordinates of p (3,) in tetrahedra x (k, 4, 3)."""
    T = np.transpose(x[:, 1:] - x[:, :1], (0, 2, 1))  # (k, 3, 3)
    ok = np.abs(np.linalg.det(T)) > 0
    lam = np.full((x.shape[0], 4), -np.inf)
    if ok.any():
        r = np.linalg.solve(T[ok], (p[None, :] - x[ok, 0])[..., None])[..., 0]
        lam[ok] = np.column_stack([1.0 - r.sum(axis=1), r])
    return lam


SKIN_TOLERANCE = 0.05  # a point up to this fraction of a cell's height outside a boundary face still counts


def _locate(mesh: TissueMesh, X: np.ndarray, k: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """Containing cell (−1 if none) and barycentric weights of each point: the k cells with the nearest
    centroids first, then every cell. A point just outside the faceted skin (min barycentric ≥
    −SKIN_TOLERANCE, e.g. a probe on the true curved skin between mesh vertices) takes the nearest cell,
    its weights clipped to the cell (the value at the nearest point of the cell)."""
    from scipy.spatial import cKDTree

    n = X.shape[0]
    cell = np.full(n, -1, np.int64)
    bary = np.zeros((n, 4))
    if n == 0:
        return cell, bary
    tol = 1e-9
    xc = mesh.points_m[mesh.cells]
    _, near = cKDTree(mesh.cell_centroids_m()).query(X, k=min(k, mesh.num_cells))
    near = np.asarray(near).reshape(n, -1)
    lo, hi = mesh.points_m.min(axis=0), mesh.points_m.max(axis=0)
    for i in range(n):
        if np.any(X[i] < lo - 1e-12) or np.any(X[i] > hi + 1e-12):
            break  # outside the mesh: the caller reports the first such point
        best = (-np.inf, -1, np.zeros(4))
        for cand in (near[i], np.arange(mesh.num_cells)):
            lam = _barycentric(xc[cand], X[i])
            j = int(np.argmax(lam.min(axis=1)))
            if lam[j].min() > best[0]:
                best = (float(lam[j].min()), int(cand[j]), lam[j])
            if best[0] >= -tol:
                break
        if best[0] >= -SKIN_TOLERANCE:
            w = np.clip(best[2], 0.0, None)
            cell[i], bary[i] = best[1], w / w.sum()
        if cell[i] < 0:
            break  # the caller reports the first point not found
    return cell, bary


def _submodel_boxes(mesh: TissueMesh, fields: FieldSolution) -> list[tuple[str, np.ndarray, float]]:
    """(implant name, box centre m, half edge m) of each implant sub-model (axis-aligned cube about the
    implant's bounding-box centre, planner.geometry.submodel)."""
    out = []
    for imp in fields.implants:
        name, size_mm = getattr(imp, "name", None), float(getattr(imp, "box_size_mm", 0.0) or 0.0)
        if name is None or size_mm <= 0 or name not in {r.name for r in mesh.regions}:
            continue
        v = mesh.points_m[np.unique(mesh.cells[mesh.cell_region == mesh.region(name).tag])]
        out.append((name, 0.5 * (v.min(axis=0) + v.max(axis=0)), 0.5 * size_mm * MM))
    return out


def field_probes(mesh: TissueMesh, fields: FieldSolution, located: LocatedProbes) -> FieldProbes:
    """H and E at the located probe points from the applied field and the tissue solve (module docstring)."""
    app = fields.applied
    omega = 2.0 * math.pi * float(fields.frequency_Hz)
    X = located.points_m
    H = np.asarray(app.H_peak_at(X), float).reshape(-1, 3)
    Fv = fields.F_vertex_cell_V_s_per_m
    E = np.full(H.shape, np.nan, dtype=np.result_type(float, Fv.dtype if Fv is not None else float))
    if Fv is None:
        raise InputError("em.field_probes: the field solution carries no vertex field (F_vertex_cell_V_s_per_m); "
                         "expected a FieldSolution from planner.em.solve_eddy_currents")
    c = located.cell
    inside = fields.conducting[c] if c.size else np.zeros(0, bool)
    if inside.any():
        ci = c[inside]
        verts = mesh.points_m[mesh.cells[ci]]  # (k, 4, 3)
        A_v = np.asarray(app.A_peak_at(verts.reshape(-1, 3)), float).reshape(-1, 4, 3)
        grad_psi = np.einsum("kv,kvd->kd", located.bary[inside], Fv[ci] - A_v)
        E[inside] = omega * (np.asarray(app.A_peak_at(X[inside]), float).reshape(-1, 3) + grad_psi)
    names = {r.tag: r.name for r in mesh.regions}
    region = tuple(names[int(t)] for t in mesh.cell_region[c])
    boxes = _submodel_boxes(mesh, fields)
    covered = []
    for x in X:
        hit = [n for n, ctr, h in boxes if np.all(np.abs(x - ctr) <= h)]
        covered.append(",".join(hit))
    return FieldProbes(located, float(fields.frequency_Hz), region, H, E, tuple(covered))


__all__ = ["FieldProbes", "LocatedProbes", "field_probes", "locate_field_probes"]
