"""planner.em.implants stage API without FEniCSx: options, bad inputs, loss mapping, shapes."""
from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

from planner.artefacts import Region, Role, TissueMesh
from planner.em import implants as im
from planner.errors import InputError, MeshError


class _Mat:
    def __init__(self, name, sigma, kind="metal", mu_r=1.0):
        self.name, self._s, self.kind, self.relative_permeability = name, sigma, kind, mu_r

    def conductivity_S_per_m(self, f):
        return self._s


class MockLib:
    """Tiny stand-in for planner.tissues.library.TissueLibrary (KeyError for unknown names, like a dict)."""

    def __init__(self, **mats):
        self._m = mats

    def __getitem__(self, k):
        return self._m[k]


LIB = MockLib(ti6al4v=_Mat("ti6al4v", 5.6e5), ss316l=_Mat("ss316l", 1.35e6), muscle=_Mat("muscle", 0.5, "tissue"),
              steel430=_Mat("steel430", 1.7e6, mu_r=600.0))


def grid_mesh(n=8, L=0.08, implant=((3, 5), (3, 5), (3, 5)), tissue="ti6al4v") -> TissueMesh:
    """Structured n³ cube (side L m) of 6-tet cubes; cells whose cube index lies in ``implant`` ranges
    form the implant region (tag 2), the rest the body (tag 1)."""
    idx = np.arange((n + 1) ** 3).reshape(n + 1, n + 1, n + 1)
    g = np.linspace(-L / 2, L / 2, n + 1)
    X, Y, Z = np.meshgrid(g, g, g, indexing="ij")
    pts = np.c_[X.ravel(), Y.ravel(), Z.ravel()]
    cells, reg = [], []
    kuhn = [(0, 1, 3, 7), (0, 1, 5, 7), (0, 2, 3, 7), (0, 2, 6, 7), (0, 4, 5, 7), (0, 4, 6, 7)]
    for i in range(n):
        for j in range(n):
            for k in range(n):
                v = [idx[i + a, j + b, k + c] for a in (0, 1) for b in (0, 1) for c in (0, 1)]
                inside = all(lo <= q < hi for q, (lo, hi) in zip((i, j, k), implant))
                for t in kuhn:
                    cells.append([v[t[0]], v[t[1]], v[t[2]], v[t[3]]])
                    reg.append(2 if inside else 1)
    cells = np.array(cells, np.int64)
    from planner.geometry.mesher import boundary_facets

    regions = (Region(1, "body", "muscle", Role.BODY), Region(2, "stem", tissue, Role.IMPLANT))
    return TissueMesh(pts, cells, np.array(reg, np.int32), regions, boundary_facets(cells))


def _call(mesh, regions=None, lib=LIB, **kw):
    return im.implant_losses(mesh, regions if regions is not None else mesh.regions_with_role(Role.IMPLANT),
                             A_peak_at=lambda p: np.zeros_like(p), H_peak_at=lambda p: np.zeros_like(p),
                             frequency_Hz=kw.pop("frequency_Hz", 1e5), lib=lib, geometry=None, **kw)


def test_unknown_metal_raises_input_error():
    m = grid_mesh(tissue="unobtainium")
    with pytest.raises(InputError, match="unobtainium"):
        _call(m)


def test_unknown_metal_with_real_library_raises_input_error():
    from planner.tissues.library import load_library

    m = grid_mesh(tissue="unobtainium")
    with pytest.raises(InputError, match="unobtainium"):
        _call(m, lib=load_library())


def test_non_metal_and_magnetic_materials_are_rejected():
    with pytest.raises(InputError, match="kind 'tissue'"):
        _call(grid_mesh(tissue="muscle"))
    with pytest.raises(InputError, match="relative_permeability = 600.0: expected 1"):
        _call(grid_mesh(tissue="steel430"))


def test_implant_touching_outer_boundary_is_rejected():
    m = grid_mesh(implant=((0, 2), (3, 5), (3, 5)))
    with pytest.raises(InputError, match="touches the outer boundary"):
        _call(m)


def test_implant_smaller_than_mesh_size_is_rejected():
    # a single cube of 6 tetrahedra: equivalent diameter < mean edge length
    m = grid_mesh(implant=((4, 5), (4, 5), (4, 5)))
    with pytest.raises(InputError, match="smaller than the mesh size|resolved by the mesh"):
        _call(m)


def test_non_implant_region_and_bad_frequency_are_rejected():
    m = grid_mesh()
    with pytest.raises(InputError, match="role"):
        _call(m, regions=(m.region("body"),))  # muscle, role body: not for the implant solver
    with pytest.raises(InputError, match="frequency_Hz"):
        _call(m, frequency_Hz=-1.0)


def test_empty_region_is_a_mesh_error():
    m = grid_mesh()
    ghost = Region(7, "ghost", "ti6al4v", Role.IMPLANT)
    m2 = TissueMesh(m.points_m, m.cells, m.cell_region, m.regions + (ghost,), m.skin_facets)
    with pytest.raises(MeshError, match="ghost"):
        _call(m2, regions=(ghost,))


def test_implant_regions_and_options_from_dict():
    m = grid_mesh()
    assert [r.name for r in im.implant_regions(m, LIB)] == ["stem"]
    assert im.ImplantOptions.from_dict({"refinement": 0.5}).refinement == 0.5
    assert im.ImplantOptions.from_dict(None) == im.ImplantOptions()
    with pytest.raises(InputError, match="implants.elements_per_delta"):
        im.ImplantOptions.from_dict({"elements_per_delta": 3})


@pytest.mark.parametrize("kw", [dict(degree=3), dict(geometry_order=0), dict(elements_per_skin_depth=0.0),
                                dict(box_factor=1.0), dict(rtol=-1.0), dict(max_iterations=0),
                                dict(box_half_size_mm=float("nan"))])
def test_options_validation(kw):
    with pytest.raises(InputError):
        im.ImplantOptions(**kw)


def test_map_to_mesh_conserves_the_loss_and_follows_the_density():
    m = grid_mesh()
    sel = np.flatnonzero(m.cell_region == 2)
    cen = m.cell_centroids_m()[sel]
    # fake sub-model: 1000 random points in the implant with a loss concentrated at x > 0
    rng = np.random.default_rng(1)
    pts = cen[rng.integers(0, len(sel), 1000)] + rng.normal(0, 1e-4, (1000, 3))
    w = np.where(pts[:, 0] > 0, 1.0, 0.0) * rng.random(1000)
    q = im._map_to_mesh(m, sel, pts, w, loss_W=2.5)
    vol = m.cell_volumes_m3()
    assert (q * vol).sum() == pytest.approx(2.5, rel=1e-12)
    assert np.all(q[m.cell_region == 1] == 0.0)
    assert (q * vol)[sel][cen[:, 0] < -1e-9].sum() < 1e-12 * 2.5 + 0.01 * 2.5  # loss stays where it was produced


def test_boundary_triangles_of_a_cube_region():
    m = grid_mesh()
    sel = m.cell_region == 2
    tris = im._boundary_triangles(m.cells[sel])
    assert len(tris) == 6 * 4 * 2  # 2×2 cubes per face, 2 triangles each


def test_summary_block_is_json_serialisable_and_total_q():
    L = im.ImplantLoss(name="stem", material="ti6al4v", loss_W=1.5, skin_depth_mm=2.1, peak_surface_J_A_per_m2=1e6,
                       box_size_mm=300.0, elements_per_skin_depth=2.0, dofs=1000, iterations=25,
                       Q_on_mesh_W_per_m3=np.ones(4), characteristic_size_mm=6.0, times_s={"solve": 1.0})
    b = L.summary_block()
    json.dumps(b)
    for k in ("name", "material", "loss_W", "skin_depth_mm", "peak_surface_J_A_per_m2", "box_size_mm",
              "elements_per_skin_depth", "dofs", "iterations"):
        assert k in b
    assert b["a_over_skin_depth"] == pytest.approx(6.0 / 2.1)
    assert np.all(im.total_Q_W_per_m3([L, L], 4) == 2.0)


# --- shapes ---------------------------------------------------------------------------------------
def test_hip_stem_parameters_validation():
    from planner.geometry.hip_stem import hip_stem_parameters, hip_stem_points_mm

    p = hip_stem_parameters()
    assert p["stem_length_mm"] == 130.0 and p["head_radius_mm"] == 14.0
    with pytest.raises(InputError, match="hip-stem.wobble"):
        hip_stem_parameters({"wobble": 1})
    with pytest.raises(InputError, match="ccd_angle_deg"):
        hip_stem_parameters({"ccd_angle_deg": 80})
    with pytest.raises(InputError, match="neck_radius_mm"):
        hip_stem_parameters({"neck_radius_mm": 20})
    k = hip_stem_points_mm({"axis": (0, 0, 2), "center_mm": (1, 2, 3)})
    assert np.allclose(k["tip"], (1, 2, 3 - 130))
    # neck at 180° − CCD = 45° from the proximal stem axis
    assert math.degrees(math.acos(k["neck_dir"] @ np.array([0, 0, 1.0]))) == pytest.approx(45.0)
    assert np.linalg.norm(k["head"] - np.array([1, 2, 3])) == pytest.approx(30.0)


def test_hip_stem_volume_is_between_its_parts():
    from planner.geometry.hip_stem import hip_stem_volume_m3

    v = hip_stem_volume_m3() * 1e9  # mm³
    cone = math.pi * 130 / 3 * (4**2 + 4 * 8 + 8**2)
    head = 4 / 3 * math.pi * 14**3
    neck = math.pi * 6**2 * 30
    assert head + cone < v < head + cone + neck + 2 * 4 / 3 * math.pi * 8**3


def test_build_primitive_all_shapes_volumes():
    import gmsh

    from planner.config.plan import BodySpec
    from planner.geometry.hip_stem import build_primitive

    bodies = [BodySpec(name="s", shape="sphere", tissue="x", radius_mm=5.0),
              BodySpec(name="c", shape="cylinder", tissue="x", radius_mm=2.0, length_mm=10.0, axis=(1.0, 1.0, 0.0)),
              BodySpec(name="b", shape="box", tissue="x", size_mm=(1.0, 2.0, 3.0)),
              BodySpec(name="e", shape="ellipsoid", tissue="x", semi_axes_mm=(1.0, 2.0, 3.0))]
    gmsh.initialize(readConfigFiles=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        for b in bodies:
            vols = build_primitive(gmsh.model.occ, b)
            gmsh.model.occ.synchronize()
            v = sum(gmsh.model.occ.getMass(3, t) for _, t in vols)
            assert v * 1e-9 == pytest.approx(b.exact_volume_m3(), rel=1e-3)  # OCC mass of a dilated sphere: ~4e-4
        with pytest.raises(InputError, match="shape"):
            build_primitive(gmsh.model.occ, SimpleNamespace(name="q", shape="torus"))
    finally:
        gmsh.finalize()


def test_options_sizing_and_submodel_choice():
    from planner.config.plan import BodySpec

    o = im.ImplantOptions(refinement=0.5, box_factor=4.0, elements_per_skin_depth=3.0, box_half_size_mm=50.0,
                          elements_per_size=5.0, geometry_order=2)
    s = o.sizing()
    assert (s.refinement, s.box_factor, s.elements_per_skin_depth, s.box_half_size_mm, s.elements_per_size) == \
        (0.5, 4.0, 3.0, 50.0, 5.0)
    m = grid_mesh()
    region = m.region("stem")
    sel = np.flatnonzero(m.cell_region == region.tag)
    faceted = im._submodel_geometry(m, region, sel, None, o)
    assert faceted.geometry.geometry_order == 1 and faceted.geometry.sizing == s
    assert "48 boundary triangles" in faceted.description and "faceted" in faceted.warnings[0]
    body = BodySpec(name="stem", shape="box", tissue="ti6al4v", role="implant", size_mm=(20.0, 20.0, 20.0))
    exact = im._submodel_geometry(m, region, sel, body, o)
    assert exact.geometry.geometry_order == 2 and not exact.warnings
    assert exact.description.startswith("plan primitive 'box'")
