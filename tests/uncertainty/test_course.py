"""planner course: cumulative dose, SLP half-life, bad course files."""
import json

import numpy as np
import pytest

from planner.errors import InputError
from planner.uncertainty.course import load_course, run_course

from .test_uncertainty import PLAN

COURSE = """
[course]
name = "two sessions"
plan = "plan.toml"
output_dir = "course"
{extra}

[[sessions]]
day = 0
particle_map = "plan"

[[sessions]]
day = 7
particle_map = "previous"
"""


def _setup(tmp_path, extra=""):
    (tmp_path / "plan.toml").write_text(PLAN.format(mode="transient").replace("[uncertainty]\nsamples = 16\n", ""))
    (tmp_path / "course.toml").write_text(COURSE.format(extra=extra))
    return tmp_path / "course.toml"


def test_two_identical_sessions_double_the_dose_and_half_life_halves_the_power(tmp_path):
    (tmp_path / "a").mkdir()
    summary, out = run_course(_setup(tmp_path / "a"))
    s1, s2 = summary["sessions"]
    assert s2["particle_power_W"] == s1["particle_power_W"] and s1["particle_power_W"] > 0
    import meshio

    cum = meshio.read(out / "cumulative_CEM43.vtu").point_data["CEM43_min"]
    one = json.loads((out / "session-1" / "summary.json").read_text())["thermal"]["target"]["CEM43T90_min"]
    assert s2["CEM43T90_min"] == s1["CEM43T90_min"]
    assert summary["cumulative"]["tumour"]["CEM43T90_min"] == pytest.approx(2 * one, rel=1e-12)
    assert cum.max() > 0 and (out / "course_report.html").exists()
    (tmp_path / "b").mkdir()
    half, _ = run_course(_setup(tmp_path / "b", "slp_half_life_days = 7.0"))
    h1, h2 = half["sessions"]
    assert h2["slp_scale"] == pytest.approx(0.5) and h2["particle_power_W"] == pytest.approx(0.5 * h1["particle_power_W"], rel=1e-12)


def test_missing_session_map_names_file_line_and_column(tmp_path):
    course = _setup(tmp_path)
    course.write_text(course.read_text().replace('particle_map = "previous"', 'particle_map = "maps/day7.nii.gz"'))
    with pytest.raises(InputError) as exc:
        load_course(course)
    msg = str(exc.value)
    assert str(course) in msg and "line 14, column 17 (particle_map)" in msg and "day7.nii.gz" in msg


def test_first_session_cannot_carry_over(tmp_path):
    course = _setup(tmp_path)
    course.write_text(course.read_text().replace('particle_map = "plan"', 'particle_map = "previous"'))
    with pytest.raises(InputError, match="first session has no previous map"):
        load_course(course)


def test_three_session_course_calibrates_between_sessions(tmp_path):
    """Session 2 has measured probes (made with 0.8 × its particle heat): session 3 is planned with the
    fitted SLP scale times one more half-life of decay; cumulative dose adds all three sessions."""
    from .test_calibration import PROBES

    course = _setup(tmp_path, "slp_half_life_days = 7.0")
    plan = tmp_path / "plan.toml"
    plan.write_text(plan.read_text().replace("[safety]", PROBES + "\n[safety]"))
    t = np.arange(30.0, 361.0, 30.0)
    rows = ["time_s,probe,T_C"] + [f"{x:g},centre,{37.0 + 3.0 * (1 - np.exp(-x / 150.0)):.4f}" for x in t]
    (tmp_path / "s2.csv").write_text("\n".join(rows) + "\n")
    course.write_text(course.read_text() + '\nmeasured_probes = "s2.csv"\n\n[[sessions]]\nday = 14\n'
                      'particle_map = "previous"\n')
    summary, out = run_course(course)
    s1, s2, s3 = summary["sessions"]
    fitted = s2["calibration"]["parameters"]["slp"]["estimate"]
    assert s2["slp_scale"] == pytest.approx(0.5)
    assert s3["slp_scale"] == pytest.approx(0.5 * fitted * 0.5, rel=1e-12)
    one = [json.loads((out / f"session-{k}" / "summary.json").read_text()) for k in (1, 2, 3)]
    import meshio

    cum = meshio.read(out / "cumulative_CEM43.vtu").point_data["CEM43_min"]
    assert cum.max() > 0 and len(summary["sessions"]) == 3
    assert all(o["thermal"]["target"]["CEM43T90_min"] <= summary["cumulative"]["tumour"]["CEM43T90_min"] for o in one)


def test_cli_course_missing_map_is_one_line_input_error(tmp_path, capsys):
    from planner.cli import EXIT_INPUT, main

    course = _setup(tmp_path)
    course.write_text(course.read_text().replace('particle_map = "previous"', 'particle_map = "day7.nii"'))
    code = main(["course", str(course)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == EXIT_INPUT and len(err) == 1 and "line 14, column 17 (particle_map)" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["course.toml", "plan.toml"]


def test_course_folder_with_a_foreign_file_is_refused_before_any_session(tmp_path):
    """The planner never modifies a file it did not write: a course folder holding the user's file is
    refused before the first session, and that file is left as it was."""
    from planner.uncertainty.course import COURSE_FILES, COURSE_MARKER, check_course_folder

    course = _setup(tmp_path)
    (tmp_path / "course").mkdir()
    (tmp_path / "course" / "course_summary.json").write_text("my own notes")
    with pytest.raises(InputError, match="course_summary.json.*did not write"):
        run_course(course)
    assert (tmp_path / "course" / "course_summary.json").read_text() == "my own notes"
    assert sorted(p.name for p in (tmp_path / "course").iterdir()) == ["course_summary.json"]
    # a folder the course wrote (its marker lists the course files) with its session folders is accepted
    mine = tmp_path / "mine"
    (mine / "session-1").mkdir(parents=True)
    for name in COURSE_FILES:
        (mine / name).write_text("x")
    (mine / COURSE_MARKER).write_text(json.dumps({"files": list(COURSE_FILES)}))
    check_course_folder(mine)
    (mine / "session-1.txt").write_text("not a session folder")
    with pytest.raises(InputError, match="session-1.txt"):
        check_course_folder(mine)


def test_sessions_share_one_mesh_and_the_users_cache_setting_is_left_alone(tmp_path, monkeypatch):
    """The first session meshes (gmsh), the second reads the saved mesh; the temporary cache is gone
    afterwards and PLANNER_MESH_CACHE is unset again."""
    from planner.geometry import mesh_cache, mesher

    monkeypatch.delenv(mesh_cache.ENV_VAR, raising=False)
    calls = []
    real = mesher._gmsh_mesh

    def counting(*a, **k):
        calls.append(mesh_cache.cache_dir())
        return real(*a, **k)

    monkeypatch.setattr(mesher, "_gmsh_mesh", counting)
    summary, _ = run_course(_setup(tmp_path))
    assert len(summary["sessions"]) == 2 and len(calls) == 1
    assert calls[0] is not None and not calls[0].exists()  # a private folder, removed
    assert mesh_cache.ENV_VAR not in __import__("os").environ
