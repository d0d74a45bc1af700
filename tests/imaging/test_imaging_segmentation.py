"""Segmentation registry: CT HU classes (with metal streaks), MR intensity clustering, label maps."""
from __future__ import annotations

import json

import numpy as np
import pytest

from planner.artefacts import Role
from planner.errors import InputError
from planner.imaging.config import parse_imaging, parse_segmentation
from planner.imaging.segmentation import (
    AIR,
    BONE,
    FAT,
    SEGMENTERS,
    SOFT,
    TARGET_LABEL,
    SegmentationInputs,
    check_tissues,
    kmeans_1d,
    otsu_threshold,
    segment,
)
from planner.imaging.volume import Grid, ImageVolume
from planner.reporting.fields import write_overlays
from tests.imaging._imaging_util import FakeLibrary, body_phantom_hu


def dice(a, b):
    return 2.0 * np.logical_and(a, b).sum() / (a.sum() + b.sum())


def _grid():
    return Grid((24, 64, 64), np.zeros(3), np.array([0.0015, 0.0015, 0.002]), np.eye(3))


def _ct(streaks=False, metal=True):
    g = _grid()
    hu, masks = body_phantom_hu(g, streaks=streaks, metal=metal)
    return ImageVolume(hu.astype(np.float32), g, "CT", "HU", series_uid="1.2"), masks


def _sec(raw=None, imaging=None):
    return parse_segmentation(raw or {}, parse_imaging(imaging or {"ct": "ct"}))


def test_registry_names():
    assert set(SEGMENTERS) == {"ct-hu", "mr-intensity", "labels"}


@pytest.mark.parametrize("streaks", [False, True])
def test_ct_hu_classes_implant_and_body(streaks):
    img, m = _ct(streaks=streaks)
    tgt = m["target"]
    lv = segment(SegmentationInputs(img.grid, img, target=("GTV", tgt), source="ct"), _sec())
    assert lv.box_kji is not None and lv.labels.size < img.array.size  # cropped to the body box
    L = lv.labels_on_source_grid(img.shape)
    assert dice(L > 0, m["body"]) > 0.97
    fat_truth = m["body"] & ~m["muscle"]
    assert dice(L == FAT, fat_truth) > 0.9
    assert dice(L == BONE, m["bone"]) > 0.85
    assert dice(L == AIR, m["air"]) > 0.8  # internal air kept inside the body outline
    np.testing.assert_array_equal(L == TARGET_LABEL, tgt & m["body"])
    implants = [t for t in lv.table if t.role == Role.IMPLANT]
    assert len(implants) == 1 and implants[0].tissue == "ti6al4v"
    assert dice(L == implants[0].value, m["metal"]) > 0.95
    soft_truth = m["muscle"] & ~(m["bone"] | m["air"] | m["metal"] | tgt)
    assert dice(L == SOFT, soft_truth) > 0.95
    if streaks:  # streaks (±300 HU lines) must not create bone or fat islands in muscle
        spurious = ((L == BONE) & ~m["bone"]) | ((L == FAT) & m["muscle"])
        assert spurious.sum() < 0.01 * soft_truth.sum()
    json.dumps(lv.summary_block())


def test_small_metal_specks_are_not_implants():
    img, m = _ct(metal=False)
    arr = img.array.copy()
    arr[12, 32, 40] = 3071  # one bright speck
    img = ImageVolume(arr, img.grid, "CT", "HU")
    lv = segment(SegmentationInputs(img.grid, img, source="ct"), _sec())
    assert not [t for t in lv.table if t.role == Role.IMPLANT]
    assert lv.labels_on_source_grid(img.shape)[12, 32, 40] in (SOFT, BONE)


def test_metal_threshold_configurable():
    img, m = _ct()
    lv = segment(SegmentationInputs(img.grid, img, source="ct"), _sec({"metal_min_HU": 3100.0}))
    assert not [t for t in lv.table if t.role == Role.IMPLANT]


def test_organ_then_target_override_order():
    img, m = _ct(metal=False)
    organ = np.zeros(img.shape, bool)
    organ[8:16, 20:44, 20:44] = True
    lv = segment(SegmentationInputs(img.grid, img, organs=(("Liver", organ),), target=("GTV", m["target"]), source="ct"),
                 _sec({"organ_tissues": {"Liver": "liver"}}))
    t = {x.name: x for x in lv.table}
    assert t["Liver"].tissue == "liver" and t["Liver"].role == Role.ORGAN
    L = lv.labels_on_source_grid(img.shape)
    assert np.all(L[m["target"]] == TARGET_LABEL)
    assert np.all(L[organ & ~m["target"]] == t["Liver"].value)


def test_mr_intensity_otsu_kmeans():
    g = _grid()
    _, m = body_phantom_hu(g, metal=False)
    rng = np.random.default_rng(2)
    mr = np.where(m["body"], 900.0, 5.0)
    mr[m["muscle"]] = 350.0
    mr = np.abs(mr + rng.normal(0, 25, mr.shape)).astype(np.float32)
    img = ImageVolume(mr, g, "MR", "arbitrary")
    sec = _sec({"method": "mr-intensity"}, {"mr": "mr"})
    lv = segment(SegmentationInputs(g, img, target=("GTV", m["target"]), source="mr"), sec)
    L = lv.labels_on_source_grid(g.shape)
    assert dice(L > 0, m["body"]) > 0.97
    assert dice(L == 2, m["body"] & ~m["muscle"]) > 0.9  # bright class = fat
    assert dice(L == 1, m["muscle"] & ~m["target"]) > 0.95
    assert any("bone and air" in n for n in lv.notes)


def test_otsu_and_kmeans_on_bimodal_samples():
    rng = np.random.default_rng(0)
    v = np.concatenate([rng.normal(100, 10, 5000), rng.normal(500, 20, 3000)])
    t = otsu_threshold(v)
    assert 150 < t < 440
    c = kmeans_1d(v, 2)
    np.testing.assert_allclose(c, [100, 500], atol=3)


def test_labels_method_and_tissue_check():
    g = _grid()
    lm = np.zeros(g.shape, np.int32)
    lm[4:20, 10:50, 10:50] = 3
    lm[10:14, 25:35, 25:35] = 9
    sec = _sec({"method": "labels", "labels": [
        {"value": 3, "name": "tissue", "tissue": "muscle"},
        {"value": 9, "name": "tumour", "tissue": "tumour", "role": "target"},
        {"value": 4, "name": "unused", "tissue": "fat"}]}, {"labels": "lab.nii"})
    lv = segment(SegmentationInputs(g, label_map=lm, source="lab.nii"), sec)
    assert [(t.value, t.role) for t in lv.table] == [(3, Role.BODY), (9, Role.TARGET)]
    check_tissues(lv, FakeLibrary())
    with pytest.raises(InputError, match="tissue 'tumour', not in the tissue library"):
        check_tissues(lv, FakeLibrary(["muscle", "fat"]))


def test_config_validation_messages():
    with pytest.raises(InputError, match=r"segmentation\.thresh: unknown key"):
        _sec({"thresh": 1})
    with pytest.raises(InputError, match="strictly increasing"):
        _sec({"bone_min_HU": -100.0})
    with pytest.raises(InputError, match=r"imaging\.ct_dir: unknown key"):
        parse_imaging({"ct_dir": "x"})
    with pytest.raises(InputError, match=r"imaging\.target = 'GTV': needs imaging\.rtstruct"):
        parse_imaging({"ct": "x", "target": "GTV"})
    with pytest.raises(InputError, match="at most one image source"):
        parse_imaging({"ct": "x", "mr": "y"})
    with pytest.raises(InputError, match="'ct-hu': expected a CT image"):
        _sec({"method": "ct-hu"}, {"mr": "m"})
    assert _sec(None, {"mr": "m"}).method == "mr-intensity"


def test_overlay_pngs(tmp_path):
    import matplotlib.image as mpimg

    img, m = _ct()
    lv = segment(SegmentationInputs(img.grid, img, target=("GTV", m["target"]), source="ct"), _sec())
    paths = write_overlays(lv, tmp_path)
    assert [p.name for p in paths] == ["segmentation_axial.png", "segmentation_coronal.png", "segmentation_sagittal.png"]
    for p in paths:
        a = mpimg.imread(p)
        assert a.shape[0] > 200 and a[..., :3].std() > 0.05
    off = np.array([b[0] for b in lv.box_kji])
    assert lv.focus_index() == tuple(int(round(x)) for x in np.argwhere(m["target"]).mean(axis=0) - off)


def test_lungs_versus_gas_pockets():
    g = Grid((30, 64, 64), np.zeros(3), np.array([0.004, 0.004, 0.004]), np.eye(3))
    k, j, i = np.indices(g.shape)
    rng = np.random.default_rng(5)
    hu = np.full(g.shape, -1000.0)
    body = ((i - 31.5) / 28) ** 2 + ((j - 31.5) / 22) ** 2 < 1
    hu[body] = 40.0
    lung_r = ((i - 20) / 8) ** 2 + ((j - 30) / 12) ** 2 + ((k - 15) / 12) ** 2 < 1  # ≈ 310 cm³
    lung_l = ((i - 44) / 8) ** 2 + ((j - 30) / 12) ** 2 + ((k - 15) / 12) ** 2 < 1
    gas = ((i - 32) ** 2 + (j - 45) ** 2 + (k - 15) ** 2) < 9  # ≈ 7 cm³ of bowel gas
    hu[lung_r | lung_l] = -830.0
    hu[gas] = -995.0
    hu += rng.normal(0, 15, hu.shape)
    img = ImageVolume(hu.astype(np.float32), g, "CT", "HU")
    lv = segment(SegmentationInputs(g, img, source="ct"), _sec())
    L = lv.labels_on_source_grid(g.shape)
    from planner.imaging.segmentation import LUNG

    assert dice(L == LUNG, lung_r | lung_l) > 0.95
    assert dice(L == AIR, gas) > 0.8
    assert {t.name: t.tissue for t in lv.table}["lung"] == "lung"
    off = segment(SegmentationInputs(g, img, source="ct"), _sec({"lung_min_volume_mm3": 0.0}))
    assert not np.any(off.labels == LUNG)


def test_rtstruct_implant_replaces_detected_metal_and_labels_method_offsets():
    img, m = _ct()
    roi = m["metal"].copy()
    lv = segment(SegmentationInputs(img.grid, img, target=("GTV", m["target"]), implants=(("Stem", roi),), source="ct"), _sec())
    imp = [t for t in lv.table if t.role == Role.IMPLANT]
    assert [(t.name, t.tissue) for t in imp] == [("Stem", "ti6al4v")]
    assert np.array_equal(lv.labels_on_source_grid(img.shape) == imp[0].value, roi)
    # labels method: RTSTRUCT labels never collide with user label values (here 50 = TARGET_LABEL)
    g = _grid()
    lm = np.zeros(g.shape, np.int32)
    lm[4:20, 10:50, 10:50] = 50
    sec = _sec({"method": "labels", "labels": [{"value": 50, "name": "tissue", "tissue": "muscle"}]}, {"labels": "lab.nii"})
    tgt = np.zeros(g.shape, bool)
    tgt[10:14, 20:30, 20:30] = True
    lv = segment(SegmentationInputs(g, label_map=lm, target=("GTV", tgt), source="lab.nii"), sec)
    t = {x.name: x for x in lv.table}
    assert t["tissue"].value == 50 and t["GTV"].value == 1050 and t["GTV"].role == Role.TARGET
    assert (lv.labels == 1050).sum() == tgt.sum()
