"""Same meshes, two FEniCSx stacks: DOLFINx 0.5.2 (bookworm) vs 0.9.0 (trixie), side by side.

gmsh differs between the stacks (4.11 vs 4.13), so meshes made on each differ; to compare the FE layer
(planner.fem._compat) the meshes are made ONCE, saved, and solved on both stacks:

    python -m benchmarks.stack_compare export DIR [--perf]          # on one stack: make and save the meshes
    python -m benchmarks.stack_compare solve DIR OUT.json [--perf]  # on each stack: solve, write numbers + times
    python -m benchmarks.stack_compare compare A.json B.json  # side-by-side table and relative differences

Cases: the EM conducting-sphere benchmark (benchmarks.em_sphere, P2, TissueMesh saved as .npz), the
implant sphere (benchmarks.implants_accuracy, a/δ = 1, N1curl 2 on curved P2 tets, gmsh model saved as
.msh and read back through the same gmshio path), and the thermal performance box (structured mesh,
identical on both stacks by construction; transient BDF2). ``compare`` fails (exit 1) if a physical
number differs by more than the solver tolerance allows (``TOL``). ``--perf``: the performance sizes
(EM h = 3.5, 2.5 mm; implant refinement 1.0; thermal 40³ × 6 tets, 60 steps) instead of the CI sizes;
run it after a CI-size solve so that the form compiler's cache is warm on both stacks.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

IMPLANT_AD = 1.0
SIZES = {"ci": {"em_mm": (7.0, 5.0), "implant_refinement": 0.5, "thermal": (24, 20)},
         "perf": {"em_mm": (3.5, 2.5), "implant_refinement": 1.0, "thermal": (40, 60)}}
# relative agreement expected between stacks (solver tolerances: CG 1e-10 EM, MINRES 1e-6 implant
# (loss is quadratic in the field: ≲ 1e-6 relative), thermal linear_rtol 1e-8)
TOL = {"em_sphere": 1e-6, "implant_sphere": 1e-5, "thermal_box": 1e-6}


def _em_cfg(h: float):
    from benchmarks.em_common import plan
    from benchmarks.em_sphere import A_MM, F_HZ, H0

    return plan([{"name": "sphere", "shape": "sphere", "tissue": "muscle", "radius_mm": A_MM}], h,
                {"type": "uniform", "frequency_kHz": F_HZ / 1e3, "field_kA_per_m": H0 / 1e3,
                 "amplitude": "peak", "target_point_mm": [25.0, -15.0, 10.0]})


def _save_mesh(path: Path, m) -> None:
    regions = [dict(asdict(r), role=r.role.value) for r in m.regions]
    np.savez(path, points_m=m.points_m, cells=m.cells, cell_region=m.cell_region, skin_facets=m.skin_facets,
             cut_facets=m.cut_facets, regions=json.dumps(regions), source=m.source)


def _load_mesh(path: Path):
    from planner.artefacts import Region, Role, TissueMesh

    z = np.load(path)
    regions = tuple(Region(**dict(r, role=Role(r["role"]))) for r in json.loads(str(z["regions"])))
    return TissueMesh(z["points_m"], z["cells"], z["cell_region"], regions, z["skin_facets"], source=str(z["source"]),
                      cut_facets=z["cut_facets"])


def _implant_frequency_Hz() -> float:
    from benchmarks.implants_accuracy import A_MM
    from benchmarks.implants_common import SIGMA_TI64, frequency_for

    return frequency_for(IMPLANT_AD, A_MM * 1e-3, SIGMA_TI64)


def export(out: Path, size: str) -> None:
    from benchmarks.em_common import mesh_of
    from benchmarks.implants_accuracy import _sphere
    from benchmarks.implants_common import SIGMA_TI64
    from planner.fem import implant_eddy as ec
    from planner.geometry.submodel import SubModelGeometry, SubModelSizing

    out.mkdir(parents=True, exist_ok=True)
    for h in SIZES[size]["em_mm"]:
        _save_mesh(out / f"em_sphere_h{h:g}.npz", mesh_of(_em_cfg(h)))
    opts = ec.ImplantSolveOptions(sigma_S_per_m=SIGMA_TI64, frequency_Hz=_implant_frequency_Hz(),
                                  A0_peak_at=ec.uniform_A0((0.0, 0.0, 1.0)))
    geo = SubModelGeometry(_sphere, sizing=SubModelSizing(refinement=SIZES[size]["implant_refinement"]))
    with geo.open(opts.skin_depth_mm, opts.degree) as (gmsh, info):
        gmsh.write(str(out / "implant_sphere.msh"))
        (out / "implant_sphere.json").write_text(json.dumps(
            {"exact_volume_m3": info.exact_volume_m3, "geometry_order": info.geometry_order}))
    print(f"meshes written to {out}")


@contextlib.contextmanager
def _open_msh(path: Path, info):
    from planner.geometry.gmsh_session import gmsh_session

    with gmsh_session("implant_submodel") as gmsh:
        gmsh.open(str(path))
        yield gmsh, info


def _solve_em(mesh_path: Path) -> dict:
    from benchmarks.em_common import library
    from benchmarks.em_sphere import A_MM, F_HZ, H0, SIGMA
    from planner.em import applied_field, solve_eddy_currents
    from planner.verification import em as ae

    h = float(mesh_path.stem.split("_h")[1])
    cfg, mesh = _em_cfg(h), _load_mesh(mesh_path)
    t0 = time.perf_counter()
    fs = solve_eddy_currents(mesh, applied_field(mesh, cfg.applicator), library(muscle=SIGMA), cfg, element_order=2)
    wall = time.perf_counter() - t0
    P_exact = ae.sphere_loss_W(SIGMA, F_HZ, H0, A_MM * 1e-3)
    return {"loss_W": fs.tissue_loss_W, "rel_err_vs_closed_form": fs.tissue_loss_W / P_exact - 1,
            "dofs": fs.solver["dofs"], "iterations": fs.solver["iterations"], "wall_s": wall}


def _solve_implant(out: Path) -> dict:
    from types import SimpleNamespace

    from benchmarks.implants_accuracy import A_MM
    from benchmarks.implants_common import H0, SIGMA_TI64
    from planner.fem import implant_eddy as ec
    from planner.verification import implants as an

    f = _implant_frequency_Hz()
    info = SimpleNamespace(**json.loads((out / "implant_sphere.json").read_text()))
    t0 = time.perf_counter()
    msh, ct, _ = ec.mesh_submodel(lambda: _open_msh(out / "implant_sphere.msh", info))
    opts = ec.ImplantSolveOptions(sigma_S_per_m=SIGMA_TI64, frequency_Hz=f, A0_peak_at=ec.uniform_A0((0.0, 0.0, H0)),
                                  collect_cells=False)
    r = ec.solve_reduced_field(msh, ct, opts)
    wall = time.perf_counter() - t0
    P_ex = an.sphere_uniform_field_loss_W(radius_m=A_MM * 1e-3, sigma_S_per_m=SIGMA_TI64, frequency_Hz=f,
                                          H0_peak_A_per_m=H0)
    return {"loss_W": r.loss_W, "rel_err_vs_closed_form": r.loss_W / P_ex - 1, "peak_J_A_per_m2": r.peak_J_A_per_m2,
            "fe_volume_m3": r.fe_volume_m3, "dofs": r.dofs, "iterations": r.iterations, "wall_s": wall,
            **{f"{k}_s": v for k, v in r.times_s.items()}}


def _solve_thermal(n: int, steps: int) -> dict:
    from benchmarks import thermal_performance

    t0 = time.perf_counter()
    row = thermal_performance.run(n, steps, quiet=True)
    return {"T90_C": row["T90_C"], "dofs": row["dofs"], "steps": row["steps"],
            "its_per_step": row["its_per_step"], "setup_s": row["setup_s"], "loop_s": row["loop_s"],
            "wall_s": time.perf_counter() - t0}


def solve(out: Path, result: Path, size: str) -> None:
    import petsc4py

    from planner.fem import _compat

    res: dict = {"stack": {"dolfinx": _compat.DOLFINX_VERSION, "numpy": np.__version__,
                           "python": platform.python_version(), "petsc4py": petsc4py.__version__,
                           "loadavg_before": os.getloadavg()[0],
                           "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime())}}
    for p in sorted(out.glob("em_sphere_h*.npz"), key=lambda p: -float(p.stem.split("_h")[1])):
        res[f"em_sphere_{p.stem.split('_')[-1]}"] = _solve_em(p)
    res["implant_sphere"] = _solve_implant(out)
    res["thermal_box"] = _solve_thermal(*SIZES[size]["thermal"])
    res["stack"]["loadavg_after"] = os.getloadavg()[0]
    result.write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))


PHYSICAL = ("loss_W", "peak_J_A_per_m2", "fe_volume_m3", "T90_C")


def compare(a_path: Path, b_path: Path) -> int:
    A, B = json.loads(a_path.read_text()), json.loads(b_path.read_text())
    sa, sb = A.pop("stack"), B.pop("stack")
    print(f"A: DOLFINx {sa['dolfinx']}, numpy {sa['numpy']}, Python {sa['python']}, PETSc {sa['petsc4py']} "
          f"({sa['date_utc']} UTC, load {sa['loadavg_before']:.1f}→{sa['loadavg_after']:.1f})")
    print(f"B: DOLFINx {sb['dolfinx']}, numpy {sb['numpy']}, Python {sb['python']}, PETSc {sb['petsc4py']} "
          f"({sb['date_utc']} UTC, load {sb['loadavg_before']:.1f}→{sb['loadavg_after']:.1f})")
    print(f"{'case':24s} {'quantity':24s} {'A':>14s} {'B':>14s} {'rel diff':>10s}")
    bad = []
    for case in A:
        for key, va in A[case].items():
            vb = B.get(case, {}).get(key)
            if vb is None:
                continue
            rel = abs(vb - va) / max(abs(va), 1e-300) if isinstance(va, float) else float(va != vb)
            fmt = (lambda v: f"{v:14.8g}") if isinstance(va, float) else (lambda v: f"{v:14d}")
            print(f"{case:24s} {key:24s} {fmt(va)} {fmt(vb)} {rel:10.2e}")
            tol = TOL[case.rsplit('_h', 1)[0] if case.startswith("em_sphere") else case]
            if key in PHYSICAL and not (rel <= tol):
                bad.append(f"{case} {key}: rel diff {rel:.2e} > {tol:g}")
    for b in bad:
        print("FAIL  " + b)
    if not bad:
        print("PASS  every physical number agrees to the solver tolerance")
    return 1 if bad else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export")
    e.add_argument("dir", type=Path)
    s = sub.add_parser("solve")
    s.add_argument("dir", type=Path)
    s.add_argument("out", type=Path)
    for p in (e, s):
        p.add_argument("--perf", action="store_true", help="performance sizes instead of the CI sizes")
    c = sub.add_parser("compare")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    args = ap.parse_args(argv)
    if args.cmd == "export":
        export(args.dir, "perf" if args.perf else "ci")
    elif args.cmd == "solve":
        solve(args.dir, args.out, "perf" if args.perf else "ci")
    else:
        return compare(args.a, args.b)
    return 0


if __name__ == "__main__":
    sys.exit(main())
