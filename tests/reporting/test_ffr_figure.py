"""The FFR figure: written, and drawn in the plane that cuts the particles."""
from types import SimpleNamespace

import numpy as np

from planner.config.plan import SelectionFieldSection
from planner.config.schema import parse_section
from planner.em.selection_field import selection_field
from planner.nanoparticles._testing import box_mesh
from planner.reporting.ffr_figure import _plane_normal, ffr_figure, selection_html


def test_ffr_figure_and_plane(tmp_path):
    m = box_mesh(8, half_size_m=0.06, target_radius_m=0.012, target_center_m=(0.02, 0.0, 0.0))
    sf = selection_field(m, parse_section(SelectionFieldSection, {
        "place_ffr_on_target": True, "coil_pairs": [{"radius_mm": 150.0, "current_A": 400.0, "turns": 100}]}, "sf"))
    X = m.cell_centroids_m()
    c = (np.abs(X[:, 1]) < 0.008).astype(float)  # particles in a slab normal to y through the FFR
    heat = SimpleNamespace(Q_np_W_per_m3=c, concentration_mg_per_mL=c)
    assert _plane_normal(m, heat, sf.ffr.position_m) == 1
    p = ffr_figure(tmp_path / "ffr.png", m, {"selection_field": sf, "heat": heat},
                   {"selection_field": {**sf.summary_block(), "half_power_B_mT": 9.0}})
    assert p.stat().st_size > 10_000
    html = selection_html({**sf.summary_block()}, {"target_power_W": 1.0, "off_target_power_W": 0.1, "ratio": 10.0,
                                                   "off_target_max_T_C": {"liver": 37.5}})
    assert "max temperature in liver" in html and "magpylib" in html
