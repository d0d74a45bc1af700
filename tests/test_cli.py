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


def _snapshot(root):
    import hashlib

    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


TABLE_PLAN = SMALL + """
[applicator]
type = "uniform"
frequency_kHz = 100.0
field_kA_per_m = 10.0
amplitude = "peak"

[nanoparticles]
slp_model = "table"

[nanoparticles.table]
file = "slp.xlsx"

[nanoparticles.distribution]
kind = "uniform-in-target"
total_mass_mg = 10.0
"""


def test_xlsx_given_as_slp_table_is_one_line_at_check_and_run(tmp_path):
    import zipfile

    with zipfile.ZipFile(tmp_path / "slp.xlsx", "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<workbook/>")
    plan = tmp_path / "plan.toml"
    plan.write_text(TABLE_PLAN)
    before = _snapshot(tmp_path)
    for verb in ("check", "run"):
        res = run_cli(verb, str(plan))
        assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1, res.stderr
        assert lines[0].startswith("planner: error: nanoparticles.table.file = ") and "slp.xlsx" in lines[0]
        assert "a ZIP archive (an .xlsx/.docx/.ods workbook?)" in lines[0]
    assert _snapshot(tmp_path) == before and sorted(p.name for p in tmp_path.iterdir()) == ["plan.toml", "slp.xlsx"]


def test_binary_slp_table_read_directly_is_an_input_error(tmp_path):
    from planner.errors import InputError
    from planner.nanoparticles.slp import read_slp_table

    p = tmp_path / "t.csv"
    p.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(range(128, 256)))
    with pytest.raises(InputError, match="not UTF-8 text"):
        read_slp_table(p)


FAULT_PLAN = SMALL.replace("target_size_mm = 5.0", "target_size_mm = 4.0") + """
[applicator]
type = "uniform"
frequency_kHz = 100.0
field_kA_per_m = 4.0    # H·f = 4e8 A/(m·s), within the 4.85e8 limit: a safe run exits 0
amplitude = "peak"

[nanoparticles]
slp_model = "constant"

[nanoparticles.constant]
slp_W_per_g = 100.0
mass_basis = "per_g_Fe"

[nanoparticles.distribution]
kind = "uniform-in-target"
total_mass_mg = 10.0

[thermal]
mode = "transient"
duration_min = 5.0
time_step_s = 30.0
"""


@pytest.mark.slow
def test_killed_runs_leave_no_partial_folder_and_no_modified_input(tmp_path):
    """Fault injection: SIGTERM/SIGKILL at random points of `planner run` (start-up, meshing, solving,
    writing). Afterwards: inputs byte-identical, the previous results folder intact (or a complete new
    one), and — after the next run — no temporary folder left."""
    import random
    import signal
    import subprocess
    import sys
    import time

    plan = tmp_path / "plan.toml"
    plan.write_text(FAULT_PLAN)
    (tmp_path / "notes.txt").write_text("keep me\n")
    t0 = time.perf_counter()
    assert run_cli("run", str(plan)).returncode == 0
    full_s = time.perf_counter() - t0
    inputs = {k: v for k, v in _snapshot(tmp_path).items() if not k.startswith("out/")}
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        before = {k: v for k, v in _snapshot(tmp_path).items() if k.startswith("out/")}
        delay = rng.uniform(0.2, 0.95) * full_s
        proc = subprocess.Popen([sys.executable, "-m", "planner", "run", str(plan)], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
        info = f"seed {seed}, {sig.name} after {delay:.1f} s of {full_s:.1f} s: rc {proc.returncode} {err[-400:]}"
        assert "Traceback" not in err, info
        after = _snapshot(tmp_path)
        assert {k: v for k, v in after.items() if not k.startswith(("out/", ".out."))} == inputs, info
        out_now = {k: v for k, v in after.items() if k.startswith("out/")}
        assert out_now == before or "out/.planner-results" in out_now, info  # old one intact, or a complete new one
        if sig == signal.SIGTERM:
            assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")], info
    assert run_cli("run", str(plan)).returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "out", "plan.toml"]


@pytest.mark.parametrize("out", ["dicom/ct", "dicom", ".", "dicom/ct/results"])
def test_run_refuses_output_dir_on_the_dicom_input_before_anything_runs(tmp_path, out):
    """Issue 16: output_dir pointing at (or around, or into) the CT folder once deleted the slices."""
    from planner.imaging.phantoms import write_phantom

    plan = write_phantom("abdomen", tmp_path)
    plan.write_text(plan.read_text().replace('output_dir = "results"', f'output_dir = "{out}"'))
    (tmp_path / "notes.txt").write_text("consent given 2026-11-30\n")
    before = _snapshot(tmp_path)
    res = run_cli("run", str(plan), timeout=120)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("planner: error: plan.output_dir = "), res.stderr
    assert any(w in lines[0] for w in ("is the input", "contains the input", "lies inside the input")), lines[0]
    assert _snapshot(tmp_path) == before


def test_check_builds_the_coil_missing_solenoid_key_and_missing_coil_file(tmp_path):
    plan = tmp_path / "plan.toml"
    app = '\n[applicator]\ntype = "solenoid"\nfrequency_kHz = 100.0\nfield_kA_per_m = 5.0\namplitude = "peak"\n'
    plan.write_text(SMALL + app + "radius_mm = 150.0\nturns = 10\n")
    res = run_cli("check", str(plan))
    assert res.returncode == 2 and "applicator.length_mm: missing required key for type = 'solenoid'" in res.stderr, res.stderr
    plan.write_text(SMALL + app.replace('"solenoid"', '"wire"') + 'path_file = "coil.csv"\n')
    res = run_cli("check", str(plan))
    assert res.returncode == 2 and "applicator.path_file = " in res.stderr and "coil.csv" in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
