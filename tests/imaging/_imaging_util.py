"""Helpers shared by the imaging tests: tiny series writers, a stand-in tissue library, plan builder."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from planner.config.plan import parse_plan
from planner.imaging.dicom_write import StudyInfo, write_dicom_series
from planner.imaging.volume import Grid

TISSUES = ("muscle", "fat", "skin", "bone_cortical", "bone_marrow", "liver", "kidney", "brain_grey", "brain_white", "blood",
           "prostate", "pancreas", "tumour", "lung", "water", "air", "ti6al4v")  # the tissues helper's library names


class FakeLibrary:
    """Minimal stand-in for the tissues helper's TissueLibrary (only names() is used here)."""

    def __init__(self, names=TISSUES):
        self._names = tuple(names)

    def names(self):
        return list(self._names)


def axial_grid(shape=(6, 10, 12), spacing_mm=(2.0, 2.0, 3.0), origin_mm=(-10.0, -12.0, 5.0)) -> Grid:
    return Grid(tuple(shape), np.array(origin_mm) * 1e-3, np.array(spacing_mm) * 1e-3, np.eye(3))


def rotation(axis, deg) -> np.ndarray:
    a = np.asarray(axis, float)
    a /= np.linalg.norm(a)
    t = np.radians(deg)
    K = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + np.sin(t) * K + (1 - np.cos(t)) * K @ K


def write_ct(folder: Path, values=None, grid: Grid | None = None, seed="t", modality="CT", series_number=1, study=None):
    grid = grid or axial_grid()
    if values is None:
        rng = np.random.default_rng(0)
        values = rng.integers(-1000, 1500, grid.shape).astype(float)
    uid, files = write_dicom_series(folder, values, grid, modality=modality, seed=seed, series_number=series_number,
                                    study=study or StudyInfo())
    return uid, files, values, grid


def plan_cfg(tmp: Path, imaging: dict, segmentation: dict | None = None, mesh: dict | None = None):
    data = {
        "plan": {"name": "t", "output_dir": "results"},
        "imaging": imaging,
        "mesh": mesh or {"max_size_mm": 12.0, "target_size_mm": 4.0, "implant_size_mm": 3.0},
    }
    if segmentation is not None:
        data["segmentation"] = segmentation
    return parse_plan(data, plan_file=tmp / "plan.toml")


def body_phantom_hu(grid: Grid, *, metal=True, streaks=False, seed=1):
    """Cylinder body: fat ring, muscle, a bone rod, an air pocket, a metal rod, a target ball (HU)."""
    nk, nj, ni = grid.shape
    k, j, i = np.meshgrid(np.arange(nk), np.arange(nj), np.arange(ni), indexing="ij")
    p = grid.index_to_lps_m(np.column_stack([i.ravel(), j.ravel(), k.ravel()])).reshape(nk, nj, ni, 3) * 1e3
    c = grid.index_to_lps_m(np.array([[(ni - 1) / 2, (nj - 1) / 2, (nk - 1) / 2]]))[0] * 1e3
    x, y, z = p[..., 0] - c[0], p[..., 1] - c[1], p[..., 2] - c[2]
    r = np.hypot(x, y)
    hu = np.full(grid.shape, -1000.0)
    masks = {}
    masks["body"] = r < 40
    masks["muscle"] = r < 32
    hu[masks["body"]] = -100
    hu[masks["muscle"]] = 45
    masks["bone"] = np.hypot(x + 15, y) < 6
    hu[masks["bone"]] = 1000
    masks["air"] = (x - 5) ** 2 + (y + 18) ** 2 + z ** 2 < 6 ** 2
    hu[masks["air"]] = -900
    masks["target"] = (x - 10) ** 2 + (y - 8) ** 2 + z ** 2 < 8 ** 2
    hu[masks["target"]] = 55
    masks["metal"] = (np.hypot(x - 20, y + 5) < 4) & (np.abs(z) < 12) if metal else np.zeros(grid.shape, bool)
    hu[masks["metal"]] = 3071
    rng = np.random.default_rng(seed)
    if streaks:
        d = np.abs(y + 5 - 0.4 * (x - 20))
        rm = np.hypot(x - 20, y + 5)
        hu += masks["body"] * 300 * np.exp(-0.5 * (d / 0.8) ** 2) * np.sign(np.sin(x / 7.0)) * np.exp(-rm / 60.0)
        hu[masks["metal"]] = 3071
    hu += rng.normal(0, 10, hu.shape)
    return hu, masks
