"""Per-structure metrics, DVH and probe tables: ``metrics.csv``, ``dvh.csv``, ``probes.csv``.

Structures are the mesh regions under their own names (RTSTRUCT ROI names, label names or plan body
names), so Bladder and Rectum keep separate rows even when both are 'muscle'; each tissue also gets
a pooled row with ``structure = "*"`` (all regions of that tissue). An RTSTRUCT ROI that overlaps other
structures (segmentation gives each voxel to one region: the target wins over the organ it lies in)
also gets a row for the ROI as drawn, role 'roi', tissue 'prostate+tumour' style
(:func:`roi_structures`).

Volume weighting is the one of :mod:`planner.thermal.metrics` (lumped vertex volumes of the
structure's cells; summary.json ``thermal.target`` uses the same), applied to the per-vertex
maximum temperature over the session ``T_max_C``:

* ``T90_C``/``T50_C``/``T10_C``: reached or exceeded by 90/50/10 % of the structure volume;
* ``T_max_C``: the highest vertex value; ``T_hot0.5mL_C``: the lowest temperature in the hottest
  0.5 mL (like D2cc in radiotherapy; the structure's minimum if it is smaller than 0.5 mL);
* ``CEM43T90_min``/``CEM43T50_min``/``CEM43_max_min``: the same for CEM43 (minutes);
* ``dT_max_K``: largest rise T_max − T_baseline; ``SAR_max_W_per_kg``, ``E_max_V_per_m``: over cells.

``dvh.csv`` is the cumulative histogram: fraction of the structure volume with T_max ≥ ``T_C``, on
0.1 K steps spanning all structures. ``probes.csv`` holds each probe's time series (LPS mm).
"""

from __future__ import annotations

import csv
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from planner.artefacts import TissueMesh
from planner.imaging.volume import Grid
from planner.thermal.metrics import exceeded_by_fraction, vertex_volumes_m3

DVH_STEP_K = 0.1
HOT_VOLUME_M3 = 0.5e-6  # 0.5 mL
POOLED = "*"
ROI_OVERLAP_MIN = 0.01  # ROI rows only when > 1 % of an ROI's voxels went to another region


class TemperaturesLike(Protocol):
    """The per-vertex arrays of the thermal artefact this module reads (read-only members)."""

    @property
    def T_max_C(self) -> np.ndarray: ...
    @property
    def T_final_C(self) -> np.ndarray: ...
    @property
    def CEM43_min(self) -> np.ndarray: ...
    @property
    def T_baseline_C(self) -> np.ndarray: ...


@runtime_checkable
class ProbeSeriesLike(Protocol):
    """Probe time series of the thermal artefact."""

    @property
    def probe_names(self) -> tuple[str, ...]: ...
    @property
    def probe_positions_m(self) -> np.ndarray: ...
    @property
    def times_s(self) -> np.ndarray: ...
    @property
    def probe_T_C(self) -> np.ndarray: ...


class CellFieldsLike(Protocol):
    @property
    def SAR_W_per_kg(self) -> np.ndarray: ...
    @property
    def E_peak_V_per_m(self) -> np.ndarray: ...


@dataclass(frozen=True)
class Structure:
    name: str
    tissue: str
    role: str
    cells: np.ndarray  # (M,) bool


def structures(mesh: TissueMesh, extra: Sequence[Structure] = ()) -> list[Structure]:
    """Every region by name, ``extra`` (e.g. :func:`roi_structures`), then every tissue pooled
    (``structure = "*"``)."""
    out = [Structure(r.name, r.tissue, r.role.value, mesh.cell_region == r.tag) for r in mesh.regions]
    out += list(extra)
    for tissue in sorted({r.tissue for r in mesh.regions}):
        out.append(Structure(POOLED, tissue, "tissue", mesh.cells_of_tissue(tissue)))
    return [s for s in out if s.cells.any()]


def roi_structures(
    mesh: TissueMesh, masks: dict[str, np.ndarray], grid: Grid, labels: np.ndarray
) -> list[Structure]:
    """RTSTRUCT ROIs as drawn, for ROIs the segmentation did not give whole to their region.

    Segmentation gives each voxel one label, so an ROI that contains another one (a CTV around the
    GTV) loses those voxels to it. An ROI with more than ``ROI_OVERLAP_MIN`` of its voxels labelled
    other than its own region (``labels`` on ``grid``; label value = region tag) gets an extra row:
    the cells whose centroid's nearest voxel is in its mask, role 'roi', ``tissue`` the tissues it
    covers joined by '+'.
    """
    ijk = np.rint(grid.lps_m_to_index(mesh.cell_centroids_m())).astype(int)
    nk, nj, ni = grid.shape
    ok = np.all((ijk >= 0) & (ijk < np.array([ni, nj, nk])), axis=1)
    out = []
    for name, mask in masks.items():
        m = np.asarray(mask, dtype=bool)
        own = [r.tag for r in mesh.regions if r.name == name]
        if not m.any() or np.count_nonzero(m & ~np.isin(labels, own)) <= ROI_OVERLAP_MIN * np.count_nonzero(m):
            continue
        cells = np.zeros(mesh.num_cells, dtype=bool)
        cells[ok] = m[ijk[ok, 2], ijk[ok, 1], ijk[ok, 0]]
        if cells.any():
            tags = set(np.unique(mesh.cell_region[cells]).tolist())
            tissues = sorted({r.tissue for r in mesh.regions if r.tag in tags})
            out.append(Structure(name, "+".join(tissues), "roi", cells))
    return out


def _thermal_metrics(mesh: TissueMesh, s: Structure, th: TemperaturesLike) -> dict[str, float]:
    w = vertex_volumes_m3(mesh, s.cells)
    sel = w > 0
    T = np.asarray(th.T_max_C, float)
    cem = np.asarray(th.CEM43_min, float)
    hot = min(1.0, HOT_VOLUME_M3 / float(w.sum()))
    return {
        "T90_C": exceeded_by_fraction(T, w, 0.9),
        "T50_C": exceeded_by_fraction(T, w, 0.5),
        "T10_C": exceeded_by_fraction(T, w, 0.1),
        "T_max_C": float(T[sel].max()),
        "T_hot0.5mL_C": exceeded_by_fraction(T, w, hot),
        "T_mean_C": float((T[sel] * w[sel]).sum() / w[sel].sum()),
        "T_final_max_C": float(np.asarray(th.T_final_C, float)[sel].max()),
        "dT_max_K": float((T - np.asarray(th.T_baseline_C, float))[sel].max()),
        "CEM43T90_min": exceeded_by_fraction(cem, w, 0.9),
        "CEM43T50_min": exceeded_by_fraction(cem, w, 0.5),
        "CEM43_max_min": float(cem[sel].max()),
    }


def structure_metrics(
    mesh: TissueMesh,
    temperatures: TemperaturesLike | None,
    fields: CellFieldsLike | None,
    extra: Sequence[Structure] = (),
    only: Collection[str] | None = None,
) -> list[dict[str, object]]:
    """One dict per structure (see module docstring); thermal keys only with a thermal result.
    ``only``: just the named structures (no pooled tissue rows), e.g. for [safety] structure limits."""
    vol = mesh.cell_volumes_m3()
    rows: list[dict[str, object]] = []
    for s in structures(mesh, extra):
        if only is not None and (s.name not in only or s.role == "tissue"):
            continue
        row: dict[str, object] = {
            "structure": s.name,
            "tissue": s.tissue,
            "role": s.role,
            "volume_mL": float(vol[s.cells].sum() * 1e6),
        }
        if temperatures is not None:
            row.update(_thermal_metrics(mesh, s, temperatures))
        if fields is not None:
            row["SAR_max_W_per_kg"] = float(np.asarray(fields.SAR_W_per_kg)[s.cells].max())
            row["E_max_V_per_m"] = float(np.asarray(fields.E_peak_V_per_m)[s.cells].max())
        rows.append(row)
    return rows


def cumulative_fraction(values: np.ndarray, weights: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Fraction of the weight with value ≥ each edge (weights ≤ 0 ignored)."""
    sel = weights > 0
    v, w = values[sel], weights[sel]
    order = np.argsort(v)
    v, w = v[order], w[order]
    tail = np.concatenate([np.cumsum(w[::-1])[::-1], [0.0]])  # tail[i] = weight of v[i:]
    return tail[np.searchsorted(v, edges, side="left")] / w.sum()


def dvh_rows(
    mesh: TissueMesh, T_max_C: np.ndarray, extra: Sequence[Structure] = ()
) -> list[tuple[str, str, float, float]]:
    """(structure, tissue, T_C, volume_fraction) on a 0.1 K grid covering every structure."""
    T = np.asarray(T_max_C, float)
    lo = np.floor(T.min() / DVH_STEP_K) * DVH_STEP_K
    hi = np.ceil(T.max() / DVH_STEP_K) * DVH_STEP_K
    edges = np.round(np.arange(lo, hi + 0.5 * DVH_STEP_K, DVH_STEP_K), 6)
    rows = []
    for s in structures(mesh, extra):
        frac = cumulative_fraction(T, vertex_volumes_m3(mesh, s.cells), edges)
        rows += [(s.name, s.tissue, float(e), float(f)) for e, f in zip(edges, frac)]
    return rows


def probe_rows(temperatures: ProbeSeriesLike) -> list[tuple[str, float, float, float, float, float]]:
    """(probe, x_mm, y_mm, z_mm, time_s, T_C) for every probe and time of the thermal artefact."""
    names = tuple(temperatures.probe_names or ())
    if not names:
        return []
    pos = np.asarray(temperatures.probe_positions_m).reshape(-1, 3) * 1e3
    times = np.asarray(temperatures.times_s, dtype=float)
    T = np.asarray(temperatures.probe_T_C, dtype=float).reshape(len(names), -1)
    return [
        (n, float(pos[p, 0]), float(pos[p, 1]), float(pos[p, 2]), float(t), float(T[p, i]))
        for p, n in enumerate(names)
        for i, t in enumerate(times)
    ]


def _write_csv(path: Path, header: list[str], rows: list) -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        for r in rows:
            w.writerow([f"{v:.9g}" if isinstance(v, float) else v for v in r])
    return path


METRIC_COLUMNS = [
    "structure",
    "tissue",
    "role",
    "volume_mL",
    "T90_C",
    "T50_C",
    "T10_C",
    "T_max_C",
    "T_hot0.5mL_C",
    "T_mean_C",
    "T_final_max_C",
    "dT_max_K",
    "CEM43T90_min",
    "CEM43T50_min",
    "CEM43_max_min",
    "SAR_max_W_per_kg",
    "E_max_V_per_m",
]


def write_tables(
    folder: Path,
    mesh: TissueMesh,
    temperatures: TemperaturesLike | None,
    fields: CellFieldsLike | None,
    extra: Sequence[Structure] = (),
) -> tuple[list[Path], list[dict[str, object]]]:
    """``metrics.csv``, ``dvh.csv``, ``probes.csv`` (header only when there is nothing to list)."""
    metrics = structure_metrics(mesh, temperatures, fields, extra)
    paths = [
        _write_csv(folder / "metrics.csv", METRIC_COLUMNS, [[m.get(c, "") for c in METRIC_COLUMNS] for m in metrics])
    ]
    dvh = dvh_rows(mesh, temperatures.T_max_C, extra) if temperatures is not None else []
    paths.append(_write_csv(folder / "dvh.csv", ["structure", "tissue", "T_C", "volume_fraction"], dvh))
    probes: list[tuple[str, float, float, float, float, float]] = []
    if isinstance(temperatures, ProbeSeriesLike):
        probes = probe_rows(temperatures)
    paths.append(_write_csv(folder / "probes.csv", ["probe", "x_mm", "y_mm", "z_mm", "time_s", "T_C"], probes))
    return paths, metrics
