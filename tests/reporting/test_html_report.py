"""report.html: self-contained (figures embedded, nothing to fetch), escaped, with a plain-language
verdict written from the summary's numbers, the safety box and the key numbers."""
import base64
import copy
import re
from html.parser import HTMLParser

import numpy as np
import pytest

from planner.reporting.html import fmt, render_html, verdict, write_html

SUMMARY = {
    "plan": {"name": "<script>alert('x')</script> & co", "description": "a <b>bold</b> plan"},
    "stages": {"mesh": "done", "em": "done", "thermal": "skipped: plan has no [thermal] section"},
    "mesh": {"cells": 1234, "vertices": 321, "source": "gmsh",
             "regions": [{"name": "tumour", "tissue": "tumour", "role": "target", "volume_m3": 1.4137e-5}]},
    "em": {"frequency_Hz": 100000.0, "H_peak_A_per_m_at_target": 4000.0, "amplitude_convention": "peak",
           "applicator": {"applicator": "solenoid"}, "coil_current_A": 240.2, "coil_current_convention": "peak",
           "tissue_loss_W": 43.42, "max_E_V_per_m": 252.7, "max_SAR_W_per_kg": 7.976,
           "max_E_V_per_m_by_tissue": {"fat": 252.7, "muscle<1>": 219.2},
           "max_SAR_W_per_kg_by_tissue": {"fat": 0.8556, "muscle<1>": 7.976}},
    "nanoparticles": {"slp_model": "linear-response", "mass_basis": "per_g_Fe", "slp_W_per_g": 5.598,
                      "slp_reference_field": "nominal peak field at the target", "ilp_nH_m2_per_kg": 3.499,
                      "total_mass_mg": 300.0, "mapped_mass_mg": 300.0, "total_power_W": 1.679, "mass_of": "Fe"},
    "thermal": {"mode": "transient", "scheme": "bdf2", "duration_s": 1800.0,
                "target": {"T90_C": 39.83, "T50_C": 43.24, "T10_C": 47.72, "CEM43T90_min": 0.2202},
                "tissues": {"muscle": {"max_C": 40.64, "CEM43_max_min": 0.6454}}},
    "safety": {"ok": False, "violations": ["healthy tissue reaches 43.08 °C (muscle), above the limit 43.0 °C <&>"],
               "Hf_A_per_m_s": 4.22e8, "Hf_limit_A_per_m_s": 5e9, "Hf_amplitude": "peak",
               "max_healthy_T_C": 43.08, "max_healthy_T_limit_C": 43.0},
    "search": {"amplitude": "peak", "mode": "steady", "nominal_field_kA_per_m": 4.0, "goal_T90_C": 42.0,
               "max_safe_field_kA_per_m": 6.328, "limited_by": "healthy tissue reaches 43.04 °C (muscle)",
               "field_for_goal_kA_per_m": None, "goal_reachable_safely": False, "evaluations": []},
    "provenance": {"planner_version": "0.1.0", "input_files": {"plan": {"path": "/x/plan.toml", "sha256": "ab12"}}},
}


def text_of(page: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def test_report_escapes_every_text_from_the_summary(tmp_path):
    page = write_html(tmp_path, SUMMARY, []).read_text()
    assert "<script>" not in page and "<b>bold" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; co" in page
    assert "muscle&lt;1&gt;" in page and "43.0 °C &lt;&amp;&gt;" in page


class _Refs(HTMLParser):
    """Every URL-bearing attribute of the page and the ids of its figures."""

    def __init__(self):
        super().__init__()
        self.urls, self.figure_ids, self.tags = [], [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        for k in ("src", "href", "data", "poster", "srcset"):
            if a.get(k) is not None:
                self.urls.append((tag, k, a[k]))
        if tag == "figure":
            self.figure_ids.append(a.get("id"))


def _png(path, seed):
    """A small real PNG (distinct per seed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1, 1), dpi=20)
    ax.imshow(np.random.default_rng(seed).random((4, 4)))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def test_report_is_self_contained_every_figure_embedded(tmp_path):
    names = ["overlay_T_max", "overlay_CEM43", "probes", "dvh"]
    figs = [_png(tmp_path / "figures" / f"{n}.png", i) for i, n in enumerate(names)]
    page = write_html(tmp_path, SUMMARY, figs).read_text()
    p = _Refs()
    p.feed(page)
    assert "script" not in p.tags and "link" not in p.tags and "iframe" not in p.tags
    imgs = [u for t, k, u in p.urls if t == "img"]
    assert len(imgs) == len(figs) and p.figure_ids == names
    assert all(u.startswith("data:image/png;base64,") for _, _, u in p.urls), p.urls  # nothing points to a file
    for f, u in zip(figs, imgs):  # each image is the figure's own bytes
        assert base64.b64decode(u.split(",", 1)[1]) == f.read_bytes()
    # the page still reads after the folder is gone (archived alone)
    (tmp_path / "report.html").rename(tmp_path.parent / "alone.html")
    for f in figs:
        f.unlink()
    assert (tmp_path.parent / "alone.html").read_text() == page


def test_report_shows_verdict_and_key_numbers_with_units():
    t = text_of(render_html(SUMMARY))
    assert "Safety: 1 VIOLATION(S)" in t and "healthy tissue reaches 43.08 °C" in t
    for s in ("100 kHz", "4000 A/m", "240.2 A", "43.42 W", "252.7 V/m", "7.976 W/kg",  # em
              "5.598 W/g Fe", "3.499 nH·m²/kg", "300 mg", "1.679 W",  # nanoparticles
              "T90 (target) 39.83 °C", "T50 (target) 43.24 °C", "T10 (target) 47.72 °C", "0.2202 min",  # thermal
              "max safe field (peak) 6.328 kA/m", "not reached within the searched range",  # search
              "skipped: plan has no [thermal] section", "ab12", "1234", "14.14"):
        assert s in t, s


def test_ok_verdict_and_missing_sections():
    s = dict(SUMMARY, safety={"ok": True, "violations": []})
    del s["search"], s["thermal"]
    t = text_of(render_html(s))
    assert "Safety: OK" in t and "VIOLATION" not in t
    assert "Settings search" not in t and "thermal dose" not in t
    assert "not evaluated" in text_of(render_html({"plan": {"name": "x"}}))


def test_fmt_units_and_missing_values():
    assert fmt(None, "W") == "—"
    assert fmt(5e9, "A/(m·s)") == "5.000e+09 A/(m·s)"
    assert fmt(0.5, "W") == "0.5 W"
    assert fmt(7, "") == "7"
    assert fmt(True) == "yes"


# --- the verdict: written from the numbers, never a fixed text --------------------------------------------
SAFE = {
    "plan": {"name": "safe"},
    "thermal": {"mode": "transient", "target": {"T90_C": 42.37, "CEM43T90_min": 12.5}},
    "safety": {"ok": True, "violations": [], "max_healthy_T_C": 40.21, "max_healthy_T_tissue": "muscle",
               "max_healthy_T_limit_C": 43.0, "Hf_amplitude": "peak", "implants": []},
    "search": {"amplitude": "peak", "nominal_field_kA_per_m": 4.0, "goal_T90_C": 42.0,
               "max_safe_field_kA_per_m": 5.61, "limited_by": "healthy tissue reaches 43.00 °C (muscle)",
               "field_for_goal_kA_per_m": 3.87, "goal_reachable_safely": True, "T90_at_max_safe_C": 44.1},
}


def violating():
    s = copy.deepcopy(SAFE)
    s["plan"]["name"] = "violating"
    s["thermal"]["target"]["T90_C"] = 41.2
    s["safety"].update(ok=False, violations=["healthy tissue reaches 44.12 °C (Rectum), above the limit 42.0 °C",
                                             "implant 'stem' self-heating 6.59 K (total 6.60 K), above the limit 2.0 K"],
                       implants=[{"name": "stem", "self_heating_dT_K": 6.59, "total_dT_K": 6.6, "limit_K": 2.0,
                                  "adjacent_tissue_max_T_C": 43.7}])
    s["search"].update(nominal_field_kA_per_m=6.0, max_safe_field_kA_per_m=2.47, field_for_goal_kA_per_m=None,
                       goal_reachable_safely=False, T90_at_max_safe_C=39.8,
                       limited_by="implant 'stem' self-heating 2.00 K")
    return s


def test_verdict_of_a_safe_plan_states_the_goal_and_the_headroom():
    cls, text = verdict(SAFE)
    assert cls == "ok"
    assert "reached the goal: T90 is 42.4 °C against 42 °C" in text and "12.5 min" in text
    assert "No safety limit is exceeded" in text and "40.2 °C in muscle" in text
    assert "may rise to 5.61 kA/m" in text and "VIOLATION" not in text.upper()


def test_verdict_of_a_violating_plan_names_each_limit_the_implant_and_the_field_to_use():
    cls, text = verdict(violating())
    assert cls == "bad"
    assert "did not reach the goal: T90 is 41.2 °C against 42 °C (0.8 K short)" in text
    assert "2 safety limits are exceeded" in text and "44.12 °C (Rectum), above the limit 42.0 °C" in text
    assert "Implant stem heats itself by 6.59 K (limit 2 K)" in text and "43.7 °C" in text
    assert "lower H to at most 2.47 kA/m (peak)" in text and "implant 'stem' self-heating" in text
    assert "not reachable safely" in text and "39.8 °C" in text


def test_verdict_follows_the_numbers_lower_or_raise_h():
    s = violating()
    s["search"].update(field_for_goal_kA_per_m=4.4, goal_reachable_safely=True, max_safe_field_kA_per_m=5.0)
    assert "lower H to 4.4 kA/m (peak)" in verdict(s)[1]
    s = copy.deepcopy(SAFE)
    s["thermal"]["target"]["T90_C"] = 40.0
    s["search"]["nominal_field_kA_per_m"] = 3.0
    cls, text = verdict(s)
    assert cls == "bad" and "raise H to 3.87 kA/m (peak)" in text and "2.0 K short" in text


@pytest.mark.parametrize("summary", [SAFE, violating()])
def test_verdict_is_the_first_paragraph_of_the_report(summary):
    page = render_html(summary)
    body = page.split("<body>", 1)[1]
    first = re.search(r"<p class=\"verdict (\w+)\" id=\"verdict\">(.*?)</p>", body, re.S)
    assert first and body.index(first.group(0)) < body.index("Safety")
    assert first.group(1) == verdict(summary)[0]


def test_verdict_without_goal_or_thermal_says_so():
    s = copy.deepcopy(SAFE)
    del s["search"]
    cls, text = verdict(s)
    assert cls == "ok" and "sets no goal" in text and "42.4 °C" in text
    cls, text = verdict({"plan": {"name": "x"}})
    assert cls == "unknown" and "No temperatures were computed" in text and "not evaluated" in text
