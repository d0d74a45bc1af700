"""The shipped phantom plans on two FEniCSx stacks from the same saved meshes: summary.json side by side.

gmsh (4.8 on bookworm, 4.13 on trixie) and CGAL mesh the same plan differently, so the plans are meshed
ONCE (on the first stack that runs, into ``OUT/meshes`` through the planner's mesh cache,
``PLANNER_MESH_CACHE``: :mod:`planner.geometry.mesh_cache`) and every stack runs from those meshes:

    python -m benchmarks.stack_plans run OUT STACK [PLAN ...]      # on each stack (writes OUT/STACK/)
    python -m benchmarks.stack_plans compare OUT A B [--rtol 1e-6]  # table; exit 1 beyond rtol

``run`` runs every shipped plan (``phantoms/*/plan*.toml``, or the ones given) with its results folder
redirected to ``OUT/STACK/<phantom>-<plan>/`` and records its wall time and how many meshes it had to
make (``OUT/STACK/runs.json``); with ``--require-cached`` a plan that had to mesh is an error (the second
stack must read every mesh the first one made). ``compare`` compares every number of the two
summary.json files with scripts/compare_results.py's rules (timings, provenance — versions, hashes,
dates —, the list of written files and absolute paths are not results and are skipped) and prints one
row per plan: the count of numbers compared relatively, the largest relative difference and where it
is (numbers below ``--atol`` in both count as equal), and the count of rounding-level error estimates
compared absolutely instead (``ABSOLUTE``).
``scripts/compare_stacks.sh`` does both stacks end to end.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import compare_results  # noqa: E402  (scripts/ is not a package)

#: keys skipped beyond compare_results' own (none today: every key it compares must agree)
EXTRA_IGNORED: set[str] = set()
#: numbers that are themselves rounding-level relative errors, compared ABSOLUTELY (|a − b| ≤ the value):
#: the SLP quadrature's self-estimate (nanoparticles.model.quadrature[*]) is the difference of two
#: quadratures of the same integral, ≈ 2.5e-11 — rounding noise whose leading digits change with the
#: summation order of numpy 1.24 vs 2.2 (2.50467e-11 vs 2.50448e-11: 7e-5 apart relatively, 2e-15 absolutely)
ABSOLUTE = {"rel_error_estimate": 1e-12}


def _split_absolute(a: object, b: object, path: str, out: list[tuple[str, float, float]]) -> None:
    """Move the ABSOLUTE keys out of both summaries (in place) into ``out`` as (path, a, b)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a):
            if k in ABSOLUTE and k in b and isinstance(a[k], (int, float)) and isinstance(b[k], (int, float)):
                out.append((f"{path}.{k}", a.pop(k), b.pop(k)))
            elif k in b:
                _split_absolute(a[k], b[k], f"{path}.{k}", out)
    elif isinstance(a, list) and isinstance(b, list):
        for i, (x, y) in enumerate(zip(a, b)):
            _split_absolute(x, y, f"{path}[{i}]", out)


def shipped_plans() -> list[Path]:
    return sorted(ROOT.glob("phantoms/*/plan*.toml"))


def plan_id(path: Path) -> str:
    return f"{path.parent.name}-{path.stem}"


def _n_meshes(folder: Path) -> int:
    return sum(1 for p in folder.glob("*") if p.suffix in (".npz", ".msh") and not p.name.startswith("."))


def run(out: Path, stack: str, plans: list[Path], require_cached: bool) -> int:
    from planner.config.plan import load_plan
    from planner.fem import _compat
    from planner.geometry import mesh_cache
    from planner.pipeline import run_plan

    meshes = (out / "meshes").resolve()
    os.environ[mesh_cache.ENV_VAR] = str(meshes)
    meshes.mkdir(parents=True, exist_ok=True)
    rows: dict[str, dict] = {"_stack": {"dolfinx": _compat.DOLFINX_VERSION, "loadavg": os.getloadavg()[0],
                                        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime())}}
    status = 0
    for path in plans:
        cfg = load_plan(path)
        dest = (out / stack / plan_id(path)).resolve()
        cfg = dataclasses.replace(cfg, plan=dataclasses.replace(cfg.plan, output_dir=str(dest), overwrite=True))
        before = _n_meshes(meshes)
        t0 = time.perf_counter()
        run_plan(cfg)
        made = _n_meshes(meshes) - before
        rows[plan_id(path)] = {"plan": str(path.relative_to(ROOT)), "wall_s": round(time.perf_counter() - t0, 1),
                               "meshes_made": made}
        print(f"{stack}: {plan_id(path)} {rows[plan_id(path)]['wall_s']} s, {made} mesh(es) made", flush=True)
        if require_cached and made:
            print(f"FAIL  {plan_id(path)}: {made} mesh(es) not in {meshes}: the stacks would not share the mesh")
            status = 1
    runs = out / stack / "runs.json"  # merged: plans may be run in several calls
    old = json.loads(runs.read_text()) if runs.is_file() else {}
    runs.write_text(json.dumps({**old, **rows}, indent=1))
    return status


def _numbers(a: object, b: object):
    for path, x, y in compare_results.numbers(a, b):
        if path.rsplit(".", 1)[-1] not in EXTRA_IGNORED:
            yield path, x, y


def compare(out: Path, a: str, b: str, rtol: float, atol: float) -> int:
    ra, rb = (json.loads((out / s / "runs.json").read_text()) for s in (a, b))
    sa, sb = ra.pop("_stack"), rb.pop("_stack")
    print(f"{a}: DOLFINx {sa['dolfinx']} ({sa['date_utc']} UTC, load {sa['loadavg']:.1f}); "
          f"{b}: DOLFINx {sb['dolfinx']} ({sb['date_utc']} UTC, load {sb['loadavg']:.1f}); rtol {rtol:g}")
    print(f"{'plan':28s} {'numbers':>7s} {'max rel diff':>12s} {'abs':>4s} {'wall ' + a:>12s} {'wall ' + b:>12s}  where")
    status = 0
    for pid in ra:
        if pid not in rb:
            print(f"{pid:28s} only on {a}")
            status = 1
            continue
        A, B = (json.loads((out / s / pid / "summary.json").read_text()) for s in (a, b))
        absolute: list[tuple[str, float, float]] = []
        _split_absolute(A, B, "summary", absolute)
        diffs: list[str] = [f"{p}: {x!r} vs {y!r} (absolute {abs(x - y):.2e} > {ABSOLUTE[p.rsplit('.', 1)[-1]]:g})"
                            for p, x, y in absolute if not abs(x - y) <= ABSOLUTE[p.rsplit(".", 1)[-1]]]
        compare_results.compare(A, B, "summary", rtol, atol, diffs)
        diffs = [d for d in diffs if d.split(":")[0].rsplit(".", 1)[-1] not in EXTRA_IGNORED]
        pairs = list(_numbers(A, B))
        worst = max(((compare_results.relative_difference(x, y) if max(abs(x), abs(y)) > atol else 0.0, p)
                     for p, x, y in pairs), default=(0.0, "-"))
        print(f"{pid:28s} {len(pairs):7d} {worst[0]:12.2e} {len(absolute):4d} {ra[pid]['wall_s']:10.1f} s "
              f"{rb[pid]['wall_s']:10.1f} s  {worst[1] if worst[0] else ''}")
        for d in diffs:
            print(f"    DIFF {d}")
        status |= bool(diffs)
    print("PASS  every number agrees" if not status else "FAIL  differences above")
    return int(status)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("out", type=Path)
    r.add_argument("stack")
    r.add_argument("plans", nargs="*", type=Path)
    r.add_argument("--require-cached", action="store_true", help="fail if a plan had to make a mesh")
    c = sub.add_parser("compare")
    c.add_argument("out", type=Path)
    c.add_argument("a")
    c.add_argument("b")
    c.add_argument("--rtol", type=float, default=1e-6)
    c.add_argument("--atol", type=float, default=1e-12)
    args = ap.parse_args(argv)
    if args.cmd == "run":
        plans = [p.resolve() for p in args.plans] or shipped_plans()
        return run(args.out, args.stack, plans, args.require_cached)
    return compare(args.out, args.a, args.b, args.rtol, args.atol)


if __name__ == "__main__":
    sys.exit(main())
