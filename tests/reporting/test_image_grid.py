"""Sampling FE fields at voxel centres: exact for P1 fields, cell values for cell fields, NIfTI with
the image's affine, Numba kernel equal to its NumPy reference."""

import nibabel as nib
import numpy as np
import pytest
from scipy.spatial import Delaunay

from planner.artefacts import Region, Role, TissueMesh
from planner.imaging.nifti import read_nifti, read_nifti_labels
from planner.imaging.volume import Grid
from planner.reporting._kernels import interpolate_vertex_nb, interpolate_vertex_np, locate_voxels_nb, locate_voxels_np
from planner.reporting.image_grid import LabelEntry, sampler_for, write_image_fields, write_labels
from tests.imaging._imaging_util import rotation


def box_mesh(lo_m, hi_m, n=5, seed=0):
    """Delaunay tetrahedra of a jittered lattice filling the box [lo, hi] (convex: covers it)."""
    rng = np.random.default_rng(seed)
    axes = [np.linspace(a, b, n) for a, b in zip(lo_m, hi_m)]
    p = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    h = (np.asarray(hi_m) - np.asarray(lo_m)) / (n - 1)
    interior = np.all((p > np.asarray(lo_m) + 1e-12) & (p < np.asarray(hi_m) - 1e-12), axis=1)
    p[interior] += rng.uniform(-0.3, 0.3, (interior.sum(), 3)) * h
    cells = Delaunay(p).simplices.astype(np.int64)
    x = p[cells]
    vol = np.einsum("ij,ij->i", np.cross(x[:, 1] - x[:, 0], x[:, 2] - x[:, 0]), x[:, 3] - x[:, 0])
    cells = cells[np.abs(vol) > 1e-15]
    region = np.where(p[cells].mean(axis=1)[:, 0] > 0, 2, 1).astype(np.int32)
    regions = (Region(1, "left", "muscle", Role.BODY), Region(2, "right", "fat", Role.BODY))
    return TissueMesh(p, cells, region, regions, np.zeros((0, 3), np.int64))


def oblique_grid():
    """A rotated grid centred near the origin that reaches beyond the ±30 mm test cube."""
    R, sp, shape = rotation((1, 2, 3), 17), np.array([0.0068, 0.0061, 0.0072]), (9, 11, 12)
    half = sp * (np.array(shape[::-1]) - 1) / 2
    return Grid(shape, -R @ half + np.array([0.001, -0.002, 0.0015]), sp, R)


def test_linear_field_is_interpolated_exactly_on_an_oblique_grid():
    mesh = box_mesh((-0.03, -0.03, -0.03), (0.03, 0.03, 0.03), n=6)
    grid = oblique_grid()
    s = sampler_for(mesh, grid)
    a, b = np.array([120.0, -45.0, 300.0]), 37.0
    f = mesh.points_m @ a + b
    img = s.sample_vertex(f).astype(float)
    kk, jj, ii = np.nonzero(s.inside)
    x = grid.index_to_lps_m(np.column_stack([ii, jj, kk]))
    np.testing.assert_allclose(img[s.inside], x @ a + b, rtol=0, atol=1e-5)  # float32 storage
    # voxel centres outside the cube are outside the mesh, inside ones are located
    all_idx = np.indices(grid.shape).reshape(3, -1)
    xa = grid.index_to_lps_m(np.column_stack([all_idx[2], all_idx[1], all_idx[0]]))
    in_cube = np.all(np.abs(xa) < 0.03 - 1e-9, axis=1).reshape(grid.shape)
    assert in_cube.sum() > 100 and (~in_cube).sum() > 100
    np.testing.assert_array_equal(s.inside[in_cube], True)
    assert not s.inside[np.all(np.abs(xa) > 0.03 + 1e-9, axis=1).reshape(grid.shape)].any()
    assert np.all(img[~s.inside] == 0)
    # a non-linear field is not reproduced exactly (the test can fail)
    g = (mesh.points_m**2).sum(axis=1)
    assert np.abs(s.sample_vertex(g)[s.inside] - (x**2).sum(axis=1)).max() > 1e-6


def test_cell_field_takes_the_containing_cells_value():
    mesh = box_mesh((-0.03, -0.03, -0.03), (0.03, 0.03, 0.03), n=5)
    s = sampler_for(mesh, oblique_grid())
    img = s.sample_cell(mesh.cell_region.astype(float))
    kk, jj, ii = np.nonzero(s.inside)
    x = s.grid.index_to_lps_m(np.column_stack([ii, jj, kk]))
    # region 2 are cells with centroid x > 0; far from the interface the voxel's side decides
    far = np.abs(x[:, 0]) > 0.015
    np.testing.assert_array_equal(img[s.inside][far], np.where(x[far, 0] > 0, 2.0, 1.0))


def test_kernel_matches_numpy_reference():
    mesh = box_mesh((-0.02, -0.02, -0.02), (0.02, 0.02, 0.02), n=4, seed=3)
    grid = Grid((5, 6, 7), np.array([-0.024, -0.02, -0.019]), np.array([0.007, 0.0065, 0.009]), rotation((0, 1, 1), 30))
    pts = grid.lps_m_to_index(mesh.points_m)
    a = locate_voxels_nb(pts, mesh.cells, 5, 6, 7, 1e-9)
    b = locate_voxels_np(pts, mesh.cells, 5, 6, 7, 1e-9)
    assert (a >= 0).sum() > 20 and (a < 0).sum() > 20
    np.testing.assert_array_equal(a, b)
    # the sampler runs the kernel on the mesh's index box only (here it sticks out of the grid on some sides)
    np.testing.assert_array_equal(sampler_for(mesh, grid).cell_of.ravel(), b)
    f = np.random.default_rng(1).normal(37.0, 2.0, mesh.num_vertices)
    np.testing.assert_allclose(
        interpolate_vertex_nb(pts, mesh.cells, a, 6, 7, f),
        interpolate_vertex_np(pts, mesh.cells, a, 6, 7, f),
        rtol=1e-6,
    )


def test_nifti_affine_equals_the_image_affine_and_labels_roundtrip(tmp_path):
    mesh = box_mesh((-0.03, -0.03, -0.03), (0.03, 0.03, 0.03), n=5)
    grid = oblique_grid()
    s = sampler_for(mesh, grid)
    paths = write_image_fields(
        tmp_path, s, {"T_max_C": mesh.points_m[:, 0] * 100 + 37}, {"SAR_W_per_kg": mesh.cell_region * 1.0}
    )
    img = nib.load(str(paths[0]))
    ref = np.eye(4)
    ref[:3, :3] = np.diag([-1, -1, 1]) @ grid.direction @ np.diag(grid.spacing_m * 1e3)
    ref[:3, 3] = np.diag([-1, -1, 1]) @ grid.origin_m * 1e3
    np.testing.assert_allclose(img.affine, ref, atol=1e-5)
    back = read_nifti(paths[0])
    assert back.grid.same_as(grid)
    np.testing.assert_allclose(back.array, s.sample_vertex(mesh.points_m[:, 0] * 100 + 37))
    labels = (np.arange(np.prod(grid.shape)) % 3).reshape(grid.shape)
    files = write_labels(
        tmp_path,
        labels,
        grid,
        [LabelEntry(1, "Rectum wall", "muscle", "organ"), LabelEntry(2, "GTV", "tumour", "target")],
    )
    lab, lgrid = read_nifti_labels(files[0])
    np.testing.assert_array_equal(lab, labels)
    assert lgrid.same_as(grid)
    ctbl = files[1].read_text().splitlines()
    assert ctbl[0].startswith("# Color table file") and ctbl[2:] == [
        "0 outside 0 0 0 0",
        *[ln for ln in ctbl[3:] if ln.split()[0] in ("1", "2")],
    ]
    assert ctbl[3].startswith("1 Rectum_wall ") and ctbl[4].startswith("2 GTV ")
    assert all(len(ln.split()) == 6 for ln in ctbl[2:])
    import csv

    rows = list(csv.DictReader(files[2].read_text().splitlines()))
    assert [(r["LabelValue"], r["Name"], r["tissue"]) for r in rows] == [
        ("1", "Rectum wall", "muscle"),
        ("2", "GTV", "tumour"),
    ]
    assert rows[0]["Color_R"] == ctbl[3].split()[2]  # the same colours in both tables


@pytest.mark.parametrize("n", [3])
def test_point_outside_every_cell_is_minus_one(n):
    mesh = box_mesh((0.0, 0.0, 0.0), (0.01, 0.01, 0.01), n=n)
    grid = Grid((3, 3, 3), np.array([0.02, 0.02, 0.02]), np.array([0.001] * 3), np.eye(3))
    assert not sampler_for(mesh, grid).inside.any()


def _read_nrrd(path):
    """Minimal NRRD reader for the test: header dict (key: and key:= fields) and the gzip payload."""
    import gzip

    raw = path.read_bytes()
    head, body = raw.split(b"\n\n", 1)
    lines = head.decode().splitlines()
    assert lines[0] == "NRRD0004"
    fields = {}
    for ln in lines[1:]:
        if ln.startswith("#"):
            continue
        key, sep, value = ln.partition(":=") if ":=" in ln else ln.partition(": ")
        fields[key] = value
    return fields, gzip.decompress(body)


def test_seg_nrrd_has_the_ct_geometry_the_voxels_and_named_segments(tmp_path):
    grid = oblique_grid()
    labels = (np.arange(np.prod(grid.shape)) % 3).reshape(grid.shape)
    entries = [LabelEntry(1, "Rectum wall", "muscle", "organ"), LabelEntry(2, "GTV", "tumour", "target")]
    seg = [p for p in write_labels(tmp_path, labels, grid, entries) if p.name.endswith(".seg.nrrd")][0]
    f, data = _read_nrrd(seg)
    nk, nj, ni = grid.shape
    assert f["sizes"] == f"{ni} {nj} {nk}" and f["space"] == "left-posterior-superior" and f["type"] == "unsigned short"
    vecs = np.array([[float(v) for v in t.strip("()").split(",")] for t in f["space directions"].split()]).T
    np.testing.assert_allclose(vecs, grid.direction * grid.spacing_m * 1e3, atol=1e-8)  # columns: i, j, k in mm
    np.testing.assert_allclose(
        [float(v) for v in f["space origin"].strip("()").split(",")], grid.origin_m * 1e3, atol=1e-8
    )
    np.testing.assert_array_equal(np.frombuffer(data, "<u2").reshape(grid.shape), labels)
    assert [f[f"Segment{n}_Name"] for n in range(2)] == ["Rectum wall", "GTV"]
    assert [f[f"Segment{n}_LabelValue"] for n in range(2)] == ["1", "2"]
    # VTK's own NRRD reader agrees on size and voxel spacing
    import vtk

    r = vtk.vtkNrrdReader()
    r.SetFileName(str(seg))
    r.Update()
    np.testing.assert_allclose(r.GetOutput().GetSpacing(), grid.spacing_m * 1e3, rtol=1e-9)
    assert r.GetOutput().GetDimensions() == (ni, nj, nk)
    from vtk.util.numpy_support import vtk_to_numpy

    np.testing.assert_array_equal(vtk_to_numpy(r.GetOutput().GetPointData().GetScalars()), labels.ravel())
