"""Figures of a plan's results (PNG, headless) and the report entry point of the pipeline.

Three kinds of figures go into ``<results>/figures``:

* Overlays (:mod:`planner.reporting.slice_overlays`, Matplotlib): T_max, CEM43 and SAR over the planning
  CT/MR — read back from the image-grid NIfTI the exporter wrote, not re-sampled — or over the tissue map
  for primitive phantoms; isotherms, structure outlines, scale bar, orientation labels
  (``overlay_*.png``).
* Orthogonal slices (axial: normal z, coronal: normal y, sagittal: normal x; patient LPS frame,
  millimetres) through the target centroid — or through the centre of the model's bounding box
  when there is no target — rendered off screen with PyVista/VTK (Mesa EGL, DESIGN.md §1): region
  labels, peak |E| and local SAR (per cell), T_max over the session and log10 CEM43 (per vertex).
* Matplotlib (Agg) plots: probe temperature histories with the 42/43 °C lines and field-on shading,
  the cumulative temperature-volume histogram (DVH) of T_max per tissue, and the settings-search
  curve (target T90 and healthy-tissue maximum vs field amplitude, with the limits).

Each figure is drawn only when its inputs exist (a plan without ``[thermal]`` gets no thermal
figures). Rendering needs ``VTK_DEFAULT_OPENGL_WINDOW=vtkEGLRenderWindow`` set before Python starts
(``scripts/env.sh``); when VTK cannot render, the slice figures are skipped with a logged warning and
the plots are still written.
"""
from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from planner.artefacts import TissueMesh
from planner.reporting.slice_overlays import DEFAULT_ISOTHERMS_C, image_slices, mesh_slices, overlay_figure

log = logging.getLogger(__name__)

#: Orthogonal views: (file suffix, title, slice normal, in-plane axes shown).
VIEWS = (
    ("axial", "axial (z = {z:.1f} mm)", "z"),
    ("coronal", "coronal (y = {y:.1f} mm)", "y"),
    ("sagittal", "sagittal (x = {x:.1f} mm)", "x"),
)
WINDOW_PX = (1700, 560)


# --- entry points -------------------------------------------------------------------------------
def write_report(folder: Path, mesh: TissueMesh, summary: dict, artefacts: dict, *,
                 isotherms_C: tuple[float, ...] = DEFAULT_ISOTHERMS_C) -> list[Path]:
    """Figures and ``report.html`` of a results folder; returns the absolute paths written."""
    from planner.reporting.html import write_html

    folder = Path(folder)
    figures = write_figures(folder, mesh, summary, artefacts, isotherms_C=isotherms_C)
    others = sorted(set((folder / "figures").glob("*.png")) - set(figures))  # e.g. the segmentation overlays
    return figures + [write_html(folder, summary, figures + others)]


def write_figures(folder: Path, mesh: TissueMesh, summary: dict, artefacts: dict, *,
                  isotherms_C: tuple[float, ...] = DEFAULT_ISOTHERMS_C) -> list[Path]:
    """Write the PNG figures into ``folder/"figures"`` and return their absolute paths (``isotherms_C``:
    the T_max contours of the overlay slices; default the RTSTRUCT isotherms 40, 42, 43 °C)."""
    out = Path(folder) / "figures"
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    paths += overlay_figures(out, Path(folder), mesh, artefacts, isotherms_C)
    # a quantity drawn as an overlay (same planes through the target) gets no second, mesh-slice image
    drawn = {SLICE_OF_OVERLAY[p.stem] for p in paths if p.stem in SLICE_OF_OVERLAY}
    paths += slice_figures(out, mesh, artefacts, skip=drawn)
    temps = artefacts.get("temperatures")
    if temps is not None:
        p = probe_figure(out / "probes.png", temps)
        if p is not None:
            paths.append(p)
    dvh_block = temps.dvh if temps is not None else (summary.get("thermal") or {}).get("dvh")
    if dvh_block and dvh_block.get("fraction_at_or_above"):
        paths.append(dvh_figure(out / "dvh.png", dvh_block))
    if summary.get("search"):
        paths.append(search_figure(out / "search.png", summary["search"], summary.get("safety")))
    if artefacts.get("selection_field") is not None:  # [selection_field]: |H_dc| with the FFR outlined
        from planner.reporting.ffr_figure import ffr_figure

        paths.append(ffr_figure(out / "ffr.png", mesh, artefacts, summary))
    if artefacts.get("uncertainty") is not None:
        from planner.uncertainty.outputs import uncertainty_figure

        paths.append(uncertainty_figure(out / "uncertainty.png", artefacts["uncertainty"]))
    return paths


# --- slices over the planning image (Matplotlib) ----------------------------------------------------
OVERLAY_QUANTITIES = ("T_max_C", "CEM43_min", "SAR_W_per_kg")
OVERLAY_NAMES = {"T_max_C": "overlay_T_max", "CEM43_min": "overlay_CEM43", "SAR_W_per_kg": "overlay_SAR"}
#: overlay figure → the mesh-slice image (:func:`slice_figures`) of the same quantity it replaces
SLICE_OF_OVERLAY = {"overlay_T_max": "T_max", "overlay_CEM43": "CEM43", "overlay_SAR": "SAR"}


def overlay_figures(out: Path, folder: Path, mesh: TissueMesh, artefacts: dict,
                    isotherms_C: tuple[float, ...] = DEFAULT_ISOTHERMS_C) -> list[Path]:
    """``overlay_T_max.png``, ``overlay_CEM43.png``, ``overlay_SAR.png`` (slices through the target) and
    ``overlay_hotspot.png`` (T max through the hottest healthy voxel, when it lies elsewhere); each only
    when its field exists. Image plans: the fields of ``folder/image`` over the CT/MR; else the tissue map."""
    sets = overlay_slice_sets(folder, mesh, artefacts)
    if not sets:
        return []
    at_target, hot = sets
    paths = []
    for q in OVERLAY_QUANTITIES:
        if any(q in p.fields for p in at_target.planes):
            paths.append(overlay_figure(out / f"{OVERLAY_NAMES[q]}.png", at_target, q, isotherms_C))
    if hot is not None:
        paths.append(overlay_figure(out / "overlay_hotspot.png", hot, "T_max_C", isotherms_C))
    return paths


def overlay_slice_sets(folder: Path, mesh: TissueMesh, artefacts: dict):
    """(slices through the target, slices through the healthy hot spot or None), or () without fields."""
    temps, fields = artefacts.get("temperatures"), artefacts.get("fields")
    if temps is None and fields is None:
        return ()
    patient = artefacts.get("patient")
    image_dir = Path(folder) / "image"
    if patient is not None and getattr(patient, "labels", None) is not None and image_dir.is_dir():
        return _image_slice_sets(image_dir, patient)
    vertex = {} if temps is None else {"T_max_C": np.asarray(temps.T_max_C, float),
                                        "CEM43_min": np.asarray(temps.CEM43_min, float)}
    cell = {} if fields is None else {"SAR_W_per_kg": np.asarray(fields.SAR_W_per_kg, float)}
    point = _slice_origin_mm(mesh) * 1e-3
    at_target = mesh_slices(mesh, point, vertex, cell, "target centroid" if mesh.target_centroid_m() is not None
                            else "model centre")
    hot = None
    if temps is not None:
        healthy = _healthy_vertices(mesh)
        if healthy.any():
            T = np.where(healthy, np.asarray(temps.T_max_C, float), -np.inf)
            p_hot = np.asarray(mesh.points_m[int(np.argmax(T))], float)
            if _away_from(p_hot, _target_points(mesh), HOTSPOT_MIN_DISTANCE_M):
                hot = mesh_slices(mesh, p_hot, vertex, cell, "hottest healthy point")
    return at_target, hot


#: the hot-spot figure is drawn only when the hottest healthy point is this far from every target point
HOTSPOT_MIN_DISTANCE_M = 5e-3


def _target_points(mesh: TissueMesh) -> np.ndarray:
    tags = [r.tag for r in mesh.regions if r.role.value == "target"]
    return np.asarray(mesh.points_m)[np.unique(np.asarray(mesh.cells)[np.isin(mesh.cell_region, tags)])]


def _away_from(p: np.ndarray, points: np.ndarray, distance_m: float) -> bool:
    """True when ``p`` is farther than ``distance_m`` from every one of ``points`` (or there are none)."""
    return bool(points.size == 0 or np.min(np.linalg.norm(np.asarray(points) - p, axis=1)) > distance_m)


def _healthy_vertices(mesh: TissueMesh) -> np.ndarray:
    """Vertices of cells in body/organ regions only (not target, not implant)."""
    bad = [r.tag for r in mesh.regions if r.role.value in ("target", "implant")]
    ok = ~np.isin(mesh.cell_region, bad)
    out = np.zeros(mesh.num_vertices, bool)
    out[np.asarray(mesh.cells)[ok].ravel()] = True
    bad_v = np.zeros(mesh.num_vertices, bool)
    bad_v[np.asarray(mesh.cells)[~ok].ravel()] = True
    return out & ~bad_v


def _image_slice_sets(image_dir: Path, patient):
    """The exported image-grid fields (read back, not re-sampled) over the planning image."""
    from planner.imaging.nifti import read_nifti

    lv = patient.labels
    image = patient.image
    if image is not None:
        grid, underlay = image.grid, image.array
        kind = "CT" if image.modality == "CT" else "MR"
        labels = lv.labels_on_source_grid(image.shape)
    else:
        grid, underlay, kind, labels = lv.grid, lv.labels, "tissues", lv.labels
    fields = {}
    for q in OVERLAY_QUANTITIES:
        f = image_dir / f"{q}.nii.gz"
        if f.is_file():
            vol = read_nifti(f)
            if vol.array.shape == tuple(grid.shape):
                fields[q] = vol.array
    if not fields:
        return ()
    target = [t.value for t in lv.table if t.role.value == "target"]
    structures = {}
    if patient.structures is not None:
        structures.update({n: np.asarray(m, bool) for n, m in patient.structures.masks.items()
                           if np.shape(m) == tuple(grid.shape)})
    for t in lv.table:
        if t.role.value in ("target", "organ", "implant") and t.name not in structures:
            structures[t.name] = labels == t.value
    names = {t.value: f"{t.name} ({t.tissue})" for t in lv.table}
    sel = np.isin(labels, target) if target else labels > 0
    c = np.argwhere(sel).mean(axis=0) if sel.any() else np.array(grid.shape) // 2
    focus = (int(round(c[0])), int(round(c[1])), int(round(c[2])))
    at_target = image_slices(grid, underlay, kind, fields, structures, focus,
                             "target centroid" if target else "labelled-volume centre", names)
    hot = None
    if "T_max_C" in fields:
        bad = [t.value for t in lv.table if t.role.value in ("target", "implant")]
        healthy = (labels > 0) & ~np.isin(labels, bad) & (fields["T_max_C"] != 0)
        if healthy.any():
            T = np.where(healthy, fields["T_max_C"], -np.inf)
            k, j, i = (int(v) for v in np.unravel_index(int(np.argmax(T)), T.shape))
            hot_kji = (k, j, i)
            tgt_pts = grid.index_to_lps_m(np.argwhere(sel)[:, ::-1].astype(float))
            if _away_from(grid.index_to_lps_m(np.array([hot_kji[::-1]], float))[0], tgt_pts, HOTSPOT_MIN_DISTANCE_M):
                hot = image_slices(grid, underlay, kind, fields, structures, hot_kji,
                                   "hottest healthy voxel", names)
    return at_target, hot


# --- slices (PyVista) ---------------------------------------------------------------------------
def _slice_quantities(mesh: TissueMesh, artefacts: dict) -> list[dict[str, Any]]:
    """The slice images to draw: name, data array, cell/point association, bar title, colours."""
    qs: list[dict[str, Any]] = [{
        "name": "regions", "array": mesh.cell_region.astype(np.int32), "cells": True,
        "title": "region", "categorical": True,
    }]
    fields = artefacts.get("fields")
    if fields is not None:
        qs.append({"name": "E_peak", "array": np.asarray(fields.E_peak_V_per_m, float), "cells": True,
                   "title": "E peak\n(V/m)", "cmap": "viridis"})
        sar = getattr(fields, "SAR_W_per_kg", None)
        if sar is not None:
            qs.append({"name": "SAR", "array": np.asarray(sar, float), "cells": True,
                       "title": "local SAR\n(W/kg)", "cmap": "inferno"})
    temps = artefacts.get("temperatures")
    if temps is not None:
        qs.append({"name": "T_max", "array": np.asarray(temps.T_max_C, float), "cells": False,
                   "title": "T max over\nsession (°C)", "cmap": "coolwarm"})
        cem = np.asarray(temps.CEM43_min, float)
        qs.append({"name": "CEM43", "array": np.log10(np.maximum(cem, 1e-3)), "cells": False,
                   "title": "log10 CEM43\n(min)", "cmap": "magma",
                   "clim": (-3.0, max(2.0, float(np.log10(max(cem.max(), 1e-3)))))})
    return qs


def _slice_origin_mm(mesh: TissueMesh) -> np.ndarray:
    c = mesh.target_centroid_m()
    if c is None:
        c = 0.5 * (mesh.points_m.min(axis=0) + mesh.points_m.max(axis=0))
    return np.asarray(c, float) * 1e3


def slice_figures(out: Path, mesh: TissueMesh, artefacts: dict, *, skip: set[str] | frozenset[str] = frozenset()
                  ) -> list[Path]:
    """One PNG per quantity, three orthogonal slices side by side (mm axes, scalar bar with unit); none for
    the quantity names in ``skip`` (drawn as overlays); nothing to draw: no renderer started."""
    todo = [q for q in _slice_quantities(mesh, artefacts) if q["name"] not in skip]
    if not todo:
        return []
    try:
        import pyvista as pv
    except ImportError as exc:  # pragma: no cover - pyvista is a dependency
        log.warning("figures: pyvista unavailable (%s); slice images skipped", exc)
        return []
    if os.environ.get("VTK_DEFAULT_OPENGL_WINDOW") is None:
        log.warning("figures: VTK_DEFAULT_OPENGL_WINDOW is not set (source scripts/env.sh); off-screen "
                    "rendering may fail")
    pv.OFF_SCREEN = True
    cell_type = np.full(mesh.num_cells, pv.CellType.TETRA, dtype=np.uint8)
    conn = np.hstack([np.full((mesh.num_cells, 1), 4, np.int64), mesh.cells.astype(np.int64)]).ravel()
    grid = pv.UnstructuredGrid(conn, cell_type, np.asarray(mesh.points_m, float) * 1e3)
    origin = _slice_origin_mm(mesh)
    names = {r.tag: f"{r.name} ({r.tissue})" for r in mesh.regions}
    paths: list[Path] = []
    for q in todo:
        key = q["name"]
        if q["cells"]:
            grid.cell_data[key] = q["array"]
        else:
            grid.point_data[key] = q["array"]
        path = out / f"slices_{key}.png"
        try:
            _render_slices(pv, grid, key, q, origin, names, path)
        except Exception as exc:  # rendering is optional: the numbers are in summary.json
            log.warning("figures: could not render %s (%s); remaining slice images skipped", path.name, exc)
            return paths
        paths.append(path)
    return paths


def _render_slices(pv, grid, key: str, q: dict, origin: np.ndarray, names: dict, path: Path) -> None:
    x, y, z = np.round(origin, 1) + 0.0  # + 0.0: no '-0.0' in the titles
    slices = {n: grid.slice(normal=n, origin=origin) for _, _, n in VIEWS}
    kw: dict[str, Any] = {"scalars": key, "preference": "cell" if q["cells"] else "point",
                          "show_scalar_bar": False, "lighting": False}
    if q.get("categorical"):
        tags = sorted(names)
        cmap = _categorical_lut(tags)
        kw.update(cmap=cmap, clim=(-0.5, max(tags) + 0.5), n_colors=max(tags) + 1)
    else:
        data = q["array"]
        lo, hi = q.get("clim", (float(np.nanmin(data)), float(np.nanmax(data))))
        if not hi > lo:
            hi = lo + 1.0
        kw.update(cmap=q["cmap"], clim=(lo, hi))
    pl = pv.Plotter(shape=(1, 4), col_weights=[1, 1, 1, 0.42], off_screen=True, window_size=WINDOW_PX,
                    border=False)
    pl.set_background("white")
    actor = None
    for j, (_, title, normal) in enumerate(VIEWS):
        pl.subplot(0, j)
        sl = slices[normal]
        pl.add_text(title.format(x=x, y=y, z=z), font_size=10, color="black", position="upper_edge")
        if sl.n_cells == 0:
            continue
        actor = pl.add_mesh(sl, **kw)
        pl.add_mesh(pv.PolyData(origin[None, :]), color="black", point_size=6, render_points_as_spheres=True)
        pl.show_bounds(mesh=sl, xtitle="x (mm)", ytitle="y (mm)", ztitle="z (mm)", font_size=11, color="black",
                       location="outer", ticks="outside", fmt="%.0f",
                       show_xaxis=normal != "x", show_yaxis=normal != "y", show_zaxis=normal != "z",
                       show_xlabels=normal != "x", show_ylabels=normal != "y", show_zlabels=normal != "z")
        {"z": pl.view_xy, "y": pl.view_xz, "x": pl.view_yz}[normal]()
        pl.enable_parallel_projection()
        pl.camera.zoom(0.85)
    pl.subplot(0, 3)
    if q.get("categorical"):
        pl.add_legend(labels=[[names[t], cmap(t)[:3]] for t in sorted(names)], bcolor="white", border=False,
                      size=(0.95, 0.06 * len(names) + 0.05), loc="center left", face="rectangle",
                      background_opacity=1.0)
    elif actor is not None:
        bar = {"title": q["title"], "mapper": actor.mapper, "color": "black", "vertical": True,
               "position_x": 0.1, "position_y": 0.06, "width": 0.3, "height": 0.72, "title_font_size": 14,
               "label_font_size": 13, "fmt": "%.3g", "italic": False}
        pl.add_scalar_bar(**bar)
    pl.screenshot(str(path))
    pl.close()


def _categorical_lut(tags: list[int]):
    """Listed colour map indexed by region tag (0..max tag): one distinct colour per region."""
    import matplotlib
    from matplotlib.colors import ListedColormap

    base = matplotlib.colormaps["tab10" if len(tags) <= 10 else "tab20"]
    colours = [(0.8, 0.8, 0.8, 1.0)] * (max(tags) + 1)
    for i, t in enumerate(sorted(tags)):
        colours[t] = base(i % base.N)
    return ListedColormap(colours)


# --- plots (Matplotlib) -------------------------------------------------------------------------
def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _field_on_intervals(times_s: np.ndarray, fraction: np.ndarray) -> list[tuple[float, float]]:
    """Time intervals [t_i, t_{i+1}] (s) during which the field is on (fraction > 0 at either end),
    merged into contiguous runs."""
    runs: list[tuple[float, float]] = []
    for i in range(times_s.size - 1):
        if fraction[i] > 0 or fraction[i + 1] > 0:
            t0, t1 = float(times_s[i]), float(times_s[i + 1])
            if runs and math.isclose(runs[-1][1], t0):
                runs[-1] = (runs[-1][0], t1)
            else:
                runs.append((t0, t1))
    return runs


def probe_figure(path: Path, temps) -> Path | None:
    """Probe temperatures (°C) vs time (min), 42/43 °C lines, field-on intervals shaded."""
    if not len(temps.probe_names) or np.asarray(temps.times_s).size < 2:
        return None
    plt = _pyplot()
    t_min = np.asarray(temps.times_s, float) / 60.0
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    for (a, b) in _field_on_intervals(np.asarray(temps.times_s, float), np.asarray(temps.field_fraction, float)):
        ax.axvspan(a / 60.0, b / 60.0, color="tab:orange", alpha=0.12, lw=0)
    for i, name in enumerate(temps.probe_names):
        ax.plot(t_min, temps.probe_T_C[i], lw=1.8, label=name)
    ax.axhline(42.0, color="tab:red", ls="--", lw=1, label="42 °C")
    ax.axhline(43.0, color="darkred", ls=":", lw=1, label="43 °C")
    from matplotlib.patches import Patch

    handles, labels = ax.get_legend_handles_labels()
    handles.append(Patch(color="tab:orange", alpha=0.25))
    labels.append("field on")
    ax.legend(handles, labels, loc="best", fontsize=8)
    ax.set_xlabel("time (min)")
    ax.set_ylabel("temperature (°C)")
    ax.set_title("Probe temperatures")
    ax.set_xlim(t_min[0], t_min[-1])
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def dvh_figure(path: Path, dvh_block: dict) -> Path:
    """Cumulative temperature-volume histogram: volume fraction with T_max ≥ T, per tissue."""
    plt = _pyplot()
    edges = np.asarray(dvh_block["edges_C"], float)
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for name, frac in dvh_block["fraction_at_or_above"].items():
        style = {"color": "black", "lw": 2.0, "ls": "--"} if name == "target" else {"lw": 1.8}
        ax.plot(edges, 100.0 * np.asarray(frac, float), label=name, **style)  # exact at the bin edges
    for T, ls in ((42.0, "--"), (43.0, ":")):
        if edges[0] <= T <= edges[-1]:
            ax.axvline(T, color="tab:red", ls=ls, lw=1)
    ax.set_xlabel("T max over session (°C)")
    ax.set_ylabel("volume with T_max ≥ T (%)")
    ax.set_ylim(0, 102)
    ax.set_title("Cumulative temperature-volume histogram")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def search_figure(path: Path, search: dict, safety: dict | None) -> Path:
    """Target T90 and healthy-tissue maximum vs field amplitude from the settings search."""
    plt = _pyplot()
    ev = sorted(search.get("evaluations", []), key=lambda e: e["field_kA_per_m"])
    H = np.array([e["field_kA_per_m"] for e in ev], float)
    T90 = np.array([np.nan if e["T90_C"] is None else e["T90_C"] for e in ev], float)
    Th = np.array([np.nan if e["max_healthy_T_C"] is None else e["max_healthy_T_C"] for e in ev], float)
    bad = np.array([bool(e["violations"]) for e in ev])
    amp = search.get("amplitude", "")
    fig, ax = plt.subplots(figsize=(8, 4.8), dpi=110)
    ax.plot(H, T90, "o-", color="tab:blue", label="target T90")
    ax.plot(H, Th, "s-", color="tab:green", label="max healthy T")
    if bad.any():
        ax.plot(H[bad], Th[bad], "x", color="red", ms=9, mew=2, label="unsafe evaluation")
    ax.axhline(search["goal_T90_C"], color="tab:blue", ls="--", lw=1, label=f"goal T90 {search['goal_T90_C']:g} °C")
    if safety and safety.get("max_healthy_T_limit_C") is not None:
        lim = safety["max_healthy_T_limit_C"]
        ax.axhline(lim, color="tab:green", ls="--", lw=1, label=f"healthy limit {lim:g} °C")
    ax.axvline(search["nominal_field_kA_per_m"], color="grey", ls=":", lw=1.2,
               label=f"plan field {search['nominal_field_kA_per_m']:.3g} kA/m")
    ax.axvline(search["max_safe_field_kA_per_m"], color="black", lw=1.2,
               label=f"max safe field {search['max_safe_field_kA_per_m']:.3g} kA/m")
    if search.get("field_for_goal_kA_per_m") is not None:
        ax.axvline(search["field_for_goal_kA_per_m"], color="tab:purple", ls="-.", lw=1.2,
                   label=f"field for goal {search['field_for_goal_kA_per_m']:.3g} kA/m")
    if safety and safety.get("Hf_A_per_m_s"):
        H_hf = search["nominal_field_kA_per_m"] * safety["Hf_limit_A_per_m_s"] / safety["Hf_A_per_m_s"]
        if H.size and H_hf <= 1.05 * H.max():
            ax.axvline(H_hf, color="tab:red", ls=":", lw=1.5, label=f"H·f limit {H_hf:.3g} kA/m")
    ax.set_xlabel(f"field amplitude at target ({amp}, kA/m)")
    ax.set_ylabel("temperature "
                  + ("(°C) — steady state (upper bound)" if search.get("goal_mode", search.get("mode"))
                     in ("steady", "steady-upper-bound") else "(°C) — max over the session"))
    ax.set_title("Settings search")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
