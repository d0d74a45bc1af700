"""Unit slips caught before anything is meshed or solved (issue 16, item 3)."""
import math
import time
from pathlib import Path

import numpy as np
import pytest

from planner.config.plan import load_plan, parse_plan
from planner.config.plausibility import (
    CELLS_PER_H3,
    check_plausibility,
    divergence_hint,
    estimate_cells,
    map_value_messages,
    plausibility_errors,
)
from planner.errors import InputError, SolverError
from tests.conftest import ROOT, run_cli

BASE = {
    "plan": {"name": "p", "output_dir": "out"},
    "geometry": {"bodies": [
        {"name": "body", "shape": "box", "size_mm": [80.0, 60.0, 60.0], "tissue": "muscle"},
        {"name": "tumour", "shape": "sphere", "radius_mm": 10.0, "tissue": "tumour", "role": "target"}]},
    "mesh": {"max_size_mm": 15.0, "target_size_mm": 5.0},
    "applicator": {"type": "uniform", "frequency_kHz": 100.0, "field_kA_per_m": 10.0, "amplitude": "peak"},
    "nanoparticles": {"slp_model": "constant", "constant": {"slp_W_per_g": 100.0, "mass_basis": "per_g_Fe"},
                      "distribution": {"kind": "uniform-in-target", "total_mass_mg": 50.0}},
}


def plan(**changes):
    import copy

    data = copy.deepcopy(BASE)
    for path, value in changes.items():
        node = data
        keys = path.split("__")
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
    return parse_plan(data)


def test_a_sane_plan_and_every_shipped_plan_are_plausible():
    assert plausibility_errors(plan()) == []
    for p in sorted((ROOT / "phantoms").glob("*/plan*.toml")):
        assert plausibility_errors(load_plan(p)) == [], p


@pytest.mark.parametrize("key, value, message", [
    ("applicator__field_kA_per_m", 4000.0, "applicator.field_kA_per_m = 4000: above 100 kA/m — was A/m meant?"),
    ("applicator__field_kA_per_m", 0.005, "applicator.field_kA_per_m = 0.005: below 0.01 kA/m — was the field given in mT"),
    ("applicator__frequency_kHz", 100000.0, "applicator.frequency_kHz = 100000: above 10000 kHz — was Hz meant?"),
    ("applicator__frequency_kHz", 0.1, "applicator.frequency_kHz = 0.1: below 1 kHz — was MHz meant?"),
    ("nanoparticles__distribution__total_mass_mg", 50000.0, "nanoparticles.distribution.total_mass_mg = 50000: above 20000 mg — was µg "
                                                            "meant?"),
    ("nanoparticles__constant__slp_W_per_g", 250000.0, "nanoparticles.constant.slp_W_per_g = 250000: above 10000 W/g — was W/kg"),
])
def test_unit_slips_name_key_value_and_likely_mistake(key, value, message):
    with pytest.raises(InputError) as err:
        check_plausibility(plan(**{key: value}))
    assert str(err.value).startswith(message), str(err.value)


def test_uniform_mass_in_ug_is_refused_by_the_concentration_it_implies():
    # 5000 "mg" in a 4.19 mL tumour = 1194 mg/mL: a mass in µg (5 mg)
    errs = plausibility_errors(plan(nanoparticles__distribution__total_mass_mg=5000.0))
    assert len(errs) == 1 and "total_mass_mg = 5000: 1194 mg/mL over 4.19 mL" in errs[0] and "was µg meant?" in errs[0]


def test_deposit_mass_in_ug_is_refused():
    dist = {"kind": "deposit", "deposits": [
        {"center_mm": [0, 0, 0], "mass_mg": 20.0, "semi_axes_mm": [4.0, 4.0, 4.0]},
        {"center_mm": [5, 0, 0], "mass_mg": 3000.0, "shape": "gaussian", "sigma_mm": [2.0, 2.0, 2.0]}]}
    errs = plausibility_errors(plan(nanoparticles__distribution=dist))
    assert len(errs) == 1 and errs[0].startswith("nanoparticles.distribution.deposits[1].mass_mg = 3000: ")
    assert "was µg meant?" in errs[0]


def test_two_slips_are_both_reported_one_line_each():
    from planner.errors import InputErrors

    with pytest.raises(InputErrors) as err:
        check_plausibility(plan(applicator__field_kA_per_m=4000.0, applicator__frequency_kHz=1e5))
    assert len(err.value.errors) == 2 and "was A/m meant?" in err.value.errors[0] and "was Hz meant?" in err.value.errors[1]


def test_cell_estimate_follows_volume_over_h_cubed_and_refuses_a_tiny_size():
    cfg = plan()
    v_t = 4 / 3 * math.pi * 10.0 ** 3
    expected = CELLS_PER_H3 * ((80 * 60 * 60 - v_t) / 15.0 ** 3 + v_t / 5.0 ** 3)
    assert estimate_cells(cfg) == int(expected)
    tiny = plan(mesh={"max_size_mm": 0.01})
    errs = plausibility_errors(tiny)
    assert len(errs) == 1 and errs[0].startswith("mesh.max_size_mm = 0.01: the mesh would have about 1.73e+12 cells")
    assert "GiB" in errs[0] and "limit 2e+07 cells" in errs[0]


def test_map_values_in_ug_per_mL():
    assert map_value_messages("k", 5.0, 100.0, "mg_Fe_per_mL") == []
    errs = map_value_messages("nanoparticles.distribution.file = 'c.nii'", 5000.0, 60000.0, "mg_Fe_per_mL")
    assert len(errs) == 2 and "map maximum 5000 mg Fe/mL" in errs[0] and "was the map in µg/mL?" in errs[0]
    assert "holds 60 g of iron" in errs[1]
    assert "was the map in µM?" in map_value_messages("k", 900.0, 1.0, "mM_Fe")[0]


def test_divergent_temperature_names_the_keys():
    from planner.pipeline import _solve_bioheat_explained

    class Heat:
        def summary_block(self):
            return {"total_power_W": 2.4e4, "eddy_power_W": 0.3, "implant_power_W": 0.0}

    def solve(*a):
        raise SolverError("temperature T = 1911455.00 °C in tissue 'muscle' at [0, 0, 0] mm, time t = 30.0 s: expected -50..200 °C")

    cfg = plan(applicator__field_kA_per_m=40.0)
    with pytest.raises(SolverError) as err:
        _solve_bioheat_explained(solve, None, Heat(), None, cfg)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("temperature T = 1911455.00 °C")
    assert "nanoparticles 2.4e+04 W" in msg and "applicator.field_kA_per_m = 40" in msg
    assert "nanoparticles.distribution.total_mass_mg = 50" in msg and "likely a unit slip" in msg
    assert divergence_hint(cfg, {"nanoparticles": 1.0}).startswith("heat source nanoparticles 1 W from applicator.field_kA_per_m = 40")


TOML = """
[plan]
name = "slip"
output_dir = "out"

[[geometry.bodies]]
name = "body"
shape = "box"
size_mm = [80.0, 60.0, 60.0]
tissue = "muscle"

[mesh]
max_size_mm = {size}

[applicator]
type = "uniform"
frequency_kHz = 100.0
field_kA_per_m = {field}
amplitude = "peak"

[nanoparticles]
slp_model = "constant"

[nanoparticles.constant]
slp_W_per_g = 100.0
mass_basis = "per_g_Fe"

[nanoparticles.distribution]
kind = "concentration-map"
file = "c.nii.gz"
units = "mg_Fe_per_mL"
"""


def _map(folder: Path, value: float) -> None:
    import nibabel as nib

    A = np.diag([4.0, 4.0, 4.0, 1.0])
    A[:3, 3] = -40.0
    data = np.zeros((20, 20, 20), np.float32)
    data[8:12, 8:12, 8:12] = value
    nib.save(nib.Nifti1Image(data, A), str(folder / "c.nii.gz"))


@pytest.mark.parametrize("size, field, conc, phrase", [
    (15.0, 4000.0, 5.0, "applicator.field_kA_per_m = 4000: above 100 kA/m — was A/m meant?"),
    (0.01, 10.0, 5.0, "mesh.max_size_mm = 0.01: the mesh would have about"),
    (15.0, 10.0, 5000.0, "map maximum 5000 mg Fe/mL (units = 'mg_Fe_per_mL') is above 500 mg Fe/mL"),
])
def test_check_and_run_refuse_before_meshing(tmp_path, size, field, conc, phrase):
    _map(tmp_path, conc)
    p = tmp_path / "plan.toml"
    p.write_text(TOML.format(size=size, field=field))
    for verb in ("check", "run"):
        t0 = time.perf_counter()
        res = run_cli(verb, str(p), timeout=120)
        assert res.returncode == 2, res.stderr
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and phrase in lines[0], res.stderr
        assert time.perf_counter() - t0 < 60
    assert sorted(x.name for x in tmp_path.iterdir()) == ["c.nii.gz", "plan.toml"]


def test_slp_table_values_against_their_declared_units(tmp_path):
    from planner.config.plausibility import table_value_messages

    src = (ROOT / "planner" / "nanoparticles" / "data" / "slp_table_illustrative.csv").read_text()
    good = tmp_path / "good.csv"
    good.write_text(src)
    bad = tmp_path / "bad.csv"  # the field column holds A/m but is labelled kA/m
    lines = src.splitlines()
    i = lines.index("H_kA_per_m,f_kHz,SLP_W_per_g")
    rows = [f"{float(r.split(',')[0]) * 1000:g},{r.split(',', 1)[1]}" for r in lines[i + 1:]]
    bad.write_text("\n".join(lines[:i + 1] + rows) + "\n")
    toml = TOML.replace('kind = "concentration-map"\nfile = "c.nii.gz"\nunits = "mg_Fe_per_mL"',
                        'kind = "uniform-in-target"\ntotal_mass_mg = 10.0').replace(
        'slp_model = "constant"\n\n[nanoparticles.constant]\nslp_W_per_g = 100.0\nmass_basis = "per_g_Fe"',
        'slp_model = "table"\n\n[nanoparticles.table]\nfile = "{table}"')
    toml = toml.replace("[mesh]", '[[geometry.bodies]]\nname = "t"\nshape = "sphere"\nradius_mm = 10.0\ntissue = "tumour"\nrole = '
                                  '"target"\n\n[mesh]')
    p = tmp_path / "plan.toml"
    p.write_text(toml.replace("{size}", "15.0").replace("{field}", "10.0").replace("{table}", "good.csv"))
    assert run_cli("check", str(p)).returncode == 0
    p.write_text(toml.replace("{size}", "15.0").replace("{field}", "10.0").replace("{table}", "bad.csv"))
    res = run_cli("check", str(p))
    assert res.returncode == 2, res.stderr
    assert ("nanoparticles.table.file = 'bad.csv': field H up to 25000 kA/m after the declared units, "
            "above 100 kA/m — was A/m meant?") in res.stderr
    assert table_value_messages("k", [1e3], [1e5], [5e4])[0].startswith("k: SLP up to 50000 W/g")
    assert "was MHz meant?" in table_value_messages("k", [1e3], [100.0], [1.0])[0]


def test_a_map_that_misses_the_body_is_refused_at_check(tmp_path):
    import nibabel as nib

    A = np.diag([4.0, 4.0, 4.0, 1.0])
    A[:3, 3] = 500.0  # 500 mm away (NIfTI is RAS: x, y flip to LPS)
    nib.save(nib.Nifti1Image(np.ones((10, 10, 10), np.float32), A), str(tmp_path / "c.nii.gz"))
    p = tmp_path / "plan.toml"
    p.write_text(TOML.format(size=15.0, field=10.0))
    res = run_cli("check", str(p))
    assert res.returncode == 2, res.stderr
    assert ("nanoparticles.distribution.file = 'c.nii.gz': the map (LPS mm [-538.0, -538.0, 498.0] .. [-498.0, -498.0, 538.0]) "
            "does not overlap the body 'body' (LPS mm [-40.0, -30.0, -30.0] .. [40.0, 30.0, 30.0])") in res.stderr
