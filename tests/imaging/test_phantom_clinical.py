"""The clinical-size pelvis (issue 17): its plan is valid, and its anatomy (on a down-sampled grid) has
the structures the plan names, nested and placed as the plan needs (not generated at full size here)."""
import numpy as np
import pytest

from planner.config.plan import load_plan
from planner.imaging.phantoms import PHANTOMS, phantom_images
from planner.imaging.volume import Grid

PH = PHANTOMS["pelvis-clinical"]


@pytest.fixture(scope="module")
def coarse():
    """The phantom on a 4 mm grid with the clinical field of view (125 × 125 × 40 voxels)."""
    nk, nj, ni = PH.shape
    di, dj, dk = PH.spacing_mm
    f = 4.0
    shape = (int(nk * dk / f), int(nj * dj / f), int(ni * di / f))
    sp = np.full(3, f * 1e-3)
    grid = Grid(shape, -0.5 * (np.array(shape[::-1]) - 1) * sp, sp, np.eye(3))
    return phantom_images("pelvis-clinical", "CT", grid)


def test_clinical_size_grid():
    nk, nj, ni = PH.shape
    assert (nj, ni) == (512, 512) and nk >= 150
    assert all(0.9 <= s <= 1.0 for s in PH.spacing_mm)
    g = PH.grid("MR")
    assert g.shape[0] == nk and g.shape[1] < nj  # MR: coarser in-plane, same slices


def test_plan_is_valid_and_names_the_rtstruct_structures(tmp_path, coarse):
    from planner.imaging import ImagingPlan, check_sections
    from planner.tissues.library import load_library

    (tmp_path / "plan.toml").write_text(PH.plan_toml())
    (tmp_path / "plan_mr.toml").write_text(PH.plan_mr_toml())
    lib = load_library()
    for name in ("plan.toml", "plan_mr.toml"):
        cfg = load_plan(tmp_path / name)
        img, seg = check_sections(ImagingPlan.of(cfg), lib)  # keys, tissues (DICOM is generated on first run)
        assert cfg.applicator is not None and cfg.thermal is not None and cfg.search is not None
    _, imgs = coarse
    rois = {n for n, _, _ in imgs.rois}
    cfg = load_plan(tmp_path / "plan.toml")
    img, seg = check_sections(ImagingPlan.of(cfg), lib)
    assert {img.target, *img.organs} <= rois and set(PH.implant_rois) <= rois
    assert {"GTV", "Prostate", "Bladder", "Rectum", "FemoralHead_R", "FemoralHead_L", "HipStem"} <= rois
    assert set(img.organs) == set(seg.organ_tissues)


def test_anatomy_is_consistent(coarse):
    g, imgs = coarse
    m = {n: mask for n, mask, _ in imgs.rois}
    voxel_mL = float(np.prod(g.spacing_m)) * 1e6
    for name, (lo, hi) in {"GTV": (2, 10), "Prostate": (20, 50), "Bladder": (150, 300), "FemoralHead_R": (30, 60),
                           "HipStem": (8, 40)}.items():
        assert lo < m[name].sum() * voxel_mL < hi, (name, m[name].sum() * voxel_mL)
    assert not (m["GTV"] & ~m["Prostate"]).any()  # the target lies in the prostate
    for name in ("Prostate", "Bladder", "Rectum", "FemoralHead_R", "FemoralHead_L", "HipStem"):
        assert not (m[name] & ~m["External"]).any(), name
    stem = m["HipStem"]
    ks = np.flatnonzero(stem.any(axis=(1, 2)))
    assert ks.min() > 0 and ks.max() < g.shape[0] - 1  # the whole implant inside the scanned range
    x_mm = (g.origin_m[0] + g.spacing_m[0] * np.nonzero(stem)[2]) * 1e3
    assert x_mm.min() > 0  # patient's left (LPS +x)
    assert np.all(imgs.hu[stem] == 3071.0)
    assert not (stem & (m["FemoralHead_L"] | m["FemoralHead_R"])).any()
    # the stem sits in bone: the voxels just around it are bone (HU > 700) for most of its surface
    from scipy.ndimage import binary_dilation

    shell = binary_dilation(stem, iterations=1) & ~stem
    assert np.mean(imgs.hu[shell] > 700.0) > 0.6
