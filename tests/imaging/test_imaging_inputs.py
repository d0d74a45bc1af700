"""Inputs from other tools: label maps on another grid (nearest-neighbour placement), NRRD and 3D Slicer
.seg.nrrd, DICOM SEG, enhanced multi-frame CT and compressed transfer syntaxes. Every reader refuses a
bad file with a one-line InputError naming the file."""
from __future__ import annotations

import gzip
from pathlib import Path

import nrrd
import numpy as np
import pydicom
import pytest

from planner.errors import InputError
from planner.imaging import (
    read_dicom_series,
    read_nrrd,
    read_nrrd_labels,
    read_seg_nrrd,
    read_segments,
    write_nifti,
    write_nrrd,
)
from planner.imaging.resample import SAME_GRID_TOL_MM, place_on_grid, same_grid
from planner.imaging.volume import Grid
from tests.imaging._imaging_util import axial_grid, rotation, write_ct


def _centres_mm(grid: Grid) -> np.ndarray:
    """(nk, nj, ni, 3) LPS voxel centres in mm."""
    k, j, i = np.indices(grid.shape)
    return (grid.index_to_lps_m(np.column_stack([i.ravel(), j.ravel(), k.ravel()])) * 1e3).reshape(*grid.shape, 3)


def _balls(grid: Grid, centre_mm=(0.0, -2.0, 12.0)) -> np.ndarray:
    """Two concentric labels (2 inside 7 mm, 1 inside 11 mm) around ``centre_mm``, sampled on ``grid``."""
    r = np.linalg.norm(_centres_mm(grid) - np.array(centre_mm), axis=-1)
    return np.where(r < 7.0, 2, np.where(r < 11.0, 1, 0)).astype(np.int32)


def _nearest_reference(values: np.ndarray, src: Grid, dst: Grid) -> np.ndarray:
    """Independent nearest-neighbour placement: for every destination voxel centre, the source voxel whose
    index is the rounded continuous index (0 outside)."""
    ijk = np.rint(src.lps_m_to_index(_centres_mm(dst).reshape(-1, 3) * 1e-3)).astype(int)
    n = np.array(src.shape[::-1])
    ok = np.all((ijk >= 0) & (ijk < n), axis=1)
    out = np.zeros(ijk.shape[0], values.dtype)
    out[ok] = values[ijk[ok, 2], ijk[ok, 1], ijk[ok, 0]]
    return out.reshape(dst.shape)


PLAN = Grid((8, 14, 16), np.array([-15.0, -16.0, 2.0]) * 1e-3, np.array([2.0, 2.0, 3.0]) * 1e-3, np.eye(3))


# --- resampling -------------------------------------------------------------------------------------

def test_identical_grids_within_tolerance_are_not_resampled():
    lab = _balls(PLAN)
    nudged = Grid(PLAN.shape, PLAN.origin_m + np.array([0.5, 0.0, 0.0]) * SAME_GRID_TOL_MM * 1e-3, PLAN.spacing_m, PLAN.direction)
    placed = place_on_grid(lab, nudged, PLAN, what="labels")
    assert not placed.resampled and placed.note is None and placed.array is lab
    moved = Grid(PLAN.shape, PLAN.origin_m + np.array([2.0, 0.0, 0.0]) * SAME_GRID_TOL_MM * 1e-3, PLAN.spacing_m, PLAN.direction)
    assert not same_grid(moved, PLAN)
    assert place_on_grid(lab, moved, PLAN, what="labels").resampled


def test_flipped_axis_label_map_lands_on_the_same_voxels():
    """A label map stored with i and k reversed (another tool's axis order) is the same map exactly."""
    lab = _balls(PLAN)
    d = PLAN.direction.copy()
    d[:, 0] *= -1
    d[:, 2] *= -1
    far = PLAN.index_to_lps_m(np.array([[PLAN.shape[2] - 1, 0, PLAN.shape[0] - 1]]))[0]
    flipped = Grid(PLAN.shape, far, PLAN.spacing_m, d)
    placed = place_on_grid(lab[::-1, :, ::-1].copy(), flipped, PLAN, what="labels")
    assert placed.resampled
    np.testing.assert_array_equal(placed.array, lab)


def test_oblique_finer_label_map_matches_an_independent_nearest_neighbour():
    src = Grid((14, 24, 26), np.array([-17.0, -20.0, 0.0]) * 1e-3, np.array([1.3, 1.1, 1.7]) * 1e-3, rotation([1, 2, 3], 25.0))
    lab = _balls(src, centre_mm=(-6.0, 2.0, 10.0))
    placed = place_on_grid(lab, src, PLAN, what="imaging.labels = 'x.nrrd'")
    ref = _nearest_reference(lab, src, PLAN)
    assert np.count_nonzero(ref) > 50
    np.testing.assert_array_equal(placed.array, ref)
    # and it is the analytic map away from the label surfaces (within half a source voxel diagonal)
    r = np.linalg.norm(_centres_mm(PLAN) - np.array([-6.0, 2.0, 10.0]), axis=-1)
    far = (np.abs(r - 7.0) > 1.5) & (np.abs(r - 11.0) > 1.5)
    truth = _balls(PLAN, centre_mm=(-6.0, 2.0, 10.0))
    idx = src.lps_m_to_index(_centres_mm(PLAN).reshape(-1, 3) * 1e-3)
    inside = np.all((idx >= 0.5) & (idx <= np.array(src.shape[::-1]) - 1.5), axis=1).reshape(PLAN.shape)
    np.testing.assert_array_equal(placed.array[far & inside], truth[far & inside])
    assert "resampled by nearest neighbour" in placed.note and "'x.nrrd'" in placed.note


def test_label_maps_that_do_not_overlap_are_refused():
    away = Grid(PLAN.shape, PLAN.origin_m + np.array([0.0, 0.0, 0.2]), PLAN.spacing_m, PLAN.direction)
    with pytest.raises(InputError, match=r"^imaging.labels = 'l.nrrd': does not overlap the planning image \(labels span LPS"):
        place_on_grid(_balls(away, centre_mm=(0.0, -2.0, 212.0)), away, PLAN, what="imaging.labels = 'l.nrrd'")
    half = Grid(PLAN.shape, PLAN.origin_m + np.array([0.0, 0.0, 0.012]), PLAN.spacing_m, PLAN.direction)
    lab = np.ones(PLAN.shape, np.int32)  # 4 of its 8 slices (12 mm of 24) above the image: 50 %; a 2nd shift → 37.5 %
    less = Grid(PLAN.shape, PLAN.origin_m + np.array([0.0, 0.0, 0.015]), PLAN.spacing_m, PLAN.direction)
    assert place_on_grid(lab, half, PLAN, what="l").resampled
    with pytest.raises(InputError, match=r"only 37.5% of the labelled voxels lie inside the planning image \(expected at least 50%\)"):
        place_on_grid(lab, less, PLAN, what="l")
    with pytest.raises(InputError, match=r"only 50.0% .* at least 99%"):
        place_on_grid(lab, half, PLAN, what="imaging.target_mask", min_inside=0.99)


# --- NRRD ------------------------------------------------------------------------------------------

def test_nrrd_round_trip_keeps_an_oblique_grid_and_the_values(tmp_path):
    g = Grid((5, 7, 9), np.array([10.0, -20.0, 30.0]) * 1e-3, np.array([0.8, 1.2, 2.5]) * 1e-3, rotation([0, 1, 1], 20.0))
    vals = np.arange(np.prod(g.shape), dtype=np.int16).reshape(g.shape)
    write_nrrd(tmp_path / "a.nrrd", vals, g)
    vol = read_nrrd(tmp_path / "a.nrrd", modality="CT")
    assert vol.grid.same_as(g, tol_m=1e-9) and vol.units == "HU"
    np.testing.assert_array_equal(vol.array, vals.astype(np.float32))
    labels, lg = read_nrrd_labels(tmp_path / "a.nrrd")
    np.testing.assert_array_equal(labels, vals)
    # the same geometry written in RAS: x and y of every vector negated
    data, hdr = nrrd.read(str(tmp_path / "a.nrrd"))
    hdr["space"] = "right-anterior-superior"
    hdr["space directions"] = hdr["space directions"] * np.array([-1.0, -1.0, 1.0])
    hdr["space origin"] = hdr["space origin"] * np.array([-1.0, -1.0, 1.0])
    nrrd.write(str(tmp_path / "ras.nrrd"), data, hdr)
    assert read_nrrd(tmp_path / "ras.nrrd").grid.same_as(g, tol_m=1e-9)


def _seg_nrrd(path: Path, grid: Grid) -> dict[str, np.ndarray]:
    """Two layers: Bladder (1) and Rectum (2) in layer 0, GTV (1) in layer 1 overlapping Bladder (Slicer layout)."""
    kk, jj, ii = np.indices(grid.shape)
    masks = {"Bladder": (ii < 6) & (jj > 3), "Rectum": (ii > 10) & (kk > 1), "GTV": (ii >= 4) & (ii < 8) & (jj > 5)}
    layer0 = np.where(masks["Bladder"], 1, np.where(masks["Rectum"], 2, 0)).astype(np.uint8)
    layer1 = masks["GTV"].astype(np.uint8)
    data = np.stack([layer0, layer1]).transpose(0, 3, 2, 1)  # (layer, i, j, k): file order, fastest (the layer) first
    dirs = (grid.direction * (grid.spacing_m * 1e3)[None, :]).T
    hdr = {"space": "left-posterior-superior", "kinds": ["list", "domain", "domain", "domain"],
           "space directions": np.vstack([np.full(3, np.nan), dirs]), "space origin": grid.origin_m * 1e3, "encoding": "gzip"}
    for n, (name, layer, value) in enumerate((("Bladder", 0, 1), ("Rectum", 0, 2), ("GTV", 1, 1))):
        hdr.update({f"Segment{n}_Name": name, f"Segment{n}_Layer": str(layer), f"Segment{n}_LabelValue": str(value),
                    f"Segment{n}_ID": f"Segment_{n + 1}"})
    nrrd.write(str(path), data, hdr, index_order="F")
    return masks


def test_seg_nrrd_segment_names_layers_and_overlap(tmp_path):
    masks = _seg_nrrd(tmp_path / "s.seg.nrrd", PLAN)
    seg = read_segments(tmp_path / "s.seg.nrrd")
    assert seg.kind == "seg.nrrd" and seg.names() == ["Bladder", "Rectum", "GTV"]
    assert seg.grid.same_as(PLAN, tol_m=1e-9)
    for name, m in masks.items():
        np.testing.assert_array_equal(seg.masks[name], m)
    assert np.count_nonzero(seg.masks["GTV"] & seg.masks["Bladder"]) > 0  # layers overlap


def _corrupt_cases(tmp: Path) -> list[tuple[Path, str, object]]:
    good = tmp / "good.nrrd"
    write_nrrd(good, _balls(PLAN), PLAN)
    cases = []
    p = tmp / "garbage.nrrd"
    p.write_bytes(b"\x00\x01 not an nrrd file at all")
    cases.append((p, "not a readable NRRD file", read_nrrd_labels))
    raw = good.read_bytes()
    p = tmp / "truncated.nrrd"
    p.write_bytes(raw[: len(raw) - 40])
    cases.append((p, "not a readable NRRD file", read_nrrd))
    data, hdr = nrrd.read(str(good))
    h = dict(hdr)
    del h["space"]
    h["space dimension"] = 3
    p = tmp / "nospace.nrrd"
    nrrd.write(str(p), data, h)
    cases.append((p, "expected a patient space", read_nrrd))
    p = tmp / "float.nrrd"
    nrrd.write(str(p), data.astype(float) + 0.25, hdr)
    cases.append((p, "non-integer values", read_nrrd_labels))
    p = tmp / "flat.nrrd"
    nrrd.write(str(p), data[:, :, 0], {"space": "left-posterior-superior", "space directions": np.eye(2, 3),
                                       "space origin": np.zeros(3)})
    cases.append((p, "expected", read_nrrd))
    p = tmp / "noseg.seg.nrrd"
    nrrd.write(str(p), data, hdr)
    cases.append((p, "no Segment0_Name", read_seg_nrrd))
    p = tmp / "badlayer.seg.nrrd"
    nrrd.write(str(p), data, {**hdr, "Segment0_Name": "A", "Segment0_Layer": "3"})
    cases.append((p, "Segment0_Layer = 3: expected 0..0", read_seg_nrrd))
    cases.append((tmp / "missing.nrrd", "file does not exist", read_nrrd))
    return cases


def test_bad_nrrd_files_are_one_line_errors_naming_the_file(tmp_path):
    for path, phrase, reader in _corrupt_cases(tmp_path):
        with pytest.raises(InputError) as err:
            reader(path)
        msg = str(err.value)
        assert str(path) in msg and phrase in msg and "\n" not in msg, (path.name, msg)


# --- DICOM SEG -------------------------------------------------------------------------------------

def _dicom_seg(tmp: Path, folder: Path, masks: dict[str, np.ndarray], frame_uid: str | None = None) -> Path:
    import highdicom as hd
    from highdicom.sr.coding import CodedConcept

    sources = sorted((pydicom.dcmread(p) for p in sorted(folder.iterdir())), key=lambda d: float(d.ImagePositionPatient[2]))
    descs = []
    for n, name in enumerate(masks, start=1):
        descs.append(hd.seg.SegmentDescription(
            segment_number=n, segment_label=name,
            segmented_property_category=CodedConcept("91723000", "SCT", "Anatomical Structure"),
            segmented_property_type=CodedConcept("12738006", "SCT", "Organ"),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL))
    pixel = np.stack([masks[n] for n in masks], axis=-1).astype(np.uint8)
    seg = hd.seg.Segmentation(source_images=sources, pixel_array=pixel, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
                              segment_descriptions=descs, series_instance_uid=hd.UID(), series_number=5,
                              sop_instance_uid=hd.UID(), instance_number=1, manufacturer="test", manufacturer_model_name="t",
                              software_versions="0", device_serial_number="1", omit_empty_frames=False)
    if frame_uid:
        seg.FrameOfReferenceUID = frame_uid
    path = tmp / "seg.dcm"
    seg.save_as(path)
    return path


def test_dicom_seg_segments_become_names_on_the_ct_voxels(tmp_path):
    uid, files, values, grid = write_ct(tmp_path / "ct")
    vol = read_dicom_series(tmp_path / "ct")
    kk, jj, ii = np.indices(vol.shape)
    masks = {"Prostate": (ii > 3) & (ii < 8) & (jj > 2) & (kk > 0), "Rectum": (jj > 7) & (kk < 4)}
    path = _dicom_seg(tmp_path, tmp_path / "ct", masks)
    seg = read_segments(path)
    assert seg.kind == "DICOM SEG" and seg.names() == ["Prostate", "Rectum"]
    assert seg.frame_of_reference_uid == vol.frame_of_reference_uid
    placed = {n: place_on_grid(m.astype(np.uint8), seg.grid, vol.grid, what=n).array > 0 for n, m in seg.masks.items()}
    for n, m in masks.items():
        np.testing.assert_array_equal(placed[n], m)


def test_a_dicom_seg_of_another_frame_of_reference_is_refused_by_the_stage(tmp_path):
    from planner.imaging import ImagingPlan, patient_model
    from tests.imaging._imaging_util import FakeLibrary, plan_cfg

    write_ct(tmp_path / "ct")
    vol = read_dicom_series(tmp_path / "ct")
    kk, jj, ii = np.indices(vol.shape)
    _dicom_seg(tmp_path, tmp_path / "ct", {"GTV": (ii > 3) & (ii < 8) & (jj > 2)}, frame_uid="1.2.3.4")
    cfg = plan_cfg(tmp_path, {"ct": "ct", "segments": "seg.dcm", "target": "GTV"})
    with pytest.raises(InputError, match=r"^imaging.segments = 'seg.dcm': FrameOfReferenceUID '1.2.3.4' differs from the image's"):
        patient_model(ImagingPlan.of(cfg), FakeLibrary())
    cfg = plan_cfg(tmp_path, {"ct": "ct", "segments": "seg.dcm", "target": "PTV"})
    with pytest.raises(InputError, match=r"^imaging.segments = 'seg.dcm': segment\(s\) \['PTV'\] not found; the file has \['GTV'\]"):
        patient_model(ImagingPlan.of(cfg), FakeLibrary())


def test_bad_dicom_seg_files_are_refused(tmp_path):
    write_ct(tmp_path / "ct")
    files = sorted((tmp_path / "ct").iterdir())
    with pytest.raises(InputError, match=rf"^{files[0]}: SOP class .*expected a DICOM Segmentation \(SEG\)$"):
        read_segments(files[0])
    bad = tmp_path / "broken.dcm"
    bad.write_bytes(b"\x00" * 128 + b"DICM" + b"\x02\x00\x10\x00garbage")
    with pytest.raises(InputError, match=rf"^{bad}: "):
        read_segments(bad)
    vol = read_dicom_series(tmp_path / "ct")
    kk, jj, ii = np.indices(vol.shape)
    seg = _dicom_seg(tmp_path, tmp_path / "ct", {"GTV": (ii > 3) & (jj > 2)})
    ds = pydicom.dcmread(seg)
    ds.PixelData = ds.PixelData[:7]  # truncated frames
    ds.save_as(seg)
    with pytest.raises(InputError) as err:
        read_segments(seg)
    assert str(err.value).startswith(f"{seg}: DICOM SEG cannot be read as a volume") and "\n" not in str(err.value)


# --- enhanced multi-frame --------------------------------------------------------------------------

def _enhanced_ct(tmp: Path, folder: Path, modality: str = "CT") -> Path:
    from highdicom.legacy import LegacyConvertedEnhancedCTImage, LegacyConvertedEnhancedMRImage

    sources = [pydicom.dcmread(p) for p in sorted(folder.iterdir())]
    cls = LegacyConvertedEnhancedCTImage if modality == "CT" else LegacyConvertedEnhancedMRImage
    mf = cls(sources, series_instance_uid=pydicom.uid.generate_uid(), series_number=7,
             sop_instance_uid=pydicom.uid.generate_uid(), instance_number=1)
    path = tmp / f"enhanced_{modality.lower()}.dcm"
    mf.save_as(path)
    return path


@pytest.mark.parametrize("modality", ["CT", "MR"])
def test_enhanced_multiframe_reads_like_its_single_frame_series(tmp_path, modality):
    grid = Grid((6, 10, 12), np.array([-10.0, -12.0, 5.0]) * 1e-3, np.array([2.0, 2.0, 3.0]) * 1e-3, rotation([1, 0, 0], 15.0))
    values = np.random.default_rng(1).integers(0 if modality == "MR" else -1000, 1500, grid.shape).astype(float)
    write_ct(tmp_path / "ct", values=values, grid=grid, modality=modality)
    ref = read_dicom_series(tmp_path / "ct")
    path = _enhanced_ct(tmp_path, tmp_path / "ct", modality)
    vol = read_dicom_series(path, modality=modality)  # one file as imaging.ct / imaging.mr
    assert vol.grid.same_as(ref.grid) and vol.frame_of_reference_uid == ref.frame_of_reference_uid
    np.testing.assert_array_equal(vol.array, ref.array)
    assert any("multi-frame" in n for n in vol.notes)
    folder = tmp_path / "mf"
    folder.mkdir()
    path.rename(folder / path.name)
    np.testing.assert_array_equal(read_dicom_series(folder).array, ref.array)  # a folder holding it


def test_enhanced_multiframe_with_a_missing_frame_position_names_the_frame(tmp_path):
    write_ct(tmp_path / "ct")
    path = _enhanced_ct(tmp_path, tmp_path / "ct")
    ds = pydicom.dcmread(path)
    del ds.PerFrameFunctionalGroupsSequence[2].PlanePositionSequence
    ds.save_as(path)
    with pytest.raises(InputError, match=rf"^{path} \[frame 3\]: missing ImagePositionPatient"):
        read_dicom_series(path)
    ds = pydicom.dcmread(path)
    ds.NumberOfFrames = 9
    ds.save_as(path)
    with pytest.raises(InputError, match=rf"^{path}: NumberOfFrames = 9 but 6 PerFrameFunctionalGroupsSequence items"):
        read_dicom_series(path)


# --- compressed transfer syntaxes ------------------------------------------------------------------

def _compressed_series(tmp: Path, syntax, plugin: str | None = None, hu_range=(-1000, 1500)):
    rng = np.random.default_rng(3)
    g = axial_grid(shape=(3, 40, 48))  # JPEG 2000's default 6 resolution levels need ≥ 32 pixels a side
    values = rng.integers(hu_range[0], hu_range[1], g.shape).astype(float)
    write_ct(tmp / "ct", values=values, grid=g)
    for p in sorted((tmp / "ct").iterdir()):
        ds = pydicom.dcmread(p)
        ds.compress(syntax, encoding_plugin=plugin) if plugin else ds.compress(syntax)
        ds.save_as(p)
    return tmp / "ct", values


@pytest.mark.parametrize("syntax,plugin", [("JPEGLSLossless", "pyjpegls"), ("JPEG2000Lossless", "pylibjpeg"), ("RLELossless", None)])
def test_compressed_ct_series_decode_to_the_original_values(tmp_path, syntax, plugin):
    from pydicom import uid

    folder, values = _compressed_series(tmp_path, getattr(uid, syntax), plugin)
    assert pydicom.dcmread(next(folder.iterdir())).file_meta.TransferSyntaxUID == getattr(uid, syntax)
    vol = read_dicom_series(folder)
    np.testing.assert_allclose(vol.array, values, atol=0.5)


def test_jpeg_baseline_mr_is_decoded_through_pylibjpeg(tmp_path):
    """8-bit lossy JPEG (the common compressed MR/secondary capture) read with the pylibjpeg-libjpeg plug-in."""
    import io

    from PIL import Image
    from pydicom.encaps import encapsulate
    from pydicom.pixels.decoders import JPEGBaseline8BitDecoder
    from pydicom.uid import JPEGBaseline8Bit

    assert "pylibjpeg" in JPEGBaseline8BitDecoder.available_plugins
    g = axial_grid()
    jj, ii = np.indices(g.shape[1:])
    values = np.broadcast_to(40.0 + 15 * ii + 5 * jj, g.shape).astype(float)  # smooth: lossy JPEG keeps it within a few units
    write_ct(tmp_path / "mr", values=values, grid=g, modality="MR")
    for p in sorted((tmp_path / "mr").iterdir()):
        ds = pydicom.dcmread(p)
        px = ds.pixel_array.astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(px).save(buf, format="JPEG", quality=95)
        ds.PixelData = encapsulate([buf.getvalue()])
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
        ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
        ds["PixelData"].is_undefined_length = True
        ds["PixelData"].VR = "OB"
        ds.save_as(p)
    vol = read_dicom_series(tmp_path / "mr", modality="MR")
    assert np.abs(vol.array - values).max() < 4.0


def test_corrupt_compressed_pixel_data_is_a_one_line_error_naming_the_file(tmp_path):
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEG2000Lossless

    folder, _ = _compressed_series(tmp_path, JPEG2000Lossless, "pylibjpeg")
    victim = sorted(folder.iterdir())[2]
    ds = pydicom.dcmread(victim)
    ds.PixelData = encapsulate([b"\xff\x4f\xff\x51" + b"\x00" * 60])
    ds.save_as(victim)
    with pytest.raises(InputError) as err:
        read_dicom_series(folder)
    msg = str(err.value)
    assert msg.startswith(f"{victim}: compressed pixel data (JPEG 2000") and "\n" not in msg


# --- the stage: label maps, masks and segments on another grid ------------------------------------

def test_patient_model_places_a_seg_nrrd_and_a_coarse_nifti_mask_on_the_ct(tmp_path):
    from planner.imaging import ImagingPlan, patient_model
    from tests.imaging._imaging_util import FakeLibrary, body_phantom_hu, plan_cfg

    g = Grid((10, 24, 24), np.array([-46.0, -46.0, -13.5]) * 1e-3, np.array([4.0, 4.0, 3.0]) * 1e-3, np.eye(3))
    hu, truth = body_phantom_hu(g, metal=False)
    write_ct(tmp_path / "ct", values=hu, grid=g)
    vol = read_dicom_series(tmp_path / "ct")
    # the segmentation on a finer, flipped grid (another tool's export)
    # (offsets of 0.2 voxel: no voxel centre half-way between two source voxels, where rounding rules differ)
    fine = Grid((20, 48, 48), vol.grid.index_to_lps_m(np.array([[vol.shape[2] - 0.8, -0.2, -0.2]]))[0],
                np.array([2.0, 2.0, 1.5]) * 1e-3, np.diag([-1.0, 1.0, 1.0]))
    r = np.linalg.norm(_centres_mm(fine) - _centres_mm(vol.grid)[5, 12, 12], axis=-1)
    masks = {"Organ": (r < 25) & (r > 14), "GTV": r < 9}
    layer0 = np.where(masks["Organ"], 1, 0) + np.where(masks["GTV"], 2, 0)
    dirs = (fine.direction * (fine.spacing_m * 1e3)[None, :]).T
    nrrd.write(str(tmp_path / "s.seg.nrrd"), layer0.astype(np.uint8).transpose(2, 1, 0),
               {"space": "left-posterior-superior", "space directions": dirs, "space origin": fine.origin_m * 1e3,
                "Segment0_Name": "Organ", "Segment0_LabelValue": "1", "Segment1_Name": "GTV", "Segment1_LabelValue": "2"})
    cfg = plan_cfg(tmp_path, {"ct": "ct", "segments": "s.seg.nrrd", "target": "GTV", "organs": ["Organ"]},
                   {"organ_tissues": {"Organ": "muscle"}}, mesh={"max_size_mm": 14.0, "target_size_mm": 6.0})
    model = patient_model(ImagingPlan.of(cfg), FakeLibrary())
    block = model.summary_block()
    assert sorted(block["segments"]["segment_names"]) == ["GTV", "Organ"] and block["rtstruct"] is None
    assert len(block["resampled"]) == 2 and all("resampled by nearest neighbour" in n for n in block["resampled"])
    assert block["resampled"][0] in block["segmentation"]["notes"]
    names = {r.name: r for r in model.mesh.regions}
    assert {"Organ", "GTV"} <= set(names)
    ref = _nearest_reference(masks["GTV"].astype(np.uint8), fine, vol.grid) > 0
    np.testing.assert_array_equal(model.structures.masks["GTV"], ref)
    assert "imaging.segments" in model.input_files()


def test_a_bad_label_file_stops_the_run_before_anything_is_written(tmp_path):
    from planner.config.plan import parse_plan
    from planner.pipeline import run_plan

    (tmp_path / "labels.nrrd").write_bytes(gzip.compress(b"NRRD0004\nbroken"))
    cfg = parse_plan({"plan": {"name": "t", "output_dir": "results"}, "imaging": {"labels": "labels.nrrd"},
                      "segmentation": {"labels": [{"value": 1, "name": "body", "tissue": "muscle"}]},
                      "mesh": {"max_size_mm": 12.0}}, plan_file=tmp_path / "plan.toml")
    with pytest.raises(InputError, match=rf"^{tmp_path / 'labels.nrrd'}: not a readable NRRD file"):
        run_plan(cfg)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.nrrd"]


def test_write_nifti_label_map_on_another_grid_is_accepted_by_planner_check(tmp_path):
    """`planner check` accepts an overlapping label map on another grid (it is resampled at run time)."""
    from planner.checks import _check_masks_on_grid
    from tests.imaging._imaging_util import plan_cfg

    write_ct(tmp_path / "ct")
    vol = read_dicom_series(tmp_path / "ct")
    coarse = Grid((3, 5, 6), vol.grid.index_to_lps_m(np.array([[0.5, 0.5, 0.5]]))[0], vol.grid.spacing_m * 2, vol.grid.direction)
    write_nifti(tmp_path / "mask.nii.gz", np.ones(coarse.shape, np.uint8), coarse)
    cfg = plan_cfg(tmp_path, {"ct": "ct", "target_mask": "mask.nii.gz"})
    from planner.imaging.config import parse_imaging

    _check_masks_on_grid(cfg, parse_imaging(cfg.imaging), vol.grid)  # no error


def test_planner_check_reads_the_segments_file_and_refuses_missing_names_or_no_overlap(tmp_path):
    from tests.imaging.test_imaging_bad_inputs import _check_plan

    write_ct(tmp_path / "ct")
    vol = read_dicom_series(tmp_path / "ct")
    kk, jj, ii = np.indices(vol.shape)
    _dicom_seg(tmp_path, tmp_path / "ct", {"GTV": (ii > 3) & (ii < 8) & (jj > 2), "Rectum": jj > 7})
    _check_plan(tmp_path, {"ct": "ct", "segments": "seg.dcm", "target": "GTV", "organs": ["Rectum"]})()  # consistent: no error
    with pytest.raises(InputError, match=r"^imaging.segments = 'seg.dcm': segment\(s\) \['Bladder'\] not found; the file has "
                                         r"\['GTV', 'Rectum'\]$"):
        _check_plan(tmp_path, {"ct": "ct", "segments": "seg.dcm", "target": "GTV", "organs": ["Bladder"]})()
    far = Grid(vol.shape, vol.grid.origin_m + np.array([0.0, 0.0, 0.5]), vol.grid.spacing_m, vol.grid.direction)
    _seg_nrrd(tmp_path / "far.seg.nrrd", far)
    with pytest.raises(InputError, match=r"^imaging.segments = 'far.seg.nrrd' segment 'GTV': does not overlap the planning image"):
        _check_plan(tmp_path, {"ct": "ct", "segments": "far.seg.nrrd", "target": "GTV"})()
    with pytest.raises(InputError, match=r"^imaging.segments = 'seg.dcm': given together with imaging.rtstruct"):
        _check_plan(tmp_path, {"ct": "ct", "segments": "seg.dcm", "rtstruct": "seg.dcm", "target": "GTV"})()


def test_planner_check_accepts_an_enhanced_multiframe_file_as_imaging_ct(tmp_path):
    from tests.imaging.test_imaging_bad_inputs import _check_plan

    write_ct(tmp_path / "ct")
    _enhanced_ct(tmp_path, tmp_path / "ct")
    _check_plan(tmp_path, {"ct": "enhanced_ct.dcm"})()  # headers only: no error
    with pytest.raises(InputError, match=r"enhanced_ct.dcm: Modality = 'CT': expected 'MR' for imaging.mr"):
        _check_plan(tmp_path, {"mr": "enhanced_ct.dcm"})()


@pytest.mark.parametrize("name", ["MR_small_jpeg_ls_lossless.dcm", "MR_small_jp2klossless.dcm", "MR_small_RLE.dcm"])
def test_real_vendor_compressed_mr_slices_equal_the_uncompressed_one(name):
    """pydicom's shipped real MR slice, losslessly compressed by other tools (JPEG-LS, JPEG 2000, RLE): the
    planner reads exactly the values and geometry of the uncompressed file."""
    from planner.imaging import read_dicom_file

    ref = read_dicom_file(pydicom.data.get_testdata_file("MR_small.dcm"))
    vol = read_dicom_file(pydicom.data.get_testdata_file(name))
    np.testing.assert_array_equal(vol.array, ref.array)
    assert vol.grid.same_as(ref.grid)


def test_twelve_bit_jpeg_extended_needs_and_gets_the_pylibjpeg_plugin():
    """JPEG Extended 12-bit (common in older CT/NM exports) has no pure-Python decoder: only
    pylibjpeg-libjpeg decodes it (Pillow ≥ 11 on trixie as well); pydicom's shipped real file decodes to a 12-bit image."""
    from pydicom.pixels.decoders import JPEGExtended12BitDecoder

    assert "pylibjpeg" in JPEGExtended12BitDecoder.available_plugins  # (trixie's newer Pillow decodes it too)
    ds = pydicom.dcmread(pydicom.data.get_testdata_file("JPGExtended.dcm"))
    arr = ds.pixel_array
    assert arr.shape == (ds.Rows, ds.Columns) and arr.dtype == np.uint16
    assert 0 < int(arr.max()) < 2 ** 12
