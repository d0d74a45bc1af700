import math

import numpy as np
import pytest

from planner.artefacts import Role
from planner.config.plan import parse_plan
from planner.errors import MeshError
from planner.geometry.mesher import boundary_facets, mesh_shapes


def plan(bodies, **mesh):
    return parse_plan({"plan": {"name": "m"}, "mesh": {"max_size_mm": 8.0, **mesh}, "geometry": {"bodies": bodies}})


def test_box_volume_is_exact_and_tags_cover_all_cells():
    cfg = plan([{"name": "box", "shape": "box", "size_mm": [40, 30, 20], "tissue": "muscle"}])
    m = mesh_shapes(cfg.geometry, cfg.mesh)
    assert m.region_volume_m3(1) == pytest.approx(0.04 * 0.03 * 0.02, rel=1e-12)
    assert set(np.unique(m.cell_region)) == {1}
    # skin = 2 triangles per boundary grid face at least; total skin area equals the box surface
    x = m.points_m[m.skin_facets]
    area = 0.5 * np.linalg.norm(np.cross(x[:, 1] - x[:, 0], x[:, 2] - x[:, 0]), axis=1).sum()
    assert area == pytest.approx(2 * (0.04 * 0.03 + 0.04 * 0.02 + 0.03 * 0.02), rel=1e-12)


def test_nested_bodies_override_and_volumes_converge():
    """Sphere inside a box: the box keeps box − sphere; polyhedral sphere volume error falls as O(h²)."""
    errs, hs = [], [8.0, 4.0, 2.0]
    for h in hs:
        cfg = plan([
            {"name": "box", "shape": "box", "size_mm": [60, 60, 60], "tissue": "fat"},
            {"name": "ball", "shape": "sphere", "radius_mm": 15, "tissue": "tumour", "role": "target"},
        ], max_size_mm=8.0, target_size_mm=h)
        m = mesh_shapes(cfg.geometry, cfg.mesh)
        ball, box = m.region("ball"), m.region("box")
        assert ball.role is Role.TARGET
        exact_ball = 4 / 3 * math.pi * 0.015**3
        assert ball.exact_volume_m3 == pytest.approx(exact_ball, rel=1e-6)
        assert box.exact_volume_m3 == pytest.approx(0.06**3 - exact_ball, rel=1e-6)
        # the union is exact (box faces are flat)
        assert m.cell_volumes_m3().sum() == pytest.approx(0.06**3, rel=1e-12)
        errs.append(abs(m.region_volume_m3(ball.tag) - exact_ball) / exact_ball)
    orders = [math.log(errs[i] / errs[i + 1]) / math.log(hs[i] / hs[i + 1]) for i in range(2)]
    assert errs[-1] < 0.01
    assert min(orders) > 1.5, (errs, orders)


@pytest.mark.parametrize("body,exact", [
    ({"shape": "cylinder", "radius_mm": 10, "length_mm": 40, "axis": [1, 1, 0]}, math.pi * 0.01**2 * 0.04),
    ({"shape": "ellipsoid", "semi_axes_mm": [20, 12, 8]}, 4 / 3 * math.pi * 0.02 * 0.012 * 0.008),
])
def test_primitive_exact_volumes(body, exact):
    cfg = plan([{"name": "p", "tissue": "muscle", **body}], max_size_mm=3.0)
    m = mesh_shapes(cfg.geometry, cfg.mesh)
    assert m.regions[0].exact_volume_m3 == pytest.approx(exact, rel=1e-6)
    assert m.region_volume_m3(1) == pytest.approx(exact, rel=0.05)


def test_target_is_refined():
    cfg = plan([
        {"name": "box", "shape": "box", "size_mm": [80, 80, 80], "tissue": "muscle"},
        {"name": "t", "shape": "sphere", "radius_mm": 10, "tissue": "tumour", "role": "target"},
    ], max_size_mm=16.0, target_size_mm=3.0)
    m = mesh_shapes(cfg.geometry, cfg.mesh)
    vol = m.cell_volumes_m3()
    edge = (vol * 6 * math.sqrt(2)) ** (1 / 3) * 1e3
    assert np.median(edge[m.cell_region == 2]) < 4.5
    assert np.median(edge[m.cell_region == 1]) > 2 * np.median(edge[m.cell_region == 2])


def test_fully_covered_body_is_an_error():
    cfg = plan([
        {"name": "big", "shape": "box", "size_mm": [40, 40, 40], "tissue": "muscle"},
        {"name": "small", "shape": "sphere", "radius_mm": 5, "tissue": "fat", "role": "organ"},
        {"name": "cover", "shape": "sphere", "radius_mm": 8, "tissue": "tumour", "role": "target"},
    ])
    with pytest.raises(MeshError, match=r"bodies\[1\] \('small'\): completely covered"):
        mesh_shapes(cfg.geometry, cfg.mesh)


def test_boundary_facets_of_two_tets():
    cells = np.array([[0, 1, 2, 3], [1, 2, 3, 4]])
    f = boundary_facets(cells)
    assert f.shape == (6, 3)
    assert not any((row == [1, 2, 3]).all() for row in f)


def test_hip_stem_shape_in_plans():
    """shape = 'hip-stem' (planner.geometry.hip_stem): validated parameters, meshed with its CAD volume."""
    from planner.errors import InputError
    from planner.geometry.hip_stem import hip_stem_volume_m3

    stem = {"name": "stem", "shape": "hip-stem", "tissue": "ti6al4v", "role": "implant", "center_mm": [0, 0, 40],
            "length_mm": 80.0, "radius_mm": 12.0, "parameters": {"neck_length_mm": 25.0}}
    cfg = plan([{"name": "box", "shape": "box", "size_mm": [160, 120, 200], "tissue": "muscle"}, stem],
               max_size_mm=20.0, implant_size_mm=5.0)
    m = mesh_shapes(cfg.geometry, cfg.mesh)
    reg = m.region("stem")
    exact = hip_stem_volume_m3({"stem_length_mm": 80.0, "head_radius_mm": 12.0, "neck_length_mm": 25.0})
    assert reg.exact_volume_m3 == pytest.approx(exact, rel=1e-3)
    assert m.region_volume_m3(reg.tag) == pytest.approx(exact, rel=0.08)
    with pytest.raises(InputError, match=r"bodies\[1\].parameters: hip-stem.ccd_angle_deg = 200"):
        plan([{"name": "box", "shape": "box", "size_mm": [1, 1, 1], "tissue": "muscle"},
              dict(stem, parameters={"ccd_angle_deg": 200})])
    with pytest.raises(InputError, match=r"parameters = \{'x': 1\}: not used by shape = 'sphere'"):
        plan([{"name": "b", "shape": "sphere", "radius_mm": 5, "tissue": "muscle", "parameters": {"x": 1}}])
