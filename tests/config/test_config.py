import math

import pytest

from planner.config.plan import load_plan, parse_plan
from planner.errors import InputError

BASE = {
    "plan": {"name": "t"},
    "mesh": {"max_size_mm": 10.0},
    "geometry": {"bodies": [{"name": "b", "shape": "sphere", "radius_mm": 50, "tissue": "muscle"}]},
}


def with_(path: str, value, base=None):
    import copy

    d = copy.deepcopy(base or BASE)
    keys = path.split(".")
    cur = d
    for k in keys[:-1]:
        cur = cur.setdefault(k, {}) if not k.isdigit() else cur[int(k)]
    if value is _DEL:
        del cur[keys[-1]]
    else:
        cur[keys[-1]] = value
    return d


_DEL = object()
APPLICATOR = {"type": "uniform", "frequency_kHz": 100, "field_kA_per_m": 10, "amplitude": "rms"}


def test_good_plan_parses_with_units():
    cfg = parse_plan(with_("applicator", APPLICATOR))
    assert cfg.applicator.frequency_Hz == pytest.approx(1e5)
    assert cfg.applicator.H_peak_A_per_m == pytest.approx(1e4 * math.sqrt(2))
    assert cfg.geometry.bodies[0].exact_volume_m3() == pytest.approx(4 / 3 * math.pi * 0.05**3)
    assert isinstance(cfg.mesh.max_size_mm, float)


def test_peak_amplitude_is_not_scaled():
    cfg = parse_plan(with_("applicator", dict(APPLICATOR, amplitude="peak")))
    assert cfg.applicator.H_peak_A_per_m == pytest.approx(1e4)


@pytest.mark.parametrize(
    "path,value,fragment",
    [
        ("mesh.max_sise_mm", 3.0, "mesh.max_sise_mm: unknown key"),
        ("mesh.max_size_mm", -1.0, "mesh.max_size_mm = -1.0: expected a positive number"),
        ("mesh.max_size_mm", "ten", "mesh.max_size_mm = 'ten': expected a number"),
        ("mesh.max_size_mm", _DEL, "mesh.max_size_mm: missing required key"),
        ("plan.name", _DEL, "plan.name: missing required key"),
        ("mesh.target_size_mm", 20.0, "mesh.target_size_mm = 20.0: expected at most max_size_mm"),
        ("geometry.bodies.0.shape", "cone", "geometry.bodies[0].shape = 'cone': expected one of"),
        ("geometry.bodies.0.radius_mm", _DEL,
         "geometry.bodies[0].radius_mm: missing required key for shape = 'sphere'"),
        ("geometry.bodies.0.role", "tumour", "geometry.bodies[0].role = 'tumour': expected one of"),
        ("geometry.bodies.0.center_mm", [0, 0], "geometry.bodies[0].center_mm = [0, 0]: expected a list of 3 numbers"),
        ("geometry.bodies.0.size_mm", [1, 2, 3],
         "geometry.bodies[0].size_mm = (1.0, 2.0, 3.0): not used by shape = 'sphere'"),
        ("extra", {}, "[extra]: unknown section"),
    ],
)
def test_bad_plans_name_key_value_and_expectation(path, value, fragment):
    with pytest.raises(InputError) as e:
        parse_plan(with_(path, value))
    assert fragment in str(e.value)
    assert "\n" not in str(e.value)


def test_amplitude_has_no_default():
    app = {k: v for k, v in APPLICATOR.items() if k != "amplitude"}
    with pytest.raises(InputError, match=r"applicator.amplitude: missing required key; expected 'peak' or 'rms'"):
        parse_plan(with_("applicator", app))
    with pytest.raises(InputError, match=r"applicator.amplitude = 'max'"):
        parse_plan(with_("applicator", dict(APPLICATOR, amplitude="max")))


def test_non_physical_values_rejected():
    for key, bad in (("frequency_kHz", 0), ("field_kA_per_m", -3), ("frequency_kHz", float("nan"))):
        with pytest.raises(InputError, match=f"applicator.{key}"):
            parse_plan(with_("applicator", dict(APPLICATOR, **{key: bad})))


def test_geometry_and_imaging_are_exclusive():
    with pytest.raises(InputError, match="exactly one"):
        parse_plan(with_("imaging", {"ct": "x"}))
    with pytest.raises(InputError, match="exactly one"):
        parse_plan(with_("geometry", _DEL))


def test_first_body_must_be_body_and_names_unique():
    with pytest.raises(InputError, match=r"bodies\[0\].role = 'target'"):
        parse_plan(with_("geometry.bodies.0.role", "target"))
    two = with_("geometry.bodies", BASE["geometry"]["bodies"] * 2)
    with pytest.raises(InputError, match=r"body names \['b'\] repeat"):
        parse_plan(two)


def test_tissue_overrides_are_typed():
    cfg = parse_plan(with_("tissues", {"tumour": {"perfusion_mL_per_min_per_kg": 100.0}}))
    assert cfg.tissues["tumour"].perfusion_mL_per_min_per_kg == 100.0
    with pytest.raises(InputError, match=r"tissues.tumour.perfusion: unknown key"):
        parse_plan(with_("tissues", {"tumour": {"perfusion": 1.0}}))
    with pytest.raises(InputError, match=r"tissues.tumour.density_kg_per_m3 = 0"):
        parse_plan(with_("tissues", {"tumour": {"density_kg_per_m3": 0}}))


def test_load_plan_reports_file_problems(tmp_path):
    with pytest.raises(InputError, match="cannot be read"):
        load_plan(tmp_path / "nope.toml")
    p = tmp_path / "bad.toml"
    p.write_text("[plan\nname=1")
    with pytest.raises(InputError, match="not valid TOML"):
        load_plan(p)
    p.write_text('[plan]\nname = "x"\noutput_dir = "out"\n[mesh]\nmax_size_mm = 5\n'
                 '[[geometry.bodies]]\nname="b"\nshape="box"\nsize_mm=[1,2,3]\ntissue="fat"\n')
    cfg = load_plan(p)
    assert cfg.output_path == (tmp_path / "out").resolve()
    assert len(cfg.plan_sha256) == 64


def test_shipped_phantom_plans_validate():
    from tests.conftest import ROOT

    for plan in sorted(ROOT.glob("phantoms/*/plan*.toml")):
        load_plan(plan)
