"""[nanoparticles] plan section: the example snippets load, bad input names the dotted key."""
from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import pytest

from planner.config.plan import NanoparticleSection, load_plan, parse_section
from planner.errors import InputError
from planner.nanoparticles._testing import Library, UniformField, box_mesh, heat_for_plan

ROOT = Path(__file__).resolve().parents[2]

HEAD = """
[plan]
name = "np example"

[mesh]
max_size_mm = 10.0

[[geometry.bodies]]
name = "torso"
shape = "box"
tissue = "muscle"
size_mm = [100.0, 100.0, 100.0]

[[geometry.bodies]]
name = "tumour"
shape = "sphere"
tissue = "tumour"
role = "target"
radius_mm = 20.0
"""

# The snippets given to the lead for the torso phantom plan (keep in sync with the report).
SNIPPET_DEPOSIT_LR = """
[nanoparticles]
slp_model = "linear-response"

[nanoparticles.linear_response]
material = "magnetite"            # Rosensweig 2002 Table 1: Ms 446 kA/m, K 23 kJ/m³, ρ 5180 kg/m³
median_diameter_nm = 14.0         # median of the log-normal core-size (number) distribution
sigma_ln = 0.2
shell_thickness_nm = 5.0          # coating; hydrodynamic diameter = core + 2 × shell
brownian = false                  # particles immobilised in tissue: Néel relaxation only
temperature_C = 37.0
mass_basis = "per_g_Fe"

[nanoparticles.distribution]
kind = "deposit"
mass_of = "Fe"

[[nanoparticles.distribution.deposits]]
shape = "ellipsoid"
center_mm = [0.0, 0.0, 0.0]
semi_axes_mm = [12.0, 10.0, 10.0]
mass_mg = 20.0

[[nanoparticles.distribution.deposits]]
shape = "gaussian"
center_mm = [8.0, 4.0, 0.0]
sigma_mm = [5.0, 5.0, 5.0]
mass_mg = 10.0
"""

SNIPPET_TABLE = """
[nanoparticles]
slp_model = "table"

[nanoparticles.table]
file = "{csv}"                    # ILLUSTRATIVE table shipped with planner (not a measured product)
extrapolate = false

[nanoparticles.distribution]
kind = "uniform-in-target"
total_mass_mg = 30.0
"""


def write_plan(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "plan.toml"
    p.write_text(HEAD + body)
    return p


def test_example_snippets_load_and_run(tmp_path):
    mesh = box_mesh(10, half_size_m=0.05, target_radius_m=0.02)
    app = UniformField(1e5, 15e3)
    cfg = load_plan(write_plan(tmp_path, SNIPPET_DEPOSIT_LR))
    s = heat_for_plan(mesh, app, None, Library(), cfg).summary_block()
    assert s["slp_model"] == "linear-response" and s["total_mass_mg"] == 30.0
    assert s["mass_conservation_rel_error"] < 1e-12 and s["total_power_W"] > 0
    csv = (ROOT / "planner" / "nanoparticles" / "data" / "slp_table_illustrative.csv").as_posix()
    cfg = load_plan(write_plan(tmp_path, SNIPPET_TABLE.format(csv=csv)))
    s = heat_for_plan(mesh, app, None, Library(), cfg).summary_block()
    assert s["slp_model"] == "table" and s["mass_basis"] == "per_g_Fe"
    assert s["total_power_W"] == pytest.approx(s["slp_W_per_g"] * 0.030, rel=1e-12)  # uniform field


def test_table_path_is_relative_to_the_plan(tmp_path):
    (tmp_path / "slp.csv").write_text((ROOT / "planner" / "nanoparticles" / "data" / "slp_table_illustrative.csv").read_text())
    cfg = load_plan(write_plan(tmp_path, SNIPPET_TABLE.format(csv="slp.csv")))
    h = heat_for_plan(box_mesh(6), UniformField(1e5, 10e3), None, None, cfg)
    assert h.summary_block()["model"]["file"].endswith("slp.csv")


LR_OK = {"median_diameter_nm": 12.0, "shell_thickness_nm": 2.0}
DIST_OK = {"kind": "uniform-in-target", "total_mass_mg": 1.0}


@pytest.mark.parametrize("section,match", [
    ({"slp_model": "linear-response", "linear_response": {**LR_OK, "median_diameter_nm": -3.0}, "distribution": DIST_OK},
     r"nanoparticles\.linear_response\.median_diameter_nm = -3\.0"),
    ({"slp_model": "linear-response", "linear_response": {**LR_OK, "median_diameter_nm": float("nan")}, "distribution": DIST_OK},
     r"nanoparticles\.linear_response\.median_diameter_nm = nan"),
    ({"slp_model": "linear-response", "linear_response": {**LR_OK, "shell_thickness_nm": -1.0}, "distribution": DIST_OK},
     r"shell_thickness_nm = -1\.0"),
    ({"slp_model": "linear-response", "linear_response": {**LR_OK, "sigma_ln": 1.2}, "distribution": DIST_OK},
     r"nanoparticles\.linear_response\.sigma_ln = 1\.2"),
    ({"slp_model": "linear-response", "linear_response": {**LR_OK, "sigma_ln": -0.1}, "distribution": DIST_OK},
     r"sigma_ln = -0\.1"),
    ({"slp_model": "linear-response", "linear_response": {"median_diameter_nm": 12.0}, "distribution": DIST_OK},
     r"shell_thickness_nm: missing"),
    ({"slp_model": "linear-response", "linear_response": {**LR_OK, "material": "unobtainium"}, "distribution": DIST_OK},
     r"material = 'unobtainium'"),
    ({"slp_model": "linear-response", "linear_response": {**LR_OK, "viscosity": 1.0}, "distribution": DIST_OK},
     r"nanoparticles\.linear_response\.viscosity: unknown key"),
    ({"slp_model": "table", "distribution": DIST_OK}, r"\[nanoparticles\.table\]: missing"),
    ({"slp_model": "constant", "constant": {"slp_W_per_g": 100.0, "mass_basis": "per_g_Fe"},
      "linear_response": LR_OK, "distribution": DIST_OK}, r"\[nanoparticles\.linear_response\]: not used"),
    ({"slp_model": "constant", "constant": {"slp_W_per_g": 100.0}, "distribution": DIST_OK},
     r"nanoparticles\.constant\.mass_basis: missing"),
    ({"slp_model": "fancy", "distribution": DIST_OK}, r"nanoparticles\.slp_model = 'fancy'"),
    ({"slp_model": "constant", "constant": {"slp_W_per_g": 1.0, "mass_basis": "per_g_Fe"},
      "distribution": {"kind": "deposit", "deposits": [{"center_mm": [0, 0, 0], "semi_axes_mm": [1, -1, 1], "mass_mg": 1.0}]}},
     r"deposits\[0\]\.semi_axes_mm = \[1, -1, 1\]"),
    ({"slp_model": "constant", "constant": {"slp_W_per_g": 1.0, "mass_basis": "per_g_Fe"},
      "distribution": {"kind": "deposit", "deposits": [{"shape": "gaussian", "center_mm": [0, 0, 0], "mass_mg": 1.0}]}},
     r"deposits\[0\]\.sigma_mm: missing"),
    ({"slp_model": "constant", "constant": {"slp_W_per_g": 1.0, "mass_basis": "per_g_Fe"},
      "distribution": {"kind": "deposit", "deposits": [{"center_mm": [0, 0, 0], "semi_axes_mm": [1, 1, 1], "mass_mg": float("nan")}]}},
     r"deposits\[0\]\.mass_mg = nan"),
    ({"slp_model": "constant", "constant": {"slp_W_per_g": 1.0, "mass_basis": "per_g_Fe"},
      "distribution": {"kind": "r2star-map", "file": "a.nii", "relaxivity_per_s_per_mM": -1.0}},
     r"distribution\.relaxivity_per_s_per_mM = -1\.0"),
    ({"slp_model": "constant", "constant": {"slp_W_per_g": 1.0, "mass_basis": "per_g_Fe"},
      "distribution": {"kind": "concentration-map", "file": "a.nii", "mass_of": "particle"}},
     r"distribution\.mass_of = 'particle'"),
])
def test_bad_sections_name_key_and_value(section, match):
    with pytest.raises(InputError, match=match):
        parse_section(NanoparticleSection, section, "nanoparticles")


def test_bad_table_file_in_plan(tmp_path):
    (tmp_path / "bad.csv").write_text("# source: x\n# amplitude: peak\n# temperature_C: 25\nH,f,SLP\n1,1,1\n2,1,2\n")
    cfg = load_plan(write_plan(tmp_path, SNIPPET_TABLE.format(csv="bad.csv")))
    with pytest.raises(InputError, match=r"bad\.csv.*mass_basis"):
        heat_for_plan(box_mesh(4), UniformField(1e5, 10e3), None, None, cfg)
    np.testing.assert_equal(cfg.nanoparticles.model_parameters.extrapolate, False)
    assert isinstance(cfg.nanoparticles, NanoparticleSection) and not isinstance(cfg, types.SimpleNamespace)


def test_input_files_for_provenance(tmp_path):
    from planner.nanoparticles import input_files

    csv = (ROOT / "planner" / "nanoparticles" / "data" / "slp_table_illustrative.csv").as_posix()
    cfg = load_plan(write_plan(tmp_path, SNIPPET_TABLE.format(csv=csv)))
    files = input_files(cfg.nanoparticles, base_dir=cfg.base_dir)
    assert files == {"nanoparticles.table.file": Path(csv)}
    other = load_plan(write_plan(tmp_path, SNIPPET_DEPOSIT_LR))
    assert input_files(other.nanoparticles, base_dir=other.base_dir) == {}
