"""planner.geometry.mesh_cache (PLANNER_MESH_CACHE): keys, and each mesher's output read back instead of re-made.

The cached route must give the same mesh to the bit as the route that meshes, and must not call the
mesher at all on a hit (the meshers are replaced by failing stubs to prove it)."""
from __future__ import annotations

import functools

import numpy as np
import pytest

from planner.config.plan import MeshSection, parse_plan
from planner.geometry import mesh_cache, mesher
from planner.geometry import submodel as sm


def _plan(radius_mm=10.0):
    return parse_plan({"plan": {"name": "m"}, "mesh": {"max_size_mm": 8.0, "target_size_mm": 4.0}, "geometry": {"bodies": [
        {"name": "box", "shape": "box", "size_mm": [40, 30, 30], "tissue": "muscle"},
        {"name": "ball", "shape": "sphere", "radius_mm": radius_mm, "tissue": "tumour", "role": "target"}]}})


def _same(a, b):
    assert a.source == b.source and a.regions == b.regions
    for k in ("points_m", "cells", "cell_region", "skin_facets"):
        x, y = getattr(a, k), getattr(b, k)
        assert x.dtype == y.dtype and np.array_equal(x, y), k


def test_canonical_is_exact_and_refuses_closures():
    assert mesh_cache.canonical(0.1) == (0.1).hex() != mesh_cache.canonical(float(np.nextafter(0.1, 1.0)))
    a = np.arange(6.0)
    b = a.copy()
    b[3] = np.nextafter(3.0, 4.0)  # one ulp: another mesh
    assert mesh_cache.cache_key("k", {"a": a}) != mesh_cache.cache_key("k", {"a": b})
    assert mesh_cache.cache_key("k", {"a": a, "n": 1}) == mesh_cache.cache_key("k", {"n": 1, "a": a.copy()})
    assert mesh_cache.cache_key("k", {"a": a}) != mesh_cache.cache_key("other", {"a": a})
    cfg = _plan()
    assert mesh_cache.cache_key("p", cfg.geometry) == mesh_cache.cache_key("p", _plan().geometry)
    assert mesh_cache.cache_key("p", cfg.geometry) != mesh_cache.cache_key("p", _plan(radius_mm=9.0).geometry)
    assert isinstance(mesh_cache.canonical(functools.partial(sm.choose_sizes, refinement=2.0)), dict)
    with pytest.raises(mesh_cache.Uncacheable):
        mesh_cache.canonical(lambda occ: [])
    with pytest.raises(mesh_cache.Uncacheable):
        mesh_cache.canonical(object())


def test_off_without_the_variable(monkeypatch):
    monkeypatch.delenv(mesh_cache.ENV_VAR, raising=False)
    assert mesh_cache.cache_dir() is None
    assert mesh_cache.cached_arrays("k", {"x": 1}, lambda: {"v": np.ones(2)})["v"].tolist() == [1.0, 1.0]


def test_primitives_mesh_once_then_read(tmp_path, monkeypatch):
    cfg = _plan()
    monkeypatch.delenv(mesh_cache.ENV_VAR, raising=False)
    fresh = mesher.mesh_shapes(cfg.geometry, cfg.mesh)
    monkeypatch.setenv(mesh_cache.ENV_VAR, str(tmp_path / "m"))
    first = mesher.mesh_shapes(cfg.geometry, cfg.mesh)
    assert len(list((tmp_path / "m").glob("primitives-*.npz"))) == 1
    _same(fresh, first)  # gmsh is deterministic here: the saved mesh is the mesh

    def no_gmsh(*a, **k):
        raise AssertionError("meshed although the mesh is saved")

    monkeypatch.setattr(mesher, "_gmsh_mesh", no_gmsh)
    _same(first, mesher.mesh_shapes(cfg.geometry, cfg.mesh))
    with pytest.raises(AssertionError, match="meshed although"):  # other sizes: another key, meshed
        mesher.mesh_shapes(cfg.geometry, MeshSection(max_size_mm=7.0))


def test_label_volume_mesh_once_then_read(tmp_path, monkeypatch):
    from planner.imaging import label_mesh
    from planner.imaging.volume import Grid
    from tests.imaging.test_imaging_mesh import _spheres

    grid = Grid((24, 24, 24), np.zeros(3), np.array([0.002, 0.002, 0.002]), np.eye(3))
    lv = _spheres(grid)
    section = MeshSection(max_size_mm=10.0, target_size_mm=4.0)
    monkeypatch.setenv(mesh_cache.ENV_VAR, str(tmp_path))
    first, rep = label_mesh.mesh_labels(lv, section)
    assert len(list(tmp_path.glob("label-volume-*.npz"))) == 1 and first.source.startswith("pygalmesh ")

    def no_cgal(*a, **k):
        raise AssertionError("CGAL ran although the mesh is saved")

    monkeypatch.setattr(label_mesh, "_cgal_tetrahedra", no_cgal)
    again, rep2 = label_mesh.mesh_labels(lv, section)
    _same(first, again)
    assert rep2.volumes == rep.volumes


def _sphere(occ):
    return [(3, occ.addSphere(0.0, 0.0, 0.0, 5.0))]


def _nodes_and_groups(gmsh):
    tags, xyz, _ = gmsh.model.mesh.getNodes()
    order = np.argsort(tags)
    return xyz.reshape(-1, 3)[order], sorted(gmsh.model.getPhysicalGroups())


def test_submodel_mesh_once_then_read(tmp_path, monkeypatch):
    geo = sm.SubModelGeometry(_sphere, sizing=sm.SubModelSizing(refinement=0.4, box_factor=3.0), geometry_order=2)
    monkeypatch.setenv(mesh_cache.ENV_VAR, str(tmp_path))
    with geo.open(3.0, 2) as (gmsh, info):
        first = _nodes_and_groups(gmsh)
    assert len(list(tmp_path.glob("implant-submodel-*.msh"))) == 1
    assert info.exact_volume_m3 == pytest.approx(4 / 3 * np.pi * 5e-3**3, rel=1e-6) and info.geometry_order == 2

    def no_gmsh(*a, **k):
        raise AssertionError("meshed although the sub-model is saved")

    monkeypatch.setattr(sm, "build_submodel", no_gmsh)
    with geo.open(3.0, 2) as (gmsh, info2):
        again = _nodes_and_groups(gmsh)
    assert info2 == info
    assert np.array_equal(first[0], again[0]) and first[1] == again[1] == [(3, sm.METAL_TAG), (3, sm.SURROUNDING_TAG)]
    with pytest.raises(AssertionError, match="meshed although"):  # another skin depth: another mesh
        with geo.open(2.0, 2):
            pass
    # a closure has no stable key: meshed as usual, nothing saved
    monkeypatch.undo()
    monkeypatch.setenv(mesh_cache.ENV_VAR, str(tmp_path / "closure"))
    r = 5.0
    with sm.SubModelGeometry(lambda occ: [(3, occ.addSphere(0, 0, 0, r))], sizing=geo.sizing).open(3.0, 2) as (g, _):
        assert len(g.model.getPhysicalGroups()) == 2
    assert not list((tmp_path / "closure").glob("*.msh"))
