"""Compare two planner results folders: every number in summary.json to a relative tolerance.

    python scripts/compare_results.py OLD_DIR NEW_DIR [--rtol 1e-9] [--atol 1e-12]

Timings, provenance (versions, hashes of the plan file, dates) and the list of written files are
ignored; every other key must exist in both and every number must agree to ``rtol`` (relative) or
``atol`` (absolute, for values that should be zero). Exit code 0 when they agree, 1 otherwise, with one
line per difference. Used to show a refactoring changes no result (re-cut issue: 1e-9 relative).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

IGNORED_KEYS = {"provenance", "files", "timings_s", "times_s", "elapsed_s", "wall_s", "wall_time_s",
                "mesh_seconds"}  # (imaging.label_mesh: the label mesher's wall time)
#: wall-clock timings reported by the solvers (not results): keys ending in _s under a "solver" block
SOLVER_TIMINGS = {"assembly_s", "time_loop_s", "total_s", "setup_s", "solve_s", "mesh_s", "post_s"}
#: absolute paths of inputs differ between checkouts: compare their file names only
PATH_KEYS = {"file", "path", "folder", "series_folder", "rtstruct", "map_file", "pre_file", "post_file"}


def _ignored(key: str, path: str) -> bool:
    return key in IGNORED_KEYS or (path.endswith(".solver") and key in SOLVER_TIMINGS)


def _is_path(path: str, a: str, b: str) -> bool:
    """A path-valued key, or an absolute path under ``source`` (imaging.series.source; mesh.source is a
    description and compared exactly)."""
    key = path.rsplit(".", 1)[-1]
    return key in PATH_KEYS or (key == "source" and a.startswith("/") and b.startswith("/"))


def compare(a: object, b: object, path: str, rtol: float, atol: float, out: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if _ignored(k, path):
                continue
            if k not in a or k not in b:
                out.append(f"{path}.{k}: only in {'new' if k not in a else 'old'}")
                continue
            compare(a[k], b[k], f"{path}.{k}", rtol, atol, out)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{path}: length {len(a)} vs {len(b)}")
            return
        for i, (x, y) in enumerate(zip(a, b)):
            compare(x, y, f"{path}[{i}]", rtol, atol, out)
    elif isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        if math.isnan(a) and math.isnan(b):
            return
        if not math.isclose(a, b, rel_tol=rtol, abs_tol=atol):
            rel = abs(a - b) / max(abs(a), abs(b), 1e-300)
            out.append(f"{path}: {a!r} vs {b!r} (relative {rel:.2e})")
    elif isinstance(a, str) and isinstance(b, str) and _is_path(path, a, b):
        if Path(a).name != Path(b).name:
            out.append(f"{path}: {a!r} vs {b!r}")
    elif a != b:
        out.append(f"{path}: {a!r} vs {b!r}")


def numbers(a: object, b: object, path: str = "summary"):
    """(path, a, b) of every number both summaries hold at the same place, under the same ignore rules as
    :func:`compare` (for counting what was compared and the largest relative difference)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) & set(b)):
            if not _ignored(k, path):
                yield from numbers(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            yield from numbers(x, y, f"{path}[{i}]")
    elif isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        yield path, a, b


def relative_difference(a: float, b: float) -> float:
    """|a − b| / max(|a|, |b|); 0 for two equal values (including two zeros or two NaNs)."""
    if a == b or (math.isnan(a) and math.isnan(b)):
        return 0.0
    return abs(a - b) / max(abs(a), abs(b))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old", type=Path)
    ap.add_argument("new", type=Path)
    ap.add_argument("--rtol", type=float, default=1e-9)
    ap.add_argument("--atol", type=float, default=1e-12)
    args = ap.parse_args(argv)
    old = json.loads((args.old / "summary.json").read_text())
    new = json.loads((args.new / "summary.json").read_text())
    diffs: list[str] = []
    compare(old, new, "summary", args.rtol, args.atol, diffs)
    for d in diffs:
        print(d)
    print(f"{args.old} vs {args.new}: {'same' if not diffs else f'{len(diffs)} difference(s)'} "
          f"(rtol {args.rtol:g}, atol {args.atol:g})")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
