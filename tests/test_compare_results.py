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


def test_image_source_paths_compare_by_name_mesh_source_exactly():
    a = {"imaging": {"series": {"source": "/a/phantoms/head/dicom/ct"}}, "mesh": {"source": "gmsh 4.8.0 OCC"}}
    b = {"imaging": {"series": {"source": "/work/planner/phantoms/head/dicom/ct"}}, "mesh": {"source": "gmsh 4.8.0 OCC"}}
    out: list[str] = []
    compare_results.compare(a, b, "summary", 1e-9, 1e-12, out)
    assert out == []
    b["mesh"]["source"] = "gmsh 4.13.1 OCC"
    b["imaging"]["series"]["source"] = "/work/planner/phantoms/head/dicom/mr"
    compare_results.compare(a, b, "summary", 1e-9, 1e-12, out)
    assert [d.split(":")[0] for d in out] == ["summary.imaging.series.source", "summary.mesh.source"]


def test_numbers_lists_every_compared_number_and_the_largest_difference():
    b = _copy()
    b["em"]["loss_W"] *= 1 + 3e-7
    pairs = {p: (x, y) for p, x, y in compare_results.numbers(SUMMARY, b)}
    # timings (solver.assembly_s) and provenance are not compared; iterations (an int) are
    assert set(pairs) == {"summary.em.loss_W", "summary.em.solver.iterations", "summary.thermal.T90_C"}
    rel = max(compare_results.relative_difference(x, y) for x, y in pairs.values())
    assert abs(rel - 3e-7) < 1e-12
    assert compare_results.relative_difference(0.0, 0.0) == 0.0
    assert compare_results.relative_difference(float("nan"), float("nan")) == 0.0
