"""Speed of the uncertainty study on the torso phantom (issue 18): 256 samples with SLP, H and mass
uncertain against one plan (the plan without [search]; same machine, same run).
Run: python benchmarks/uncertainty_torso.py [samples]
"""
import datetime
import os
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from planner.config.plan import parse_plan  # noqa: E402
from planner.pipeline import run_plan  # noqa: E402


def main(samples: int = 256) -> None:
    plan = ROOT / "phantoms" / "torso" / "plan.toml"
    data = tomllib.loads(plan.read_text())
    data.pop("search", None)
    data["uncertainty"] = {"samples": samples, "slp_sigma_ln": 0.3, "mass_sigma_ln": 0.2, "field_sigma_ln": 0.05}
    res = run_plan(parse_plan(data, plan_file=plan), write=False)
    t = res.summary["timings_s"]
    one = t["total"] - t["uncertainty"]
    u = res.summary["uncertainty"]
    print(f"# {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC, load {os.getloadavg()[0]:.1f}; torso plan, "
          f"{res.summary['mesh']['cells']} cells")
    print(f"one plan (mesh+em+nanoparticles+thermal+safety): {one:.1f} s; {samples} samples: {t['uncertainty']:.1f} s "
          f"({t['uncertainty'] / one:.2f}x one plan, {u['thermal_solves']} thermal solves)")
    print({k: u[k] for k in ("P_T90_ge_goal", "P_violation", "T90_C", "sobol_first_order", "robust_field_kA_per_m",
                             "goal_field_kA_per_m")})


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 256)
