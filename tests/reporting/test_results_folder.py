"""A results folder never deletes or modifies anything the planner did not write (issue 16, item 1).

Every case hashes the user's files before and after and asserts they are byte-identical.
"""
import hashlib
import json
import os
from pathlib import Path

import pytest

from planner.config.plan import load_plan, parse_plan
from planner.errors import InputError
from planner.pipeline import check_output, plan_inputs
from planner.reporting.results import MARKER, check_output_dir, results_folder, written_files
from tests.conftest import run_cli
from tests.imaging._imaging_util import write_ct

SMALL = """
[plan]
name = "small"
output_dir = "{out}"

[[geometry.bodies]]
name = "body"
shape = "box"
size_mm = [80.0, 60.0, 60.0]
tissue = "muscle"

[mesh]
max_size_mm = 15.0
"""


def snapshot(root: Path) -> dict[str, str]:
    """Relative path → sha256 of every file under ``root``."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _user_files(d: Path) -> dict[str, str]:
    (d / "notes.txt").write_text("patient notes, not the planner's\n")
    (d / "consent.pdf").write_bytes(b"%PDF-1.4 consent form" + bytes(range(256)))
    return snapshot(d)


def _write_into(tmp: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp / rel).write_bytes(data)


def test_output_dir_dot_is_refused_and_nothing_changes(tmp_path):
    plan = tmp_path / "plan.toml"
    plan.write_text(SMALL.format(out="."))
    before = _user_files(tmp_path)
    for verb in ("check", "run"):
        res = run_cli(verb, str(plan))
        assert res.returncode == 2, res.stderr
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and "plan.output_dir" in lines[0] and "contains the input plan" in lines[0], res.stderr
        assert "Traceback" not in res.stderr
    assert snapshot(tmp_path) == before


def test_output_dir_with_a_consent_pdf_is_refused(tmp_path):
    plan = tmp_path / "plan.toml"
    plan.write_text(SMALL.format(out="patient"))
    (tmp_path / "patient").mkdir()
    (tmp_path / "patient" / "consent.pdf").write_bytes(b"%PDF-1.4 signed")
    before = snapshot(tmp_path)
    with pytest.raises(InputError, match=r"holds 1 file\(s\) the planner did not write \(e\.g\. 'consent\.pdf'\)"):
        check_output(load_plan(plan))
    with pytest.raises(InputError, match="consent.pdf"):
        with results_folder(tmp_path / "patient") as tmp:
            (tmp / "summary.json").write_text("{}")
    assert snapshot(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["patient", "plan.toml"]


def _dicom_plan(tmp_path: Path, out: str, ct: str = "dicom/ct", phantom: str | None = None):
    write_ct(tmp_path / "dicom" / "ct")
    imaging = {"ct": ct}
    if phantom:
        imaging["phantom"] = phantom
    return parse_plan({"plan": {"name": "p", "output_dir": out}, "imaging": imaging, "mesh": {"max_size_mm": 10.0}},
                      plan_file=tmp_path / "plan.toml")


@pytest.mark.parametrize("out, words", [
    ("dicom/ct", "is the input imaging.ct"),
    ("dicom/ct/results", "lies inside the input imaging.ct"),
    ("dicom", "contains the input imaging.ct"),
    ("..", "contains the input"),
])
def test_output_dir_is_contains_or_lies_inside_an_input(tmp_path, out, words):
    (tmp_path / "plan.toml").write_text("# plan\n")
    cfg = _dicom_plan(tmp_path, out)
    assert plan_inputs(cfg)["imaging.ct"] == tmp_path / "dicom" / "ct"
    before = snapshot(tmp_path)
    with pytest.raises(InputError, match=words) as err:
        check_output(cfg)
    assert "\n" not in str(err.value)
    with pytest.raises(InputError, match=words):
        with results_folder(cfg.output_path, inputs=plan_inputs(cfg)) as tmp:
            (tmp / "summary.json").write_text("{}")
    assert snapshot(tmp_path) == before
    assert not (tmp_path / "dicom" / "ct" / "results").exists()


def test_phantom_key_in_a_patient_plan_never_touches_the_patient_images(tmp_path):
    from planner.imaging import ImagingPlan
    from planner.imaging.phantoms import ensure_phantom_inputs

    cfg = _dicom_plan(tmp_path, "results", phantom="abdomen")
    before = snapshot(tmp_path)
    assert ensure_phantom_inputs(ImagingPlan.of(cfg)) == []  # the inputs exist: nothing generated
    assert snapshot(tmp_path) == before
    # the plan names a series that is missing, and dicom/ holds the patient's files: refused, not replaced
    cfg2 = parse_plan({"plan": {"name": "p"}, "imaging": {"ct": "dicom/ct2", "phantom": "abdomen"},
                       "mesh": {"max_size_mm": 10.0}}, plan_file=tmp_path / "plan.toml")
    with pytest.raises(InputError, match=r"imaging.phantom = 'abdomen': .*dicom holds 6 file\(s\) the phantom generator did not write"):
        ensure_phantom_inputs(ImagingPlan.of(cfg2))
    assert snapshot(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dicom"]


def test_phantom_command_refuses_a_folder_with_a_users_plan(tmp_path):
    from planner.imaging.phantoms import write_phantom

    (tmp_path / "plan.toml").write_text("# my edited plan\n")
    before = snapshot(tmp_path)
    with pytest.raises(InputError, match="plan.toml exists with other content"):
        write_phantom("abdomen", tmp_path)
    assert snapshot(tmp_path) == before and sorted(p.name for p in tmp_path.iterdir()) == ["plan.toml"]


def test_replacing_a_results_folder_removes_only_what_it_wrote(tmp_path):
    target = tmp_path / "results"
    with results_folder(target) as tmp:
        _write_into(tmp, {"summary.json": b"{}", "fields/a.vtu": b"a", "figures/x.png": b"x"})
    assert written_files(target) == {"summary.json", "fields/a.vtu", "figures/x.png", MARKER}
    manifest = json.loads((target / MARKER).read_text())
    assert manifest["files"] == ["fields/a.vtu", "figures/x.png", "summary.json"]
    with results_folder(target) as tmp:
        _write_into(tmp, {"summary.json": b"{2}", "fields/b.vtu": b"b"})
    assert snapshot(target).keys() == {"summary.json", "fields/b.vtu", MARKER}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"], "no .previous or partial folder left"
    # a file the user put into the results folder makes it foreign: the next run refuses, nothing lost
    (target / "fields" / "my_analysis.py").write_text("print(1)\n")
    before = snapshot(tmp_path)
    with pytest.raises(InputError, match="fields/my_analysis.py"):
        with results_folder(target) as tmp:
            (tmp / "summary.json").write_text("{}")
    assert snapshot(tmp_path) == before


def test_a_failed_run_keeps_the_previous_results_and_leaves_no_partial_folder(tmp_path):
    target = tmp_path / "results"
    with results_folder(target) as tmp:
        _write_into(tmp, {"summary.json": b"old"})
    before = snapshot(tmp_path)
    with pytest.raises(RuntimeError):
        with results_folder(target) as tmp:
            _write_into(tmp, {"summary.json": b"new"})
            raise RuntimeError("solver died")
    assert snapshot(tmp_path) == before and sorted(p.name for p in tmp_path.iterdir()) == ["results"]


def test_disk_errors_while_writing_are_one_line_and_leave_nothing(tmp_path):
    target = tmp_path / "results"
    with pytest.raises(InputError, match=r"plan.output_dir = .*: writing .*x.vtu failed "
                                         r"\(No such file or directory\); nothing was written"):
        with results_folder(target) as tmp:
            open(tmp / "missing" / "x.vtu", "wb")
    assert list(tmp_path.iterdir()) == []


def test_a_manifest_cannot_make_it_delete_outside_its_folder(tmp_path):
    target = tmp_path / "results"
    with results_folder(target) as tmp:
        _write_into(tmp, {"summary.json": b"{}"})
    (tmp_path / "keep.txt").write_text("keep")
    m = json.loads((target / MARKER).read_text())
    m["files"] += ["../keep.txt"]
    (target / MARKER).write_text(json.dumps(m))
    with results_folder(target) as tmp:
        _write_into(tmp, {"summary.json": b"{1}"})
    assert (tmp_path / "keep.txt").read_text() == "keep"


def test_legacy_results_folder_recognised_by_its_summary(tmp_path):
    target = tmp_path / "results"
    _write_into(target, {"fields/mesh.vtu": b"m", "summary.json": json.dumps(
        {"files": ["fields/mesh.vtu", "summary.json"], "provenance": {"planner_version": "0.1"}}).encode()})
    with results_folder(target) as tmp:
        _write_into(tmp, {"summary.json": b"{}"})
    assert set(snapshot(target)) == {"summary.json", MARKER}


def test_empty_existing_folder_and_overwrite_false(tmp_path):
    (tmp_path / "results").mkdir()
    check_output_dir(tmp_path / "results")
    with results_folder(tmp_path / "results", overwrite=False) as tmp:
        _write_into(tmp, {"summary.json": b"{}"})
    with pytest.raises(InputError, match="already exists and plan.overwrite = false"):
        check_output_dir(tmp_path / "results", overwrite=False)


def test_unwritable_output_folder_is_a_one_line_error(tmp_path):
    """As root, os.access says yes to everything: /proc refuses new folders whoever asks."""
    target = Path("/proc/planner-results") if os.geteuid() == 0 else tmp_path / "ro" / "results"
    if os.geteuid() != 0:
        (tmp_path / "ro").mkdir(mode=0o500)
    with pytest.raises(InputError, match="is not writable") as err:
        check_output_dir(target)
    assert "\n" not in str(err.value)
    plan = tmp_path / "plan.toml"
    plan.write_text(SMALL.format(out=str(target)))
    res = run_cli("run", str(plan))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.startswith("planner: error: plan.output_dir") and "not writable" in res.stderr


MAP_PLAN = """
[plan]
name = "map"
output_dir = "results"

[[geometry.bodies]]
name = "body"
shape = "box"
size_mm = [60.0, 60.0, 60.0]
tissue = "muscle"

[mesh]
max_size_mm = 20.0

[applicator]
type = "uniform"
frequency_kHz = 100.0
field_kA_per_m = 5.0
amplitude = "peak"

[nanoparticles]
slp_model = "constant"

[nanoparticles.constant]
slp_W_per_g = 100.0
mass_basis = "per_g_Fe"

[nanoparticles.distribution]
kind = "concentration-map"
file = "map.nii.gz"
units = "mg_Fe_per_mL"
"""


def test_warnings_reach_summary_json_and_the_report(tmp_path):
    """Negative noise in a concentration map: clipped, counted, warned — in summary.json `warnings` and report.html."""
    import nibabel as nib
    import numpy as np

    from planner.pipeline import run_plan

    data = np.full((20, 20, 20), 1.0, np.float32)
    data[:3] = -0.2  # noise below zero
    A = np.diag([4.0, 4.0, 4.0, 1.0])
    A[:3, 3] = -40.0
    nib.save(nib.Nifti1Image(data, A), str(tmp_path / "map.nii.gz"))
    plan = tmp_path / "plan.toml"
    plan.write_text(MAP_PLAN)
    before = snapshot(tmp_path)
    result = run_plan(load_plan(plan))
    summary = json.loads((tmp_path / "results" / "summary.json").read_text())
    neg = [w for w in summary["warnings"] if "map.nii.gz" in w and "1200 of 8000 voxels are negative" in w]
    assert len(neg) == 1, summary["warnings"]
    assert result.summary["warnings"] == summary["warnings"]
    assert "<h2>Warnings</h2>" in (tmp_path / "results" / "report.html").read_text()
    after = snapshot(tmp_path)
    assert {k: v for k, v in after.items() if not k.startswith("results/")} == before  # inputs untouched
    assert MARKER in (p.name for p in (tmp_path / "results").iterdir())


def test_the_suite_wide_input_guard_catches_a_modified_input(tmp_path):
    """tests/conftest.py wraps every in-process plan run; it must fail a run that touches an input."""
    from tests.conftest import input_guard

    plan = tmp_path / "plan.toml"
    plan.write_text(SMALL.format(out="results"))
    cfg = load_plan(plan)
    assert input_guard(lambda c, w, x: "ok")(cfg, True, []) == "ok"

    def touches_input(c, w, x):
        plan.write_text(SMALL.format(out="results") + "# edited\n")

    with pytest.raises(AssertionError, match="a plan run modified its inputs"):
        input_guard(touches_input)(cfg, True, [])


def test_a_swap_interrupted_by_sigkill_gives_the_old_results_back(tmp_path):
    target = tmp_path / "results"
    with results_folder(target) as tmp:
        _write_into(tmp, {"summary.json": b"old"})
    os.rename(target, tmp_path / "results.previous")  # killed after moving the old folder aside
    before = snapshot(tmp_path / "results.previous")
    with pytest.raises(RuntimeError):
        with results_folder(target) as tmp:
            raise RuntimeError("failed run")
    assert snapshot(target) == before and sorted(p.name for p in tmp_path.iterdir()) == ["results"]


def test_stale_partial_folder_of_a_killed_run_is_removed_but_not_a_foreign_one(tmp_path):
    stale = tmp_path / ".results.partial-abc"
    _write_into(stale, {".planner-partial": f"999999999 {__import__('platform').node()}\n".encode(), "fields/x.vtu": b"x"})
    foreign = tmp_path / ".results.partial-user"
    _write_into(foreign, {"data.txt": b"mine"})
    with results_folder(tmp_path / "results") as tmp:
        _write_into(tmp, {"summary.json": b"{}"})
    assert not stale.exists() and snapshot(foreign) == {"data.txt": hashlib.sha256(b"mine").hexdigest()}


def test_a_failed_run_leaves_no_parent_folder_it_created(tmp_path):
    with pytest.raises(RuntimeError):
        with results_folder(tmp_path / "a" / "b" / "results") as tmp:
            _write_into(tmp, {"summary.json": b"{}"})
            raise RuntimeError("failed")
    assert list(tmp_path.iterdir()) == []


def test_finder_metadata_does_not_block_replacing_a_results_folder(tmp_path):
    target = tmp_path / "results"
    with results_folder(target) as tmp:
        _write_into(tmp, {"summary.json": b"{}", "figures/a.png": b"a"})
    (target / "figures" / ".DS_Store").write_bytes(b"finder")
    with results_folder(target) as tmp:
        _write_into(tmp, {"summary.json": b"{1}"})
    assert set(snapshot(target)) == {"summary.json", MARKER}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / ".DS_Store").write_bytes(b"finder")  # not a planner folder: still refused
    with pytest.raises(InputError, match="did not write"):
        check_output_dir(tmp_path / "mine")
