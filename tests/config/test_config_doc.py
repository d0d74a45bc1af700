from planner.config.doc import render
from tests.conftest import ROOT


def test_plan_file_reference_is_up_to_date():
    doc = (ROOT / "docs" / "plan-files.md").read_text()
    assert doc == render(), "docs/plan-files.md is stale: run `python -m planner.config.doc > docs/plan-files.md`"
    for key in ("frequency_kHz", "amplitude", "max_size_mm", "radius_mm", "Hf_limit_A_per_m_s"):
        assert f"`{key}`" in doc
