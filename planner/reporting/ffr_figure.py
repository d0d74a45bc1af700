"""The field-free-region figure and report section ([selection_field], issue 14).

``figures/ffr.png``: two panels in the axis-aligned plane through the FFR that cuts the most particle
mass (so the liver shows beside the tumour): left |B_dc| = μ0|H_dc| (mT, log scale) with the body and
region outlines and the FFR outlined by the contour |B| = the bias that halves the particle heating at
the nominal AC field (or ``[selection_field] outline_mT``); right the particle heat Q_np (W/m³) in the
same plane, with the same outline — heat inside the outline, none in the liver outside it.
"""
from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np

from planner.artefacts import TissueMesh
from planner.units import MM

_AXES = ("x (mm, patient left)", "y (mm, posterior)", "z (mm, superior)")


def _plane_normal(mesh: TissueMesh, heat: Any, ffr_m: np.ndarray, half_slab_m: float = 0.01) -> int:
    """The axis (0, 1, 2) normal to the plane through the FFR that cuts the most particle mass (within
    ±``half_slab_m``), so the figure shows the off-target organs too; z when there are no particles."""
    if heat is None:
        return 2
    w = np.asarray(heat.concentration_mg_per_mL) * mesh.cell_volumes_m3()
    X = mesh.cell_centroids_m()
    mass = [float(w[np.abs(X[:, k] - ffr_m[k]) <= half_slab_m].sum()) for k in range(3)]
    return int(np.argmax(mass)) if max(mass) > 0 else 2


def _plane_grid(mesh: TissueMesh, normal: int, at_m: float, n: int = 170) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a, b = [k for k in range(3) if k != normal]
    lo, hi = mesh.points_m.min(axis=0), mesh.points_m.max(axis=0)
    pad = 0.05 * (hi - lo)
    us = np.linspace(lo[a] - pad[a], hi[a] + pad[a], n)
    vs = np.linspace(lo[b] - pad[b], hi[b] + pad[b], int(n * (hi[b] - lo[b] + 2 * pad[b]) / (hi[a] - lo[a] + 2 * pad[a])) + 2)
    U, V = np.meshgrid(us, vs)
    P = np.zeros((U.size, 3))
    P[:, a], P[:, b], P[:, normal] = U.ravel(), V.ravel(), at_m
    return U, V, P


def _cells_at(mesh: TissueMesh, P: np.ndarray) -> np.ndarray:
    """Cell index containing each point, −1 outside (k nearest centroids, barycentric test)."""
    from scipy.spatial import cKDTree

    k = min(48, mesh.num_cells)
    _, idx = cKDTree(mesh.cell_centroids_m()).query(P, k=k)
    idx = np.asarray(idx).reshape(len(P), k)
    V = mesh.points_m[mesh.cells[idx]]
    T = np.stack([V[:, :, 1] - V[:, :, 0], V[:, :, 2] - V[:, :, 0], V[:, :, 3] - V[:, :, 0]], axis=-1)
    lam = np.linalg.solve(T, (P[:, None, :] - V[:, :, 0])[..., None])[..., 0]
    inside = np.all(np.concatenate([1.0 - lam.sum(-1, keepdims=True), lam], -1) >= -1e-9, axis=-1)
    first = np.where(inside.any(axis=1), inside.argmax(axis=1), -1)
    return np.where(first >= 0, idx[np.arange(len(P)), np.maximum(first, 0)], -1)


def ffr_figure(path: Path, mesh: TissueMesh, artefacts: dict, summary: dict) -> Path:
    import matplotlib

    from planner.em.selection_field import B_at

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    sel = artefacts["selection_field"]
    block = summary.get("selection_field") or {}
    ffr = np.asarray(sel.ffr.position_m)
    heat = artefacts.get("heat")
    normal = _plane_normal(mesh, heat, ffr)
    ax_u, ax_v = [k for k in range(3) if k != normal]
    X, Y, P = _plane_grid(mesh, normal, float(ffr[normal]))
    cell = _cells_at(mesh, P)
    Bmag = np.linalg.norm(B_at(sel.sources, P), axis=1).reshape(X.shape) * 1e3
    region = np.where(cell >= 0, mesh.cell_region[np.maximum(cell, 0)], 0).reshape(X.shape)
    outline = (sel.section.outline_mT if sel.section is not None and sel.section.outline_mT else None) \
        or block.get("half_power_B_mT")
    fig, axes = plt.subplots(1, 2 if heat is not None else 1, figsize=(11, 4.6), squeeze=False)
    ax = axes[0, 0]
    im = ax.pcolormesh(X / MM, Y / MM, np.maximum(Bmag, 1e-2), norm=LogNorm(vmin=max(Bmag.min(), 1e-1), vmax=Bmag.max()),
                       cmap="magma", shading="auto")
    fig.colorbar(im, ax=ax, label="|B_dc| = μ0|H_dc| (mT)")
    panels = [ax]
    if heat is not None:
        q = np.where(cell >= 0, np.asarray(heat.Q_np_W_per_m3)[np.maximum(cell, 0)], np.nan).reshape(X.shape)
        ax2 = axes[0, 1]
        im2 = ax2.pcolormesh(X / MM, Y / MM, q / 1e3, cmap="inferno", shading="auto")
        fig.colorbar(im2, ax=ax2, label="particle heat Q_np (kW/m³)")
        ax2.set_title("particle heat Q_np, same plane\n(FFR outline as left)", fontsize=10)
        panels.append(ax2)
    for pan in panels:
        pan.contour(X / MM, Y / MM, (region > 0).astype(float), levels=[0.5], colors="k", linewidths=1.0)
        for tag in np.unique(region[region > 0]):
            pan.contour(X / MM, Y / MM, (region == tag).astype(float), levels=[0.5], colors="0.7", linewidths=0.6)
        for reg in mesh.regions:
            pix = region == reg.tag
            if reg.role.value != "body" and pix.sum() > 20:
                pan.text(float(X[pix].mean() / MM), float(Y[pix].mean() / MM), reg.name, color="k", fontsize=8,
                       ha="center", va="center", bbox={"fc": "white", "alpha": 0.6, "lw": 0, "pad": 1})
        if outline:
            pan.contour(X / MM, Y / MM, Bmag, levels=[outline], colors="cyan", linewidths=1.6)
        pan.plot([ffr[ax_u] / MM], [ffr[ax_v] / MM], "c+", ms=12, mew=2)
        pan.set_aspect("equal")
        pan.set_xlabel(_AXES[ax_u])
        pan.set_ylabel(_AXES[ax_v])
    g = block.get("gradient_T_per_m")
    ax.set_title(f"selection field |B_dc|, plane {'xyz'[normal]} = {ffr[normal] / MM:.0f} mm\nFFR (+) {block.get('ffr_kind', '')}, "
                 f"G = {g:.2f} T/m" + (f", outline |B| = {outline:.1f} mT" if outline else "") if g else "selection field",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def selection_html(s: dict, selectivity: dict | None) -> str:
    """Rows of the report's selection-field section (FFR, gradient, selectivity, off-target temperatures)."""
    def row(k: str, v: Any, unit: str = "") -> str:
        if isinstance(v, float):
            v = f"{v:.4g}"
        elif isinstance(v, list):
            v = ", ".join(f"{x:.4g}" if isinstance(x, float) else str(x) for x in v)
        return f"<tr><td>{html.escape(k)}</td><td class=\"num\">{html.escape(str(v))}</td><td>{html.escape(unit)}</td></tr>"

    rows = [row("FFR position", s.get("ffr_position_mm"), "mm"), row("FFR kind", s.get("ffr_kind")),
            row("gradient (strongest principal)", s.get("gradient_T_per_m"), "T/m"),
            row("bias halving the heating", s.get("half_power_B_mT"), "mT"),
            row("FFR heating width estimate (FWHM, strongest gradient)", s.get("ffr_fwhm_estimate_mm"), "mm"),
            row("field model", s.get("model"))]
    if selectivity:
        rows += [row("particle power in the target", selectivity.get("target_power_W"), "W"),
                 row("particle power elsewhere", selectivity.get("off_target_power_W"), "W"),
                 row("selectivity (target / elsewhere)", selectivity.get("ratio"))]
        for name, T in (selectivity.get("off_target_max_T_C") or {}).items():
            rows.append(row(f"max temperature in {name}", T, "°C"))
    return "<table>" + "".join(rows) + "</table>"
