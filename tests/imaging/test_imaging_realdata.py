"""Real data that ships offline: nibabel's T1 brain MRI through segmentation and meshing, and
pydicom's real single-slice CT/MR files through the reader and the (refusing) volume pipeline."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel
import numpy as np
import pydicom
import pytest

from planner.artefacts import Role
from planner.errors import InputError
from planner.imaging import ImagingPlan, patient_model
from planner.reporting.fields import write_label_map, write_segmentation_figures
from tests.imaging._imaging_util import FakeLibrary, plan_cfg

ANAT = Path(nibabel.__file__).parent / "tests" / "data" / "anatomical.nii"


def test_real_t1_mri_segmented_and_meshed(tmp_path):
    """anatomical.nii is a tight crop inside a brain (no air background): with a body threshold
    below the tissue intensities the whole volume is tissue, and the 2-class k-means splits dark
    (grey matter/CSF) from bright (white matter) voxels."""
    shutil.copy(ANAT, tmp_path / "anatomical.nii")
    cfg = plan_cfg(tmp_path, {"nifti": "anatomical.nii", "nifti_modality": "MR"},
                   {"method": "mr-intensity", "mr_classes": ["brain_grey", "brain_white"], "mr_body_threshold": 3000.0},
                   {"max_size_mm": 6.0})
    pm = patient_model(ImagingPlan.of(cfg), FakeLibrary())
    lv = pm.labels
    img = np.asarray(nibabel.load(str(ANAT)).dataobj).astype(float).transpose(2, 1, 0)
    body = lv.labels > 0
    assert body.mean() > 0.9
    assert [t.tissue for t in lv.table] == ["brain_grey", "brain_white"]
    c = lv.voxel_counts()
    assert min(c.values()) > 0.2 * sum(c.values())
    dark, bright = img[lv.labels == 1], img[lv.labels == 2]
    assert np.median(bright) > np.median(dark) + 1500
    # CSF in the ventricles (darkest 5 % inside the body) is in the dark class
    csf = body & (img < np.percentile(img[body], 5))
    assert (lv.labels[csf] == 1).mean() > 0.95
    mesh = pm.mesh
    assert mesh.num_cells > 1000
    tot_vox = sum(lv.volumes_m3().values())
    assert mesh.cell_volumes_m3().sum() == pytest.approx(tot_vox, rel=0.1)
    # mesh lies where the image is (LPS from the RAS affine)
    idx = lv.grid.lps_m_to_index(mesh.points_m)
    assert np.all(idx > -1.01) and np.all(idx < np.array(lv.labels.shape[::-1]) + 0.01)
    assert all(r.role == Role.BODY for r in mesh.regions)
    json.dumps(pm.summary_block())
    assert len(write_segmentation_figures(pm, tmp_path / "fig")) == 3
    assert write_label_map(pm, tmp_path / "f")[0].exists()


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm"])
def test_real_single_slice_volume_pipeline_refuses_clearly(tmp_path, name):
    (tmp_path / "series").mkdir()
    shutil.copy(pydicom.data.get_testdata_file(name), tmp_path / "series" / name)
    key = "ct" if name.startswith("CT") else "mr"
    cfg = plan_cfg(tmp_path, {key: "series"})
    with pytest.raises(InputError) as exc:
        patient_model(ImagingPlan.of(cfg), FakeLibrary())
    msg = str(exc.value)
    assert "series" in msg and "single slice cannot be meshed" in msg and "\n" not in msg
