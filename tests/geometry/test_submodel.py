"""planner.geometry.submodel: automatic sizes, P2 Jacobian check, the gmsh sub-model behind the seam."""
from __future__ import annotations

import math

import numpy as np
import pytest

from planner.errors import InputError
from planner.geometry import submodel as sm

A_MM = 10.0


def _sphere(occ):
    return [(3, occ.addSphere(1.0, -2.0, 0.5, A_MM))]


def test_choose_sizes_closed_forms():
    s = sm.choose_sizes(skin_depth_mm=3.0, characteristic_size_mm=10.0, bounding_radius_mm=12.0, refinement=0.5)
    assert s.surface_size_mm == pytest.approx(min(3.0 / 2.0, 10.0 / 4.0) / 0.5)  # n_δ = 2 for degree 2
    assert s.bulk_size_mm == pytest.approx(max(10.0 / 4.0 / 0.5, s.surface_size_mm))
    assert s.box_half_size_mm == pytest.approx(120.0)  # box_factor 10 × bounding radius
    assert s.far_size_mm == pytest.approx(120.0 / 4.0 / 0.5)
    assert s.elements_per_skin_depth == pytest.approx(3.0 / s.surface_size_mm)
    s1 = sm.choose_sizes(skin_depth_mm=3.0, characteristic_size_mm=10.0, bounding_radius_mm=12.0, degree=1)
    assert s1.surface_size_mm == pytest.approx(1.0)  # n_δ = 3 for degree 1
    capped = sm.choose_sizes(skin_depth_mm=100.0, characteristic_size_mm=10.0, bounding_radius_mm=12.0)
    assert capped.surface_size_mm == pytest.approx(2.5)  # a / elements_per_size when δ is large


def test_choose_sizes_rejects_bad_values():
    with pytest.raises(InputError, match="box_half_size_mm = 12"):
        sm.choose_sizes(skin_depth_mm=3.0, characteristic_size_mm=10.0, bounding_radius_mm=12.0, box_half_size_mm=12.0)
    with pytest.raises(InputError, match="elements_per_skin_depth"):
        sm.choose_sizes(skin_depth_mm=3.0, characteristic_size_mm=10.0, bounding_radius_mm=12.0,
                        elements_per_skin_depth=0.0)
    with pytest.raises(InputError, match="geometry_order"):
        sm.SubModelGeometry(_sphere, geometry_order=0)


def _straight_p2(v: np.ndarray) -> np.ndarray:
    edges = [(0, 1), (1, 2), (0, 2), (0, 3), (2, 3), (1, 3)]
    return np.vstack([v] + [0.5 * (v[i] + v[j]) for i, j in edges])


def test_p2_jacobian_ratio_straight_and_folded():
    v = np.array([[0.0, 0, 0], [2.0, 0, 0], [0.3, 1.5, 0], [0.2, 0.4, 1.7]])
    nodes = _straight_p2(v)[None]
    assert sm.p2_jacobian_ratio(nodes)[0] == pytest.approx(1.0, abs=1e-12)  # affine: det J_P2 = det J_P1
    folded = nodes.copy()
    folded[0, 4] = v[1] + 0.3 * (v[1] - v[0])  # edge 0-1 midpoint pushed beyond vertex 1
    # node shift δm = 0.8 (v1 − v0); ∇N4 = 4 ∇L0 = −4 (1, 1, 1) at vertex 1, so J = J1 − 3.2 (v1 − v0) ⊗ (1, 1, 1)
    # and (matrix determinant lemma, J1⁻¹ (v1 − v0) = e1) det J / det J1 = 1 − 3.2 = −2.2 there, the minimum
    assert sm.p2_jacobian_ratio(folded)[0] == pytest.approx(-2.2, rel=1e-12)


@pytest.mark.parametrize("order", [1, 2])
def test_open_builds_a_tagged_graded_submodel(order):
    geo = sm.SubModelGeometry(_sphere, sizing=sm.SubModelSizing(refinement=0.4, box_factor=3.0), geometry_order=order)
    with geo.open(5.0, 2) as (gmsh, info):
        groups = sorted(gmsh.model.getPhysicalGroups(3))
        assert groups == [(3, sm.METAL_TAG), (3, sm.SURROUNDING_TAG)]
        etypes, _, enodes = gmsh.model.mesh.getElements(3)
        assert list(etypes) == [11 if order == 2 else 4]  # 10-node / 4-node tetrahedra
        if order == 2:
            ntags, coords, _ = gmsh.model.mesh.getNodes()
            pos = np.empty((int(ntags.max()) + 1, 3))
            pos[ntags] = coords.reshape(-1, 3)
            assert sm.p2_jacobian_ratio(pos[np.asarray(enodes[0], np.int64).reshape(-1, 10)]).min() >= 0.05
    assert info.geometry_order == order
    assert info.exact_volume_m3 == pytest.approx(4.0 / 3.0 * math.pi * (A_MM * 1e-3) ** 3, rel=1e-6)
    s = info.sizes
    assert s.characteristic_size_mm == pytest.approx(A_MM, rel=1e-6)  # 3V/S = a for a sphere
    assert s.bounding_radius_mm == pytest.approx(math.sqrt(3.0) * A_MM, rel=1e-6)
    assert s.box_half_size_mm == pytest.approx(3.0 * s.bounding_radius_mm)
    assert s.skin_depth_mm == 5.0


def test_open_raises_input_errors_of_the_sizing():
    geo = sm.SubModelGeometry(_sphere, sizing=sm.SubModelSizing(box_half_size_mm=A_MM))
    with pytest.raises(InputError, match="box_half_size_mm"):
        with geo.open(5.0, 2):
            pass
