"""Mesh results in millimetres for ParaView and 3D Slicer (the per-stage ``fields/*.vtu`` are in metres).

* ``fields/results_mm.vtu``: the TissueMesh with points in **LPS millimetres** (the DICOM patient frame
  a CT viewer uses), per-vertex T_max, T_final, T_baseline, ΔT_max, CEM43 and per-cell region, SAR,
  |E| (peak), Q (W/m³), all in one file;
* ``fields/temperature_mm.xdmf`` (+ ``.h5``): the temperature snapshots as one time series with the
  mesh written once (meshio XDMF time series; ``T_C`` and ``dT_K`` per vertex, time in seconds).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from planner.artefacts import TissueMesh
from planner.reporting.structure_metrics import CellFieldsLike, TemperaturesLike
from planner.units import MM


@runtime_checkable
class SnapshotsLike(Protocol):
    @property
    def snapshot_times_s(self) -> np.ndarray: ...
    @property
    def T_snapshots_C(self) -> np.ndarray: ...
    @property
    def T_baseline_C(self) -> np.ndarray: ...


class HeatLike(Protocol):
    def Q_W_per_m3(self, field_fraction: float = 1.0) -> np.ndarray: ...


def write_results_mm(
    folder: Path,
    mesh: TissueMesh,
    temperatures: TemperaturesLike | None,
    fields: CellFieldsLike | None,
    heat: HeatLike | None,
) -> list[Path]:
    """``results_mm.vtu`` and, with temperature snapshots, ``temperature_mm.xdmf``/``.h5`` in ``folder``."""
    import meshio

    folder.mkdir(parents=True, exist_ok=True)
    points_mm = mesh.points_m / MM
    cells = [("tetra", mesh.cells.astype(np.int64))]
    pd: dict[str, np.ndarray] = {}
    if temperatures is not None:
        T_max, T_base = np.asarray(temperatures.T_max_C, float), np.asarray(temperatures.T_baseline_C, float)
        pd = {
            "T_max_C": T_max,
            "T_final_C": np.asarray(temperatures.T_final_C, float),
            "T_baseline_C": T_base,
            "dT_max_K": T_max - T_base,
            "CEM43_min": np.asarray(temperatures.CEM43_min, float),
        }
    cd: dict[str, list[np.ndarray]] = {"region": [mesh.cell_region.astype(np.int32)]}
    if fields is not None:
        cd["SAR_W_per_kg"] = [np.asarray(fields.SAR_W_per_kg, float)]
        cd["E_peak_V_per_m"] = [np.asarray(fields.E_peak_V_per_m, float)]
    if heat is not None:
        cd["Q_W_per_m3"] = [np.asarray(heat.Q_W_per_m3(1.0), float)]
    vtu = folder / "results_mm.vtu"
    meshio.write(vtu, meshio.Mesh(points_mm, cells, point_data=pd, cell_data=cd))
    paths = [vtu]
    if isinstance(temperatures, SnapshotsLike) and len(temperatures.snapshot_times_s):
        xdmf = folder / "temperature_mm.xdmf"
        base = np.asarray(temperatures.T_baseline_C, float)
        _write_series(xdmf, points_mm, cells, temperatures.snapshot_times_s, temperatures.T_snapshots_C, base)
        paths += [xdmf, xdmf.with_suffix(".h5")]
    return paths


def _write_series(
    xdmf: Path, points_mm: np.ndarray, cells: list, times_s: np.ndarray, T_C: np.ndarray, T_base_C: np.ndarray
) -> None:
    """meshio's XDMF TimeSeriesWriter, with its HDF5 file beside the .xdmf: meshio 5.3 opens
    ``<stem>.h5`` in the current working directory (its ``__enter__``), so the file is opened here."""
    import h5py
    import meshio

    w = meshio.xdmf.TimeSeriesWriter(str(xdmf))
    w.h5_filename = str(xdmf.with_suffix(".h5"))  # referenced by base name: relative to the .xdmf
    w.h5_file = h5py.File(w.h5_filename, "w")
    try:
        w.write_points_cells(points_mm, cells)
        for t, T in zip(times_s, T_C):
            T = np.asarray(T, float)
            w.write_data(float(t), point_data={"T_C": T, "dT_K": T - T_base_C})
    finally:
        w.__exit__()
