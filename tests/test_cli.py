"""The CLI as a user runs it: a fresh interpreter per call."""
import json

import pytest

from tests.conftest import ROOT, run_cli

SMALL = """
[plan]
name = "small"
output_dir = "out"

[[geometry.bodies]]
name = "body"
shape = "box"
size_mm = [80.0, 60.0, 60.0]
tissue = "muscle"

[[geometry.bodies]]
name = "tumour"
shape = "sphere"
radius_mm = 10.0
tissue = "tumour"
role = "target"

[mesh]
max_size_mm = 15.0
target_size_mm = 5.0
"""


@pytest.mark.parametrize("verb", ["run", "check", "doctor", "phantom"])
def test_help_on_every_verb(verb):
    res = run_cli(verb, "--help")
    assert res.returncode == 0
    assert f"usage: planner {verb}" in res.stdout


def test_doctor_is_clean():
    res = run_cli("doctor")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "all checks passed" in res.stdout
    for item in ("DOLFINx", "PETSc scalar type", "hypre ams", "gmsh", "pygalmesh", "numba", "vtk/EGL", "MPI"):
        assert item in res.stdout


def test_run_writes_results_with_mesh_statistics(tmp_path):
    plan = tmp_path / "plan.toml"
    plan.write_text(SMALL)
    res = run_cli("run", str(plan))
    assert res.returncode == 0, res.stderr
    out = tmp_path / "out"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["plan"]["name"] == "small"
    assert len(summary["provenance"]["plan_sha256"]) == 64
    from importlib.metadata import version

    assert summary["provenance"]["dolfinx"] == version("fenics-dolfinx")  # 0.5.2 (bookworm) or 0.9.0 (trixie)
    regions = {r["name"]: r for r in summary["mesh"]["regions"]}
    assert regions["tumour"]["exact_volume_m3"] == pytest.approx(4 / 3 * 3.141592653589793 * 0.01**3, rel=1e-9)
    assert abs(regions["tumour"]["volume_rel_error"]) < 0.1
    total = sum(r["volume_m3"] for r in regions.values())
    assert total == pytest.approx(0.08 * 0.06 * 0.06, rel=1e-9)
    assert summary["stages"]["em"].startswith("skipped")
    assert (out / "fields" / "mesh.vtu").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")], "temporary folders left behind"


def test_typo_in_key_fails_in_one_line_and_writes_nothing(tmp_path):
    plan = tmp_path / "plan.toml"
    plan.write_text(SMALL.replace("max_size_mm", "max_sise_mm"))
    for verb in ("run", "check"):
        res = run_cli(verb, str(plan))
        assert res.returncode == 2
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1, res.stderr
        assert "mesh.max_sise_mm: unknown key" in lines[0]
    assert list(tmp_path.iterdir()) == [plan]


def test_unknown_tissue_fails_before_meshing(tmp_path):
    plan = tmp_path / "plan.toml"
    plan.write_text(SMALL.replace('tissue = "tumour"', 'tissue = "tumor_x"'))
    res = run_cli("run", str(plan))
    assert res.returncode == 2
    assert "geometry.bodies[1].tissue = 'tumor_x'" in res.stderr
    assert not (tmp_path / "out").exists()


def test_failed_run_keeps_previous_results(tmp_path):
    plan = tmp_path / "plan.toml"
    plan.write_text(SMALL)
    assert run_cli("run", str(plan)).returncode == 0
    before = (tmp_path / "out" / "summary.json").read_text()
    # a body completely covered by a later one is a mesh error raised mid-run
    plan.write_text(SMALL + '\n[[geometry.bodies]]\nname = "cover"\nshape = "sphere"\nradius_mm = 12.0\n'
                    'tissue = "fat"\nrole = "organ"\n')
    res = run_cli("run", str(plan))
    assert res.returncode == 2 and "completely covered" in res.stderr
    assert (tmp_path / "out" / "summary.json").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "plan.toml"]


def test_check_accepts_shipped_torso_plan():
    res = run_cli("check", str(ROOT / "phantoms" / "torso" / "plan.toml"))
    assert res.returncode == 0, res.stderr
    assert "is valid" in res.stdout
