"""scripts/compare_results.py: equal summaries pass, a 1e-8 change or a missing key fails, timings and
input paths are ignored."""
import json
import sys

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import compare_results  # noqa: E402

SUMMARY = {"provenance": {"planner": "0.1.0"},
           "em": {"loss_W": 43.2, "solver": {"assembly_s": 0.1, "iterations": 7}, "implants": [{"file": "/a/x.csv"}]},
           "thermal": {"T90_C": 39.8, "status": "done"}}


def _write(folder, data):
    folder.mkdir()
    (folder / "summary.json").write_text(json.dumps(data))
    return folder


def _copy():
    return json.loads(json.dumps(SUMMARY))


def test_same_numbers_other_timings_and_paths_agree(tmp_path, capsys):
    b = _copy()
    b["em"]["solver"]["assembly_s"] = 9.0
    b["provenance"]["planner"] = "0.2.0"
    b["em"]["implants"][0]["file"] = "/elsewhere/x.csv"
    b["em"]["loss_W"] *= 1 + 1e-12
    assert compare_results.main([str(_write(tmp_path / "a", SUMMARY)), str(_write(tmp_path / "b", b))]) == 0
    assert "same" in capsys.readouterr().out


def test_a_relative_change_of_1e_8_or_a_missing_key_is_reported(tmp_path, capsys):
    b = _copy()
    b["thermal"]["T90_C"] *= 1 + 1e-8
    del b["thermal"]["status"]
    b["em"]["solver"]["iterations"] = 8
    assert compare_results.main([str(_write(tmp_path / "a", SUMMARY)), str(_write(tmp_path / "b", b))]) == 1
    out = capsys.readouterr().out
    assert "summary.thermal.T90_C" in out and "summary.thermal.status: only in old" in out
    assert "summary.em.solver.iterations: 7 vs 8" in out and "3 difference(s)" in out
