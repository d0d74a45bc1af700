"""Uncertainty study (issue 18): QMC vs plain Monte Carlo error and the linear-case closed form.

Small sphere plan (tests/uncertainty PLAN, steady), particles the only source, only the SLP uncertain
(σ_ln = 0.3): the target's T90 rise is rise_0 · exp(σZ), so E = rise_0 · e^{σ²/2} exactly. RMS error of
the sample mean over 8 seeds for N = 16..4096, Sobol (scrambled) and MC, and the fitted rates.
Run: python benchmarks/uncertainty_qmc.py
"""
import dataclasses
import datetime
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "tests")]
from uncertainty.test_uncertainty import PLAN  # noqa: E402

from planner.config.plan import UncertaintySection, load_plan  # noqa: E402
from planner.pipeline import run_plan  # noqa: E402
from planner.uncertainty.study import run_uncertainty  # noqa: E402
from planner.verification.uncertainty import lognormal_mean, lognormal_scaled_percentile  # noqa: E402


def main() -> None:
    d = Path(tempfile.mkdtemp())
    (d / "plan.toml").write_text(PLAN.format(mode="steady"))
    cfg = load_plan(d / "plan.toml")
    res = run_plan(cfg, write=False)
    heat = res.artefacts["heat"]
    heat = dataclasses.replace(heat, Q_eddy_W_per_m3=np.zeros_like(heat.Q_eddy_W_per_m3))
    a = res.artefacts

    def study(n, method, seed, sigma=0.3):
        sec = dataclasses.replace(UncertaintySection(), samples=n, method=method, seed=seed, slp_sigma_ln=sigma,
                                  mass_sigma_ln=0.0, field_sigma_ln=0.0)
        return run_uncertainty(sec, a["mesh"], heat, a["library"], cfg.thermal, cfg.applicator, cfg.safety, 42.0,
                               robust=False)

    rise0 = study(4, "sobol", 0, 0.0).T90_rise_K[0]
    exact = lognormal_mean(rise0, 0.3)
    print(f"# {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC, load {os.getloadavg()[0]:.1f}; rise_0 = {rise0:.4f} K, "
          f"E[rise] = {exact:.5f} K")
    print(f"{'N':>6} {'sobol rms err':>14} {'mc rms err':>12}")
    Ns = [16, 64, 256, 1024, 4096]
    errs = {"sobol": [], "mc": []}
    for n in Ns:
        for m in errs:
            e = [study(n, m, s).T90_rise_K.mean() - exact for s in range(8)]
            errs[m].append(float(np.sqrt(np.mean(np.square(e)))))
        print(f"{n:>6} {errs['sobol'][-1]:>14.3e} {errs['mc'][-1]:>12.3e}")
    for m in errs:
        print(f"{m}: observed rate N^{np.polyfit(np.log(Ns), np.log(errs[m]), 1)[0]:.2f}")
    t0 = time.perf_counter()
    big = study(4096, "sobol", 0)
    pct = {p: float(np.percentile(big.T90_rise_K, p)) for p in (5, 50, 95)}
    print(f"4096 Sobol samples in {time.perf_counter() - t0:.2f} s; percentiles vs closed form: " + ", ".join(
        f"p{p} {v:.4f} / {lognormal_scaled_percentile(rise0, 0.3, p):.4f}" for p, v in pct.items()))


if __name__ == "__main__":
    main()
