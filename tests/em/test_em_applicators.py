"""Applicator registry: current scaling (peak vs rms), field at the target, wire files, placement errors."""
import json
import math

import numpy as np
import pytest

from benchmarks.em_common import structured_box_mesh
from planner.artefacts import Region, Role
from planner.config.plan import ApplicatorSection, parse_plan
from planner.em import APPLICATORS, applied_field
from planner.errors import InputError
from planner.units import MU0_H_per_m as MU0
from planner.verification import em as ae


@pytest.fixture(scope="module")
def box():
    """10 cm cube of muscle with a 2 cm target cube off-centre at (1, 0.5, 0) cm."""
    def region_of(c):
        inside = np.all(np.abs(c - np.array([0.01, 0.005, 0.0])) < 0.011, axis=1)
        return np.where(inside, 2, 1)
    regs = (Region(1, "body", "muscle", Role.BODY), Region(2, "tumour", "tumour", Role.TARGET))
    return structured_box_mesh(10, 0.1, region_of=region_of, regions=regs)


def app_cfg(**kw) -> ApplicatorSection:
    base = {"type": "uniform", "frequency_kHz": 100.0, "field_kA_per_m": 10.0, "amplitude": "peak"}
    base.update(kw)
    return parse_plan({"plan": {"name": "t"}, "mesh": {"max_size_mm": 5.0},
                       "geometry": {"bodies": [{"name": "b", "shape": "sphere", "tissue": "muscle", "radius_mm": 1.0}]},
                       "applicator": base}).applicator


def test_registry_names():
    assert set(APPLICATORS) == {"uniform", "solenoid", "helmholtz", "pancake", "wire"}


def test_uniform_field_potential_and_rms(box):
    app = applied_field(box, app_cfg(direction=[0, 1, 1]))
    p = box.points_m[:50]
    H = app.H_peak_at(p)
    np.testing.assert_allclose(H, np.tile([0, 1e4 / math.sqrt(2), 1e4 / math.sqrt(2)], (50, 1)))
    t = app.target_point_m
    np.testing.assert_allclose(t, box.target_centroid_m())
    np.testing.assert_allclose(app.A_peak_at(p), 0.5 * MU0 * np.cross(H, p - t))
    assert app.coil_current_peak_A is None
    rms = applied_field(box, app_cfg(amplitude="rms"))
    assert rms.H_peak_A_per_m_at_target == pytest.approx(math.sqrt(2) * 1e4)
    s = rms.summary_block()
    json.dumps(s)
    assert s["amplitude_convention"] == "rms" and s["requested_field_A_per_m"] == 1e4


@pytest.mark.parametrize("kw", [
    dict(type="solenoid", radius_mm=150.0, turns=12, length_mm=300.0),
    dict(type="helmholtz", radius_mm=200.0, turns=5),
    dict(type="pancake", radius_mm=60.0, inner_radius_mm=10.0, turns=8, center_mm=[10.0, 5.0, -70.0]),
])
def test_coil_current_gives_requested_field_at_target(box, kw):
    app = applied_field(box, app_cfg(**kw))
    H = np.linalg.norm(app.H_peak_at(app.target_point_m[None])[0])
    assert H == pytest.approx(1e4, rel=1e-10)
    rms = applied_field(box, app_cfg(amplitude="rms", **kw))
    assert rms.coil_current_peak_A == pytest.approx(math.sqrt(2) * app.coil_current_peak_A, rel=1e-12)
    doubled = applied_field(box, app_cfg(field_kA_per_m=20.0, **kw))
    assert doubled.coil_current_peak_A == pytest.approx(2 * app.coil_current_peak_A, rel=1e-12)
    s = app.summary_block()
    json.dumps(s)
    assert s["coil_current_A"] == pytest.approx(app.coil_current_peak_A)
    # A0 is the vector potential of H0: curl A0 = mu0 H0 at a body point
    x0 = box.points_m[17]
    h = 1e-5
    J = np.array([(app.A_peak_at((x0 + e)[None])[0] - app.A_peak_at((x0 - e)[None])[0]) / (2 * h) for e in np.eye(3) * h])
    curl = np.array([J[1, 2] - J[2, 1], J[2, 0] - J[0, 2], J[0, 1] - J[1, 0]])
    np.testing.assert_allclose(curl / MU0, app.H_peak_at(x0[None])[0], rtol=1e-5, atol=1e-5 * 1e4)


def test_helmholtz_current_matches_closed_form(box):
    cfg = app_cfg(type="helmholtz", radius_mm=200.0, turns=5, target_point_mm=[0.0, 0.0, 0.0])
    app = applied_field(box, cfg)
    I = 1e4 / ae.helmholtz_centre_H(5, 1.0, 0.2)
    assert app.coil_current_peak_A == pytest.approx(I, rel=2e-3)  # 64-gon loops


def test_solenoid_axis_and_center_placement(box):
    app = applied_field(box, app_cfg(type="solenoid", radius_mm=150.0, turns=30, length_mm=400.0, axis=[1, 0, 0],
                                     target_point_mm=[0, 0, 0]))
    H = app.H_peak_at(np.zeros((1, 3)))[0]
    assert abs(H[0]) == pytest.approx(1e4) and abs(H[1]) < 1e-8 * 1e4 and abs(H[2]) < 1e-8 * 1e4


def test_wire_file_formats_and_closing(box, tmp_path):
    sq = [[-120, -120, 0], [120, -120, 0], [120, 120, 0], [-120, 120, 0]]
    (tmp_path / "a.csv").write_text("x_mm,y_mm,z_mm\n" + "\n".join(",".join(map(str, p)) for p in sq) + "\n")
    (tmp_path / "b.txt").write_text("# square loop\n" + "\n".join(" ".join(map(str, p)) for p in sq + [sq[0]]) + "\n")
    a = applied_field(box, app_cfg(type="wire", path_file="a.csv"), base_dir=tmp_path)
    b = applied_field(box, app_cfg(type="wire", path_file="b.txt"), base_dir=tmp_path)
    assert a.coil.num_segments == b.coil.num_segments == 4
    assert a.coil_current_peak_A == pytest.approx(b.coil_current_peak_A, rel=1e-12)
    # square loop of side a = 2s: centre field H = 2√2 I / (π a) = √2 I / (π s)
    c = applied_field(box, app_cfg(type="wire", path_file="a.csv", target_point_mm=[0, 0, 0]), base_dir=tmp_path)
    assert c.coil_current_peak_A == pytest.approx(1e4 * math.pi * 0.12 / math.sqrt(2), rel=1e-10)


@pytest.mark.parametrize("content,match", [
    ("1,2,3\n", "at least 3 points"),
    ("", "at least 3 points"),
    ("0,0,0\n100,0,0\nnan,100,0\n", "line 3.*not finite"),
    ("0,0,0\n100,0\n0,100,0\n", "line 2: 2 values"),
    ("x,y,z\n0,0,0\nfoo,1,2\n", "line 3"),
])
def test_wire_file_errors_name_the_file(box, tmp_path, content, match):
    (tmp_path / "p.csv").write_text(content)
    with pytest.raises(InputError, match=match) as e:
        applied_field(box, app_cfg(type="wire", path_file="p.csv"), base_dir=tmp_path)
    assert "p.csv" in str(e.value) and "applicator.path_file" in str(e.value)


def test_missing_wire_file(box, tmp_path):
    with pytest.raises(InputError, match="applicator.path_file.*nothere.csv"):
        applied_field(box, app_cfg(type="wire", path_file="nothere.csv"), base_dir=tmp_path)


@pytest.mark.parametrize("kw,match", [
    (dict(type="solenoid", radius_mm=40.0, turns=10, length_mm=300.0), "passes through the body"),
    (dict(type="solenoid", radius_mm=150.0, turns=10, length_mm=300.0, target_point_mm=[0.0, 170.0, 0.0]),
     "passes through the body|inside the coil bore"),
    (dict(type="helmholtz", radius_mm=200.0, center_mm=[0.0, 250.0, 0.0]), "inside the coil bore"),
    (dict(type="pancake", radius_mm=60.0, turns=8, center_mm=[0.0, 0.0, -400.0]), "encloses or approaches the target"),
    (dict(type="solenoid", radius_mm=150.0, turns=10), "length_mm: missing required key"),
    (dict(type="uniform", radius_mm=150.0), "radius_mm = 150.0: not used by type = 'uniform'"),
    (dict(type="pancake", radius_mm=60.0, inner_radius_mm=70.0, turns=3, center_mm=[0, 0, -70.0]), "inner_radius_mm"),
])
def test_bad_placements_and_keys(box, kw, match):
    with pytest.raises(InputError, match=match):
        applied_field(box, app_cfg(**kw))


def test_bad_frequency_and_amplitude_rejected(box):
    with pytest.raises(InputError, match="frequency_kHz"):
        app_cfg(frequency_kHz=0.0)
    with pytest.raises(InputError, match="field_kA_per_m"):
        app_cfg(field_kA_per_m=-1.0)
    with pytest.raises(InputError, match="amplitude"):
        app_cfg(amplitude="average")
    # also when a section is built in code without the plan validator
    bad = ApplicatorSection(type="uniform", frequency_kHz=-5.0, field_kA_per_m=10.0, amplitude="peak")
    with pytest.raises(InputError, match="applicator.frequency_kHz = -5.0"):
        applied_field(box, bad)
    bad = ApplicatorSection(type="uniform", frequency_kHz=5.0, field_kA_per_m=0.0, amplitude="peak")
    with pytest.raises(InputError, match="applicator.field_kA_per_m = 0.0"):
        applied_field(box, bad)


def test_segments_per_turn_key_refines_the_loops(box):
    cfg = app_cfg(type="helmholtz", radius_mm=200.0, turns=5, target_point_mm=[0.0, 0.0, 0.0], segments_per_turn=512)
    app = applied_field(box, cfg)
    assert app.coil.num_segments == 1024
    assert app.coil_current_peak_A == pytest.approx(1e4 / ae.helmholtz_centre_H(5, 1.0, 0.2), rel=3e-5)
    with pytest.raises(InputError, match="segments_per_turn"):
        app_cfg(type="helmholtz", radius_mm=200.0, segments_per_turn=3)


def test_H_at_the_same_point_array_is_reused(box):
    app = applied_field(box, app_cfg(type="helmholtz", radius_mm=200.0, turns=5))
    H1 = app.H_peak_at(box.points_m)
    H1[:] = 0.0  # callers get copies
    H2 = app.H_peak_at(box.points_m)
    np.testing.assert_allclose(H2, app.H_peak_at(box.points_m.copy()), rtol=0, atol=0)
    assert np.abs(H2).max() > 0
