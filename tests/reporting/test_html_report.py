"""report.html: self-contained, escaped, with the safety verdict and the key numbers."""
import re

from planner.reporting.html import fmt, render_html, write_html

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


def test_report_is_self_contained(tmp_path):
    page = write_html(tmp_path, SUMMARY, [tmp_path / "figures" / "probes.png"]).read_text()
    assert not re.search(r"(src|href)=\"(https?:|//|/)", page)
    assert "<script" not in page and "<link" not in page
    assert 'src="figures/probes.png"' in page


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
