"""Field probes (``[[em.field_probes]]``): peak H and tissue E at points and along lines, for QA of the
applicator against a measured field (issue 11, deliverable 5).

At each probe point (peak phasors, e^{jωt}, all coil currents in phase):

* **H** is the applicator's field H0 (Biot–Savart or uniform, :mod:`planner.em.applicators`), real
  and in phase with the coil current, plus — at points inside an implant's sub-model mesh — that
  sub-model's reaction field H_r = curl(A_r)/μ0 of the implant's eddy currents
  (:mod:`planner.fem.implant_eddy.evaluate`, sampled during the implant stage,
  :mod:`planner.em.implant_field`; several implants add their reactions). H_r is complex (the
  implant's loss puts part of it in quadrature): the components reported are the in-phase parts,
  ``H_quadrature_peak_A_per_m`` the magnitude of the quadrature part and ``H_peak_A_per_m`` =
  √Σ|H_j|². The tissue's own reaction field is negligible (quasi-static, δ ≫ body) and not included.
  ``H_model`` says which model gave H at each point ("applied" or "applied+submodel:<implants>").
* **E** in tissue is the tissue solve's field E = −jω(A0 + ∇ψ) (:mod:`planner.fem.scalar_potential`,
  implants as floating conductors): A0 evaluated exactly at the point plus ∇ψ interpolated linearly
  from the containing cell's vertex values (exact for P1, where ∇ψ is constant per cell, and for P2,
  where it is linear). E lags H by 90°; the reported components are the amplitudes ω(A0 + ∇ψ), i.e. the
  phasor is −j × the value. Inside an implant's metal E is the sub-model's total E = −jω(A0 + A_r)
  (skin effect; same convention, in-phase parts, quadrature magnitude in ``E_quadrature_peak_V_per_m``).
  The sub-model's E is not used in tissue: it has no tissue conductivity (no charges, no galvanic
  currents) and A_r is gauge-free there; the implant's reaction adds an induced E ~ ω μ0 |H_r| a in
  tissue, ≲ a/R of the applied ω|A0| (implant size a, distance R from the applicator axis), not
  included. E is not defined (null / empty) in air or in a metal no sub-model covers.
  ``E_model``: "tissue_solve", "submodel:<implant>" or "" (not defined).

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

H_NOTE = ("applied field H0 of the applicator (peak, in phase with the coil current) plus, inside an implant "
          "sub-model (H_model 'applied+submodel:...'), the implant's eddy-current reaction field curl(A_r)/mu0; "
          "components are the in-phase parts, H_peak = sqrt(sum |H_j|^2) includes the quadrature part")
E_NOTE = ("tissue field of the scalar-potential solve, E = -j omega (A0 + grad psi) (implants as floating "
          "conductors); components are the peak amplitudes omega (A0 + grad psi), the phasor lags H by 90 deg; "
          "with the complex admittivity E_peak_vector is omega Re(A0 + grad psi) (lagging H by 90 deg), "
          "E_in_phase_vector omega Im(A0 + grad psi) (in phase with H), E_peak = sqrt(|Re|^2 + |Im|^2); "
          "inside implant metal the sub-model's E = -j omega (A0 + A_r), same convention (E_model); null in air")


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
    """H and E at the probe points (peak phasor amplitudes, complex; module docstring)."""

    located: LocatedProbes
    frequency_Hz: float
    region: tuple[str, ...]  # mesh region of each point
    H_peak_A_per_m: np.ndarray  # (n, 3) complex: H0 (+ implant reactions where a sub-model covers the point)
    E_peak_V_per_m: np.ndarray  # (n, 3) ω(A0 + ∇ψ) (phasor = −j × it; complex with the complex admittivity or a
    #                             sub-model's metal E), NaN where E is not defined
    implant_submodel: tuple[str, ...]  # implants whose sub-model box holds the point ('a,b'), or ''
    H_model: tuple[str, ...] = ()  # 'applied' or 'applied+submodel:<implants>' per point
    E_model: tuple[str, ...] = ()  # 'tissue_solve', 'submodel:<implant>' or '' per point

    def rows(self) -> tuple[list[str], list[list]]:
        """CSV header (units and peak in the names) and rows."""
        header = ["probe", "kind", "index", "x_mm", "y_mm", "z_mm", "region",
                  "Hx_peak_A_per_m", "Hy_peak_A_per_m", "Hz_peak_A_per_m", "H_peak_A_per_m",
                  "Ex_peak_V_per_m", "Ey_peak_V_per_m", "Ez_peak_V_per_m", "E_peak_V_per_m", "implant_submodel",
                  "H_quadrature_peak_A_per_m", "H_model", "E_model"]
        L = self.located
        H, E = np.asarray(self.H_peak_A_per_m, complex), self.E_peak_V_per_m
        Hm, Em = _magnitude(H), _magnitude(E)  # complex E: |E|² = |Re|² + |Im|²
        Hq = np.linalg.norm(H.imag, axis=1)
        Hmod, Emod = self._models()
        cplx = np.iscomplexobj(E)
        if cplx:  # complex admittivity / metal E: the in-phase (with H) components Im ω(A0 + ∇ψ) as extra columns
            header += ["Ex_in_phase_V_per_m", "Ey_in_phase_V_per_m", "Ez_in_phase_V_per_m"]
        rows = []
        for i in range(L.points_m.shape[0]):
            rows.append([L.probe[i], L.kind[i], int(L.index[i]), *(L.points_m[i] / MM).tolist(), self.region[i],
                         *H[i].real.tolist(), float(Hm[i]), *E[i].real.tolist(), float(Em[i]), self.implant_submodel[i],
                         float(Hq[i]), Hmod[i], Emod[i], *(E[i].imag.tolist() if cplx else [])])
        return header, rows

    def _models(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        n = self.located.points_m.shape[0]
        E = np.asarray(self.E_peak_V_per_m, complex)
        Emod = self.E_model or tuple("tissue_solve" if np.isfinite(E[i]).all() else "" for i in range(n))
        return self.H_model or ("applied",) * n, Emod

    def summary_block(self) -> list[dict]:
        """``em.field_probes``: one block per probe (lists along a line)."""
        out: dict[str, dict] = {}
        L = self.located
        H, E = np.asarray(self.H_peak_A_per_m, complex), self.E_peak_V_per_m
        Hmod, Emod = self._models()
        for i in range(L.points_m.shape[0]):
            b = out.setdefault(L.probe[i], {
                "name": L.probe[i], "kind": L.kind[i], "amplitude_convention": "peak",
                "H_definition": H_NOTE, "E_definition": E_NOTE, "H_includes_implant_reaction": False,
                "position_mm": [], "region": [], "H_peak_A_per_m": [], "H_peak_vector_A_per_m": [],
                "H_quadrature_peak_A_per_m": [], "E_peak_V_per_m": [], "E_peak_vector_V_per_m": [],
                "implant_submodel": [], "H_model": [], "E_model": []})
            e = E[i]
            ok = bool(np.isfinite(e).all())
            b["position_mm"].append([round(float(v), 6) for v in L.points_m[i] / MM])
            b["region"].append(self.region[i])
            b["H_peak_A_per_m"].append(float(_magnitude(H[i:i + 1])[0]))
            b["H_peak_vector_A_per_m"].append([float(v) for v in H[i].real])
            b["H_quadrature_peak_A_per_m"].append(float(np.linalg.norm(H[i].imag)))
            b["E_peak_V_per_m"].append(float(_magnitude(e[None, :])[0]) if ok else None)
            b["E_peak_vector_V_per_m"].append([float(v) for v in e.real] if ok else None)
            if np.iscomplexobj(e):  # complex admittivity: the components in phase with H (E = −jω Re F + ω Im F)
                b.setdefault("E_in_phase_vector_V_per_m", []).append([float(v) for v in e.imag] if ok else None)
            b["implant_submodel"].append(self.implant_submodel[i] or None)
            b["H_model"].append(Hmod[i])
            b["E_model"].append(Emod[i] or None)
            b["H_includes_implant_reaction"] = b["H_includes_implant_reaction"] or Hmod[i] != "applied"
        return list(out.values())


def _magnitude(V: np.ndarray) -> np.ndarray:
    """√Σ_j |V_j|² per row (the peak amplitude of a linearly polarised phasor vector)."""
    return np.sqrt(np.sum(np.abs(V) ** 2, axis=1))


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
    """H and E at the located probe points from the applied field, the tissue solve and the implant
    sub-models' reaction fields (module docstring)."""
    app = fields.applied
    omega = 2.0 * math.pi * float(fields.frequency_Hz)
    X = located.points_m
    H = np.asarray(app.H_peak_at(X), float).reshape(-1, 3).astype(complex)
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
    E_model = ["tissue_solve" if ok else "" for ok in inside]
    H_model, E = _add_implant_reactions(fields, X.shape[0], H, E, E_model)
    names = {r.tag: r.name for r in mesh.regions}
    region = tuple(names[int(t)] for t in mesh.cell_region[c])
    boxes = _submodel_boxes(mesh, fields)
    covered = []
    for x in X:
        hit = [n for n, ctr, h in boxes if np.all(np.abs(x - ctr) <= h)]
        covered.append(",".join(hit))
    return FieldProbes(located, float(fields.frequency_Hz), region, H, E, tuple(covered), tuple(H_model),
                       tuple(E_model))


def _add_implant_reactions(fields: FieldSolution, n: int, H: np.ndarray, E: np.ndarray, E_model: list[str]
                           ) -> tuple[list[str], np.ndarray]:
    """Add each implant's sampled reaction field to H (complex, in place) where its sub-model covers the
    point, and take its metal E where the point lies in its metal (E_model updated in place); returns the
    per-point H model and E (complex if a metal E was taken)."""
    used: list[list[str]] = [[] for _ in range(n)]
    for imp in fields.implants:
        tf = getattr(imp, "total_field", None)
        if tf is None or tf.probe_inside.shape[0] != n:
            continue  # sampled without these probes (e.g. a settings search rebuild)
        idx = np.flatnonzero(tf.probe_inside)
        H[idx] += tf.probe_H_reaction_peak_A_per_m[idx]
        for i in idx:
            used[i].append(imp.name)
        metal = np.flatnonzero(tf.probe_in_metal)
        if metal.size:
            E = E.astype(complex)
        for i in metal:
            # the E convention of this module: j × the phasor, ω(A0 + A_r) (complex: skin effect)
            E[i] = 1j * tf.probe_E_peak_V_per_m[i]
            E_model[i] = f"submodel:{imp.name}"
    return ["applied+submodel:" + ",".join(u) if u else "applied" for u in used], E


__all__ = ["FieldProbes", "LocatedProbes", "field_probes", "locate_field_probes"]
