"""Slices a physicist reads: the planning CT/MR in grey under a field, with isotherms and structures.

Each figure is one quantity (T_max, CEM43, SAR) on three orthogonal slices — axial, coronal, sagittal
— through one point (the target centroid, or the hottest healthy voxel). Conventions:

* **radiological display**: axial and coronal views show the patient's right on the left of the screen,
  axial anterior up, coronal/sagittal superior up, sagittal anterior on the left. The edge labels
  (R/L, A/P, S/I) are computed from the image's direction cosines (:func:`edge_labels`), so they stay
  correct for flipped or permuted acquisitions; an oblique image is shown along its voxel axes nearest
  to the patient axes, and the labels then carry two letters (e.g. "LA") when an axis is > ~17° off.
* **underlay**: CT in Hounsfield units at the soft-tissue window W400/L40; MR at the 1st–99.5th
  percentile of the body's voxels; without an image (analytic phantoms, label-map plans) the tissue
  map in shades of grey.
* **overlay**: the field with a colour map whose opacity ramps up from zero at the lower display limit
  (37 °C for T_max, 0.1 min for CEM43, 0 W/kg for SAR), so cool tissue shows the anatomy; isotherm
  contours (default 40, 42, 43 °C, the RTSTRUCT isotherms of :mod:`planner.reporting.dicom_out`) of
  T_max on every figure; structure outlines (RTSTRUCT ROIs and the plan's target/organ/implant regions)
  with a legend; a scale bar in mm.

Image plans are drawn from the fields the exporter already sampled on the planning image grid
(``results/image/*.nii.gz``, :mod:`planner.reporting.image_grid`): the figure shows the very voxels
3D Slicer shows, and nothing is interpolated a second time. Analytic phantoms have no image grid: each
view is then sampled once on its own 1-slice grid with the same FE interpolation (``sampler_for``).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from planner.imaging.volume import Grid
from planner.reporting.dicom_out import ISOTHERMS_C

if TYPE_CHECKING:
    from matplotlib.image import AxesImage

log = logging.getLogger(__name__)

DEFAULT_ISOTHERMS_C = ISOTHERMS_C  # the RTSTRUCT isotherms (one list)
CT_WINDOW_HU = (400.0, 40.0)  # (width, level): soft tissue
MR_PERCENTILES = (1.0, 99.5)
VIEWS = ("axial", "coronal", "sagittal")
ISOTHERM_COLOUR = "deepskyblue"
MARKER_COLOUR = "lime"
#: patient axes (LPS: +x left, +y posterior, +z superior) as (screen-right, screen-down) per view
SCREEN_AXES = {"axial": ((0, 1), (1, 1)), "coronal": ((0, 1), (2, -1)), "sagittal": ((1, 1), (2, -1))}
NORMAL_AXIS = {"axial": 2, "coronal": 1, "sagittal": 0}
LETTERS = (("R", "L"), ("A", "P"), ("I", "S"))  # (negative, positive) end of LPS x, y, z
FIELD_STYLE = {  # name: (title, unit, colour map, lower display limit)
    "T_max_C": ("T max over session", "°C", "inferno", 37.0),
    "CEM43_min": ("thermal dose CEM43 (log scale)", "min", "magma", 0.1),
    "SAR_W_per_kg": ("local SAR", "W/kg", "viridis", 0.0),
}


@dataclass(frozen=True)
class Plane:
    """One displayed slice: arrays (rows top → bottom, columns left → right) in display orientation."""

    view: str
    position_mm: float  # coordinate of the slice along its normal (LPS x, y or z, mm)
    underlay: np.ndarray
    fields: dict[str, np.ndarray]
    structures: dict[str, np.ndarray]  # name → bool mask
    extent_mm: tuple[float, float, float, float]  # (left, right, bottom, top) for imshow
    labels: tuple[str, str, str, str]  # (left, right, top, bottom) edge labels
    marker_rc: tuple[float, float] | None = None  # (row, col) of the slice point


@dataclass(frozen=True)
class SliceSet:
    """The three planes through one point and how to draw the underlay."""

    planes: tuple[Plane, ...]
    underlay_kind: str  # "CT" | "MR" | "tissues"
    underlay_window: tuple[float, float]  # (vmin, vmax) of the grey scale
    through: str  # e.g. "target centroid"
    tissue_names: dict[int, str] = field(default_factory=dict)  # tissue-map underlay: value → name
    notes: tuple[str, ...] = ()


# --- orientation -------------------------------------------------------------------------------------
def edge_labels(right: np.ndarray, down: np.ndarray) -> tuple[str, str, str, str]:
    """(left, right, top, bottom) patient-direction letters of a slice whose screen-right and screen-down
    unit vectors are ``right`` and ``down`` (LPS): the letters of every component above 0.3, largest first."""

    def word(v: np.ndarray) -> str:
        order = np.argsort(-np.abs(v))
        return "".join(LETTERS[a][int(v[a] > 0)] for a in order if abs(v[a]) > 0.3)

    r, d = np.asarray(right, float), np.asarray(down, float)
    return word(-r), word(r), word(-d), word(d)


def display_axes(grid: Grid) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """For patient axes x, y, z: the voxel axis (0 = i, 1 = j, 2 = k) most aligned with it, and the sign
    (+1/−1) of that alignment. A permutation, also for oblique grids (greedy on |cosine|)."""
    c = np.abs(np.asarray(grid.direction, float))  # rows: x, y, z; columns: i, j, k
    axes = [-1, -1, -1]
    for _ in range(3):
        p, a = np.unravel_index(np.argmax(c), c.shape)
        axes[p] = int(a)
        c[p, :] = -1.0
        c[:, a] = -1.0
    signs = tuple(1 if grid.direction[p, axes[p]] >= 0 else -1 for p in range(3))
    return tuple(axes), signs  # type: ignore[return-value]


def obliquity_deg(grid: Grid) -> float:
    """Largest angle between a voxel axis and the patient axis it is displayed along."""
    axes, _ = display_axes(grid)
    cos = min(abs(float(grid.direction[p, axes[p]])) for p in range(3))
    return math.degrees(math.acos(min(1.0, cos)))


def to_patient_xyz(vol_kji: np.ndarray, grid: Grid) -> np.ndarray:
    """The volume re-indexed [x, y, z] with indices increasing towards patient L, P, S (no resampling)."""
    axes, signs = display_axes(grid)
    v = np.asarray(vol_kji).transpose(2, 1, 0)  # (i, j, k)
    v = v.transpose(axes)
    for p in range(3):
        if signs[p] < 0:
            v = np.flip(v, axis=p)
    return v


def _xyz_index(grid: Grid, kji: tuple[int, int, int]) -> tuple[int, int, int]:
    axes, signs = display_axes(grid)
    ijk = (kji[2], kji[1], kji[0])
    shape_ijk = grid.shape[::-1]
    out = []
    for p in range(3):
        n = ijk[axes[p]]
        out.append(n if signs[p] > 0 else shape_ijk[axes[p]] - 1 - n)
    return tuple(out)  # type: ignore[return-value]


def _plane_xyz(v: np.ndarray, view: str, idx: tuple[int, int, int]) -> np.ndarray:
    """Display-oriented 2-D slice of an [x, y, z] volume (rows top → bottom)."""
    if view == "axial":
        return v[:, :, idx[2]].T  # rows y (anterior up), columns x (patient right on the left)
    if view == "coronal":
        return v[:, idx[1], :].T[::-1]  # rows z (superior up), columns x
    return v[idx[0], :, :].T[::-1]  # sagittal: rows z, columns y (anterior on the left)


# --- image plans ---------------------------------------------------------------------------------------
def image_slices(grid: Grid, underlay: np.ndarray, kind: str, fields: dict[str, np.ndarray],
                 structures: dict[str, np.ndarray], point_kji: tuple[int, int, int], through: str,
                 tissue_names: dict[int, str] | None = None) -> SliceSet:
    """Three planes through voxel ``point_kji`` of arrays on ``grid`` (all (nk, nj, ni), no resampling)."""
    axes, signs = display_axes(grid)
    sp_mm = np.asarray(grid.spacing_m, float)[list(axes)] * 1e3  # along x, y, z
    idx = _xyz_index(grid, point_kji)
    pos_mm = grid.index_to_lps_m(np.array([point_kji[::-1]], float))[0] * 1e3
    xyz = {k: to_patient_xyz(a, grid) for k, a in fields.items()}
    under = to_patient_xyz(underlay, grid)
    masks = {k: to_patient_xyz(m, grid) for k, m in structures.items()}
    planes = []
    for view in VIEWS:
        (pr, _), (pd, _) = SCREEN_AXES[view]
        dirs = [np.asarray(grid.direction[:, axes[p]], float) * signs[p] for p in range(3)]
        right, down = dirs[pr], dirs[pd] * SCREEN_AXES[view][1][1]
        n_r, n_d = under.shape[pr], under.shape[pd]
        w, h = n_r * sp_mm[pr], n_d * sp_mm[pd]
        row = idx[pd] if SCREEN_AXES[view][1][1] > 0 else n_d - 1 - idx[pd]
        planes.append(Plane(
            view=view, position_mm=float(pos_mm[NORMAL_AXIS[view]]),
            underlay=_plane_xyz(under, view, idx),
            fields={k: _plane_xyz(a, view, idx) for k, a in xyz.items()},
            structures={k: _plane_xyz(m, view, idx) for k, m in masks.items()},
            extent_mm=(0.0, w, h, 0.0), labels=edge_labels(right, down), marker_rc=(float(row), float(idx[pr]))))
    notes: tuple[str, ...] = ()
    ob = obliquity_deg(grid)
    if ob > 1.0:
        notes = (f"oblique image ({ob:.0f}° off the patient axes): shown along its voxel axes; edge labels give "
                 "the true directions",)
    return SliceSet(tuple(planes), kind, underlay_window(underlay, kind), through, tissue_names or {}, notes)


def underlay_window(image: np.ndarray, kind: str) -> tuple[float, float]:
    """(vmin, vmax) of the grey scale: CT W400/L40; MR percentiles of the non-zero voxels; tissue maps 0..max."""
    if kind == "CT":
        w, lev = CT_WINDOW_HU
        return lev - w / 2, lev + w / 2
    a = np.asarray(image, float)
    if kind == "MR":
        body = a[a > 0] if np.any(a > 0) else a.ravel()
        lo, hi = np.percentile(body, MR_PERCENTILES)
        return float(lo), float(hi if hi > lo else lo + 1.0)
    return 0.0, float(max(a.max(), 1.0))


# --- analytic phantoms -----------------------------------------------------------------------------------
def mesh_slices(mesh, point_m: np.ndarray, fields_vertex: dict[str, np.ndarray], fields_cell: dict[str, np.ndarray],
                through: str, pixel_mm: float | None = None) -> SliceSet:
    """Three planes through ``point_m`` of a mesh without an image: each view sampled once on its own
    1-slice grid (FE interpolation of :mod:`planner.reporting.image_grid`); the tissue map as underlay."""
    from planner.reporting.image_grid import sampler_for

    lo, hi = mesh.points_m.min(axis=0), mesh.points_m.max(axis=0)
    px = (pixel_mm * 1e-3) if pixel_mm else max(float((hi - lo).max()) / 250.0, 0.5e-3)
    planes = []
    tag_tissue = {r.tag: r for r in mesh.regions}
    for view in VIEWS:
        (pr, sr), (pd, sd) = SCREEN_AXES[view]
        pn = NORMAL_AXIS[view]
        d = np.zeros((3, 3))
        d[pr, 0], d[pd, 1] = sr, sd
        d[pn, 2] = 1.0
        n_r = int(math.ceil((hi[pr] - lo[pr]) / px)) + 1
        n_d = int(math.ceil((hi[pd] - lo[pd]) / px)) + 1
        origin = np.array(point_m, float)
        origin[pr] = lo[pr] if sr > 0 else hi[pr]
        origin[pd] = lo[pd] if sd > 0 else hi[pd]
        grid = Grid((1, n_d, n_r), origin, np.array([px, px, px]), d)
        s = sampler_for(mesh, grid)
        region = s.sample_cell(mesh.cell_region.astype(float))[0]
        region[~s.inside[0]] = 0.0
        vals = {k: s.sample_vertex(v)[0] for k, v in fields_vertex.items()}
        vals.update({k: s.sample_cell(v)[0] for k, v in fields_cell.items()})
        structs = {f"{r.name} ({r.role.value})": region == r.tag for r in mesh.regions
                   if r.role.value in ("target", "organ", "implant")}
        row = (point_m[pd] - origin[pd]) * sd / px
        col = (point_m[pr] - origin[pr]) * sr / px
        planes.append(Plane(view, float(point_m[pn] * 1e3), region, vals, structs,
                            (0.0, n_r * px * 1e3, n_d * px * 1e3, 0.0), edge_labels(d[:, 0], d[:, 1]),
                            (float(row), float(col))))
    names = {t: f"{r.name} ({r.tissue})" for t, r in tag_tissue.items()}
    vmax = float(max(tag_tissue) if tag_tissue else 1)
    return SliceSet(tuple(planes), "tissues", (0.0, vmax), through, names)


# --- drawing ---------------------------------------------------------------------------------------------
def _alpha_cmap(name: str):
    """``name`` with opacity ramping 0 → 0.8 over the lowest 30 % of the range; transparent below."""
    import matplotlib
    from matplotlib.colors import ListedColormap

    base = matplotlib.colormaps[name](np.linspace(0.0, 1.0, 256))
    base[:, 3] = 0.8 * np.clip(np.linspace(0.0, 1.0, 256) / 0.3, 0.0, 1.0)
    cmap = ListedColormap(base, name=f"{name}_ramp")
    cmap.set_under((0, 0, 0, 0))
    cmap.set_bad((0, 0, 0, 0))
    return cmap


def _nice_length(width_mm: float) -> float:
    """A round scale-bar length near 1/5 of the width (1, 2, 5 × 10^n mm)."""
    target = max(width_mm / 5.0, 1e-3)
    e = 10 ** math.floor(math.log10(target))
    return min((m * e for m in (1, 2, 5, 10)), key=lambda v: abs(v - target))


def _underlay_image(ax, plane: Plane, ss: SliceSet) -> None:
    kw = {"extent": plane.extent_mm, "interpolation": "nearest", "origin": "upper"}
    if ss.underlay_kind == "tissues":
        vals = sorted(ss.tissue_names)
        grey = np.zeros(int(max(vals + [0])) + 1)
        for n, v in enumerate(vals):
            grey[v] = 0.35 + 0.5 * (n + 1) / (len(vals) + 1)
        ax.imshow(grey[plane.underlay.astype(int)], cmap="gray", vmin=0.0, vmax=1.0, **kw)
    else:
        ax.imshow(plane.underlay, cmap="gray", vmin=ss.underlay_window[0], vmax=ss.underlay_window[1], **kw)


def _coords(plane: Plane, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    l, r, b, t = plane.extent_mm
    nr, nc = shape
    x = l + (np.arange(nc) + 0.5) * (r - l) / nc
    y = t + (np.arange(nr) + 0.5) * (b - t) / nr
    X, Y = np.meshgrid(x, y)
    return X, Y


def draw_panel(ax, plane: Plane, ss: SliceSet, quantity: str, norm, isotherms_C: tuple[float, ...],
               colours: dict[str, tuple]) -> AxesImage | None:
    """Underlay, field, isotherms, outlines, edge labels, scale bar of one plane; returns the field image."""
    from matplotlib.patheffects import withStroke

    _underlay_image(ax, plane, ss)
    im = None
    title, _, cmap, _ = FIELD_STYLE[quantity]
    if quantity in plane.fields:
        im = ax.imshow(plane.fields[quantity], cmap=_alpha_cmap(cmap), norm=norm, extent=plane.extent_mm,
                       interpolation="nearest", origin="upper")
    X, Y = _coords(plane, plane.underlay.shape)
    T = plane.fields.get("T_max_C")
    if T is not None and isotherms_C:
        levels = [t for t in sorted(isotherms_C) if np.nanmin(T) < t < np.nanmax(T)]
        if levels:
            cs = ax.contour(X, Y, T, levels=levels, colors=ISOTHERM_COLOUR, linewidths=1.0,
                            linestyles=["dotted", "dashed", "solid"][: len(levels)] if len(levels) <= 3 else "solid")
            ax.clabel(cs, fmt="%g °C", fontsize=6, inline=True)
    for name, mask in plane.structures.items():
        if mask.any() and not mask.all():
            ax.contour(X, Y, mask.astype(float), levels=[0.5], colors=[colours[name]], linewidths=1.3)
    if plane.marker_rc is not None:
        r, c = plane.marker_rc
        l, rr, b, t = plane.extent_mm
        ax.plot(l + (c + 0.5) * (rr - l) / plane.underlay.shape[1], t + (r + 0.5) * (b - t) / plane.underlay.shape[0],
                "+", color=MARKER_COLOUR, ms=9, mew=1.2)
    stroke = [withStroke(linewidth=2.5, foreground="black")]
    left, right, top, bottom = plane.labels
    for text, xy, ha, va in ((left, (0.01, 0.5), "left", "center"), (right, (0.99, 0.5), "right", "center"),
                             (top, (0.5, 0.99), "center", "top"), (bottom, (0.5, 0.01), "center", "bottom")):
        ax.text(*xy, text, transform=ax.transAxes, ha=ha, va=va, color="yellow", fontsize=10, fontweight="bold",
                path_effects=stroke)
    _scale_bar(ax, plane)
    ax.set_title(f"{plane.view} ({'xyz'[NORMAL_AXIS[plane.view]]} = {plane.position_mm + 0.0:.1f} mm)", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_aspect("equal")
    return im


def _scale_bar(ax, plane: Plane) -> None:
    from matplotlib.patheffects import withStroke

    l, r, b, t = plane.extent_mm
    length = _nice_length(abs(r - l))
    x0 = l + 0.06 * (r - l)
    y0 = b - 0.06 * (b - t)
    ax.plot([x0, x0 + length], [y0, y0], color="white", lw=3, solid_capstyle="butt")
    ax.text(x0 + length / 2, y0 - 0.02 * (b - t), f"{length:g} mm", color="white", ha="center", va="bottom",
            fontsize=7, path_effects=[withStroke(linewidth=2, foreground="black")])


def structure_colours(names: list[str]) -> dict[str, tuple]:
    import matplotlib

    base = matplotlib.colormaps["tab10"]
    return {n: base(i % 10) for i, n in enumerate(names)}


def field_norm(quantity: str, ss: SliceSet):
    """Display scale of ``quantity`` over the three planes (log for CEM43)."""
    from matplotlib.colors import LogNorm, Normalize

    lo = FIELD_STYLE[quantity][3]
    vals = np.concatenate([np.ravel(p.fields[quantity]) for p in ss.planes if quantity in p.fields] or [np.zeros(1)])
    top = float(np.nanmax(vals)) if vals.size else lo
    if quantity == "CEM43_min":
        return LogNorm(vmin=lo, vmax=max(top, 100.0 * lo))
    if quantity == "T_max_C":
        return Normalize(vmin=lo, vmax=max(top, max(DEFAULT_ISOTHERMS_C) + 1.0))
    return Normalize(vmin=lo, vmax=top if top > lo else lo + 1.0)


def overlay_figure(path: Path, ss: SliceSet, quantity: str, isotherms_C: tuple[float, ...] = DEFAULT_ISOTHERMS_C,
                   title: str = "") -> Path:
    """Write one PNG: ``quantity`` over the underlay on the three planes of ``ss``, with legend and colour bar."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    colours = structure_colours(sorted({n for p in ss.planes for n in p.structures}))  # same colour in every figure
    names = sorted({n for p in ss.planes for n, m in p.structures.items() if m.any()})
    norm = field_norm(quantity, ss)
    fig, axes = plt.subplots(1, 3, figsize=(14, 5.2), dpi=110, facecolor="white")
    im = None
    for ax, plane in zip(axes, ss.planes):
        im = draw_panel(ax, plane, ss, quantity, norm, isotherms_C, colours) or im
    label, unit, _, _ = FIELD_STYLE[quantity]
    fig.subplots_adjust(left=0.01, right=0.91, top=0.88, bottom=0.14, wspace=0.04)
    if im is not None:
        cb = fig.colorbar(im, cax=fig.add_axes((0.925, 0.18, 0.012, 0.64)))
        cb.set_label(f"{label} ({unit})")
    handles = [Line2D([], [], color=colours[n], lw=2, label=n) for n in names]
    present = sorted({t for p in ss.planes for t in isotherms_C if "T_max_C" in p.fields
                      and np.nanmin(p.fields["T_max_C"]) < t < np.nanmax(p.fields["T_max_C"])})
    styles = ["dotted", "dashed", "solid"]
    handles += [Line2D([], [], color=ISOTHERM_COLOUR, lw=1.2, ls=styles[min(i, 2)] if len(present) <= 3 else "solid",
                       label=f"T max = {t:g} °C") for i, t in enumerate(present)]
    handles.append(Line2D([], [], color=MARKER_COLOUR, marker="+", ls="", label=ss.through))
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 6), fontsize=8, frameon=False)
    under = {"CT": "CT (W400/L40)", "MR": "MR (1–99.5 percentile)", "tissues": "tissue map"}[ss.underlay_kind]
    fig.suptitle(title or f"{label} over {under}, slices through the {ss.through}", fontsize=11)
    if ss.notes:
        fig.text(0.01, 0.01, "; ".join(ss.notes), fontsize=7, color="dimgray")
    fig.savefig(path)
    plt.close(fig)
    return path
