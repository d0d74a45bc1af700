"""Slices over the planning image: patient orientation from the direction cosines (radiological display,
edge labels), the grey window, and the drawn figure (isotherms, outlines, colour over the anatomy)."""
import math

import numpy as np
import pytest

from planner.imaging.volume import Grid
from planner.reporting.slice_overlays import (
    ISOTHERM_COLOUR,
    display_axes,
    edge_labels,
    image_slices,
    obliquity_deg,
    overlay_figure,
    structure_colours,
    underlay_window,
)

STANDARD = {"axial": ("R", "L", "A", "P"), "coronal": ("R", "L", "S", "I"), "sagittal": ("A", "P", "S", "I")}


def _rot_z(deg):
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


# direction columns = i, j, k unit vectors in LPS
GRIDS = {
    "axial LPS": np.eye(3),
    "i flipped (i → R), k → I": np.diag([-1.0, 1.0, -1.0]),
    "sagittal acquisition (i → A, j → I, k → L)": np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]]),
    "coronal acquisition (i → L, j → I, k → P)": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]]),
}


def _blob_volume(direction):
    """A 30×26×22 grid (2/2.5/3 mm) centred on the LPS origin with a marker 12 mm to the patient's left,
    12 mm anterior and 12 mm superior of the centre; returns (grid, volume, centre ijk, marker ijk)."""
    shape = (22, 26, 30)
    spacing = np.array([0.002, 0.0025, 0.003])
    centre_ijk = (np.array(shape[::-1]) - 1) / 2.0
    origin = -(direction @ (centre_ijk * spacing))  # grid centre at the LPS origin
    grid = Grid(shape, origin, spacing, direction)
    vol = np.zeros(shape, np.float32)
    p = np.array([[0.012, -0.012, 0.012]])  # +x = left, −y = anterior, +z = superior
    i, j, k = np.rint(grid.lps_m_to_index(p)[0]).astype(int)
    vol[k, j, i] = 1.0
    return grid, vol, np.rint(centre_ijk).astype(int), np.array([i, j, k])


@pytest.mark.parametrize("name", sorted(GRIDS))
def test_left_anterior_superior_marker_appears_where_radiologists_expect(name):
    grid, vol, c, blob = _blob_volume(GRIDS[name])
    ss = image_slices(grid, vol, "MR", {"T_max_C": vol}, {}, tuple(int(v) for v in blob[::-1]), "marker")
    planes = {p.view: p for p in ss.planes}
    assert set(planes) == {"axial", "coronal", "sagittal"}
    for view, p in planes.items():
        assert p.labels == STANDARD[view], (name, view, p.labels)
        r, cc = np.argwhere(p.underlay > 0.5)[0]
        nr, nc = p.underlay.shape
        mr, mc = p.marker_rc
        assert (r, cc) == (int(mr), int(mc))  # the slice point is the marker
        centre_r, centre_c = (nr - 1) / 2, (nc - 1) / 2
        if view in ("axial", "coronal"):
            assert cc > centre_c + 2, (name, view)  # patient left on the screen right
        else:
            assert cc < centre_c - 2, (name, view)  # anterior on the screen left
        if view == "axial":
            assert r < centre_r - 2, (name, view)  # anterior up
        else:
            assert r < centre_r - 2, (name, view)  # superior up
        # the plane's extent is the physical size (mm) of the two in-plane axes
        l, rr, b, t = p.extent_mm
        assert rr - l > 40 and b - t > 40


def test_edge_labels_of_standard_and_oblique_planes():
    assert edge_labels(np.array([1.0, 0, 0]), np.array([0, 1.0, 0])) == ("R", "L", "A", "P")
    assert edge_labels(np.array([0, 1.0, 0]), np.array([0, 0, -1.0])) == ("A", "P", "S", "I")
    r = _rot_z(30.0)
    left, right, top, bottom = edge_labels(r[:, 0], r[:, 1])
    assert (right, bottom) == ("LP", "PR") and (left, top) == ("RA", "AL")


def test_oblique_grid_is_shown_along_nearest_axes_and_says_so():
    grid = Grid((8, 10, 12), np.zeros(3), np.array([0.002] * 3), _rot_z(30.0))
    assert display_axes(grid) == ((0, 1, 2), (1, 1, 1))
    assert obliquity_deg(grid) == pytest.approx(30.0)
    ss = image_slices(grid, np.zeros(grid.shape), "MR", {}, {}, (4, 5, 6), "centre")
    assert any("oblique" in n for n in ss.notes)
    assert {p.view: p.labels for p in ss.planes}["axial"] == ("RA", "LP", "AL", "PR")
    straight = Grid((8, 10, 12), np.zeros(3), np.array([0.002] * 3), np.eye(3))
    assert image_slices(straight, np.zeros(straight.shape), "MR", {}, {}, (4, 5, 6), "centre").notes == ()


def test_grey_windows():
    assert underlay_window(np.zeros(3), "CT") == (-160.0, 240.0)  # soft tissue W400/L40
    mr = np.concatenate([np.zeros(1000), np.linspace(0.0, 1000.0, 1001)[1:]])
    lo, hi = underlay_window(mr, "MR")  # percentiles of the body (non-zero) voxels, not of the air
    assert lo == pytest.approx(10.99, abs=0.1) and hi == pytest.approx(995.0, abs=0.1)


def test_overlay_figure_draws_field_isotherms_and_outlines(tmp_path):
    """A hot ball in a CT body: the PNG shows the grey CT, the isotherm colour and the structure colour."""
    from PIL import Image

    grid = Grid((30, 40, 40), np.zeros(3), np.array([0.002, 0.002, 0.002]), np.eye(3))
    kk, jj, ii = np.indices(grid.shape)
    r = np.sqrt((ii - 20.0) ** 2 + (jj - 20.0) ** 2 + (kk - 15.0) ** 2)
    ct = np.where(r < 18, 40.0, -1000.0) + np.where(r < 18, 30.0 * np.sin(ii), 0.0)
    T = np.where(r < 18, 37.0 + 9.0 * np.exp(-(r / 6.0) ** 2), 0.0)
    gtv = r < 4
    ss = image_slices(grid, ct, "CT", {"T_max_C": T}, {"GTV": gtv}, (15, 20, 20), "target centroid")
    path = overlay_figure(tmp_path / "t.png", ss, "T_max_C")
    a = np.asarray(Image.open(path).convert("RGB")).reshape(-1, 3).astype(int)

    def count(rgb):
        return int((np.abs(a - np.round(np.array(rgb[:3]) * 255)).max(axis=1) <= 12).sum())

    from matplotlib.colors import to_rgb

    assert count(to_rgb(ISOTHERM_COLOUR)) > 100  # three isotherms (40, 42, 43 °C) on three planes
    # the list is configurable: none requested, none drawn (and then the colour above was the isotherms')
    b = np.asarray(Image.open(overlay_figure(tmp_path / "none.png", ss, "T_max_C", isotherms_C=()))
                   .convert("RGB")).reshape(-1, 3).astype(int)
    assert int((np.abs(b - np.round(np.array(to_rgb(ISOTHERM_COLOUR)) * 255)).max(axis=1) <= 12).sum()) < 10
    assert count(structure_colours(["GTV"])["GTV"]) > 50  # the GTV outline
    grey = (np.abs(a[:, 0] - a[:, 1]) < 3) & (np.abs(a[:, 1] - a[:, 2]) < 3) & (a[:, 0] > 60) & (a[:, 0] < 200)
    assert grey.sum() > 5000  # soft tissue in the CT window, visible where T is low
    assert len(np.unique(a, axis=0)) > 200  # a colour map over the slice
