"""A self-contained HTML report of a results folder (``report.html``).

One file that still reads when archived or mailed alone: inline styles, no JavaScript, no external
links; every figure is embedded as a base64 PNG data URI (the PNGs in ``figures/`` stay for reuse).
At the top, a plain-language verdict (:func:`verdict`) written from the summary's numbers: goal reached
or not (target T90 vs goal), each violated limit, implant heating and what to do next.
Every text taken from the summary (plan name, tissue names, violation messages, …) is escaped with
:func:`html.escape`. Numbers carry their units; peak/rms conventions are stated as the summary
states them.
"""
from __future__ import annotations

import base64
import html
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.6em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.verdict { padding: 0.8em 1.2em; border-radius: 6px; margin: 1em 0; font-size: 1.1em; }
.ok { background: #e6f4e6; border: 2px solid #2e7d32; } .bad { background: #fdecea; border: 2px solid #c62828; }
.unknown { background: #f3f3f3; border: 2px solid #888; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.9em; color: #555; } .muted { color: #666; font-size: 0.9em; }
"""

FIGURE_CAPTIONS = {
    "overlay_T_max": "Maximum temperature over the session on the planning image (or tissue map), slices through the "
                     "target; isotherm contours and structure outlines.",
    "overlay_CEM43": "Thermal dose CEM43 (minutes, log scale) on the planning image, slices through the target.",
    "overlay_SAR": "Local SAR (W/kg) from tissue eddy currents on the planning image, slices through the target.",
    "segmentation_axial": "Segmentation labels over the planning image, axial slice through the target.",
    "segmentation_coronal": "Segmentation labels over the planning image, coronal slice through the target.",
    "segmentation_sagittal": "Segmentation labels over the planning image, sagittal slice through the target.",
    "overlay_hotspot": "Maximum temperature, slices through the hottest healthy-tissue point (away from the target).",
    "slices_regions": "Region labels on orthogonal slices through the target centroid (black dot).",
    "slices_E_peak": "Peak induced electric field |E| (V/m) per cell.",
    "probes": "Probe temperatures; shaded: applicator field on.",
    "dvh": "Cumulative temperature-volume histogram of T max per tissue (all target regions: black dashed).",
    "search": "Settings search: target T90 and healthy-tissue maximum vs field amplitude.",
}


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def fmt(value: Any, unit: str = "", digits: int = 4) -> str:
    """A number with ``digits`` significant digits and its unit (escaped); '—' for missing values."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return _e(f"{value} {unit}".strip())
    if isinstance(value, float):
        v = value
        if not math.isfinite(v):
            s = str(v)
        elif v != 0 and (abs(v) >= 1e6 or abs(v) < 1e-3):
            s = f"{v:.{digits - 1}e}"
        else:
            s = f"{v:.{digits}g}"
        return _e(f"{s} {unit}".strip())
    return _e(value)


def _rows(rows: Iterable[tuple[str, Any, str]]) -> str:
    out = []
    for label, value, unit in rows:
        if value is None:
            continue
        cls = ' class="num"' if isinstance(value, (int, float)) and not isinstance(value, bool) else ""
        out.append(f"<tr><th>{_e(label)}</th><td{cls}>{fmt(value, unit)}</td></tr>")
    return "<table>\n" + "\n".join(out) + "\n</table>" if out else ""


def _per_tissue(title: str, columns: list[tuple[str, dict | None, str]]) -> str:
    """Table: one row per tissue, one column per (header, {tissue: value}, unit)."""
    tissues = sorted({t for _, d, _ in columns for t in (d or {})})
    if not tissues:
        return ""
    head = "".join(f"<th>{_e(h)} ({_e(u)})</th>" for h, _, u in columns)
    body = []
    for t in tissues:
        cells = "".join(f'<td class="num">{fmt((d or {}).get(t))}</td>' for _, d, _ in columns)
        body.append(f"<tr><th>{_e(t)}</th>{cells}</tr>")
    return f"<h3>{_e(title)}</h3>\n<table>\n<tr><th>tissue</th>{head}</tr>\n" + "\n".join(body) + "\n</table>"


def _safety(s: dict | None) -> str:
    if not s:
        return '<div class="verdict unknown"><b>Safety:</b> not evaluated (no [applicator] section).</div>'
    if s.get("ok"):
        box = '<div class="verdict ok"><b>Safety: OK</b> — no limit exceeded.</div>'
    else:
        items = "".join(f"<li>{_e(v)}</li>" for v in s.get("violations", []))
        box = (f'<div class="verdict bad"><b>Safety: {len(s.get("violations", []))} VIOLATION(S)</b>'
               f"<ul>{items}</ul></div>")
    amp = s.get("Hf_amplitude", "")
    implants = s.get("implant_dT_K") or {}
    rows = [
        (f"H·f, largest |H| in body ({amp})", s.get("Hf_A_per_m_s"), "A/(m·s)"),
        (f"H·f at target ({amp})", s.get("Hf_at_target_A_per_m_s"), "A/(m·s)"),
        ("H·f limit", s.get("Hf_limit_A_per_m_s"), "A/(m·s)"),
        (f"largest |H| in body ({amp})", s.get("max_H_in_body_A_per_m"), "A/m"),
        ("max healthy-tissue temperature", s.get("max_healthy_T_C"), "°C"),
        ("  … in tissue", s.get("max_healthy_T_tissue"), ""),
        ("healthy-tissue limit", s.get("max_healthy_T_limit_C"), "°C"),
        ("max |E| in healthy tissue (peak)", s.get("max_E_healthy_V_per_m"), "V/m"),
    ]
    rows += [(f"implant {name} ΔT", dT, "K") for name, dT in implants.items()]
    rows += [(f"implant {i.get('name')} self-heating ΔT", i.get("self_heating_dT_K"), "K") for i in s.get("implants") or []]
    if implants:
        rows.append(("implant ΔT limit", s.get("max_implant_dT_limit_K"), "K"))
    rows += [(label, s.get(key), unit) for label, key, unit in (
        ("whole-body SAR", "whole_body_SAR_W_per_kg", "W/kg"), ("whole-body SAR limit", "whole_body_SAR_limit_W_per_kg", "W/kg"),
        ("partial-body SAR", "partial_body_SAR_W_per_kg", "W/kg"), ("partial-body SAR limit", "partial_body_SAR_limit_W_per_kg", "W/kg"),
        ("arterial (core) temperature rise", "arterial_rise_K", "K"), ("arterial rise limit", "arterial_rise_limit_K", "K"),
    )]
    return box + _rows(rows)


def _em(em: dict) -> str:
    conv = em.get("amplitude_convention", "")
    app = em.get("applicator") or {}
    rows = [
        ("applicator", app.get("applicator"), ""),
        ("frequency", em.get("frequency_Hz", 0) / 1e3 if em.get("frequency_Hz") is not None else None, "kHz"),
        ("H at target (peak)", em.get("H_peak_A_per_m_at_target"), "A/m"),
        ("plan amplitude convention", conv, ""),
        (f"coil current ({em.get('coil_current_convention', 'peak')})", em.get("coil_current_A"), "A"),
        ("tissue eddy-current loss", em.get("tissue_loss_W"), "W"),
        ("implant loss", em.get("implant_loss_W"), "W"),
        ("max |E| (peak)", em.get("max_E_V_per_m"), "V/m"),
        ("max local SAR", em.get("max_SAR_W_per_kg"), "W/kg"),
        ("max 10 g SAR", em.get("max_SAR10g_W_per_kg"), "W/kg"),
    ]
    return _rows(rows) + _per_tissue("Per tissue", [
        ("max |E| peak", em.get("max_E_V_per_m_by_tissue"), "V/m"),
        ("max SAR", em.get("max_SAR_W_per_kg_by_tissue"), "W/kg"),
        ("max SAR10g", em.get("max_SAR10g_W_per_kg_by_tissue"), "W/kg"),
        ("loss", em.get("tissue_loss_W_by_tissue"), "W"),
    ]) + _implants_near(em.get("implants") or []) + _field_probes(em.get("field_probes") or [])


def _table(title: str, head: list[str], rows: list[list[Any]], note: str = "") -> str:
    """A titled table; numbers right-aligned, '—' for missing values."""
    if not rows:
        return ""
    th = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = ["<tr>" + "".join(f'<td class="num">{fmt(v)}</td>' if isinstance(v, (int, float)) and not isinstance(v, bool)
                             else f"<td>{fmt(v)}</td>" for v in r) + "</tr>" for r in rows]
    p = f"<p>{_e(note)}</p>\n" if note else ""
    return f"<h3>{_e(title)}</h3>\n{p}<table>\n<tr>{th}</tr>\n" + "\n".join(body) + "\n</table>"


def _implants_near(implants: list[dict]) -> str:
    """Per implant: its model in the tissue solve and the tissue E/SAR within tissue_near.distance_mm."""
    rows, dist = [], None
    for i in implants:
        near = i.get("tissue_near") or {}
        dist = near.get("distance_mm", dist)
        rows.append([i.get("name"), i.get("model_in_tissue_solve"), near.get("E_peak_V_per_m"),
                     near.get("E_p99_V_per_m"), near.get("SAR_peak_W_per_kg"), near.get("SAR10g_W_per_kg"),
                     i.get("loss_W")])
    head = ["implant", "in tissue solve", "E peak (V/m)", "E p99 (V/m)", "SAR peak (W/kg)", "SAR10g (W/kg)",
            "implant loss (W)"]
    return _table("Tissue next to implants", head, rows,
                  f"Tissue within {fmt(dist, 'mm')} of each implant surface; peak amplitudes." if rows else "")


def _field_probes(probes: list[dict]) -> str:
    """Field probes: one row per probe (lines: the range along the line)."""
    rows = []
    for p in probes:
        H = [v for v in p.get("H_peak_A_per_m") or [] if v is not None]
        E = [v for v in p.get("E_peak_V_per_m") or [] if v is not None]
        n = len(p.get("position_mm") or [])
        rows.append([p.get("name"), f"{p.get('kind')} ({n} point{'s' if n != 1 else ''})",
                     min(H) if H else None, max(H) if H else None, min(E) if E else None, max(E) if E else None])
    head = ["probe", "kind", "|H| min (A/m)", "|H| max (A/m)", "|E| min (V/m)", "|E| max (V/m)"]
    return _table("Field probes (field_probes.csv)", head, rows,
                  "Peak amplitudes; H is the applied field plus, inside an implant sub-model, the implant's "
                  "reaction field (H_model in field_probes.csv); E the tissue field (in implant metal: the "
                  "sub-model's)." if rows else "")


def _nanoparticles(n: dict) -> str:
    basis = n.get("mass_basis") or ""
    unit = "W/g Fe" if basis == "per_g_Fe" else "W/g particle" if basis == "per_g_particle" else "W/g"
    rows = [
        ("SLP model", n.get("slp_model"), ""),
        ("mass basis", basis or None, ""),
        (f"SLP at {n.get('slp_reference_field') or 'reference field'}", n.get("slp_W_per_g"), unit),
        ("reference field (peak)", n.get("slp_reference_H_peak_A_per_m"), "A/m"),
        ("ILP", n.get("ilp_nH_m2_per_kg"), "nH·m²/kg"),
        ("effective SLP (power / mass)", n.get("effective_slp_W_per_g"), unit),
        (f"particle mass injected (as {n.get('mass_of') or '?'})", n.get("total_mass_mg"), "mg"),
        ("particle mass on mesh", n.get("mapped_mass_mg"), "mg"),
        ("particle heating power", n.get("total_power_W"), "W"),
        ("eddy-current power", n.get("eddy_power_W"), "W"),
        ("implant power", n.get("implant_power_W"), "W"),
        ("max concentration", n.get("max_concentration_mg_per_mL"), "mg/mL"),
    ]
    warn = ('<p class="muted">Warning: part of the particle mass is outside the linear-response regime; '
            "SLP is approximate.</p>") if n.get("linear_response_warning") else ""
    return _rows(rows) + warn


def _thermal(t: dict) -> str:
    tg = t.get("target") or {}
    rows = [
        ("mode / scheme", f"{t.get('mode', '')} / {t.get('scheme', '')}", ""),
        ("duration", (t.get("duration_s") or 0) / 60.0 if t.get("duration_s") is not None else None, "min"),
        ("T90 (target)", tg.get("T90_C"), "°C"),
        ("T50 (target)", tg.get("T50_C"), "°C"),
        ("T10 (target)", tg.get("T10_C"), "°C"),
        ("T max (target)", tg.get("max_C"), "°C"),
        ("CEM43T90 (target)", tg.get("CEM43T90_min"), "min"),
        ("CEM43T50 (target)", tg.get("CEM43T50_min"), "min"),
        ("time ≥ 42 °C by 90 % of target", tg.get("time_above_42C_min"), "min"),
        ("body maximum", t.get("body_max_C"), "°C"),
    ]
    art = t.get("arterial_T_C") or {}
    if art.get("max") is not None:
        rows.append(("arterial (blood-pool) temperature start / max / end",
                     f"{art['start']:.2f} / {art['max']:.2f} / {art['end']:.2f}", "°C"))
    tissues = t.get("tissues") or {}
    return _rows(rows) + _per_tissue("Per tissue", [
        ("T max", {k: v.get("max_C") for k, v in tissues.items()}, "°C"),
        ("CEM43 max", {k: v.get("CEM43_max_min") for k, v in tissues.items()}, "min"),
    ])


def _search(s: dict) -> str:
    amp = s.get("amplitude", "")
    rows = [
        ("mode", s.get("mode"), ""),
        (f"nominal field ({amp})", s.get("nominal_field_kA_per_m"), "kA/m"),
        (f"max safe field ({amp})", s.get("max_safe_field_kA_per_m"), "kA/m"),
        ("limited by", s.get("limited_by"), ""),
        ("target T90 at max safe field", s.get("T90_at_max_safe_C"), "°C"),
        ("goal T90", s.get("goal_T90_C"), "°C"),
        (f"field for goal ({amp})", s.get("field_for_goal_kA_per_m"), "kA/m")
        if s.get("field_for_goal_kA_per_m") is not None
        else (f"field for goal ({amp})", "not reached within the searched range", ""),
        ("goal reachable safely", bool(s.get("goal_reachable_safely")), ""),
        ("time to goal T90 at that field", s.get("time_to_goal_T90_min"), "min"),
        ("monotonic response", s.get("monotonic"), ""),
        ("best frequency", s.get("best_frequency_kHz"), "kHz"),
        ("evaluations", len(s.get("evaluations") or []), ""),
    ]
    return _rows(rows)


def _provenance(p: dict) -> str:
    rows = []
    for k, v in p.items():
        if k == "input_files":
            continue
        rows.append(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>")
    files = "".join(
        f"<tr><td>{_e(k)}</td><td>{_e((v or {}).get('path', ''))}</td><td><code>{_e((v or {}).get('sha256', ''))}"
        "</code></td></tr>" for k, v in (p.get("input_files") or {}).items())
    out = "<table>\n" + "\n".join(rows) + "\n</table>"
    if files:
        out += "<h3>Input files</h3>\n<table><tr><th>role</th><th>path</th><th>SHA-256</th></tr>" + files + "</table>"
    return out


def _figures(folder: Path, figures: list[Path]) -> str:
    """Each PNG embedded as a data URI (the report is one self-contained file); ``id`` = the file stem."""
    out = []
    for f in figures:
        p = Path(f)
        p = p if p.is_absolute() else Path(folder) / p
        cap = FIGURE_CAPTIONS.get(p.stem, p.stem)
        data = base64.b64encode(p.read_bytes()).decode("ascii")
        out.append(f'<figure id="{_e(p.stem)}"><img src="data:image/png;base64,{data}" alt="{_e(cap)}">'
                   f"<figcaption>{_e(cap)} <span class=\"muted\">({_e(p.name)})</span></figcaption></figure>")
    return "\n".join(out)


# --- the plain-language verdict ----------------------------------------------------------------------
def _g(v: float | None, unit: str, digits: int = 3) -> str:
    return "?" if v is None else f"{v:.{digits}g} {unit}"


def _goal_sentence(summary: dict) -> tuple[str, bool | None]:
    """'The target reached / did not reach …' and whether the goal was reached (None: no goal or no T90)."""
    tgt = ((summary.get("thermal") or {}).get("target")) or {}
    T90 = tgt.get("T90_C")
    goal = (summary.get("search") or {}).get("goal_T90_C")
    if not summary.get("thermal"):
        return "No temperatures were computed (the plan has no [thermal] section).", None
    if T90 is None:
        return "The plan has no target region, so no target temperature is reported.", None
    cem = tgt.get("CEM43T90_min")
    dose = f" (thermal dose CEM43T90 {_g(cem, 'min')})" if cem is not None else ""
    if goal is None:
        return (f"The target's T90 (90 % of the target at or above) is {T90:.1f} °C{dose}; the plan sets no goal "
                "([search] goal_T90_C), so it is not judged against one.", None)
    reached = T90 >= goal
    word = "reached" if reached else "did not reach"
    return (f"The target {word} the goal: T90 is {T90:.1f} °C against {goal:g} °C"
            f"{'' if reached else f' ({goal - T90:.1f} K short)'}{dose}.", reached)


def _safety_sentences(safety: dict | None) -> list[str]:
    if not safety:
        return ["Safety was not evaluated (no [applicator] section)."]
    out = []
    v = list(safety.get("violations") or [])
    if v:
        out.append(f"{len(v)} safety limit{'s are' if len(v) > 1 else ' is'} exceeded: " + "; ".join(v) + ".")
    else:
        Th, lim = safety.get("max_healthy_T_C"), safety.get("max_healthy_T_limit_C")
        out.append("No safety limit is exceeded"
                   + (f" (healthy tissue peaks at {Th:.1f} °C in {safety.get('max_healthy_T_tissue') or '?'}, "
                      f"limit {lim:g} °C)" if Th is not None and lim is not None else "") + ".")
    for imp in safety.get("implants") or []:
        dT = imp.get("self_heating_dT_K")
        dT = imp.get("total_dT_K") if dT is None else dT
        adj = imp.get("adjacent_tissue_max_T_C")
        out.append(f"Implant {imp.get('name')} heats itself by {_g(dT, 'K')} (limit {_g(imp.get('limit_K'), 'K')})"
                   + (f"; the tissue touching it reaches {adj:.1f} °C" if adj is not None else "") + ".")
    return out


def _next_step(summary: dict, reached: bool | None) -> str:
    """What the physicist should do next, from the settings search when there is one."""
    safety, search = summary.get("safety") or {}, summary.get("search") or {}
    unsafe = bool(safety.get("violations"))
    amp = search.get("amplitude") or safety.get("Hf_amplitude") or ""
    amp = f" ({amp})" if amp else ""
    if search:
        H0, Hs, Hg = (search.get(k) for k in ("nominal_field_kA_per_m", "max_safe_field_kA_per_m",
                                               "field_for_goal_kA_per_m"))
        ok_goal = bool(search.get("goal_reachable_safely")) and Hg is not None
        best = search.get("best_frequency_kHz")
        at_f = f" at {best:g} kHz" if best is not None and search.get("frequency_sweep") else ""
        if ok_goal and Hg is not None and (unsafe or not reached):
            verb = "lower" if Hg < (H0 or 0) else "raise"
            return (f"Next: {verb} H to {Hg:.3g} kA/m{amp}{at_f} (the smallest field that reaches the goal; the largest "
                    f"safe field is {_g(Hs, 'kA/m')}, limited by {search.get('limited_by') or '?'}) and re-run the plan.")
        if unsafe and not Hs:
            return (f"Next: no field amplitude searched is safe ({search.get('limited_by') or '?'}): change what "
                    "heats the healthy tissue or the implant (frequency, applicator, implant) before treatment.")
        if unsafe:
            return (f"Next: lower H to at most {Hs:.3g} kA/m{amp} (limited by {search.get('limited_by') or '?'}); "
                    f"the goal is not reachable safely — T90 there is {_g(search.get('T90_at_max_safe_C'), '°C')}: "
                    "more particle mass, a better-placed deposit or another frequency is needed.")
        if not reached and reached is not None:
            return (f"Next: the goal cannot be reached safely by the field alone (largest safe field "
                    f"{_g(Hs, 'kA/m')}{amp}, limited by {search.get('limited_by') or '?'}, gives T90 "
                    f"{_g(search.get('T90_at_max_safe_C'), '°C')}): increase the particle mass or change the frequency.")
        if reached:
            return (f"Next: the plan can be given as is; the field may rise to {_g(Hs, 'kA/m')}{amp} before a limit "
                    "is reached. Check the figures for hot spots before treatment.")
        return "Next: review the figures and the tables below."
    if unsafe:
        return ("Next: lower the field until no limit is exceeded (eddy-current and implant heating fall with H², "
                "particle heating roughly so); a [search] section has the planner find the largest safe field.")
    if reached is False:
        return "Next: raise the field or the particle mass; a [search] section finds the field for the goal."
    return "Next: review the figures and the tables below before treatment."


def verdict(summary: dict) -> tuple[str, str]:
    """(css class 'ok' | 'bad' | 'unknown', one plain-language paragraph) from the summary's numbers."""
    goal, reached = _goal_sentence(summary)
    safety = summary.get("safety")
    parts = [goal, *_safety_sentences(safety), _next_step(summary, reached)]
    if not safety:
        cls = "unknown"
    elif safety.get("violations") or reached is False:
        cls = "bad"
    else:
        cls = "ok"
    return cls, " ".join(parts)


def render_html(summary: dict, figures_html: str = "") -> str:
    """The report page as a string (see :func:`write_html`)."""
    plan = summary.get("plan") or {}
    name = plan.get("name") or "plan"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(name)} — planner report</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{_e(name)}</h1>",
    ]
    if plan.get("description"):
        parts.append(f'<p class="muted">{_e(plan["description"])}</p>')
    cls, text = verdict(summary)
    parts.append(f'<p class="verdict {cls}" id="verdict"><b>Verdict.</b> {_e(text)}</p>')
    parts.append(_safety(summary.get("safety")))
    if summary.get("warnings"):
        parts.append("<h2>Warnings</h2><ul>" + "".join(f"<li>{_e(w)}</li>" for w in summary["warnings"]) + "</ul>")
    stages = summary.get("stages") or {}
    if stages:
        parts.append("<h2>Stages</h2><table><tr><th>stage</th><th>status</th></tr>"
                     + "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in stages.items()) + "</table>")
    mesh = summary.get("mesh")
    if mesh:
        parts.append("<h2>Model</h2>" + _rows([("cells", mesh.get("cells"), ""), ("vertices", mesh.get("vertices"), ""),
                                                ("source", mesh.get("source") or None, "")]))
        regs = mesh.get("regions") or []
        if regs:
            parts.append("<table><tr><th>region</th><th>tissue</th><th>role</th><th>volume (mL)</th></tr>" + "".join(
                f"<tr><td>{_e(r.get('name'))}</td><td>{_e(r.get('tissue'))}</td><td>{_e(r.get('role'))}</td>"
                f'<td class="num">{fmt(None if r.get("volume_m3") is None else r["volume_m3"] * 1e6)}</td></tr>'
                for r in regs) + "</table>")
    for key, title, fn in (("em", "Electromagnetic fields", _em), ("nanoparticles", "Heat sources", _nanoparticles),
                           ("thermal", "Temperature and thermal dose", _thermal),
                           ("search", "Settings search", _search)):
        if summary.get(key):
            parts.append(f"<h2>{_e(title)}</h2>" + fn(summary[key]))
    if summary.get("selection_field"):  # [selection_field] (issue 14)
        from planner.reporting.ffr_figure import selection_html

        parts.append("<h2>Selection field and field-free region</h2>"
                     + selection_html(summary["selection_field"], (summary.get("nanoparticles") or {}).get("selectivity")))
    if figures_html:
        parts.append("<h2>Figures</h2>" + figures_html)
    if summary.get("provenance"):
        parts.append("<h2>Provenance</h2>" + _provenance(summary["provenance"]))
    parts.append('<p class="muted">Numbers as in summary.json of this folder; fields for ParaView in fields/.</p>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_html(folder: Path, summary: dict, figures: list[Path]) -> Path:
    """Write ``folder/"report.html"`` (figures embedded, paths relative to ``folder`` or absolute); return its path."""
    folder = Path(folder)
    path = folder / "report.html"
    path.write_text(render_html(summary, _figures(folder, figures)), encoding="utf-8")
    return path
