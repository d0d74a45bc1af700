"""Calibration recovery (issue 18): synthetic probe curves from the model at known parameters plus
Gaussian noise (0.05 K), 20 seeded trials; fitted: SLP scale, tumour perfusion scale, arterial offset.
Counts the trials whose 95 % intervals contain every true value (target ≥ 90 %).
Run: python benchmarks/calibration_recovery.py
"""
import datetime
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "tests")]
from uncertainty.test_calibration import PROBES  # noqa: E402
from uncertainty.test_uncertainty import PLAN  # noqa: E402

from planner.config.plan import load_plan  # noqa: E402
from planner.uncertainty.calibration import ProbeModel, calibrate  # noqa: E402
from planner.uncertainty.calibration_run import plan_artefacts, synthetic_measurements  # noqa: E402
from planner.uncertainty.probes_csv import MeasuredProbes  # noqa: E402

TRUTH = {"slp": 1.4, "perfusion.tumour": 0.6, "arterial_T": 0.3}


def main(trials: int = 20, noise_K: float = 0.05) -> None:
    d = Path(tempfile.mkdtemp())
    (d / "plan.toml").write_text(PLAN.format(mode="transient").replace("[safety]", PROBES + "\n[safety]"))
    cfg = load_plan(d / "plan.toml")
    mesh, heat, lib = plan_artefacts(cfg)
    model = ProbeModel(mesh, heat, lib, cfg.thermal, ("tumour",), True)
    x_true = np.array([np.log(TRUTH["slp"]), np.log(TRUTH["perfusion.tumour"]), TRUTH["arterial_T"]])
    print(f"# {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC, load {os.getloadavg()[0]:.1f}; truth {TRUTH}, "
          f"noise {noise_K} K, 3 probes, readings every 30 s over 6 min")
    print(f"{'seed':>4} {'slp':>16} {'perfusion.tumour':>22} {'arterial_T':>20} inside")
    hits, t0 = 0, time.perf_counter()
    for seed in range(trials):
        names, ts, T = synthetic_measurements(model, x_true, np.arange(30.0, 361.0, 30.0), noise_K, 1000 + seed)
        res = calibrate(model, MeasuredProbes(Path("synthetic.csv"), names, ts, T)).to_json()["parameters"]
        inside = all(res[n]["ci95"][0] <= v <= res[n]["ci95"][1] for n, v in TRUTH.items())
        hits += inside
        cells = [f"{res[n]['estimate']:.3f} [{res[n]['ci95'][0]:.3f},{res[n]['ci95'][1]:.3f}]" for n in TRUTH]
        print(f"{seed:>4} {cells[0]:>16} {cells[1]:>22} {cells[2]:>20} {inside}")
    print(f"recovered within the 95 % intervals: {hits}/{trials} ({100 * hits / trials:.0f} %); "
          f"{model.solves} thermal solves, {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
