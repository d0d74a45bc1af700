"""Files of the [uncertainty] stage in the results folder: per-sample table and one figure."""
from __future__ import annotations

import csv
from pathlib import Path

from planner.uncertainty.study import UncertaintyResult


def write_uncertainty_files(folder: Path, result: UncertaintyResult | None) -> list[Path]:
    """``uncertainty_samples.csv`` (the figure is drawn by the report: :func:`uncertainty_figure`)."""
    if result is None:
        return []
    rows = folder / "uncertainty_samples.csv"
    with open(rows, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["sample", "T90_C", "T90_rise_K", "healthy_T_max_C", "implant_dT_K", "violation"])
        for i in range(result.samples):
            w.writerow([i, f"{result.T90_C[i]:.4f}", f"{result.T90_rise_K[i]:.4f}", f"{result.healthy_T_max_C[i]:.4f}",
                        f"{result.implant_dT_K[i]:.4f}", int(result.violation[i])])
    return [rows.relative_to(folder)]


def uncertainty_figure(path: Path, r: UncertaintyResult) -> Path:
    """T90 histogram against the goal, first-order Sobol indices, the robust field."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    b = r.summary_block()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.5))
    a1.hist(r.T90_C, bins=max(8, min(40, r.samples // 8)), color="tab:orange", alpha=0.8)
    a1.axvline(r.goal_T90_C, color="k", ls="--", label=f"goal {r.goal_T90_C:g} °C")
    a1.set_xlabel("target T90 (°C)")
    a1.set_ylabel("samples")
    a1.set_title(f"P(T90 ≥ goal) = {b['P_T90_ge_goal']:.2f}, P(violation) = {b['P_violation']:.2f}", fontsize=9)
    a1.legend(fontsize=8)
    names = list(r.sobol_first_order)
    a2.barh(names, [r.sobol_first_order[n] for n in names], color="tab:blue")
    a2.set_xlabel("first-order Sobol index of T90")
    robust = b["robust_field_kA_per_m"]
    a2.set_title(f"robust field {robust:.2f} kA/m" if robust is not None else "no field meets P(violation) ≤ α", fontsize=9)
    fig.suptitle(f"{r.samples} {r.method} samples", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
