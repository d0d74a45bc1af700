"""Particle distribution ``organ-uptake``: dose split by plan fractions or cited defaults; bad fractions."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from planner.artefacts import Region, Role
from planner.config.plan import DistributionSection, parse_section
from planner.errors import InputError
from planner.nanoparticles._testing import box_mesh
from planner.nanoparticles.distributions import distribute, mapped_mass_mg
from planner.nanoparticles.uptake import DEFAULT_UPTAKE

KEY = "nanoparticles.distribution"


@pytest.fixture(scope="module")
def mesh():
    m = box_mesh(8, half_size_m=0.05, target_radius_m=0.02)
    cen = m.cell_centroids_m()
    reg = m.cell_region.copy()
    reg[(cen[:, 0] > 0.025) & (reg == 1)] = 3  # a 'liver' slab beside the tumour
    regions = m.regions + (Region(3, "liver", "liver", Role.ORGAN),)
    return dataclasses.replace(m, cell_region=reg, regions=regions, _cache={})


def dist(d: dict):
    return parse_section(DistributionSection, {"kind": "organ-uptake", "mass_of": "Fe", **d}, KEY)


def test_plan_fractions_split_the_dose(mesh):
    d = distribute(mesh, dist({"total_mass_mg": 100.0, "uptake_fractions": {"liver": 0.6, "tumour": 0.1}}))
    V = mesh.cell_volumes_m3()
    for name, frac in (("liver", 0.6), ("tumour", 0.1)):
        cells = mesh.cell_region == mesh.region(name).tag
        assert float(np.dot(d.concentration_mg_per_mL[cells], V[cells])) * 1e6 == pytest.approx(100.0 * frac, rel=1e-12)
        assert np.ptp(d.concentration_mg_per_mL[cells]) < 1e-12  # uniform within the region
    assert d.concentration_mg_per_mL[mesh.cell_region == 1].max() == 0.0
    assert d.details["unmodelled_fraction"] == pytest.approx(0.3)
    assert mapped_mass_mg(mesh, d.concentration_mg_per_mL) == pytest.approx(70.0, rel=1e-12)


def test_cited_defaults(mesh):
    d = distribute(mesh, dist({"total_mass_mg": 100.0}))
    assert d.details["defaults_used"] and d.details["sources"]
    up = d.details["uptake"]
    assert up["liver"]["fraction"] == DEFAULT_UPTAKE["liver"] and up["tumour"]["fraction"] == DEFAULT_UPTAKE["target"]


@pytest.mark.parametrize("fractions, match", [
    ({"liver": 0.8, "tumour": 0.3}, r"^nanoparticles\.distribution\.uptake_fractions: fractions sum to 1\.1; expected at most 1"),
    ({"liver": 80.0}, r"^nanoparticles\.distribution\.uptake_fractions"),
])
def test_bad_fractions_are_one_line_errors(fractions, match):
    with pytest.raises(InputError, match=match) as e:
        dist({"total_mass_mg": 100.0, "uptake_fractions": fractions})
    assert "\n" not in str(e.value)


def test_unknown_region_names_the_key(mesh):
    with pytest.raises(InputError, match=r"^nanoparticles\.distribution\.uptake_fractions\.kidney = 0\.1"):
        distribute(mesh, dist({"total_mass_mg": 100.0, "uptake_fractions": {"kidney": 0.1}}))
