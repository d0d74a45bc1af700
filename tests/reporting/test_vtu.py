"""VtuWriter: files written from the once-encoded geometry read back exactly (meshio and VTK)."""
import meshio
import numpy as np

from planner.reporting.vtu import VtuWriter


def test_vtu_writer_round_trip_multi_block(tmp_path):
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(5000, 3))  # 120 kB of points: several 32 KiB zlib blocks
    cells = rng.integers(0, 5000, size=(7000, 4))
    region = rng.integers(0, 9, size=7000).astype(np.int32)
    w = VtuWriter(pts, cells, {"region": region})
    for i in range(2):  # the second file reuses the encoded geometry
        T = rng.normal(size=5000)
        H = rng.normal(size=(5000, 3))
        q = rng.normal(size=7000)
        p = w.write(tmp_path / f"f{i}.vtu", point_data={"T_C": T, "H": H}, cell_data={"Q": q})
        m = meshio.read(p)
        np.testing.assert_array_equal(m.points, pts)
        np.testing.assert_array_equal(m.cells_dict["tetra"], cells)
        np.testing.assert_array_equal(m.point_data["T_C"], T)
        np.testing.assert_array_equal(m.point_data["H"], H)
        np.testing.assert_array_equal(m.cell_data["Q"][0], q)
        np.testing.assert_array_equal(m.cell_data["region"][0], region)
    m = meshio.read(w.write(tmp_path / "geom.vtu"))  # geometry and the shared region only
    assert set(m.cell_data) == {"region"} and not m.point_data


def test_vtu_writer_read_by_vtk(tmp_path):
    pv = __import__("pytest").importorskip("pyvista")
    pts = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]])
    cells = np.array([[0, 1, 2, 3], [1, 2, 3, 4]])
    g = pv.read(VtuWriter(pts, cells).write(tmp_path / "t.vtu", point_data={"T": np.arange(5.0)},
                                            cell_data={"r": np.array([3, 4], np.int32)}))
    assert g.n_cells == 2 and g.n_points == 5
    np.testing.assert_array_equal(np.asarray(g.point_data["T"]), np.arange(5.0))
    np.testing.assert_array_equal(np.asarray(g.cell_data["r"]), [3, 4])
    np.testing.assert_allclose(g.volume, 1 / 6 + 1 / 3, rtol=1e-12)
