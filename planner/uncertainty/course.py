"""`planner course COURSE.toml`: a treatment course of several sessions.

    [course]
    name = "three sessions"
    plan = "plan.toml"                 # the base plan (relative to the course file)
    output_dir = "course"              # one results folder per session inside, plus the course summary
    slp_half_life_days = 14.0          # carried-over particles: SLP × 0.5^(days since injection / half-life)
    brownian_blocked_after_uptake = true   # carried-over particles heat by Néel relaxation only
    calibrate_perfusion = ["tumour"]   # tissues whose perfusion is fitted when a session has measured probes

    [[sessions]]
    day = 0
    field_kA_per_m = 4.0               # optional: the base plan's [applicator] value otherwise
    frequency_kHz = 100.0              # optional
    duration_min = 30.0                # optional: [thermal] duration_min
    particle_map = "plan"              # "plan" (the base plan's distribution: a new injection), "previous"
                                       # (carried over, degraded) or a map file (the plan's file-based kind)
    measured_probes = "s1.csv"         # optional: calibrate the next sessions from this session's probes

Each session starts from its own baseline (sessions are days apart); CEM43 adds up per vertex over the
course (the same mesh each session), per structure its maximum and the value reached by 90 % (CEM43T90).
"""
from __future__ import annotations

import copy
import json
import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from planner.errors import InputError
from planner.geometry.mesh_cache import saved_meshes_for_this_run


@dataclass(frozen=True)
class Session:
    day: float
    overrides: dict
    particle_map: str
    measured_probes: Path | None


def _locate(text: str, key: str, value: str) -> tuple[int, int]:
    """1-based (line, column) of ``key = "value"`` in the course file (the value's column)."""
    for i, line in enumerate(text.splitlines(), start=1):
        stripped = line.split("#", 1)[0]
        if stripped.strip().startswith(key) and value in stripped:
            return i, stripped.index(value) + 1
    return 0, 0


def _path(course: Path, text: str, key: str, value: str) -> Path:
    p = (course.parent / value).resolve()
    if not p.exists():
        line, col = _locate(text, key, value)
        raise InputError(f"{course}: line {line}, column {col} ({key}): file {value!r} does not exist "
                         f"(looked for {p}); expected a path relative to the course file")
    return p


def load_course(path: str | Path) -> tuple[dict, list[Session], Path]:
    """The [course] table, the sessions and the base plan path."""
    path = Path(path).resolve()
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"{path}: cannot be read as TOML ({exc}); expected a course file") from None
    head = data.get("course")
    if not isinstance(head, dict) or "plan" not in head:
        raise InputError(f"{path}: [course] plan missing; expected [course] plan = \"plan.toml\"")
    rows = data.get("sessions")
    if not isinstance(rows, list) or not rows:
        raise InputError(f"{path}: no [[sessions]]; expected at least one session")
    plan = _path(path, text, "plan", str(head["plan"]))
    sessions, last_day = [], -math.inf
    for i, row in enumerate(rows):
        day = float(row.get("day", 0.0))
        if day < last_day:
            raise InputError(f"{path}: sessions[{i}].day = {day:g}: before the previous session (day {last_day:g}); "
                             "expected sessions in time order")
        last_day = day
        pm = str(row.get("particle_map", "plan" if i == 0 else "previous"))
        if pm == "previous" and i == 0:
            raise InputError(f"{path}: sessions[0].particle_map = 'previous': the first session has no previous map")
        if pm not in ("plan", "previous"):
            pm = str(_path(path, text, "particle_map", pm))
        meas = row.get("measured_probes")
        meas_p = _path(path, text, "measured_probes", str(meas)) if meas is not None else None
        ov = {k: row[k] for k in ("field_kA_per_m", "frequency_kHz", "duration_min") if k in row}
        sessions.append(Session(day, ov, pm, meas_p))
    return head, sessions, plan


def _session_data(base: dict, current: dict, head: dict, s: Session, k: int, prev_day: float, out: Path) -> dict:
    """Plan data of session k (TOML dict): settings, particle map, degradation since the previous session
    (the previous session's slp_scale already holds the decay, and any calibration, up to its day)."""
    data = copy.deepcopy(current)
    data.setdefault("applicator", {}).update({key: s.overrides[key] for key in ("field_kA_per_m", "frequency_kHz")
                                              if key in s.overrides})
    if "duration_min" in s.overrides:
        data.setdefault("thermal", {})["duration_min"] = s.overrides["duration_min"]
        data["thermal"].pop("schedule", None)
    data["plan"] = {**data["plan"], "name": f"{data['plan'].get('name', 'plan')} — session {k + 1} (day {s.day:g})",
                    "output_dir": str(out / f"session-{k + 1}")}
    nps = data.setdefault("nanoparticles", {})
    if s.particle_map == "plan":
        nps["distribution"] = copy.deepcopy(base["nanoparticles"]["distribution"])
    elif s.particle_map != "previous":
        nps["distribution"] = {**base["nanoparticles"]["distribution"], "file": s.particle_map}
    if s.particle_map == "previous":
        half = float(head.get("slp_half_life_days", math.inf))
        decay = 0.5 ** ((s.day - prev_day) / half) if math.isfinite(half) else 1.0
        nps["slp_scale"] = float(current.get("nanoparticles", {}).get("slp_scale", 1.0)) * decay
        if head.get("brownian_blocked_after_uptake", True) and nps.get("slp_model") == "linear-response":
            nps.setdefault("linear_response", {})["brownian"] = False
    return data


def run_course(path: str | Path) -> tuple[dict, Path]:
    """Run every session (meshed once: the sessions share their saved meshes); returns the course
    summary and its folder."""
    head, sessions, plan_path = load_course(path)
    out = (Path(path).resolve().parent / str(head.get("output_dir", "course"))).resolve()
    check_course_folder(out)
    base = tomllib.loads(plan_path.read_text(encoding="utf-8"))
    if "nanoparticles" not in base:
        raise InputError(f"{plan_path}: [nanoparticles] missing; a course carries particle maps between sessions")
    with saved_meshes_for_this_run():  # every session has the same geometry: meshed once
        rows, mesh, total = _run_sessions(base, head, sessions, plan_path, out)
    summary = {"course": head.get("name", ""), "sessions": rows, "cumulative": _structure_dose(mesh, total)}
    _write_course(out, mesh, total, summary)
    return summary, out


def _run_sessions(base: dict, head: dict, sessions: list[Session], plan_path: Path, out: Path):
    """(per-session rows, the mesh, the cumulative CEM43 per vertex)."""
    from planner.config.plan import parse_plan
    from planner.pipeline import run_plan

    current, rows, mesh = copy.deepcopy(base), [], None
    total: np.ndarray | None = None
    for k, s in enumerate(sessions):
        if s.particle_map != "previous":  # a new injection: fresh particles, the base plan's SLP
            nps = current.setdefault("nanoparticles", {})
            nps.pop("slp_scale", None)
            if "slp_scale" in base["nanoparticles"]:
                nps["slp_scale"] = base["nanoparticles"]["slp_scale"]
        data = _session_data(base, current, head, s, k, sessions[k - 1].day if k else s.day, out)
        cfg = parse_plan(data, plan_file=plan_path)
        res = run_plan(cfg)
        temps, mesh = res.artefacts["temperatures"], res.artefacts["mesh"]
        if temps is None:
            raise InputError(f"{plan_path}: [thermal] missing; a course adds up thermal dose")
        total = np.array(temps.CEM43_min, dtype=float) if total is None else _add_dose(total, temps.CEM43_min, k)
        rows.append({"session": k + 1, "day": s.day, "results": str(res.output_dir),
                     "particle_power_W": res.summary["nanoparticles"].get("total_power_W"),
                     "slp_scale": data["nanoparticles"].get("slp_scale", 1.0),
                     "T90_C": res.summary["thermal"]["target"].get("T90_C"),
                     "CEM43T90_min": res.summary["thermal"]["target"].get("CEM43T90_min")})
        current = data
        if s.measured_probes is not None:
            current = _calibrated(cfg, data, s, head, rows[-1])
    assert total is not None and mesh is not None  # at least one session (load_course)
    return rows, mesh, total


def _add_dose(total: np.ndarray, dose: np.ndarray, k: int) -> np.ndarray:
    if dose.shape != total.shape:
        raise InputError(f"session {k + 1}: mesh has {dose.shape[0]} vertices, the course so far {total.shape[0]}; "
                         "expected the same mesh every session (same geometry and [mesh])")
    return total + dose


def _calibrated(cfg, data: dict, s: Session, head: dict, row: dict) -> dict:
    """The next session's plan data from this session's measured probes."""
    from planner.uncertainty.calibration import ProbeModel, calibrate
    from planner.uncertainty.calibration_run import apply_calibration, plan_artefacts
    from planner.uncertainty.probes_csv import read_measured_probes

    assert s.measured_probes is not None
    meas = read_measured_probes(s.measured_probes, [p.name for p in cfg.thermal.probes])
    mesh, heat, lib = plan_artefacts(cfg)
    tissues = tuple(lib[t].name for t in head.get("calibrate_perfusion", ()))
    res = calibrate(ProbeModel(mesh, heat, lib, cfg.thermal, tissues, False), meas)
    row["calibration"] = res.to_json()
    return apply_calibration(data, lib, res, cfg.thermal.arterial_T_C)


def _structure_dose(mesh, cem: np.ndarray) -> dict:
    from planner.thermal import metrics

    out = {}
    for r in mesh.regions:
        w = metrics.vertex_volumes_m3(mesh, mesh.cell_region == r.tag)
        sel = w > 0
        out[r.name] = {"CEM43_max_min": float(cem[sel].max()) if sel.any() else None,
                       "CEM43T90_min": metrics.exceeded_by_fraction(cem, w, 0.9)}
    return out


#: what the course writes into its folder besides the session folders; listed in :data:`COURSE_MARKER`
COURSE_FILES = ("cumulative_CEM43.vtu", "course_summary.json", "course_report.html")
COURSE_MARKER = ".planner-course"
_SESSION_ENTRY = re.compile(r"\.?session-\d+(\.previous|\.partial-.*)?")


def check_course_folder(out: Path) -> None:
    """Refuse a course folder holding anything the planner did not write (before any session runs):
    allowed are session folders (each checked again by its own run) and the course files its marker
    lists. One-line :class:`InputError` naming the first foreign entry."""
    shown = f"course.output_dir = {str(out)!r}"
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise InputError(f"{shown}: exists and is not a folder; expected a course results folder path")
    if not out.is_dir():
        return
    try:
        mine = set(json.loads((out / COURSE_MARKER).read_text())["files"]) | {COURSE_MARKER}
    except (OSError, ValueError, KeyError, TypeError):
        mine = set()
    for p in sorted(out.iterdir()):
        if p.name in mine or (_SESSION_ENTRY.fullmatch(p.name) and p.is_dir() and not p.is_symlink()):
            continue
        raise InputError(f"{shown}: holds {p.name!r}, which the planner did not write; expected an empty folder "
                         "or a course folder — choose another output_dir")


def _write_course(out: Path, mesh, total: np.ndarray, summary: dict) -> None:
    import meshio

    check_course_folder(out)  # again: the folder may have changed during the sessions
    out.mkdir(parents=True, exist_ok=True)
    meshio.write(str(out / "cumulative_CEM43.vtu"), meshio.Mesh(mesh.points_m, [("tetra", mesh.cells)],
                                                                 point_data={"CEM43_min": total}))
    (out / "course_summary.json").write_text(json.dumps(summary, indent=2))
    rows = "".join(f"<tr><td>{r['session']}</td><td>{r['day']:g}</td><td>{r['slp_scale']:.3g}</td>"
                   f"<td>{(r['particle_power_W'] or 0):.3g}</td><td>{r['T90_C']:.2f}</td><td>{r['CEM43T90_min']:.3g}</td></tr>"
                   for r in summary["sessions"])
    cum = "".join(f"<tr><td>{n}</td><td>{v['CEM43_max_min']:.3g}</td><td>{v['CEM43T90_min']:.3g}</td></tr>"
                  for n, v in summary["cumulative"].items() if v["CEM43_max_min"] is not None)
    (out / "course_report.html").write_text(
        "<html><body><h1>Treatment course</h1><table border=1><tr><th>session</th><th>day</th><th>SLP scale</th>"
        f"<th>particle power (W)</th><th>T90 (°C)</th><th>CEM43T90 (min)</th></tr>{rows}</table>"
        "<h2>Cumulative CEM43 per structure</h2><table border=1><tr><th>structure</th><th>max (min)</th>"
        f"<th>T90 (min)</th></tr>{cum}</table></body></html>")
    (out / COURSE_MARKER).write_text(json.dumps({"files": list(COURSE_FILES)}) + "\n")
