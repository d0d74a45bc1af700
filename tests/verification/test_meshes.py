"""planner.verification.meshes: the meshes/*.geo scripts through gmsh (parameters, regions, cache), the same
meshes as the planner's mesher for the same geometry, and the structured cube."""
from __future__ import annotations

import dataclasses
import math
import shutil

import numpy as np
import pytest

from planner.artefacts import Role
from planner.errors import InputError, MeshError
from planner.verification.meshes import MESHES_DIR, reference_mesh, script_parameters, structured_cube


def _same(a, b) -> bool:
    def regions(m):
        return [(r.tag, r.name, r.tissue, r.role) for r in m.regions]

    return (np.array_equal(a.points_m, b.points_m) and np.array_equal(a.cells, b.cells)
            and np.array_equal(a.cell_region, b.cell_region) and regions(a) == regions(b))


def test_every_script_declares_its_parameters_and_the_readme_lists_them():
    readme = (MESHES_DIR / "README.md").read_text()
    scripts = sorted(MESHES_DIR.glob("*.geo"))
    assert {"sphere_in_sphere.geo", "box.geo", "sphere.geo", "torso.geo"} <= {s.name for s in scripts}
    for s in scripts:
        params = script_parameters(s)
        assert params, f"{s.name}: no DefineConstant parameters"
        assert f"`{s.name}`" in readme, s.name
        row = next(line for line in readme.splitlines() if f"`{s.name}`" in line)
        assert all(f"`{p}`" in row for p in params), (s.name, params)


def test_sphere_in_sphere_regions_volumes_and_parameters(tmp_path):
    a_mm, R_mm = 10.0, 20.0
    m = reference_mesh("sphere_in_sphere.geo", {"a_mm": a_mm, "R_mm": R_mm, "h_mm": 2.0, "h_outer_mm": 4.0},
                       tissues={"shell": "fat"}, roles={"core": Role.TARGET}, cache_dir=tmp_path)
    assert [(r.tag, r.name, r.tissue, r.role) for r in m.regions] == [(1, "core", "core", Role.TARGET),
                                                                        (2, "shell", "fat", Role.BODY)]
    v_core, v_all = m.region_volume_m3(1), m.cell_volumes_m3().sum()
    exact_core, exact_all = 4 / 3 * math.pi * (a_mm * 1e-3) ** 3, 4 / 3 * math.pi * (R_mm * 1e-3) ** 3
    assert -0.03 < v_core / exact_core - 1 < 0 and -0.04 < v_all / exact_all - 1 < 0  # inscribed polyhedra
    r = np.linalg.norm(m.points_m, axis=1)
    assert r.max() == pytest.approx(R_mm * 1e-3, rel=1e-6)
    core_r = np.linalg.norm(m.points_m[np.unique(m.cells[m.cell_region == 1])], axis=1)
    assert core_r.max() == pytest.approx(a_mm * 1e-3, rel=1e-6)
    assert m.skin_facets.shape[0] > 0 and np.allclose(r[m.skin_facets], R_mm * 1e-3, rtol=1e-6)


def test_cache_is_read_and_keyed_by_parameters(tmp_path):
    a = reference_mesh("box.geo", {"h_mm": 5.0}, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.msh"))) == 1
    assert _same(a, reference_mesh("box.geo", {"h_mm": 5.0}, cache_dir=tmp_path))
    assert _same(a, reference_mesh("box.geo", {"h_mm": 5.0}, cache=False))
    c = reference_mesh("box.geo", {"h_mm": 2.5}, cache_dir=tmp_path)
    files = sorted(tmp_path.glob("*.msh"), key=lambda p: p.stat().st_mtime)
    assert len(files) == 2 and c.num_cells > a.num_cells
    shutil.copy(files[1], files[0])  # the h = 5 entry now holds the h = 2.5 mesh: a cached call must return it
    assert reference_mesh("box.geo", {"h_mm": 5.0}, cache_dir=tmp_path).num_cells == c.num_cells
    files[0].write_text("not a mesh")
    with pytest.raises(MeshError, match="unreadable .*delete it to re-mesh"):
        reference_mesh("box.geo", {"h_mm": 5.0}, cache_dir=tmp_path)


def test_bad_parameter_and_missing_script_are_one_line_errors():
    with pytest.raises(InputError, match=r"box.geo parameter = 'size_mm': expected one of \['h_mm', 'lx_mm'"):
        reference_mesh("box.geo", {"size_mm": 3.0}, cache=False)
    with pytest.raises(InputError, match="reference mesh script = 'nope.geo': expected a .geo file"):
        reference_mesh("nope.geo")


def test_a_parameter_not_given_takes_the_scripts_default(tmp_path):
    """gmsh keeps ONELAB values across sessions: r_mm = 30 of the cylinder must not leak into the sphere."""
    reference_mesh("cylinder.geo", {"r_mm": 30.0, "length_mm": 20.0, "h_mm": 10.0}, cache_dir=tmp_path)
    m = reference_mesh("sphere.geo", {"h_mm": 12.0}, cache_dir=tmp_path)
    assert script_parameters("sphere.geo")["r_mm"] == "50"
    assert np.linalg.norm(m.points_m, axis=1).max() == pytest.approx(0.050, rel=1e-6)


def _body(name: str, shape: str, **kw) -> dict:
    return {"name": name, "shape": shape, "tissue": name, **kw}


BODIES = {  # script, parameters, the same geometry as plan bodies (planner.geometry.mesher.mesh_shapes)
    "sphere": ("sphere.geo", {"r_mm": 50.0, "cx_mm": 5.0, "h_mm": 14.0},
               [_body("sphere", "sphere", radius_mm=50.0, center_mm=[5.0, 0.0, 0.0])]),
    "ellipsoid": ("ellipsoid.geo", {"a_mm": 60.0, "b_mm": 40.0, "c_mm": 30.0, "h_mm": 10.0},
                  [_body("ellipsoid", "ellipsoid", semi_axes_mm=[60.0, 40.0, 30.0])]),
    "cylinder": ("cylinder.geo", {"r_mm": 30.0, "length_mm": 80.0, "h_mm": 10.0},
                 [_body("cylinder", "cylinder", radius_mm=30.0, length_mm=80.0)]),
    "two_spheres": ("two_spheres.geo", {"cx_mm": 12.0, "cz_mm": 9.0, "h_mm": 12.0},
                    [_body("fat", "sphere", radius_mm=60.0),
                     _body("core", "sphere", radius_mm=35.0, center_mm=[12.0, 0.0, 9.0])]),
}


def _plan_mesh(bodies, **mesh):
    from planner.config.plan import parse_plan
    from planner.geometry.mesher import mesh_shapes

    cfg = parse_plan({"plan": {"name": "t"}, "mesh": mesh, "geometry": {"bodies": bodies}})
    return mesh_shapes(cfg.geometry, cfg.mesh)


@pytest.mark.parametrize("case", sorted(BODIES))
def test_script_gives_the_planners_mesh_of_the_same_bodies(case):
    script, params, bodies = BODIES[case]
    ref = reference_mesh(script, params, cache=False)
    plan = _plan_mesh(bodies, max_size_mm=params["h_mm"])
    plan = dataclasses.replace(plan, regions=tuple(dataclasses.replace(r, exact_volume_m3=None) for r in plan.regions))
    assert _same(ref, plan), case


@pytest.mark.slow
def test_torso_script_gives_the_planners_mesh_of_the_torso_phantom():
    """meshes/torso.geo = phantoms/torso/plan.toml's geometry and size fields (coarse sizes: ~15 s each)."""
    from planner.config.plan import load_plan
    from planner.geometry.mesher import mesh_shapes

    sizes = {"max_size_mm": 60.0, "organ_size_mm": 40.0, "target_size_mm": 12.0, "growth_distance_mm": 60.0}
    cfg = load_plan(MESHES_DIR.parent / "phantoms" / "torso" / "plan.toml")
    plan = mesh_shapes(cfg.geometry, dataclasses.replace(cfg.mesh, **sizes))
    ref = reference_mesh("torso.geo", sizes, cache=False,
                         roles={"liver": Role.ORGAN, "tumour": Role.TARGET})
    plan = dataclasses.replace(plan, regions=tuple(dataclasses.replace(r, exact_volume_m3=None) for r in plan.regions))
    assert _same(ref, plan)


def test_structured_cube_volume_boundary_and_regions():
    n, L = 4, 0.1
    m = structured_cube(n, L, center_m=(0.0, 0.0, 0.05))
    assert m.num_cells == 6 * n**3 and m.num_vertices == (n + 1) ** 3
    assert m.cell_volumes_m3().sum() == pytest.approx(L**3, rel=1e-12)
    assert np.allclose(m.cell_volumes_m3(), L**3 / (6 * n**3), rtol=1e-9)
    assert m.skin_facets.shape == (12 * n**2, 3)
    assert m.points_m[:, 2].min() == pytest.approx(0.0, abs=1e-15)
    from planner.artefacts import Region

    two = structured_cube(n, L, regions=(Region(1, "a", "fat", Role.BODY), Region(2, "b", "muscle", Role.TARGET)),
                          region_of=lambda c: np.where(c[:, 0] < 0, 1, 2), skin=False)
    assert two.region_volume_m3(1) == pytest.approx(L**3 / 2, rel=1e-12) and two.skin_facets.shape == (0, 3)
    with pytest.raises(InputError, match="region_of and regions given together"):
        structured_cube(n, L, region_of=lambda c: np.ones(len(c)))
