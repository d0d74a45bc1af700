"""Imaging stage performance: a CT series (pelvis phantom with titanium hip stem, evaluated on a
clinical-size grid) through reading + RTSTRUCT + segmentation + meshing.

    python -m benchmarks.imaging_perf          # CI size: 128 × 128 × 50 (3 mm × 3 mm × 4 mm)
    python -m benchmarks.imaging_perf --full   # 512 × 512 × 200 (0.75 mm × 0.75 mm × 1 mm), target ≤ 60 s

Writing the DICOM is not timed (it stands in for the scanner). Prints a table and exits non-zero
if the time target is missed or the implant/target mesh volumes differ from the voxel volumes by
more than 15 %.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from planner.config.plan import load_plan
from planner.imaging import ImagingPlan, patient_model, read_dicom_series, write_rtstruct
from planner.imaging.dicom_write import StudyInfo, write_dicom_series
from planner.imaging.phantoms import PHANTOMS, phantom_images
from planner.imaging.volume import Grid
from planner.verification.convergence import report

SIZES = {
    "ci": dict(shape=(50, 128, 128), spacing_mm=(3.0, 3.0, 4.0), limit_s=40.0),
    "full": dict(shape=(200, 512, 512), spacing_mm=(0.75, 0.75, 1.0), limit_s=60.0),
}


def write_case(out: Path, shape, spacing_mm) -> Path:
    """Pelvis phantom on ``shape``/``spacing_mm`` as DICOM + RTSTRUCT + plan.toml (chunked by slices)."""
    nk, nj, ni = shape
    sp = np.array(spacing_mm) * 1e-3
    grid = Grid(shape, -0.5 * (np.array([ni, nj, nk]) - 1) * sp, sp, np.eye(3))
    hu = np.empty(shape, np.float32)
    rois: dict[str, np.ndarray] = {}
    types: dict[str, str] = {}
    step = 16
    for k0 in range(0, nk, step):
        k1 = min(k0 + step, nk)
        _, imgs = phantom_images("pelvis", "CT", grid.cropped((k0, 0, 0), (k1, nj, ni)))
        hu[k0:k1] = imgs.hu
        for name, m, t in imgs.rois:
            rois.setdefault(name, np.zeros(shape, bool))[k0:k1] = m
            types[name] = t
    study = StudyInfo().filled("bench")
    write_dicom_series(out / "ct", hu, grid, modality="CT", study=study, seed="bench")
    del hu
    vol = read_dicom_series(out / "ct")
    write_rtstruct(out / "rs.dcm", vol, [(n, rois[n], types[n]) for n in ("GTV", "Prostate", "Bladder", "Rectum")], study=study)
    plan = PHANTOMS["pelvis"].plan_toml().replace('phantom = "pelvis"\n', "")
    plan = plan.replace("dicom/ct", "ct").replace("dicom/rtstruct_ct.dcm", "rs.dcm")
    (out / "plan.toml").write_text(plan)
    return out / "plan.toml"


def run(size: str = "ci", workdir: Path | None = None) -> dict:
    cfg = SIZES[size]
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        t0 = time.perf_counter()
        plan = write_case(Path(tmp), cfg["shape"], cfg["spacing_mm"])
        t_write = time.perf_counter() - t0
        t0 = time.perf_counter()
        pm = patient_model(ImagingPlan.of(load_plan(plan)))
        total = time.perf_counter() - t0
    vols = {r["name"]: r for r in pm.mesh_report.volumes}
    return {
        "size": size,
        "shape": cfg["shape"],
        "spacing_mm": cfg["spacing_mm"],
        "write_s": t_write,
        "timings": dict(pm.timings_s),
        "total_s": total,
        "limit_s": cfg["limit_s"],
        "cells": pm.mesh.num_cells,
        "vertices": pm.mesh.num_vertices,
        "min_dihedral_deg": pm.mesh_report.quality.min_dihedral_deg,
        "implant_rel_diff": vols["implant_1"]["rel_diff"],
        "target_rel_diff": vols["GTV"]["rel_diff"],
    }


def print_table(r: dict) -> None:
    t = r["timings"]
    print(f"imaging_perf ({r['size']}): CT {r['shape'][2]}×{r['shape'][1]}×{r['shape'][0]} voxels, "
          f"{r['spacing_mm'][0]}×{r['spacing_mm'][1]}×{r['spacing_mm'][2]} mm (DICOM written in {r['write_s']:.1f} s, not timed)")
    print(f"{'read [s]':>9} {'rtstruct [s]':>12} {'segment [s]':>11} {'mesh [s]':>9} {'total [s]':>9} {'limit [s]':>9} "
          f"{'cells':>8} {'min dih [°]':>11} {'implant ΔV':>10} {'GTV ΔV':>8}")
    print(f"{t['read']:9.2f} {t['rtstruct']:12.2f} {t['segment']:11.2f} {t['mesh']:9.2f} {r['total_s']:9.2f} {r['limit_s']:9.0f} "
          f"{r['cells']:8d} {r['min_dihedral_deg']:11.2f} {r['implant_rel_diff']:+10.3f} {r['target_rel_diff']:+8.3f}")


def check(r: dict) -> list[str]:
    bad = []
    if r["total_s"] > r["limit_s"]:
        bad.append(f"total {r['total_s']:.1f} s > {r['limit_s']} s")
    for k in ("implant_rel_diff", "target_rel_diff"):
        if abs(r[k]) > 0.15:
            bad.append(f"{k} = {r[k]:+.3f}, expected |ΔV/V| ≤ 0.15")
    return bad


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="512 × 512 × 200 CT (target ≤ 60 s)")
    a = ap.parse_args(argv)
    r = run("full" if a.full else "ci")
    print_table(r)
    return report(check(r))


if __name__ == "__main__":
    sys.exit(main())
