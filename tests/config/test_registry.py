"""One registry idiom (register_x / get_x / available_x) for every model choice; each model declares its
own keys, checked at LOAD; the loader reports all errors of a plan at once."""
import ast
import copy
import dataclasses
import importlib
from dataclasses import dataclass

import pytest

from planner.config import registry as reg
from planner.config.plan import (
    ApplicatorSection,
    BodySpec,
    DistributionSection,
    NanoparticleSection,
    parse_plan,
)
from planner.config.registry import Registry
from planner.config.schema import spec
from planner.errors import InputError, InputErrors
from tests.conftest import ROOT

BASE = {
    "plan": {"name": "t"},
    "mesh": {"max_size_mm": 10.0},
    "geometry": {"bodies": [{"name": "b", "shape": "sphere", "radius_mm": 50, "tissue": "muscle"}]},
}
APP = {"frequency_kHz": 100, "field_kA_per_m": 10, "amplitude": "rms"}

# registry, module, idiom suffix, the built-in names
IDIOMS = [
    (reg.APPLICATORS, "planner.em.applicators", "applicator", "applicators",
     {"uniform", "solenoid", "helmholtz", "pancake", "wire"}),
    (reg.SHAPES, "planner.geometry.mesher", "shape", "shapes", {"box", "sphere", "cylinder", "ellipsoid", "hip-stem"}),
    (reg.SEGMENTERS, "planner.imaging.segmentation", "segmenter", "segmenters", {"ct-hu", "mr-intensity", "labels"}),
    (reg.SLP_MODELS, "planner.nanoparticles.slp", "slp_model", "slp_models",
     {"linear-response", "nonlinear-relaxation", "table", "constant"}),
    (reg.DISTRIBUTIONS, "planner.nanoparticles.distributions", "distribution", "distributions",
     {"uniform-in-target", "deposit", "concentration-map", "r2star-map", "ct-hu-map", "organ-uptake"}),
    (reg.PERFUSION_MODELS, "planner.thermal.perfusion", "perfusion_model", "perfusion_models",
     {"constant", "lang1999", "lang1999-absolute"}),
]


def plan_with(**sections):
    d = copy.deepcopy(BASE)
    d.update(copy.deepcopy(sections))
    return d


@pytest.mark.parametrize("registry,module,one,many,names", IDIOMS, ids=[i[2] for i in IDIOMS])
def test_registry_idiom(registry, module, one, many, names):
    mod = importlib.import_module(module)
    register, get, available = (getattr(mod, f"register_{one}"), getattr(mod, f"get_{one}"), getattr(mod,
                                                                                                     f"available_{many}"))
    assert set(available()) == names and available() == registry.available()
    for name in names:
        assert get(name) is registry[name]
    with pytest.raises(InputError) as e:
        get("no-such-model")
    msg = str(e.value)
    assert msg.startswith(f"{registry.key} = 'no-such-model': expected one of ") and all(repr(n) in msg for n in names)

    def impl(*args):
        return None

    try:
        assert register("test-model")(impl) is impl
        assert "test-model" in available() and get("test-model") is impl
        with pytest.raises(ValueError, match="already registered"):
            register("test-model")(lambda *a: None)
    finally:
        registry.unregister("test-model")
    assert "test-model" not in available()


def test_generic_registry_class():
    r = Registry("widget", "plan.widget")
    assert r.available() == () and "a registered widget" in r.expected()

    @dataclass(frozen=True)
    class P:
        size_mm: float = spec(expected="a size")

    r.register("a", len, P, help="the a widget")
    assert r.available() == ("a",) and r.params("a") is P and r.entry("a").help == "the a widget"
    assert dict(r) == {"a": len} and len(r) == 1 and "a" in r and 3 not in r
    assert set(r.param_fields()) == {"size_mm"}
    r.register("a", max, replace=True)
    assert r.get("a") is max
    with pytest.raises(TypeError, match="dataclass"):
        r.register("b", len, params=dict)
    with pytest.raises(InputError, match=r"plan.widget = 'z': expected one of 'a'"):
        r.get("z")


def _segmentation_section():
    from planner.imaging.config import SegmentationSection

    return SegmentationSection


@pytest.mark.parametrize("host", [ApplicatorSection, BodySpec, DistributionSection, _segmentation_section()])
def test_model_keys_have_host_storage_with_the_same_default(host):
    """Every key a registered model declares is stored in the host section, with the model's default."""
    fields = {f.name: f for f in dataclasses.fields(host)}
    sel = next(f for f in fields.values() if f.metadata.get("selects") == "keys")
    registry = sel.metadata["choice"]
    for name in registry:
        params = registry.params(name)
        assert params is not None, f"{name}: declares no parameter section"
        for f in dataclasses.fields(params):
            assert f.name in fields and fields[f.name].metadata.get("model_key"), f"{name}.{f.name}: no host storage"
            h = fields[f.name]
            if f.default is not dataclasses.MISSING:
                assert h.default == f.default, f"{name}.{f.name}"
            elif f.default_factory is not dataclasses.MISSING:
                assert h.default_factory() == f.default_factory(), f"{name}.{f.name}"


def test_unknown_perfusion_model_is_rejected_at_load():
    with pytest.raises(InputError) as e:
        parse_plan(plan_with(thermal={"perfusion_model": "lang1990"}))
    assert str(e.value) == ("thermal.perfusion_model = 'lang1990': "
                            "expected one of 'constant', 'lang1999', 'lang1999-absolute'")
    assert parse_plan(plan_with(thermal={"perfusion_model": "lang1999"})).thermal.perfusion_model == "lang1999"


def test_solenoid_without_radius_and_turns_is_rejected_at_load():
    with pytest.raises(InputErrors) as e:
        parse_plan(plan_with(applicator=dict(APP, type="solenoid", length_mm=300.0)))
    assert e.value.errors == (
        "applicator.radius_mm: missing required key for type = 'solenoid'; expected a positive coil radius in mm",
        "applicator.turns: missing required key for type = 'solenoid'; expected an integer >= 1",
    )
    app = parse_plan(plan_with(applicator=dict(APP, type="solenoid", length_mm=300.0, radius_mm=150,
                                               turns=10))).applicator
    assert (app.radius_mm, app.turns, app.length_mm) == (150.0, 10, 300.0) and isinstance(app.radius_mm, float)
    assert app.model_parameters.turns == 10


def test_keys_of_other_models_rejected_unless_at_their_default():
    with pytest.raises(InputError,
                       match=r"applicator.path_file = 'c.csv': not used by type = 'helmholtz'; expected only "
                                         r"\['radius_mm', 'spacing_mm', 'turns'\]"):
        parse_plan(plan_with(applicator=dict(APP, type="helmholtz", radius_mm=100, path_file="c.csv")))
    dist = {"kind": "uniform-in-target", "total_mass_mg": 5.0}
    ok = parse_plan(plan_with(nanoparticles={"slp_model": "constant", "distribution": dict(dist, format="auto"),
                                             "constant": {"slp_W_per_g": 100, "mass_basis": "per_g_Fe"}}))
    assert ok.nanoparticles.distribution.format == "auto"
    with pytest.raises(InputError, match=r"distribution.format = 'nifti': not used by kind = 'uniform-in-target'"):
        parse_plan(plan_with(nanoparticles={"slp_model": "constant", "distribution": dict(dist, format="nifti"),
                                            "constant": {"slp_W_per_g": 100, "mass_basis": "per_g_Fe"}}))


def test_slp_model_parameters_sit_in_their_own_sub_table():
    dist = {"kind": "uniform-in-target", "total_mass_mg": 5.0}
    with pytest.raises(InputErrors) as e:
        parse_plan(plan_with(nanoparticles={"slp_model": "constant", "distribution": dist,
                                            "table": {"file": "x.csv"}}))
    assert e.value.errors == ("[nanoparticles.table]: not used by slp_model = 'constant'",
                              "[nanoparticles.constant]: missing; expected the parameters of slp_model = 'constant'")
    with pytest.raises(InputError, match=r"nanoparticles.slp_model = 'rosensweig': expected one of 'constant', "):
        parse_plan(plan_with(nanoparticles={"slp_model": "rosensweig", "distribution": dist}))
    cfg = parse_plan(plan_with(nanoparticles={"slp_model": "table", "distribution": dist, "table": {"file": "x.csv"}}))
    assert isinstance(cfg.nanoparticles, NanoparticleSection) and cfg.nanoparticles.model_parameters.file == "x.csv"


def test_all_errors_of_a_plan_are_reported_at_once():
    bad = plan_with(
        plan={"name": "t", "colour": "red"},
        mesh={"max_size_mm": -1.0},
        applicator=dict(APP, type="pancake", radius_mm=60.0, turns=0),
        thermal={"perfusion_model": "lang1990", "time_step_s": "30"},
        tissues={"tumour": {"density_kg_per_m3": 0}, "fat": {"perfusion": 1}},
        extra={},
    )
    bad["geometry"]["bodies"].append({"name": "c", "shape": "cone", "tissue": "fat"})
    with pytest.raises(InputErrors) as e:
        parse_plan(bad)
    lines = e.value.errors
    expected_starts = [
        "[extra]: unknown section",
        "plan.colour: unknown key",
        "geometry.bodies[1].shape = 'cone': expected one of 'box', 'sphere', 'cylinder', 'ellipsoid', 'hip-stem'",
        "mesh.max_size_mm = -1.0: expected a positive number",
        "applicator.turns = 0: expected an integer >= 1",
        "thermal.time_step_s = '30': expected a number",
        "thermal.perfusion_model = 'lang1990': expected one of",
        "tissues.tumour.density_kg_per_m3 = 0: expected a positive density",
        "tissues.fat.perfusion: unknown key",
    ]
    assert len(lines) == len(expected_starts), "\n".join(lines)
    for line, start in zip(lines, expected_starts):
        assert line.startswith(start) and "\n" not in line, (line, start)
    assert str(e.value) == "\n".join(lines)


def test_a_typo_of_a_required_key_is_one_error_with_a_hint():
    with pytest.raises(InputError) as e:
        parse_plan(plan_with(mesh={"max_sise_mm": 10.0}))
    assert not isinstance(e.value, InputErrors)
    assert str(e.value).startswith("mesh.max_sise_mm: unknown key") and "did you mean 'max_size_mm'?" in str(e.value)
    with pytest.raises(InputError) as e:  # a per-model key too
        parse_plan(plan_with(applicator=dict(APP, type="solenoid", radius_mm=100, turns=3, lenght_mm=200)))
    assert str(e.value).startswith("applicator.lenght_mm: unknown key") and "did you mean 'length_mm'?" in str(e.value)


def test_imaging_sections_are_checked_at_load():
    d = {"plan": {"name": "t"}, "mesh": {"max_size_mm": 10.0}, "imaging": {"ct": "ct"},
         "segmentation": {"method": "ct-hux"}}
    with pytest.raises(InputError,
                       match=r"segmentation.method = 'ct-hux': expected one of 'ct-hu', 'mr-intensity', 'labels'"):
        parse_plan(d)
    d["segmentation"]["method"] = "ct-hu"
    assert parse_plan(d).segmentation == {"method": "ct-hu"}


def test_segmenter_keys_are_checked_against_the_method_used():
    d = {"plan": {"name": "t"}, "mesh": {"max_size_mm": 10.0}, "imaging": {"mr": "mr"},
         "segmentation": {"method": "mr-intensity", "fat_max_HU": -50.0, "fat_tissue": "fat"}}
    with pytest.raises(InputError, match=r"segmentation.fat_max_HU = -50.0: not used by method = 'mr-intensity'; "
                                         r"expected only \['mr_body_threshold', 'mr_classes', 'smoothing_voxels'\]"):
        parse_plan(d)  # (fat_tissue at its default is accepted: MR plans written from CT ones keep it)
    d = {"plan": {"name": "t"}, "mesh": {"max_size_mm": 10.0}, "imaging": {"ct": "ct"},
         "segmentation": {"mr_classes": ["fat", "muscle"]}}  # no method: the CT default ct-hu is checked
    with pytest.raises(InputError, match=r"mr_classes = \('fat', 'muscle'\): not used by method = 'ct-hu'"):
        parse_plan(d)
    d["segmentation"] = {"fat_max_HU": 10.0, "bone_min_HU": 5.0}
    with pytest.raises(InputError, match=r"segmentation: HU cut points .* expected strictly increasing values"):
        parse_plan(d)


def test_cli_prints_every_error_and_exits_2(tmp_path, capsys):
    from planner.cli import main

    plan = tmp_path / "plan.toml"
    plan.write_text('[plan]\nname = "t"\n[mesh]\nmax_size_mm = 10\n[[geometry.bodies]]\nname = "b"\nshape = "sphere"\n'
                    'radius_mm = 5\ntissue = "muscle"\n[applicator]\ntype = "solenoid"\nfrequency_kHz = 100\n'
                    'field_kA_per_m = 5\namplitude = "peak"\n[thermal]\nperfusion_model = "lang1990"\n')
    assert main(["check", str(plan)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "planner: error: applicator.radius_mm: missing required key for type = 'solenoid'; expected a positive coil "
        "radius in mm",
        "planner: error: applicator.turns: missing required key for type = 'solenoid'; expected an integer >= 1",
        "planner: error: applicator.length_mm: missing required key for type = 'solenoid'; expected a positive coil "
        "length in mm",
        "planner: error: thermal.perfusion_model = 'lang1990': expected one of 'constant', 'lang1999', "
        "'lang1999-absolute'",
    ]


def test_plan_reference_lists_per_model_keys():
    from planner.config.doc import render

    doc = render()
    assert '### `[applicator] type = "solenoid"`' in doc and '### `[[geometry.bodies]] shape = "hip-stem"`' in doc
    assert '### `[nanoparticles.distribution] kind = "r2star-map"`' in doc
    assert "### `[nanoparticles.linear_response]`" in doc and '### `[segmentation] method = "ct-hu"`' in doc
    solenoid = doc.split('### `[applicator] type = "solenoid"`')[1].split("###")[0]
    assert "| `turns` | an integer | **required** |" in solenoid


def test_config_imports_no_stage_package():
    stages = {"tissues", "geometry", "imaging", "em", "nanoparticles", "thermal", "planning", "reporting", "fem",
              "verification", "pipeline", "cli"}
    for path in sorted((ROOT / "planner" / "config").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for n in names:
                parts = n.split(".")
                assert not (parts[0] == "planner" and len(parts) > 1 and parts[1] in stages), f"{path.name} imports {n}"
        assert "__import__" not in path.read_text() and "import_module" not in path.read_text(), path.name
