"""[selection_field]: magpylib Maxwell pair against its closed form, FFR finding and placement, one-line
errors (magnet in the body, coil through the body, FFR outside the body), FFR heating width."""
from __future__ import annotations

import math

import numpy as np
import pytest

from planner.config.plan import SelectionFieldSection
from planner.config.schema import parse_section
from planner.em.selection_field import B_at, build_sources, find_ffr, inside_body, selection_field
from planner.errors import InputError
from planner.nanoparticles._testing import box_mesh
from planner.verification.convergence import observed_orders
from planner.verification.selection_field import (
    ffr_fwhm_estimate_m,
    fwhm_of_profile_m,
    maxwell_pair_gradient_T_per_m,
    maxwell_pair_on_axis_Bz_T,
)

R, N, I = 0.2, 10, 1000.0


def section(d: dict) -> SelectionFieldSection:
    return parse_section(SelectionFieldSection, d, "selection_field")


def maxwell(current=I, **kw) -> SelectionFieldSection:
    return section({"coil_pairs": [{"radius_mm": R * 1e3, "current_A": current, "turns": N, **kw}], **{}})


@pytest.fixture(scope="module")
def mesh():
    return box_mesh(8, half_size_m=0.05, target_radius_m=0.015, target_center_m=(0.01, 0.0, 0.0))


def test_maxwell_pair_on_axis_field_and_gradient_against_closed_form():
    src = build_sources(maxwell())
    d = math.sqrt(3.0) * R / 2
    z = np.linspace(-0.15, 0.15, 31)
    Bz = B_at(src, np.c_[0 * z, 0 * z, z])[:, 2]
    exact = maxwell_pair_on_axis_Bz_T(z, radius_m=R, half_spacing_m=d, turns=N, current_A=I)
    assert np.max(np.abs(Bz - exact)) < 1e-9 * np.max(np.abs(exact))
    G = maxwell_pair_gradient_T_per_m(radius_m=R, half_spacing_m=d, turns=N, current_A=I)
    hs = [0.04, 0.02, 0.01]  # central differences of the magpylib field: error → 0 with order ≥ 2
    err = [abs((B_at(src, [[0, 0, h]])[0, 2] - B_at(src, [[0, 0, -h]])[0, 2]) / (2 * h) - G) for h in hs]
    orders, _ = observed_orders(hs, err)
    assert min(orders) > 1.9, orders
    assert err[-1] / G < 1e-5
    ffr = find_ffr(src, np.array([0.01, -0.02, 0.015]))
    assert ffr.kind == "point" and np.linalg.norm(ffr.position_m) < 1e-9
    assert ffr.gradients_T_per_m == pytest.approx([G, G / 2, G / 2], rel=1e-6)


def test_ffr_follows_shift_and_is_placed_on_the_target(mesh):
    big = {"radius_mm": 150.0, "current_A": 2000.0, "turns": 10}
    sf = selection_field(mesh, section({"coil_pairs": [big], "shift_mm": [5.0, -3.0, 2.0]}))
    assert sf.ffr.position_m * 1e3 == pytest.approx([5.0, -3.0, 2.0], abs=1e-6)
    on = selection_field(mesh, section({"coil_pairs": [big], "place_ffr_on_target": True}))
    assert np.linalg.norm(on.ffr.position_m - mesh.target_centroid_m()) < 1e-9
    blk = on.summary_block()
    assert set(blk) >= {"ffr_position_mm", "gradient_T_per_m", "model"} and blk["model"] == "magpylib"
    assert np.allclose(np.linalg.norm(on.H_dc_A_per_m, axis=1) > 0, True)


def test_magnets_give_a_point_ffr_between_opposed_poles(mesh):
    m = {"shape": "block", "size_mm": [80.0, 80.0, 40.0]}
    sf = selection_field(mesh, section({"magnets": [
        {**m, "center_mm": [0.0, 0.0, 120.0], "polarization_T": [0.0, 0.0, 1.3]},
        {"shape": "cylinder", "diameter_mm": 90.0, "height_mm": 40.0, "center_mm": [0.0, 0.0, -120.0],
         "polarization_T": [0.0, 0.0, -1.3]}]}))
    assert sf.ffr.kind == "point" and abs(sf.ffr.position_m[0]) < 1e-6 and sf.gradient_T_per_m > 0.5


@pytest.mark.parametrize("data, key", [
    ({"magnets": [{"shape": "block", "size_mm": [20.0, 20.0, 20.0], "center_mm": [0.0, 0.0, 40.0],
                   "polarization_T": [0.0, 0.0, 1.3]}]}, r"^selection_field\.magnets\[0\]: .*overlaps the body"),
    ({"coil_pairs": [{"radius_mm": 30.0, "current_A": 100.0}]}, r"^selection_field\.coil_pairs\[0\]: .*crosses the body"),
    ({"coil_pairs": [{"radius_mm": 150.0, "current_A": 100.0}], "shift_mm": [0.0, 0.0, 80.0]},
     r"^selection_field\.shift_mm = .*FFR inside the body"),
])
def test_bad_placement_is_a_one_line_error(mesh, data, key):
    with pytest.raises(InputError, match=key) as e:
        selection_field(mesh, section(data))
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("data, key", [
    ({}, r"^selection_field: no \[\[selection_field\.magnets\]\]"),
    ({"magnets": [{"shape": "block", "center_mm": [0, 0, 0], "polarization_T": [0, 0, 1300.0],
                   "size_mm": [1.0, 1.0, 1.0]}]}, r"polarization_T.*mT entered as T"),
    ({"magnets": [{"shape": "cylinder", "center_mm": [0, 0, 0], "polarization_T": [0, 0, 1.0],
                   "diameter_mm": 10.0}]}, r"height_mm: missing"),
])
def test_bad_section_is_a_one_line_error(data, key):
    with pytest.raises(InputError, match=key):
        section(data)


def test_inside_body(mesh):
    assert list(inside_body(mesh, np.array([[0.0, 0.0, 0.0], [0.049, 0.0, 0.0], [0.06, 0.0, 0.0]]))) == [True, True, False]


def test_ffr_heating_width_against_the_model_estimate(tmp_path):
    """1-D heating profile along a Maxwell pair's axis, SLP(H_ac, |H_dc(z)|) of the nonlinear model, vs the
    model's own estimate FWHM = 2 μ0 H_½/G: the relative difference falls with the gradient (field
    nonlinearity over the FFR width) with order ≥ 1.8 and is < 1 % at the strongest gradient."""
    from planner.nanoparticles.slp import LinearResponseParameters
    from planner.nanoparticles.slp.nonlinear import NonlinearRelaxationModel, TableGrid

    p = LinearResponseParameters(median_diameter_m=14e-9, sigma_ln=0.0, shell_thickness_m=0.0, Ms_A_per_m=446e3,
                                 K_J_per_m3=23e3, density_kg_per_m3=5180.0, iron_mass_fraction=0.724,
                                 viscosity_Pa_s=1e-3, T_K=310.15, brownian=False)
    model = NonlinearRelaxationModel(p, TableGrid(2e5, 16, 128), cache=tmp_path)
    H_ac = 5e3
    h_half = model.half_power_bias_A_per_m(H_ac, 1e5)
    rel, widths = [], []
    for current in (100.0, 200.0, 400.0):
        src = build_sources(section({"coil_pairs": [{"radius_mm": 100.0, "current_A": current, "turns": 100}]}))
        G = maxwell_pair_gradient_T_per_m(radius_m=0.1, half_spacing_m=math.sqrt(3) * 0.05, turns=100, current_A=current)
        est = ffr_fwhm_estimate_m(h_half, G)
        z = np.linspace(-1.5 * est, 1.5 * est, 1201)
        Hdc = np.linalg.norm(B_at(src, np.c_[0 * z, 0 * z, z]), axis=1) / (4e-7 * math.pi)
        prof = model.slp_W_per_g_biased(np.full(z.size, H_ac), Hdc, 1e5)
        w = fwhm_of_profile_m(z, prof)
        widths.append(w)
        rel.append(abs(w / est - 1.0))
    orders, _ = observed_orders([1.0, 0.5, 0.25], rel)
    assert min(orders) > 1.8, (orders, rel)
    assert rel[-1] < 1e-2, rel
