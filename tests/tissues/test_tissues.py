"""Tissue library: completeness, citations, units, Gabriel 1996 conductivities, overrides, errors."""
from __future__ import annotations

import dataclasses
import tomllib
from importlib import resources

import numpy as np
import pytest

from planner.config.plan import TissueOverride
from planner.errors import InputError
from planner.tissues.library import (
    ColeColeParameters,
    Tissue,
    TissueLibrary,
    load_library,
    parse_library_csv,
)
from planner.tissues.library import (
    EPS0_F_per_m as EPS0_F_PER_M,
)

REQUIRED_TISSUES = [
    "muscle", "fat", "skin", "bone_cortical", "bone_marrow", "liver", "kidney", "brain_grey",
    "brain_white", "blood", "prostate", "pancreas", "tumour", "air",
]
METALS = ["ti6al4v", "cp_titanium", "ss316l", "cocrmo"]


@pytest.fixture(scope="module")
def lib() -> TissueLibrary:
    return load_library()


def _csv_text() -> str:
    return resources.files("planner.tissues").joinpath("data", "tissues.csv").read_text(encoding="utf-8")


# --- completeness and data sanity --------------------------------------------------------------
def test_every_required_tissue_and_metal_is_present(lib):
    for name in REQUIRED_TISSUES + METALS:
        assert name in lib, name
        assert lib[name].name == name
    assert set(lib.names()) >= set(REQUIRED_TISSUES + METALS)
    assert len(lib.names()) == len(set(lib.names())) == len(lib)


def test_kinds(lib):
    for name in METALS:
        assert lib[name].kind == "metal"
    assert lib["air"].kind == "air"
    for name in REQUIRED_TISSUES:
        if name != "air":
            assert lib[name].kind == "tissue"


def test_every_row_has_a_citation(lib):
    for name, t in lib.items():
        assert isinstance(t, Tissue)
        assert len(t.citation.strip()) > 20, name
        assert not t.overridden
    # Stand-ins say so in their citation.
    for name in ("tumour", "prostate", "pancreas"):
        assert "STAND-IN" in lib[name].citation
    for name in ("muscle", "fat", "liver", "blood", "brain_grey", "brain_white", "bone_cortical", "kidney"):
        assert "Gabriel" in lib[name].citation and "IT'IS" in lib[name].citation


def test_units_and_ranges_are_sane(lib):
    for name, t in lib.items():
        assert 1.0 <= t.density_kg_per_m3 <= 20000.0, name
        assert t.heat_capacity_J_per_kg_K > 0, name
        assert t.thermal_conductivity_W_per_m_K > 0, name
        assert t.perfusion_mL_per_min_per_kg >= 0, name
        assert t.metabolic_heat_W_per_kg >= 0, name
        assert 0.99 <= t.relative_permeability <= 1.1, name
        if t.kind == "tissue" and name != "lung":
            # Soft tissues: density 900-2000 kg/m3, c 1000-4200 J/kg/K, k 0.15-0.7 W/m/K.
            assert 900 <= t.density_kg_per_m3 <= 2000, name
            assert 1000 <= t.heat_capacity_J_per_kg_K <= 4200, name
            assert 0.15 <= t.thermal_conductivity_W_per_m_K <= 0.7, name
    for name in METALS:
        t = lib[name]
        assert t.perfusion_mL_per_min_per_kg == 0.0 and t.perfusion_per_s == 0.0, name
        assert t.metabolic_heat_W_per_kg == 0.0, name
        assert 4000 <= t.density_kg_per_m3 <= 9000, name
        assert t.thermal_conductivity_W_per_m_K > 5.0, name
    assert lib["air"].density_kg_per_m3 < 2.0


def test_perfusion_and_metabolic_unit_conversion(lib):
    m = lib["muscle"]
    # 37 mL/min/kg x 1e-6 m3/mL / 60 s x 1090 kg/m3 = 6.72e-4 1/s
    assert m.perfusion_mL_per_min_per_kg == 37.0
    assert m.perfusion_per_s == pytest.approx(37.0 * 1e-6 / 60.0 * 1090.0, rel=1e-12)
    assert m.perfusion_per_s == pytest.approx(6.7217e-4, rel=1e-4)
    assert m.metabolic_heat_W_per_m3 == pytest.approx(0.91 * 1090.0, rel=1e-12)
    # Liver is perfused ~20x more than muscle per unit volume.
    assert 15 < lib["liver"].perfusion_per_s / m.perfusion_per_s < 30


def test_blood_accessor(lib):
    assert lib.blood is lib["blood"]
    assert lib.blood.density_kg_per_m3 == pytest.approx(1050.0)
    assert lib.blood.heat_capacity_J_per_kg_K == pytest.approx(3617.0)


def test_aliases_resolve_to_canonical_names(lib):
    assert lib["tumor"] is lib["tumour"]
    assert lib["grey_matter"].name == "brain_grey"
    assert "white_matter" in lib
    assert "tumor" not in lib.names()
    assert "no_such_tissue" not in lib
    assert 3 not in lib


def test_tissue_is_frozen(lib):
    with pytest.raises(dataclasses.FrozenInstanceError):
        lib["muscle"].density_kg_per_m3 = 1.0  # type: ignore[misc]


# --- conductivity --------------------------------------------------------------------------------
# Reference values: Gabriel, Lau & Gabriel 1996 (Phys. Med. Biol. 41:2271) parametric curves at
# 100 kHz as tabulated by the IFAC-CNR calculator (Andreuccetti, Fossi & Pratesi 1997,
# http://niremf.ifac.cnr.it/tissprop/), S/m. Band +-3 %: a mistyped parameter moves these by more.
GABRIEL_100KHZ_S_PER_M = {
    "muscle": 0.3618,         # 'Muscle'
    "fat": 0.02441,           # 'Fat (not infiltrated)'
    "blood": 0.7029,          # 'Blood'
    "liver": 0.08457,         # 'Liver'
    "bone_cortical": 0.02079,  # 'Bone Cortical'
    "brain_grey": 0.1337,     # 'Brain Grey Matter'
    "brain_white": 0.08185,   # 'Brain White Matter'
}
BAND_REL = 0.03


@pytest.mark.parametrize("name", sorted(GABRIEL_100KHZ_S_PER_M))
def test_conductivity_at_100kHz_matches_gabriel(lib, name):
    sigma = lib[name].conductivity_S_per_m(100e3)
    assert isinstance(sigma, float)
    assert sigma == pytest.approx(GABRIEL_100KHZ_S_PER_M[name], rel=BAND_REL)


def test_permittivity_at_100kHz_matches_gabriel(lib):
    # Real relative permittivity at 100 kHz from the same curves: muscle 8089, fat 92.88.
    eps_m = lib["muscle"].cole_cole.complex_relative_permittivity(100e3)
    eps_f = lib["fat"].cole_cole.complex_relative_permittivity(100e3)
    assert eps_m.real == pytest.approx(8089.0, rel=0.01)
    assert eps_f.real == pytest.approx(92.88, rel=0.01)
    # sigma = omega eps0 eps'' consistency between the two code paths.
    w = 2 * np.pi * 100e3
    assert -w * EPS0_F_PER_M * eps_m.imag == pytest.approx(lib["muscle"].conductivity_S_per_m(100e3), rel=1e-12)


def test_cole_cole_reduces_to_debye_closed_form():
    # alpha = 0, one term: sigma(w) = sigma_i + eps0 * d_eps * w^2 tau / (1 + w^2 tau^2).
    cc = ColeColeParameters(2.0, 0.3, (1000.0, 0, 0, 0), (1e-6, 0, 0, 0), (0.0, 0, 0, 0))
    f = np.logspace(3, 8, 11)
    w = 2 * np.pi * f
    exact = 0.3 + EPS0_F_PER_M * 1000.0 * w**2 * 1e-6 / (1 + (w * 1e-6) ** 2)
    np.testing.assert_allclose(cc.conductivity_S_per_m(f), exact, rtol=1e-12)
    # High-frequency limit: sigma_i + eps0 d_eps / tau.
    assert cc.conductivity_S_per_m(1e12)[()] == pytest.approx(0.3 + EPS0_F_PER_M * 1000.0 / 1e-6, rel=1e-6)


def test_tissue_conductivity_is_monotone_from_10kHz_to_1MHz(lib):
    f = np.logspace(4, 6, 201)
    for name, t in lib.items():
        if t.kind != "tissue":
            continue
        s = t.conductivity_S_per_m(f)
        assert s.shape == f.shape
        assert np.all(s > 0), name
        assert np.all(np.diff(s) >= -1e-12 * s[:-1]), name
        # Physiological LF range (S/m; wet skin is 0.003 at 10 kHz) except deionised water.
        if name != "water":
            assert 1e-3 < s[0] < 1.0 and s[-1] < 1.5, name


def test_metals_have_constant_datasheet_conductivity(lib):
    expected = {"ti6al4v": 5.6e5, "cp_titanium": 1.8e6, "ss316l": 1.35e6, "cocrmo": 1.1e6}
    f = np.array([1e4, 1e5, 3e5, 1e6])
    for name, sigma0 in expected.items():
        t = lib[name]
        s = t.conductivity_S_per_m(f)
        assert np.all(s == s[0]), name
        assert s[0] == pytest.approx(sigma0, rel=0.05), name
        assert t.is_conductor and not t.is_dispersive
        assert t.relative_permeability == pytest.approx(1.0, abs=0.02)


def test_air_does_not_conduct(lib):
    air = lib["air"]
    assert not air.is_conductor
    assert air.conductivity_S_per_m(1e5) == 0.0
    np.testing.assert_array_equal(air.conductivity_S_per_m(np.array([1e3, 1e6])), 0.0)
    assert all(lib[n].is_conductor for n in lib.names() if n != "air")


def test_conductivity_is_vectorised_and_shape_preserving(lib):
    f = np.array([[1e4, 1e5], [3e5, 1e6]])
    s = lib["liver"].conductivity_S_per_m(f)
    assert s.shape == (2, 2)
    assert s[0, 1] == pytest.approx(lib["liver"].conductivity_S_per_m(1e5), rel=1e-14)


@pytest.mark.parametrize("bad", [0.0, -1e5, float("nan"), float("inf"), [1e5, 0.0]])
def test_non_positive_frequency_is_an_input_error(lib, bad):
    with pytest.raises(InputError, match="frequency_Hz"):
        lib["muscle"].conductivity_S_per_m(bad)


def test_unknown_tissue_error_lists_known_names(lib):
    with pytest.raises(InputError) as exc:
        lib["musle"]
    msg = str(exc.value)
    assert "'musle'" in msg
    for name in ("muscle", "tumour", "cocrmo", "air"):
        assert name in msg
    assert lib.get("musle") is None


# --- overrides -----------------------------------------------------------------------------------
def test_override_existing_tissue_replaces_only_given_properties(lib):
    new = load_library({"muscle": TissueOverride(perfusion_mL_per_min_per_kg=111.0, density_kg_per_m3=1100.0)})
    m, m0 = new["muscle"], lib["muscle"]
    assert m.perfusion_mL_per_min_per_kg == 111.0 and m.density_kg_per_m3 == 1100.0
    assert m.perfusion_per_s == pytest.approx(111.0e-6 / 60.0 * 1100.0)
    assert m.heat_capacity_J_per_kg_K == m0.heat_capacity_J_per_kg_K
    assert m.conductivity_S_per_m(1e5) == m0.conductivity_S_per_m(1e5)
    assert m.overridden and m.citation.endswith("; overridden by plan")
    assert m.citation.startswith(m0.citation)
    assert not new["fat"].overridden
    assert not lib["muscle"].overridden  # the packaged library is not mutated


def test_constant_conductivity_override_replaces_cole_cole(lib):
    new = load_library({"tumour": TissueOverride(conductivity_S_per_m=0.8)})
    t = new["tumour"]
    f = np.logspace(4, 6, 5)
    np.testing.assert_array_equal(t.conductivity_S_per_m(f), 0.8)
    assert not t.is_dispersive and t.is_conductor
    assert new["tumor"] is t
    off = load_library({"fat": TissueOverride(conductivity_S_per_m=0.0)})
    assert not off["fat"].is_conductor


def test_new_tissue_copies_base(lib):
    new = load_library({
        "muscle": TissueOverride(heat_capacity_J_per_kg_K=3500.0),
        "glioma": TissueOverride(base="brain_grey", perfusion_mL_per_min_per_kg=300.0),
        "my_muscle": TissueOverride(base="muscle"),
        "my_muscle2": TissueOverride(base="my_muscle", conductivity_S_per_m=0.5),
        "gel": TissueOverride(base="tumor"),
    })
    g = new["glioma"]
    assert g.name == "glioma" and g.kind == "tissue" and g.overridden
    assert g.perfusion_mL_per_min_per_kg == 300.0
    assert g.density_kg_per_m3 == lib["brain_grey"].density_kg_per_m3
    assert g.conductivity_S_per_m(1e5) == lib["brain_grey"].conductivity_S_per_m(1e5)
    assert "brain_grey" in g.citation and g.citation.endswith("; overridden by plan")
    # New tissues copy the plan-overridden base, and may copy each other.
    assert new["my_muscle"].heat_capacity_J_per_kg_K == 3500.0
    assert new["my_muscle2"].heat_capacity_J_per_kg_K == 3500.0
    assert new["my_muscle2"].conductivity_S_per_m(1e4) == 0.5
    assert new["gel"].perfusion_mL_per_min_per_kg == lib["tumour"].perfusion_mL_per_min_per_kg
    assert new.names()[-4:] == ["glioma", "my_muscle", "my_muscle2", "gel"]
    assert "glioma" not in lib


def test_overrides_parsed_from_plan_toml(lib):
    data = tomllib.loads(
        """
        [tissues.liver]
        perfusion_mL_per_min_per_kg = 500.0
        [tissues.implant_rod]
        base = "ti6al4v"
        thermal_conductivity_W_per_m_K = 7.0
        """
    )
    new = load_library(data["tissues"])
    assert new["liver"].perfusion_mL_per_min_per_kg == 500.0
    rod = new["implant_rod"]
    assert rod.kind == "metal" and rod.thermal_conductivity_W_per_m_K == 7.0
    assert rod.conductivity_S_per_m(1e5) == lib["ti6al4v"].conductivity_S_per_m(1e5)


def test_new_tissue_without_base_names_the_key():
    with pytest.raises(InputError, match=r"tissues\.glioma\.base"):
        load_library({"glioma": TissueOverride(perfusion_mL_per_min_per_kg=300.0)})


def test_unknown_base_names_the_key_and_lists_tissues():
    with pytest.raises(InputError, match=r"tissues\.glioma\.base = 'brian_grey'.*brain_grey"):
        load_library({"glioma": TissueOverride(base="brian_grey")})


def test_cyclic_bases_are_rejected():
    with pytest.raises(InputError, match=r"tissues\.(a|b)\.base"):
        load_library({"a": TissueOverride(base="b"), "b": TissueOverride(base="a")})


@pytest.mark.parametrize(
    "key, value",
    [
        ("density_kg_per_m3", -1.0),
        ("heat_capacity_J_per_kg_K", 0.0),
        ("perfusion_mL_per_min_per_kg", -5.0),
        ("conductivity_S_per_m", float("nan")),
        ("relative_permeability", 0.0),
    ],
)
def test_bad_override_values_name_the_key(key, value):
    with pytest.raises(InputError, match=rf"tissues\.muscle\.{key}"):
        load_library({"muscle": TissueOverride(**{key: value})})
    with pytest.raises(InputError, match=rf"tissues\.muscle\.{key}"):
        load_library({"muscle": {key: value}})


def test_bad_override_tables_name_the_key():
    with pytest.raises(InputError, match=r"tissues\.muscle\.conductivity"):
        load_library({"muscle": {"conductivity": 0.5}})  # unit-less key: unknown
    with pytest.raises(InputError, match=r"tissues\.muscle"):
        load_library({"muscle": 0.5})
    with pytest.raises(InputError, match=r"tissues\.Bad Name"):
        load_library({"Bad Name": TissueOverride(base="muscle")})
    with pytest.raises(InputError, match=r"tissues\.tumor"):
        load_library({"tumour": TissueOverride(conductivity_S_per_m=1.0), "tumor": TissueOverride(conductivity_S_per_m=2.0)})


# --- the CSV format ------------------------------------------------------------------------------
def test_csv_is_package_data_with_a_citation_column():
    text = _csv_text()
    header = next(ln for ln in text.splitlines() if ln and not ln.startswith("#"))
    assert header.split(",")[-1] == "citation"
    assert parse_library_csv(text).names() == load_library().names()


def test_csv_errors_name_line_and_column():
    text = _csv_text()
    lines = text.splitlines()
    i = next(k for k, ln in enumerate(lines) if ln.startswith("liver,"))
    head, _, cit = lines[i].partition(',"')
    broken = lines.copy()
    broken[i] = head + ',""'
    with pytest.raises(InputError, match=rf"tissues.csv:{i + 1}\.citation"):
        parse_library_csv("\n".join(broken), "tissues.csv")
    broken = lines.copy()
    broken[i] = lines[i].replace("liver,tissue,,1079,", "liver,tissue,,-1079,", 1)
    with pytest.raises(InputError, match=rf"tissues.csv:{i + 1}\.density_kg_per_m3 = -1079"):
        parse_library_csv("\n".join(broken), "tissues.csv")
    broken = lines.copy()
    broken[i] = lines[i].replace("liver,", "muscle,", 1)
    with pytest.raises(InputError, match="muscle"):
        parse_library_csv("\n".join(broken), "tissues.csv")
