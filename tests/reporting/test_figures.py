"""Figures and report of a results folder: written by the pipeline, valid non-blank PNGs, and only
the figures whose inputs exist."""
import json

import numpy as np
import pytest

from planner.config.plan import load_plan
from planner.pipeline import run_plan
from planner.reporting.figures import _field_on_intervals, write_figures
from tests.test_pipeline import PLAN

# T max, CEM43 and SAR are drawn once, as overlays (no second mesh-slice image of the same planes)
THERMAL_FIGURES = {"probes.png", "dvh.png", "overlay_T_max.png", "overlay_CEM43.png"}
FIELD_FIGURES = {"slices_regions.png", "slices_E_peak.png", "overlay_SAR.png"}


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    d = tmp_path_factory.mktemp("figures")
    (d / "plan.toml").write_text(PLAN.format(field=5.0))
    return run_plan(load_plan(d / "plan.toml")), d / "out"


def png_stats(path):
    """(distinct colours, standard deviation of the grey levels) of a PNG."""
    from PIL import Image

    with Image.open(path) as im:
        assert im.format == "PNG"
        a = np.asarray(im.convert("RGB"))
    return len(np.unique(a.reshape(-1, 3), axis=0)), float(a.mean(axis=2).std())


def test_pipeline_writes_figures_and_report_listed_in_summary(result):
    _, out = result
    s = json.loads((out / "summary.json").read_text())
    figs = {f.split("/", 1)[1] for f in s["files"] if f.startswith("figures/")}
    assert figs == FIELD_FIGURES | THERMAL_FIGURES | {"search.png"}
    assert "report.html" in s["files"]
    for f in s["files"]:
        assert (out / f).is_file(), f


@pytest.mark.parametrize("name", sorted(FIELD_FIGURES | THERMAL_FIGURES | {"search.png"}))
def test_png_is_valid_and_not_blank(result, name):
    _, out = result
    colours, spread = png_stats(out / "figures" / name)
    # a blank or single-colour image has 1-2 colours; a colour map over a slice has many
    assert colours > (4 if name == "slices_regions.png" else 50), colours
    assert spread > 5.0


def test_region_slices_show_every_region_colour(result):
    """The regions image carries one tab10 colour per region (body blue, tumour orange)."""
    import matplotlib

    _, out = result
    from PIL import Image

    a = np.asarray(Image.open(out / "figures" / "slices_regions.png").convert("RGB")).reshape(-1, 3).astype(int)
    for i in range(2):
        rgb = np.round(np.array(matplotlib.colormaps["tab10"](i)[:3]) * 255).astype(int)
        assert (np.abs(a - rgb).max(axis=1) <= 3).sum() > 1000, (i, rgb)


def test_plan_without_thermal_writes_no_thermal_figures(result, tmp_path):
    res, _ = result
    arts = dict(res.artefacts, temperatures=None, search=None)
    summary = {k: v for k, v in res.summary.items() if k not in ("thermal", "search")}
    paths = write_figures(tmp_path, arts["mesh"], summary, arts)
    names = {p.name for p in paths}
    assert names == FIELD_FIGURES
    assert all(p.is_absolute() and p.parent == tmp_path / "figures" and p.is_file() for p in paths)
    assert sorted(x.name for x in (tmp_path / "figures").iterdir()) == sorted(names)


def test_analytic_phantom_overlays_use_the_tissue_map_and_sample_the_fe_field(result):
    """Without an image the overlay planes are sampled once from the mesh: the axial plane through the
    target centroid shows the tumour outline, T max peaks at the slice point and the body is grey."""
    from planner.reporting.figures import overlay_slice_sets

    res, out = result
    at_target, hot = overlay_slice_sets(out, res.artefacts["mesh"], res.artefacts)
    assert at_target.underlay_kind == "tissues" and at_target.through == "target centroid"
    assert hot is None  # the hottest healthy vertex touches the tumour: no separate hot-spot figure
    T_nodes = res.artefacts["temperatures"].T_max_C
    for p in at_target.planes:
        T = p.fields["T_max_C"]
        inside = p.underlay > 0
        assert 0.5 * inside.size < inside.sum() < inside.size  # a disc of body in the square
        r, c = np.unravel_index(np.argmax(np.where(inside, T, -np.inf)), T.shape)
        assert abs(r - p.marker_rc[0]) <= 3 and abs(c - p.marker_rc[1]) <= 3
        assert T[inside].max() <= T_nodes.max() + 1e-9 and T[inside].min() >= T_nodes.min() - 1e-9
        assert p.structures and any(m.any() for m in p.structures.values())
        assert p.labels in (("R", "L", "A", "P"), ("R", "L", "S", "I"), ("A", "P", "S", "I"))


def test_mesh_only_writes_region_slices(result, tmp_path):
    res, _ = result
    paths = write_figures(tmp_path, res.artefacts["mesh"], {}, {"mesh": res.artefacts["mesh"]})
    assert [p.name for p in paths] == ["slices_regions.png"]


def test_field_on_intervals_merge_contiguous_steps():
    t = np.array([0.0, 60, 120, 180, 240, 300])
    frac = np.array([0.0, 1.0, 1.0, 0.0, 0.0, 0.5])
    assert _field_on_intervals(t, frac) == [(0.0, 180.0), (240.0, 300.0)]
    assert _field_on_intervals(t, np.zeros(6)) == []
