"""TissueMesh → DOLFINx: tags, volumes by assembly, value transfer, and the same under mpirun -n 2."""
import json
import textwrap

import numpy as np
import pytest

from planner.config.plan import parse_plan
from planner.geometry.mesher import mesh_shapes
from tests.conftest import run_mpi

BODIES = [
    {"name": "box", "shape": "box", "size_mm": [60, 50, 40], "tissue": "muscle"},
    {"name": "ball", "shape": "sphere", "radius_mm": 12, "center_mm": [5, 0, 0], "tissue": "tumour", "role": "target"},
]


def _mesh():
    cfg = parse_plan({"plan": {"name": "m"}, "mesh": {"max_size_mm": 10.0, "target_size_mm": 4.0},
                      "geometry": {"bodies": BODIES}})
    return mesh_shapes(cfg.geometry, cfg.mesh)


def test_volumes_by_assembly_match_numpy_and_transfer_round_trips():
    import dolfinx.fem

    from planner.fem.mesh import region_volumes_m3, to_dolfinx

    m = _mesh()
    fm = to_dolfinx(m)
    vols = region_volumes_m3(fm)
    for reg in m.regions:
        assert vols[reg.tag] == pytest.approx(m.region_volume_m3(reg.tag), rel=1e-12)
    back = fm.gather_cell_values(fm.local_cell_values(m.cell_region.astype(float)))
    np.testing.assert_array_equal(back, m.cell_region)
    V = dolfinx.fem.FunctionSpace(fm.mesh, ("CG", 1))
    u = dolfinx.fem.Function(V)
    u.interpolate(lambda x: 1 + x[0] - 2 * x[2])
    np.testing.assert_allclose(fm.gather_vertex_values(V, u.x.array), 1 + m.points_m[:, 0] - 2 * m.points_m[:, 2])
    assert fm.facet_tags.values.size == m.skin_facets.shape[0]


def test_cut_facets_get_the_cut_tag_and_the_rest_stay_skin():
    """Facets listed in TissueMesh.cut_facets (here: the box's top face, z = +20 mm) are CUT_TAG,
    every other exterior facet SKIN_TAG; the tagged areas match the face areas."""
    import dataclasses

    import dolfinx.fem
    import ufl

    from planner.fem import _compat
    from planner.fem.mesh import CUT_TAG, SKIN_TAG, to_dolfinx

    m = _mesh()
    tri = m.points_m[m.skin_facets]
    top = np.all(np.isclose(tri[:, :, 2], 0.020, atol=1e-9), axis=1)
    assert top.any() and not top.all()
    cut = dataclasses.replace(m, skin_facets=m.skin_facets[~top], cut_facets=m.skin_facets[top], _cache={})
    fm = to_dolfinx(cut)
    ds = ufl.Measure("ds", domain=fm.mesh, subdomain_data=fm.facet_tags)
    one = dolfinx.fem.Constant(fm.mesh, _compat.SCALAR_TYPE(1.0))
    area_cut = dolfinx.fem.assemble_scalar(_compat.form(one * ds(CUT_TAG)))
    area_skin = dolfinx.fem.assemble_scalar(_compat.form(one * ds(SKIN_TAG)))
    assert area_cut == pytest.approx(0.060 * 0.050, rel=1e-12)
    assert area_skin == pytest.approx(2 * (0.06 * 0.05 + 0.06 * 0.04 + 0.05 * 0.04) - 0.060 * 0.050, rel=1e-12)
    assert int((fm.facet_tags.values == CUT_TAG).sum()) == int(top.sum())


@pytest.mark.mpi
def test_same_mesh_and_volumes_on_two_ranks(tmp_path):
    script = tmp_path / "mpi_mesh.py"
    script.write_text(textwrap.dedent(f"""
        import json
        from mpi4py import MPI
        from planner.config.plan import parse_plan
        from planner.fem import parallel
        from planner.fem.mesh import to_dolfinx, region_volumes_m3
        from planner.geometry.mesher import mesh_shapes
        cfg = parse_plan({{"plan": {{"name": "m"}}, "mesh": {{"max_size_mm": 10.0, "target_size_mm": 4.0}},
                          "geometry": {{"bodies": {BODIES!r}}}}})
        m = parallel.on_root_then_bcast(lambda: mesh_shapes(cfg.geometry, cfg.mesh))
        fm = to_dolfinx(m)
        vols = region_volumes_m3(fm)
        owned = MPI.COMM_WORLD.allgather(fm.num_owned_cells)
        if MPI.COMM_WORLD.rank == 0:
            print("RESULT", json.dumps({{"vols": vols, "owned": owned, "cells": m.num_cells}}))
    """))
    res = run_mpi(script)
    assert res.returncode == 0, res.stderr[-3000:]
    line = next(ln for ln in res.stdout.splitlines() if ln.startswith("RESULT"))
    out = json.loads(line.split(" ", 1)[1])
    m = _mesh()
    assert out["cells"] == m.num_cells
    assert len(out["owned"]) == 2 and min(out["owned"]) > 0 and sum(out["owned"]) == m.num_cells
    for reg in m.regions:
        assert out["vols"][str(reg.tag)] == pytest.approx(m.region_volume_m3(reg.tag), rel=1e-12)
