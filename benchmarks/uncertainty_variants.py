"""Cost of the re-solving [uncertainty] inputs: per-tissue conductivity and deposit size (issue 18).

Off-centre tumour sphere plan with one gaussian deposit (tests/uncertainty/test_variants.py DEPOSIT,
steady), 16 Sobol samples, the default SLP / mass / field spreads plus the inputs of each row: wall time,
thermal and eddy-current solves, T90 percentiles and first-order Sobol indices (N = 16: noisy).
Run from the repository root: python benchmarks/uncertainty_variants.py
"""
import dataclasses
import datetime
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "tests")]
from uncertainty.test_variants import DEPOSIT  # noqa: E402

from planner.config.plan import UncertaintySection, load_plan  # noqa: E402
from planner.pipeline import run_plan  # noqa: E402
from planner.uncertainty.study import run_uncertainty  # noqa: E402
from planner.uncertainty.variants import HeatVariants  # noqa: E402


def main() -> None:
    d = Path(tempfile.mkdtemp())
    (d / "plan.toml").write_text(DEPOSIT)
    cfg = load_plan(d / "plan.toml")
    a = run_plan(cfg, write=False).artefacts
    var = HeatVariants.from_plan(cfg, a["mesh"], a["library"])
    print(f"# {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, load {os.getloadavg()[0]:.1f}; "
          f"{a['mesh'].num_cells} cells")
    rows = (("none", {}), ("sigma per tissue (tumour, muscle)", {"conductivity_tissues": ("tumour", "muscle")}),
            ("deposit size 0.3", {"deposit_size_sigma_ln": 0.3}),
            ("both", {"conductivity_tissues": ("tumour", "muscle"), "deposit_size_sigma_ln": 0.3}))
    for label, kw in rows:
        sec = dataclasses.replace(UncertaintySection(), samples=16, **kw)
        t = time.perf_counter()
        st = run_uncertainty(sec, a["mesh"], a["heat"], a["library"], cfg.thermal, cfg.applicator, cfg.safety, 42.0,
                             robust=False, variants=var)
        b = st.summary_block()
        print(f"{label:36s} {time.perf_counter() - t:6.1f} s  thermal {st.thermal_solves:3d}  eddy {st.eddy_solves:3d}  "
              "T90 p5/p50/p95 " + "/".join(f"{b['T90_C'][k]:.2f}" for k in ("p5", "p50", "p95")) + "  S: "
              + ", ".join(f"{k} {v:.2f}" for k, v in st.sobol_first_order.items()))


if __name__ == "__main__":
    main()
