"""Field files of the pipeline's artefacts (ParaView VTU/PVD, NIfTI label map) and the segmentation
overlay figures: the artefacts themselves do no file IO (DESIGN.md §3)."""
from __future__ import annotations

import pathlib
from pathlib import Path
from typing import Any, Literal

import numpy as np

from planner.artefacts import TissueMesh
from planner.em.eddy import FieldSolution
from planner.em.probes import FieldProbes
from planner.imaging.segmentation import LabelVolume
from planner.imaging.stage import PatientModel
from planner.nanoparticles.heat import HeatSource
from planner.thermal.history import TemperatureHistory


def write_artefact_files(folder: Path, mesh: TissueMesh, artefacts: dict[str, object]) -> list[Path]:
    """Every artefact's field files into ``folder/fields`` and figures into ``folder/figures``."""
    fields_dir = folder / "fields"
    written: list[Path] = []
    for art in artefacts.values():
        if isinstance(art, FieldSolution):
            written += write_em_fields(art, fields_dir, mesh)
        elif isinstance(art, HeatSource):
            written += write_heat_fields(art, fields_dir, mesh)
        elif isinstance(art, TemperatureHistory):
            written += write_thermal_fields(art, fields_dir, mesh)
        elif isinstance(art, FieldProbes):
            from planner.reporting.field_probes import write_field_probes_csv

            written.append(write_field_probes_csv(art, folder / "field_probes.csv"))
        elif isinstance(art, PatientModel):
            written += write_label_map(art, fields_dir)
            written += write_segmentation_figures(art, folder / "figures")
    return written


def write_em_fields(fields: FieldSolution, out_dir: Path, mesh: TissueMesh) -> list[Path]:
    """ParaView file ``em_fields.vtu``: per-cell |E|, |J|, Q, SAR, SAR10g, σ, region; per-vertex H0."""
    from planner.reporting.vtu import tissue_vtu_writer

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    H = fields.applied.H_peak_at(mesh.points_m)
    cd = {
        "sigma_S_per_m": fields.sigma_S_per_m,
        "E_peak_V_per_m": fields.E_peak_V_per_m,
        "J_peak_A_per_m2": fields.J_peak_A_per_m2,
        "Q_eddy_W_per_m3": fields.Q_eddy_W_per_m3,
        "Q_implant_W_per_m3": fields.Q_implant_W_per_m3,
        "SAR_W_per_kg": fields.SAR_W_per_kg,
        "SAR10g_W_per_kg": fields.SAR10g_W_per_kg,
    }
    path = tissue_vtu_writer(mesh).write(
        out_dir / "em_fields.vtu",
        point_data={"H0_peak_A_per_m": H, "H0_peak_magnitude_A_per_m": np.linalg.norm(H, axis=1)},
        cell_data={k: np.asarray(v, dtype=np.float64) for k, v in cd.items()})
    return [path]


def write_heat_fields(heat: HeatSource, out_dir: Path, mesh: TissueMesh) -> list[Path]:
    """Per-cell fields as ``heat_source.vtu`` (ParaView), TissueMesh order."""
    from planner.reporting.vtu import tissue_vtu_writer

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = {
        "Q_total_W_per_m3": heat.Q_W_per_m3(1.0),
        "Q_np_W_per_m3": heat.Q_np_W_per_m3,
        "Q_eddy_W_per_m3": heat.Q_eddy_W_per_m3,
        "Q_implant_W_per_m3": heat.Q_implant_W_per_m3,
        "concentration_mg_per_mL": heat.concentration_mg_per_mL,
        "slp_W_per_g": heat.slp_W_per_g,
        "H_peak_A_per_m": heat.H_peak_A_per_m,
    }
    path = tissue_vtu_writer(mesh).write(out_dir / "heat_source.vtu", cell_data=data)
    return [path]


def write_thermal_fields(temperatures: TemperatureHistory, out_dir: pathlib.Path, mesh: TissueMesh) -> list[pathlib.Path]:
    """ParaView files: ``thermal_dose.vtu`` (baseline, final, max, CEM43, time above 42 °C) and a
    ``thermal_temperature.pvd`` time series of ``thermal_temperature_XXXX.vtu`` snapshots."""
    from planner.reporting.vtu import tissue_vtu_writer

    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    vtu = tissue_vtu_writer(mesh)  # the mesh and its regions encoded once for every file
    paths = [vtu.write(out_dir / "thermal_dose.vtu", point_data={
        "T_baseline_C": temperatures.T_baseline_C, "T_final_C": temperatures.T_final_C, "T_max_C": temperatures.T_max_C,
        "CEM43_min": temperatures.CEM43_min, "log10_CEM43_min": np.log10(np.maximum(temperatures.CEM43_min, 1e-12)),
        "time_above_42C_min": temperatures.time_above_42C_min,
    })]
    entries = []
    for i, (t, T) in enumerate(zip(temperatures.snapshot_times_s, temperatures.T_snapshots_C)):
        p = vtu.write(out_dir / f"thermal_temperature_{i:04d}.vtu",
                      point_data={"T_C": T, "dT_K": T - temperatures.T_baseline_C})
        paths.append(p)
        entries.append(f'    <DataSet timestep="{float(t):.6g}" group="" part="0" file="{p.name}"/>')
    pvd = out_dir / "thermal_temperature.pvd"
    pvd.write_text('<?xml version="1.0"?>\n<VTKFile type="Collection" version="0.1">\n  <Collection>\n'
                   + "\n".join(entries) + "\n  </Collection>\n</VTKFile>\n")
    paths.append(pvd)
    return paths


def write_label_map(patient: PatientModel, out_dir: str | Path) -> list[Path]:
    """The label map as NIfTI (``labels.nii.gz``, same geometry as the images)."""
    from planner.imaging.nifti import write_nifti

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return [write_nifti(out / "labels.nii.gz", patient.labels.labels, patient.labels.grid)]


def write_segmentation_figures(patient: PatientModel, out_dir: str | Path) -> list[Path]:
    """Segmentation overlay PNGs (axial, coronal, sagittal through the target)."""
    return write_overlays(patient.labels, out_dir)


def write_overlays(lv: LabelVolume, out_dir: str | Path, prefix: str = "segmentation") -> list[Path]:
    """One PNG per axis (slices through the target): image in grey, labels coloured, legend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    k0, j0, i0 = lv.focus_index()
    di, dj, dk = lv.grid.spacing_m * 1e3
    cmap_list: Any = np.vstack([plt.get_cmap("tab10")(np.arange(10)), plt.get_cmap("tab20b")(np.arange(20))])[:, :3]
    values = [t.value for t in lv.table]
    lut = np.zeros(max(values + [0]) + 1, dtype=int)
    for n, v in enumerate(values):
        lut[v] = n + 1
    colours = [(0, 0, 0, 0)] + [(*cmap_list[n % len(cmap_list)], 1.0) for n in range(len(values))]
    cmap = ListedColormap(colours)
    planes: list[tuple[str, Any, float, Literal["upper", "lower"], str, str]] = [
        ("axial", (k0, slice(None), slice(None)), dj / di, "upper", "i (column)", "j (row)"),
        ("coronal", (slice(None), j0, slice(None)), dk / di, "lower", "i (column)", "k (slice)"),
        ("sagittal", (slice(None), slice(None), i0), dk / dj, "lower", "j (row)", "k (slice)"),
    ]
    paths = []
    for name, sl, aspect, origin, xl, yl in planes:
        fig, ax = plt.subplots(figsize=(6, 5), dpi=100)
        if lv.image is not None and lv.image.array.shape == lv.labels.shape:
            img = lv.image.array[sl]
            lo, hi = np.percentile(lv.image.array, [1, 99.5])
            ax.imshow(img, cmap="gray", vmin=lo, vmax=hi, aspect=aspect, origin=origin, interpolation="nearest")
        lab = lut[lv.labels[sl]]
        ax.imshow(np.ma.masked_equal(lab, 0), cmap=cmap, vmin=0, vmax=len(colours) - 1, alpha=0.45,
                  aspect=aspect, origin=origin, interpolation="nearest")
        ax.set_title(f"{name} slice through target ({lv.method})")
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        handles = [Patch(color=colours[n + 1], label=f"{t.value} {t.name} ({t.tissue})") for n, t in enumerate(lv.table)]
        ax.legend(handles=handles, loc="upper right", fontsize=6, framealpha=0.7)
        p = out / f"{prefix}_{name}.png"
        fig.tight_layout()
        fig.savefig(p)
        plt.close(fig)
        paths.append(p)
    return paths
