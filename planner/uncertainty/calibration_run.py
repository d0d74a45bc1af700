"""`planner calibrate PLAN.toml --measured probes.csv`: fit, then write calibration.json, the residual
figure and the calibrated plan for the next session (``<plan stem>.calibrated.toml`` beside the plan, so
its relative input paths still hold; an existing file is replaced only if this command wrote it)."""
from __future__ import annotations

import dataclasses
import json
import tomllib
from pathlib import Path

import numpy as np

from planner.errors import InputError
from planner.reporting.results import check_output_dir, results_folder
from planner.uncertainty.calibration import CalibrationResult, ProbeModel, calibrate
from planner.uncertainty.probes_csv import MeasuredProbes, read_measured_probes

MARKER = "# written by `planner calibrate`"


def plan_artefacts(cfg):
    """Mesh, heat source and tissue library of a plan (its field stages only)."""
    from planner.pipeline import run_plan

    res = run_plan(dataclasses.replace(cfg, thermal=None, search=None, uncertainty=None), write=False)
    if res.artefacts.get("heat") is None:
        raise InputError("[applicator]: calibration needs the plan's field and heat source (no [applicator] section)")
    return res.artefacts["mesh"], res.artefacts["heat"], res.artefacts["library"]


def run_calibration(cfg, measured: str | Path, perfusion_tissues: tuple[str, ...] = (), arterial: bool = False,
                    out_dir: str | Path | None = None) -> tuple[CalibrationResult, Path]:
    """Fit and write the outputs; returns the result and the output folder."""
    if cfg.thermal is None:
        raise InputError("[thermal]: calibration needs the plan's transient [thermal] section with probes")
    data = read_measured_probes(measured, [p.name for p in cfg.thermal.probes])
    out = Path(out_dir) if out_dir is not None else cfg.base_dir / f"{cfg.plan_file.stem if cfg.plan_file else 'plan'}-calibration"
    check_output_dir(out, field="--output")  # before the solves: empty, new, or a folder the planner wrote
    if cfg.plan_file is not None:
        _check_calibrated_plan(calibrated_plan_path(cfg))
    mesh, heat, lib = plan_artefacts(cfg)
    tissues = tuple(lib[t].name for t in perfusion_tissues)
    model = ProbeModel(mesh, heat, lib, cfg.thermal, tissues, arterial)
    result = calibrate(model, data)
    with results_folder(out, field="--output") as tmp:  # written beside, swapped in whole (manifest: .planner-results)
        (tmp / "calibration.json").write_text(json.dumps({**result.to_json(), "measured_file": str(Path(measured).resolve()),
                                                          "probes": list(data.names), "readings": data.count}, indent=2))
        _residual_figure(tmp / "residuals.png", data, result)
    if cfg.plan_file is not None:
        write_calibrated_plan(cfg, lib, result)
    return result, out


def calibrated_plan_path(cfg) -> Path:
    return cfg.plan_file.with_name(cfg.plan_file.stem + ".calibrated.toml")


def apply_calibration(data: dict, lib, result: CalibrationResult, arterial_T_C: float) -> dict:
    """A copy of plan TOML data with the fitted values applied (slp_scale, tissue perfusion, arterial_T_C)."""
    import copy

    data = copy.deepcopy(data)
    for name, est in zip(result.names, result.estimate):
        if name == "slp":
            np_sec = data.setdefault("nanoparticles", {})
            np_sec["slp_scale"] = float(np_sec.get("slp_scale", 1.0)) * float(est)
        elif name.startswith("perfusion."):
            t = name.split(".", 1)[1]
            data.setdefault("tissues", {}).setdefault(t, {})["perfusion_mL_per_min_per_kg"] = (
                lib[t].perfusion_mL_per_min_per_kg * float(est))
        elif name == "arterial_T":
            data.setdefault("thermal", {})["arterial_T_C"] = arterial_T_C + float(est)
    return data


def _check_calibrated_plan(path: Path) -> None:
    if path.exists() and not path.read_text(encoding="utf-8", errors="replace").startswith(MARKER):
        raise InputError(f"{path}: exists and was not written by `planner calibrate`; expected a free name "
                         "(move it away: the planner never overwrites files it did not write)")


def write_calibrated_plan(cfg, lib, result: CalibrationResult) -> Path:
    import tomli_w

    path = calibrated_plan_path(cfg)
    _check_calibrated_plan(path)
    data = apply_calibration(tomllib.loads(cfg.plan_file.read_text(encoding="utf-8")), lib, result,
                             cfg.thermal.arterial_T_C)
    path.write_text(f"{MARKER} from {cfg.plan_file.name}; fitted: {', '.join(result.names)}\n"
                    + tomli_w.dumps(data), encoding="utf-8")
    return path


def _residual_figure(path: Path, data: MeasuredProbes, result: CalibrationResult) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    i = 0
    for name, ts in zip(data.names, data.times_s):
        ax.plot(ts / 60.0, result.residual_K[i:i + ts.size], ".", label=name)
        i += ts.size
    ax.axhline(0.0, color="k", lw=0.5)
    ax.set_xlabel("time (min)")
    ax.set_ylabel("model − measured (K)")
    ax.set_title(f"calibration residuals, rms {result.rms_residual_K:.3f} K")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def synthetic_measurements(model: ProbeModel, x_true: np.ndarray, times_s: np.ndarray, noise_K: float, seed: int):
    """Probe curves made by the model at fitted coordinates ``x_true`` plus Gaussian noise (tests, benchmarks)."""
    names = tuple(p.name for p in model.th.probes)
    ts = tuple(np.asarray(times_s, dtype=float) for _ in names)
    clean = MeasuredProbes(Path("synthetic.csv"), names, ts, tuple(np.zeros_like(t) for t in ts))
    T = model.predict(np.asarray(x_true, dtype=float), clean)
    T = T + np.random.default_rng(seed).normal(0.0, noise_K, T.shape)
    split = np.cumsum([t.size for t in ts])[:-1]
    return names, ts, tuple(np.split(T, split))
