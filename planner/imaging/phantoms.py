"""Digital patient phantoms written as real DICOM (CT + MR series, RTSTRUCTs) with a runnable plan.

Each phantom is an analytic model (ellipsoids, cylinders, shells) evaluated on an axial voxel
grid in patient LPS (x → left, y → posterior, z → superior, origin at the grid centre). CT numbers
are typical adult values (Kalender 2011; fat −100, muscle 45, cortical bone 1200, titanium clipped
at 3071 HU) with Gaussian noise; the pelvis adds bright/dark streaks radiating from the titanium
hip stem (metal artefact) to exercise the segmenter's streak tolerance. The MR series is T1-like
(fat bright, cortical bone and air dark, metal a signal void) on a coarser in-plane grid. The
RTSTRUCT of each series contains the target (GTV) and organs, rasterised from the same analytic
shapes and written as marching-squares contours.

Registry :data:`PHANTOMS`; :func:`write_phantom` writes everything (``dicom/ct``, ``dicom/mr``,
``dicom/rtstruct_ct.dcm``, ``dicom/rtstruct_mr.dcm``, ``plan.toml``) into a folder, and
:func:`ensure_phantom_inputs` (called by :func:`planner.imaging.patient_model` when a plan sets
``[imaging] phantom = "<name>"``) generates the DICOM beside the plan file on first run.
UIDs are deterministic per phantom (pydicom hash-based UIDs), so regenerated data is identical.
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from planner.errors import InputError
from planner.imaging.config import ImagingPlan
from planner.imaging.dicom_write import StudyInfo, make_uid, write_dicom_series
from planner.imaging.volume import Grid, ImageVolume

GENERATOR_VERSION = "1"
MARKER = ".phantom-complete"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PhantomImages:
    hu: np.ndarray
    mr: np.ndarray
    rois: list  # (name, mask, RTROIInterpretedType)


@dataclass(frozen=True)
class IronDeposit:
    """Iron injected into a phantom, seen by its post-injection CT (``dicom/ct_post``): uniform iron in
    an ellipsoid (patient LPS, mm), the CT rising by ``hu_per_mg_Fe_per_mL`` per mg Fe/mL with partial
    volume at the rim (voxel fractions from 5×5×5 sub-samples). The phantom's calibration is stated,
    not a scanner's: ≈ the attenuation of iron at a 120 kVp effective energy of ~60 keV,
    1000 · (μ/ρ)_Fe · 1 mg/mL / (μ/ρ)_water = 1000 · 1.205 · 0.001 / 0.2059 ≈ 5.9 HU per mg Fe/mL
    (NIST XCOM mass attenuation coefficients)."""

    center_mm: tuple[float, float, float]
    semi_axes_mm: tuple[float, float, float]
    mass_mg: float
    hu_per_mg_Fe_per_mL: float

    @property
    def volume_mL(self) -> float:
        a, b, c = self.semi_axes_mm
        return 4.0 / 3.0 * np.pi * a * b * c * 1e-3

    @property
    def concentration_mg_per_mL(self) -> float:
        return self.mass_mg / self.volume_mL

    def voxel_fraction(self, grid: Grid, n_sub: int = 5) -> np.ndarray:
        """(nk, nj, ni) fraction of each voxel inside the ellipsoid (n_sub³ sub-samples per voxel)."""
        frac = np.zeros(grid.shape)
        c, a = np.asarray(self.center_mm) * 1e-3, np.asarray(self.semi_axes_mm) * 1e-3
        nk, nj, ni = grid.shape
        k, j, i = np.meshgrid(np.arange(nk), np.arange(nj), np.arange(ni), indexing="ij")
        ijk = np.column_stack([i.ravel(), j.ravel(), k.ravel()]).astype(float)
        reach = np.linalg.norm(grid.spacing_m) + 1e-9  # a voxel touching the ellipsoid has its centre this close
        near = np.all(np.abs(grid.index_to_lps_m(ijk) - c) <= a + reach, axis=1)
        offs = (np.arange(n_sub) + 0.5) / n_sub - 0.5
        sub = np.stack(np.meshgrid(offs, offs, offs, indexing="ij"), axis=-1).reshape(-1, 3)
        inside = np.zeros(int(near.sum()))
        for o in sub:
            p = grid.index_to_lps_m(ijk[near] + o)
            inside += np.sum(((p - c) / a) ** 2, axis=1) <= 1.0
        frac.reshape(-1)[near] = inside / len(sub)
        return frac


@dataclass(frozen=True)
class Phantom:
    name: str
    description: str
    shape: tuple[int, int, int]  # (nk, nj, ni) of the CT
    spacing_mm: tuple[float, float, float]  # (Δi, Δj, Δk) of the CT
    mr_inplane_factor: float  # MR in-plane voxel = factor × CT voxel
    build: Callable[[np.ndarray, np.ndarray, np.ndarray, np.random.Generator, str], PhantomImages]
    plan_sections: str  # [imaging]...[segmentation]... text (paths relative to the phantom folder)
    mesh_sections: str
    implant_rois: tuple[str, ...] = ()  # RTSTRUCT ROIs of metal implants (used by the MR plan)
    field_kA_per_m: float = 4.5  # nominal peak field of the plan (implant patients: far lower, see [search])
    deposit: IronDeposit | None = None  # iron seen by a post-injection CT (dicom/ct_post, plan_ct_iron.toml)
    separable: bool = False  # build() takes broadcast axes X (1,1,ni), Y (1,nj,1), Z (nk,1,1): clinical sizes

    def grid(self, modality: str = "CT") -> Grid:
        nk, nj, ni = self.shape
        di, dj, dk = self.spacing_mm
        if modality == "MR":
            f = self.mr_inplane_factor
            ni, nj = int(round(ni / f)), int(round(nj / f))
            di, dj = di * f, dj * f
        sp = np.array([di, dj, dk]) * 1e-3
        origin = -0.5 * (np.array([ni, nj, nk]) - 1) * sp
        return Grid((nk, nj, ni), origin, sp, np.eye(3))

    def plan_toml(self) -> str:
        return (
            f'# {self.description}\n# Generated by `planner phantom {self.name} DIR`; the DICOM under dicom/ is generated on first run.\n'
            f'[plan]\nname = "{self.name} phantom"\noutput_dir = "results"\n'
            f'description = "{self.description}"\n\n{self.plan_sections.strip()}\n\n{self.mesh_sections.strip()}\n\n'
            f'[applicator]\ntype = "uniform"\nfrequency_kHz = 100.0\nfield_kA_per_m = {self.field_kA_per_m}\namplitude = "peak"\n\n'
            '[nanoparticles]\nslp_model = "linear-response"\n\n'
            '[nanoparticles.linear_response]\nmaterial = "magnetite"\nmedian_diameter_nm = 14.0\nsigma_ln = 0.2\n'
            'shell_thickness_nm = 5.0\nbrownian = false\ntemperature_C = 37.0\nmass_basis = "per_g_Fe"\n\n'
            '[nanoparticles.distribution]\nkind = "uniform-in-target"\nmass_of = "Fe"\ntotal_mass_mg = 250.0\n\n'
            '[thermal]\nmode = "transient"\nduration_min = 30.0\ntime_step_s = 30.0\n\n'
            '[safety]\nHf_limit_A_per_m_s = 4.85e8\nHf_amplitude = "peak"\nmax_healthy_T_C = 43.0\n\n'
            '[search]  # largest safe field, and the field for T90 = 42 °C\ngoal_T90_C = 42.0\nmax_field_kA_per_m = 10.0\n'
            'tolerance_kA_per_m = 0.1\n'
            + ('\n[implants]  # sub-model mesh at half the default density: ~1 % loss error, several times faster\n'
               'refinement = 0.5\n' if self.implant_rois else '')
        )

    def plan_ct_iron_toml(self) -> str:
        """The CT plan with the particles quantified from the post-injection CT (kind = "ct-hu-map":
        ``dicom/ct_post`` − ``dicom/ct``) instead of a declared uniform mass; results go to ``results_ct_iron``."""
        dep = self.deposit
        if dep is None:
            raise InputError(f"phantom {self.name!r}: has no post-injection CT; expected one of "
                             f"{', '.join(n for n, p in PHANTOMS.items() if p.deposit is not None)}")
        text = self.plan_toml().replace('output_dir = "results"', 'output_dir = "results_ct_iron"')
        text = text.replace(f'name = "{self.name} phantom"', f'name = "{self.name} phantom (iron from CT)"')
        old = '[nanoparticles.distribution]\nkind = "uniform-in-target"\nmass_of = "Fe"\ntotal_mass_mg = 250.0\n'
        new = ('[nanoparticles.distribution]  # iron from the post-injection CT minus the planning CT\n'
               'kind = "ct-hu-map"\nmass_of = "Fe"\npre_file = "dicom/ct"\npost_file = "dicom/ct_post"\n'
               f'hu_per_mg_Fe_per_mL = {dep.hu_per_mg_Fe_per_mL}  # the phantom\'s stated calibration '
               '(iron at ~60 keV effective, NIST XCOM)\n'
               f'total_mass_mg = {dep.mass_mg}  # deposited iron, reported beside the measured mass\n')
        return text.replace(old, new)

    def plan_mr_toml(self) -> str:
        """The same plan on the MR series: mr-intensity segmentation (T1: muscle dark, fat bright),
        target and organs from the MR RTSTRUCT; results go to ``results_mr``."""
        text = self.plan_toml().replace('ct = "dicom/ct"', 'mr = "dicom/mr"')
        text = text.replace('rtstruct = "dicom/rtstruct_ct.dcm"', 'rtstruct = "dicom/rtstruct_mr.dcm"')
        text = text.replace('method = "ct-hu"', 'method = "mr-intensity"\nmr_classes = ["muscle", "fat"]')
        if self.implant_rois:  # metal is a signal void in MR: implants come from the RTSTRUCT
            rois = ", ".join(f'"{r}"' for r in self.implant_rois)
            text = text.replace('target = "GTV"\n', f'target = "GTV"\nimplants = [{rois}]\n')
        text = text.replace('output_dir = "results"', 'output_dir = "results_mr"')
        text = text.replace(f'name = "{self.name} phantom"', f'name = "{self.name} phantom (MR)"')
        return text


# --- shape helpers (coordinates in mm, LPS) ----------------------------------------------------

def _ellipsoid(X, Y, Z, c, s):
    return ((X - c[0]) / s[0]) ** 2 + ((Y - c[1]) / s[1]) ** 2 + ((Z - c[2]) / s[2]) ** 2 <= 1.0


def _cyl_z(X, Y, Z, c, r, z0, z1, ry=None):
    ry = r if ry is None else ry
    return (((X - c[0]) / r) ** 2 + ((Y - c[1]) / ry) ** 2 <= 1.0) & (Z >= z0) & (Z <= z1)


def _streaks(X, Y, Z, centre, metal, amplitude, rng):
    """Alternating bright/dark streaks through the metal in every slice that contains metal."""
    out = np.zeros(X.shape, dtype=np.float32)
    zs = np.unique(Z[metal])
    angles = np.deg2rad([0.0, 37.0, 71.0, 118.0, 152.0])
    sign = [1.0, -1.0, 1.0, -1.0, 1.0]
    for z in zs:
        sl = Z == z
        dx, dy = X[sl] - centre[0], Y[sl] - centre[1]
        r = np.hypot(dx, dy)
        acc = np.zeros(dx.shape)
        for a, s in zip(angles, sign):
            d_perp = np.abs(-np.sin(a) * dx + np.cos(a) * dy)
            acc += s * amplitude * np.exp(-0.5 * (d_perp / 1.2) ** 2) * np.exp(-r / 90.0)
        out[sl] = acc
    return out


def _finish(hu, mr, rng, noise_hu=12.0, noise_mr=15.0):
    hu = hu + rng.normal(0.0, noise_hu, hu.shape)
    hu = np.clip(hu, -1024.0, 3071.0)
    mr = np.abs(mr + rng.normal(0.0, noise_mr, mr.shape))  # magnitude images: Rician-like floor
    return hu.astype(np.float32), mr.astype(np.float32)


def _build_pelvis(X, Y, Z, rng, modality):
    body = _ellipsoid(X, Y, 0 * Z, (0, 0, 0), (130, 95, 1))
    inner = _ellipsoid(X, Y, 0 * Z, (0, 0, 0), (115, 80, 1))
    hu = np.full(X.shape, -1000.0)
    mr = np.full(X.shape, 5.0)
    hu[body], mr[body] = -100.0, 900.0  # subcutaneous fat
    hu[inner], mr[inner] = 45.0, 350.0  # muscle
    bones = (
        _ellipsoid(X, Y, Z, (75, 10, 25), (22, 38, 40)) | _ellipsoid(X, Y, Z, (-75, 10, 25), (22, 38, 40))
        | _ellipsoid(X, Y, Z, (0, 68, 20), (35, 16, 40))
        | _cyl_z(X, Y, Z, (-88, 5), 14, -80, -10) | _ellipsoid(X, Y, Z, (-80, 3, -5), (18, 18, 18))
        | _cyl_z(X, Y, Z, (88, 5), 14, -80, -10) | _ellipsoid(X, Y, Z, (80, 3, -5), (18, 18, 18))
    ) & inner
    hu[bones], mr[bones] = 1100.0, 120.0
    bladder = _ellipsoid(X, Y, Z, (0, -38, 28), (36, 28, 24))
    hu[bladder], mr[bladder] = 10.0, 120.0
    rectum = _cyl_z(X, Y, Z, (0, 42), 15, -60, 60)
    hu[rectum], mr[rectum] = 40.0, 330.0
    gas = _cyl_z(X, Y, Z, (0, 42), 6, -20, 40)
    hu[gas], mr[gas] = -850.0, 10.0
    prostate = _ellipsoid(X, Y, Z, (0, 8, -22), (21, 16, 18))
    hu[prostate], mr[prostate] = 42.0, 380.0
    gtv = _ellipsoid(X, Y, Z, (7, 10, -20), (10, 9, 10)) & prostate
    hu[gtv], mr[gtv] = 52.0, 300.0
    # titanium hip stem (patient's left = +x): stem in the femoral canal + neck + head; the stem ends
    # 8.5 mm inside the scanned z range (±58.5 mm) so the whole implant is in the patient model (an
    # implant cut by the field of view is refused by the implant stage: its losses need all of it)
    stem = (_cyl_z(X, Y, Z, (88, 5), 6, -50, -15) | _ellipsoid(X, Y, Z, (84, 4, -8), (7, 7, 10))
            | _ellipsoid(X, Y, Z, (80, 3, 2), (12, 12, 12)))
    hu[stem], mr[stem] = 3071.0, 0.0
    hu = hu + _streaks(X, Y, Z, (86, 4), stem, 350.0, rng) * body
    hu, mr = _finish(hu, mr, rng)
    hu[stem] = 3071.0
    rois = [("GTV", gtv, "GTV"), ("Prostate", prostate, "ORGAN"), ("Bladder", bladder, "ORGAN"),
            ("Rectum", rectum, "ORGAN"), ("HipStem", stem, "AVOIDANCE"), ("External", body, "EXTERNAL")]
    return PhantomImages(hu, mr, rois)


def _build_head(X, Y, Z, rng, modality):
    head = _ellipsoid(X, Y, Z, (0, 0, 0), (72, 88, 88)) | _cyl_z(X, Y, Z, (0, 12), 48, -200, -30)
    skull = _ellipsoid(X, Y, Z, (0, 0, 0), (66, 82, 82))  # 6 mm scalp (skin, galea: soft tissue)
    fat = _cyl_z(X, Y, Z, (0, 12), 48, -200, -30) & ~_cyl_z(X, Y, Z, (0, 12), 40, -200, -30) & ~skull  # neck fat ring
    brain = _ellipsoid(X, Y, Z, (0, 0, 2), (59, 75, 74))
    hu = np.full(X.shape, -1000.0)
    mr = np.full(X.shape, 5.0)
    hu[head], mr[head] = 45.0, 400.0  # scalp / neck muscle
    hu[fat], mr[fat] = -90.0, 880.0
    spine = _cyl_z(X, Y, Z, (0, 30), 12, -200, -40)
    hu[spine], mr[spine] = 700.0, 250.0
    hu[skull], mr[skull] = 1200.0, 60.0
    hu[brain], mr[brain] = 35.0, 600.0
    ventricles = _ellipsoid(X, Y, Z, (-7, 0, 15), (5, 22, 10)) | _ellipsoid(X, Y, Z, (7, 0, 15), (5, 22, 10))
    hu[ventricles], mr[ventricles] = 8.0, 200.0
    sinus = _ellipsoid(X, Y, Z, (0, -78, 25), (14, 5, 10))
    hu[sinus], mr[sinus] = -900.0, 5.0
    gtv = (_ellipsoid(X, Y, Z, (25, -22, 28), (15, 14, 14)) | _ellipsoid(X, Y, Z, (34, -8, 32), (10, 10, 10))) & brain
    core = _ellipsoid(X, Y, Z, (26, -20, 28), (7, 7, 7))
    edema = _ellipsoid(X, Y, Z, (28, -15, 30), (26, 26, 24)) & brain & ~gtv
    hu[edema], mr[edema] = 28.0, 520.0
    hu[gtv], mr[gtv] = 55.0, 720.0  # enhancing rim
    hu[core & gtv], mr[core & gtv] = 20.0, 250.0  # necrotic core
    hu, mr = _finish(hu, mr, rng)
    rois = [("GTV", gtv, "GTV"), ("Brain", brain, "ORGAN"), ("Edema", edema, "ORGAN"), ("External", head, "EXTERNAL")]
    return PhantomImages(hu, mr, rois)


def _build_abdomen(X, Y, Z, rng, modality):
    body = _ellipsoid(X, Y, 0 * Z, (0, 0, 0), (160, 115, 1))
    wall = _ellipsoid(X, Y, 0 * Z, (0, 0, 0), (140, 95, 1))
    cavity = _ellipsoid(X, Y, 0 * Z, (0, 0, 0), (128, 83, 1))
    hu = np.full(X.shape, -1000.0)
    mr = np.full(X.shape, 5.0)
    hu[body], mr[body] = -100.0, 900.0
    hu[wall], mr[wall] = 50.0, 380.0
    hu[cavity], mr[cavity] = -80.0, 850.0  # intra-abdominal fat
    liver = _ellipsoid(X, Y, Z, (-62, -5, 15), (62, 58, 60)) & cavity
    kidney_r = _ellipsoid(X, Y, Z, (-62, 48, -10), (24, 30, 42)) & cavity
    kidney_l = _ellipsoid(X, Y, Z, (62, 48, -10), (24, 30, 42)) & cavity
    bowel = _ellipsoid(X, Y, Z, (45, -35, -10), (45, 30, 40)) & cavity
    hu[bowel], mr[bowel] = 35.0, 420.0
    hu[liver], mr[liver] = 60.0, 500.0
    hu[kidney_r | kidney_l], mr[kidney_r | kidney_l] = 35.0, 340.0
    aorta = _cyl_z(X, Y, Z, (8, 38), 11, -200, 200)
    hu[aorta], mr[aorta] = 45.0, 150.0
    spine = (_cyl_z(X, Y, Z, (0, 70), 20, -200, 200) | _cyl_z(X, Y, Z, (0, 98), 7, -200, 200, ry=12)) & wall
    hu[spine], mr[spine] = 600.0, 280.0
    pancreas = _ellipsoid(X, Y, Z, (5, 12, 0), (55, 12, 14))
    hu[pancreas], mr[pancreas] = 42.0, 520.0
    gtv = _ellipsoid(X, Y, Z, (-28, 12, 0), (14, 12, 13))
    hu[gtv], mr[gtv] = 28.0, 300.0
    gas = _ellipsoid(X, Y, Z, (50, -40, -20), (14, 10, 12)) | _ellipsoid(X, Y, Z, (25, -55, 25), (10, 8, 10))
    hu[gas], mr[gas] = -900.0, 8.0
    # patient couch below the back (posterior = +y), 8 mm air gap: must not join the body outline
    couch = (np.abs(X) < 170) & (Y > 123) & (Y < 131)
    hu[couch], mr[couch] = 150.0, 5.0
    hu, mr = _finish(hu, mr, rng)
    rois = [("GTV", gtv, "GTV"), ("Pancreas", pancreas, "ORGAN"), ("Liver", liver, "ORGAN"),
            ("Kidney_R", kidney_r, "ORGAN"), ("Kidney_L", kidney_l, "ORGAN"), ("External", body, "EXTERNAL")]
    return PhantomImages(hu, mr, rois)


# --- the clinical-size pelvis (512 × 512 × 160 at 0.98 × 0.98 × 1 mm): the performance reference ------

class _Painter:
    """HU and MR volumes painted shape by shape, each evaluated only inside its bounding box on the
    separable axes (X (1,1,ni), Y (1,nj,1), Z (nk,1,1), mm): no full-size coordinate arrays."""

    def __init__(self, X, Y, Z):
        self.x, self.y, self.z = X.ravel(), Y.ravel(), Z.ravel()
        self.shape = (self.z.size, self.y.size, self.x.size)
        self.hu = np.full(self.shape, -1000.0, dtype=np.float32)
        self.mr = np.full(self.shape, 5.0, dtype=np.float32)

    def _box(self, lo, hi) -> tuple[slice, slice, slice]:
        def rng(ax, a, b):
            i0, i1 = np.searchsorted(ax, a, "left"), np.searchsorted(ax, b, "right")
            return slice(int(i0), int(max(i0, i1)))
        return rng(self.z, lo[2], hi[2]), rng(self.y, lo[1], hi[1]), rng(self.x, lo[0], hi[0])

    def mask(self, kind: str, c, s, z0: float = 0.0, z1: float = 0.0, tilt=(0.0, 0.0)) -> np.ndarray:
        """Full-size mask of an ellipsoid (c, semi-axes s) or a z-cylinder (c, radii s[:2], z0..z1, axis
        moving by ``tilt`` mm per mm of z: a tapered/inclined stem is a stack of ellipses)."""
        c = (*c, 0.0)[:3]
        out = np.zeros(self.shape, dtype=bool)
        if kind == "ell":
            sl = self._box(np.subtract(c, s), np.add(c, s))
        else:
            reach = max(abs(tilt[0]), abs(tilt[1])) * max(abs(z0 - c[2]), abs(z1 - c[2]))
            sl = self._box((c[0] - s[0] - reach, c[1] - s[1] - reach, z0), (c[0] + s[0] + reach, c[1] + s[1] + reach, z1))
        x, y, z = self.x[sl[2]][None, None, :], self.y[sl[1]][None, :, None], self.z[sl[0]][:, None, None]
        if kind != "ell" and tilt == (0.0, 0.0) and len(s) == 2:  # a straight cylinder: one 2-D mask
            out[sl] = (((x - c[0]) / s[0]) ** 2 + ((y - c[1]) / s[1]) ** 2 <= 1.0)
            return out
        if kind == "ell":
            m = ((x - c[0]) / s[0]) ** 2 + ((y - c[1]) / s[1]) ** 2 + ((z - c[2]) / s[2]) ** 2 <= 1.0
        else:
            t = z - c[2]
            r_scale = 1.0 + (s[2] if len(s) > 2 else 0.0) * (z1 - z) / max(z1 - z0, 1e-9)  # taper towards z0
            m = ((x - c[0] - tilt[0] * t) / (s[0] * r_scale)) ** 2 + ((y - c[1] - tilt[1] * t) / (s[1] * r_scale)) ** 2 <= 1.0
        out[sl] = m
        return out

    def paint(self, mask: np.ndarray, hu: float, mr: float) -> None:
        self.hu[mask], self.mr[mask] = hu, mr


def _clinical_streaks(p: _Painter, metal: np.ndarray, body: np.ndarray, amplitude: float) -> None:
    """Bright/dark streaks through the metal centroid of every slice with metal (in-plane, vectorised)."""
    angles = np.deg2rad([0.0, 37.0, 71.0, 118.0, 152.0])
    sign = np.array([1.0, -1.0, 1.0, -1.0, 1.0])
    x, y = p.x[None, :].astype(np.float32), p.y[:, None].astype(np.float32)
    for k in np.flatnonzero(metal.any(axis=(1, 2))):
        jj, ii = np.nonzero(metal[k])
        dx, dy = x - np.float32(p.x[ii].mean()), y - np.float32(p.y[jj].mean())
        decay = np.float32(amplitude) * np.exp(-np.hypot(dx, dy) / np.float32(90.0))
        acc = np.zeros((p.y.size, p.x.size), dtype=np.float32)
        for a, sg in zip(angles, sign):
            d = (np.float32(-np.sin(a) / 1.2) * dx + np.float32(np.cos(a) / 1.2) * dy)
            acc += np.float32(sg) * np.exp(np.float32(-0.5) * d * d)
        p.hu[k] += acc * decay * body[k]


def _build_pelvis_clinical(X, Y, Z, rng, modality):
    """Adult male pelvis, 340 × 230 mm, with a titanium total hip stem (28 mm head, tapered stem) in the
    left femur. Sizes from adult anatomy (femoral head Ø 45 mm, bladder ≈ 200 mL, prostate ≈ 30 mL)."""
    p = _Painter(X, Y, Z)
    body = p.mask("cyl", (0, 0, 0), (170, 115), -1e3, 1e3)
    inner = p.mask("cyl", (0, 0, 0), (152, 98), -1e3, 1e3)
    p.paint(body, -100.0, 900.0)  # subcutaneous fat
    p.paint(inner, 45.0, 350.0)  # muscle
    head_r, head_l = p.mask("ell", (-92, 5, -5), (22, 22, 22)), p.mask("ell", (92, 5, -5), (22, 22, 22))
    bones = (p.mask("ell", (100, 15, 45), (28, 48, 50)) | p.mask("ell", (-100, 15, 45), (28, 48, 50))  # ilia
             | p.mask("ell", (0, 82, 35), (42, 18, 50))  # sacrum
             | p.mask("ell", (-70, 10, -40), (18, 14, 20)) | p.mask("ell", (70, 10, -40), (18, 14, 20))  # pubic/ischial rami
             | p.mask("cyl", (-108, 8, -10), (16, 16), -90, -22, tilt=(0.15, 0.0))  # femoral shafts
             | p.mask("cyl", (108, 8, -10), (16, 16), -90, -22, tilt=(-0.15, 0.0))
             | p.mask("cyl", (-100, 6, -12), (12, 12), -24, -2, tilt=(0.5, 0.0))  # femoral necks
             | p.mask("cyl", (100, 6, -12), (12, 12), -24, -2, tilt=(-0.5, 0.0))
             | head_r | head_l) & inner
    p.paint(bones, 1100.0, 120.0)
    bladder = p.mask("ell", (0, -48, 32), (46, 36, 30))
    p.paint(bladder, 10.0, 120.0)
    rectum = p.mask("cyl", (0, 58), (18, 18), -80, 70)
    p.paint(rectum, 40.0, 330.0)
    p.paint(p.mask("cyl", (0, 58), (7, 7), -30, 45), -850.0, 10.0)  # rectal gas
    prostate = p.mask("ell", (0, 12, -28), (24, 18, 20))
    p.paint(prostate, 42.0, 380.0)
    gtv = p.mask("ell", (8, 14, -25), (11, 10, 11)) & prostate
    p.paint(gtv, 52.0, 300.0)
    # total hip stem (patient's left = +x), Ti-6Al-4V: 28 mm head on the femoral-head centre, a neck
    # along the femoral neck, a stem tapering from 8 to 4.4 mm radius down the canal to z = -72 mm
    # (7.5 mm inside the scanned range: the implant stage needs the whole implant in the model)
    stem = (p.mask("ell", (92, 5, -5), (14, 14, 14)) | p.mask("cyl", (100, 6, -12), (6, 5.5), -22, -4, tilt=(-0.5, 0.0))
            | p.mask("cyl", (108, 8, -10), (8, 7, -0.45), -72, -20, tilt=(-0.15, 0.0))) & inner
    p.paint(stem, 3071.0, 0.0)
    _clinical_streaks(p, stem, body, 350.0)
    p.hu += rng.standard_normal(p.shape, dtype=np.float32) * np.float32(12.0)
    np.clip(p.hu, -1024.0, 3071.0, out=p.hu)
    p.hu[stem] = 3071.0
    p.mr = np.abs(p.mr + rng.standard_normal(p.shape, dtype=np.float32) * np.float32(15.0))
    rois = [("GTV", gtv, "GTV"), ("Prostate", prostate, "ORGAN"), ("Bladder", bladder, "ORGAN"),
            ("Rectum", rectum, "ORGAN"), ("FemoralHead_R", head_r & ~stem, "ORGAN"),
            ("FemoralHead_L", head_l & ~stem, "ORGAN"), ("HipStem", stem, "AVOIDANCE"), ("External", body, "EXTERNAL")]
    return PhantomImages(p.hu, p.mr, rois)


_PELVIS_PLAN = '''
[imaging]
phantom = "pelvis"
ct = "dicom/ct"
rtstruct = "dicom/rtstruct_ct.dcm"
target = "GTV"
organs = ["Prostate", "Bladder", "Rectum"]

[segmentation]
method = "ct-hu"
soft_tissue = "muscle"
fat_tissue = "fat"
bone_tissue = "bone_cortical"
air_tissue = "air"
metal_tissue = "ti6al4v"
target_tissue = "tumour"
organ_tissues = { Prostate = "prostate", Bladder = "muscle", Rectum = "muscle" }
'''

_PELVIS_CLINICAL_PLAN = '''
[imaging]
phantom = "pelvis-clinical"
ct = "dicom/ct"
rtstruct = "dicom/rtstruct_ct.dcm"
target = "GTV"
organs = ["Prostate", "Bladder", "Rectum", "FemoralHead_R", "FemoralHead_L"]

[segmentation]
method = "ct-hu"
soft_tissue = "muscle"
fat_tissue = "fat"
bone_tissue = "bone_cortical"
air_tissue = "air"
metal_tissue = "ti6al4v"
target_tissue = "tumour"

[segmentation.organ_tissues]
Prostate = "prostate"
Bladder = "muscle"
Rectum = "muscle"
FemoralHead_R = "bone_cortical"
FemoralHead_L = "bone_cortical"
'''

_HEAD_PLAN = '''
[imaging]
phantom = "head"
ct = "dicom/ct"
rtstruct = "dicom/rtstruct_ct.dcm"
target = "GTV"
organs = ["Brain", "Edema"]

[segmentation]
method = "ct-hu"
soft_tissue = "muscle"
fat_tissue = "fat"
bone_tissue = "bone_cortical"
air_tissue = "air"
target_tissue = "tumour"
organ_tissues = { Brain = "brain_grey", Edema = "brain_grey" }
'''

_ABDOMEN_PLAN = '''
[imaging]
phantom = "abdomen"
ct = "dicom/ct"
rtstruct = "dicom/rtstruct_ct.dcm"
target = "GTV"
organs = ["Pancreas", "Liver", "Kidney_R", "Kidney_L"]

[segmentation]
method = "ct-hu"
soft_tissue = "muscle"
fat_tissue = "fat"
bone_tissue = "bone_cortical"
air_tissue = "air"
target_tissue = "tumour"
organ_tissues = { Pancreas = "pancreas", Liver = "liver", Kidney_R = "kidney", Kidney_L = "kidney" }
'''

_MESH = '''
[mesh]
max_size_mm = 12.0
target_size_mm = 4.0
implant_size_mm = 3.0
'''

PHANTOMS: dict[str, Phantom] = {
    "pelvis": Phantom("pelvis", "pelvis with a prostate tumour (GTV) and a titanium hip stem (left)",
                      (40, 96, 96), (3.0, 3.0, 3.0), 1.25, _build_pelvis, _PELVIS_PLAN, _MESH, ("HipStem",),
                      field_kA_per_m=1.0, deposit=IronDeposit((7.0, 10.0, -20.0), (8.0, 7.0, 8.0), 120.0, 5.9)),
    "pelvis-clinical": Phantom("pelvis-clinical", "clinical-size pelvis (512 x 512 x 160 CT, 1 mm) with a prostate "
                               "tumour (GTV) and a titanium total hip stem (left): the pipeline's performance reference",
                               (160, 512, 512), (0.9765625, 0.9765625, 1.0), 1.25, _build_pelvis_clinical,
                               _PELVIS_CLINICAL_PLAN, _MESH, ("HipStem",), field_kA_per_m=1.0, separable=True),
    "head": Phantom("head", "head with a glioblastoma-like target (enhancing rim, necrotic core, edema)",
                    (64, 64, 64), (3.0, 3.0, 3.0), 1.25, _build_head, _HEAD_PLAN, _MESH),
    "abdomen": Phantom("abdomen", "abdomen with a tumour in the pancreatic head",
                       (32, 96, 96), (4.0, 4.0, 4.0), 1.25, _build_abdomen, _ABDOMEN_PLAN, _MESH),
}


def _phantom(name: str) -> Phantom:
    if name not in PHANTOMS:
        raise InputError(f"phantom = {name!r}: unknown phantom; expected one of {', '.join(sorted(PHANTOMS))}")
    return PHANTOMS[name]


def phantom_images(name: str, modality: str = "CT", grid: Grid | None = None) -> tuple[Grid, PhantomImages]:
    """Evaluate phantom ``name`` on its CT (or MR) grid, or on ``grid``: (grid, images with ROI masks)."""
    ph = _phantom(name)
    g = grid if grid is not None else ph.grid(modality)
    seed = sum(ord(c) for c in name) * 7 + (0 if modality == "CT" else 1)
    return g, ph.build(*(_axes_mm(g) if ph.separable else _coordinates_mm(g)), np.random.default_rng(seed), modality)


def _axes_mm(g: Grid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Broadcastable X (1,1,ni), Y (1,nj,1), Z (nk,1,1) in mm of an axis-aligned grid."""
    if not np.allclose(g.direction, np.eye(3)):
        raise InputError("phantom grid: expected an axis-aligned (identity direction) grid for a separable phantom")
    nk, nj, ni = g.shape
    o, sp = np.asarray(g.origin_m) * 1e3, np.asarray(g.spacing_m) * 1e3
    return ((o[0] + sp[0] * np.arange(ni)).reshape(1, 1, ni), (o[1] + sp[1] * np.arange(nj)).reshape(1, nj, 1),
            (o[2] + sp[2] * np.arange(nk)).reshape(nk, 1, 1))


def _coordinates_mm(g: Grid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    nk, nj, ni = g.shape
    k, j, i = np.meshgrid(np.arange(nk), np.arange(nj), np.arange(ni), indexing="ij")
    pts = g.index_to_lps_m(np.column_stack([i.ravel(), j.ravel(), k.ravel()])) * 1e3
    X, Y, Z = (pts[:, a].reshape(g.shape) for a in range(3))
    return X, Y, Z


def post_injection_ct(name: str, grid: Grid | None = None) -> tuple[Grid, np.ndarray, IronDeposit]:
    """The post-injection CT (HU) of phantom ``name`` on its CT grid (or ``grid``): the same anatomy as
    the planning CT with a new noise realisation (a second scan), plus the deposit's HU rise
    (``IronDeposit``; partial volume at its rim), clipped to the 12-bit CT range."""
    ph = _phantom(name)
    dep = ph.deposit
    if dep is None:
        raise InputError(f"phantom = {name!r}: has no post-injection CT; expected one of "
                         f"{', '.join(n for n, p in PHANTOMS.items() if p.deposit is not None)}")
    g = grid if grid is not None else ph.grid("CT")
    seed = sum(ord(c) for c in name) * 7 + 2
    imgs = ph.build(*_coordinates_mm(g), np.random.default_rng(seed), "CT")
    rise = dep.voxel_fraction(g) * dep.concentration_mg_per_mL * dep.hu_per_mg_Fe_per_mL
    return g, np.clip(imgs.hu + rise, -1024.0, 3071.0).astype(np.float32), dep


def write_phantom_data(name: str, out_dir: str | Path) -> list[Path]:
    """Write ``dicom/ct``, ``dicom/mr`` and the two RTSTRUCTs of phantom ``name`` under ``out_dir``.

    Written into a temporary folder and renamed into place, so an interrupted run leaves no
    half-written ``dicom/`` folder. The marker (``dicom/.phantom-complete``, written last) lists
    every file; an existing ``dicom/`` is replaced only when it holds nothing but the files its
    marker lists, and then only those files are removed (never data the generator did not write).
    """
    from planner.reporting.results import partial_folder

    ph = _phantom(name)
    out = Path(out_dir)
    final = out / "dicom"
    _refuse_foreign(final, f"phantom {name!r}")
    try:
        out.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".phantom-", dir=out))
    except OSError as exc:
        raise InputError(f"phantom {name!r}: cannot write into {str(out)!r} ({exc.strerror})") from None
    seed = f"planner-phantom-{name}-v{GENERATOR_VERSION}"
    study = StudyInfo(patient_name=f"PHANTOM^{name.upper()}", patient_id=f"PH-{name.upper()}"[:16],
                      study_description=ph.description).filled(seed)
    try:
        with partial_folder(tmp):  # removed on SIGTERM (planner CLI) like a partial results folder
            _write_phantom_files(name, tmp, study, seed)
        files = sorted(f.relative_to(tmp).as_posix() for f in tmp.rglob("*") if f.is_file())
        (tmp / MARKER).write_text(json.dumps({"phantom": name, "version": GENERATOR_VERSION, "files": files}) + "\n")
        _refuse_foreign(final, f"phantom {name!r}")
        old = out / f".phantom-old-{os.getpid()}"
        if final.exists():
            os.rename(final, old)
        os.replace(tmp, final)
        if old.exists():
            _remove_generated(old)
    except OSError as exc:
        raise InputError(f"phantom {name!r}: writing {exc.filename or out} failed ({exc.strerror})") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return [final / "ct", final / "mr", final / "rtstruct_ct.dcm", final / "rtstruct_mr.dcm",
            *([final / "ct_post"] if ph.deposit is not None else [])]


def _write_phantom_files(name: str, tmp: Path, study: StudyInfo, seed: str) -> None:
    """CT and MR series and their RTSTRUCTs of phantom ``name`` into ``tmp``."""
    from planner.imaging.dicom import read_dicom_series
    from planner.imaging.rtstruct import write_rtstruct

    for modality, sub, number in (("CT", "ct", 1), ("MR", "mr", 2)):
        g, imgs = phantom_images(name, modality)
        values = imgs.hu if modality == "CT" else imgs.mr
        write_dicom_series(tmp / sub, values, g, modality=modality, study=study, series_number=number,
                           description=f"{name} phantom {modality}", seed=seed, file_prefix=modality)
        vol: ImageVolume = read_dicom_series(tmp / sub, modality=modality)
        write_rtstruct(tmp / f"rtstruct_{sub}.dcm", vol, imgs.rois, study=study, seed=seed, label=f"{name[:12]}-{sub}")
    if PHANTOMS[name].deposit is not None:  # the post-injection CT: same study and frame of reference
        g, hu_post, _ = post_injection_ct(name)
        write_dicom_series(tmp / "ct_post", hu_post, g, modality="CT", study=study, series_number=3,
                           description=f"{name} phantom CT post-injection", seed=seed, file_prefix="CT")


def _generated_files(folder: Path) -> set[str] | None:
    """Files the phantom generator wrote into ``folder`` (from its marker), or None if it has none."""
    m = folder / MARKER
    if not m.is_file():
        return None
    text = m.read_text()
    try:
        return set(json.loads(text)["files"]) | {MARKER}
    except (ValueError, KeyError, TypeError):  # marker of generator version 1 (name and version only)
        return {f.relative_to(folder).as_posix() for f in folder.rglob("*")
                if f.is_file() and re.fullmatch(r"(ct/CT\d+|mr/MR\d+|rtstruct_(ct|mr))\.dcm|\.phantom-complete",
                                                 f.relative_to(folder).as_posix())}


def _foreign(folder: Path) -> list[str]:
    present = sorted(f.relative_to(folder).as_posix() for f in folder.rglob("*") if f.is_file() or f.is_symlink())
    mine = _generated_files(folder) or set()
    return [f for f in present if f not in mine]


def _refuse_foreign(folder: Path, what: str) -> None:
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise InputError(f"{what}: {folder} exists and is not a phantom folder; "
                         "expected to write the phantom's DICOM there")
    if folder.is_dir():
        foreign = _foreign(folder)
        if foreign:
            raise InputError(f"{what}: {folder} holds {len(foreign)} file(s) the phantom generator did not write "
                             f"(e.g. {foreign[0]!r}); refusing to replace them "
                             "— remove the phantom key or choose another folder")


def _remove_generated(folder: Path) -> None:
    mine = (_generated_files(folder) or set()) - {MARKER}
    for f in sorted(folder.rglob("*")):
        if f.is_file() and f.relative_to(folder).as_posix() in mine:
            f.unlink()
    if (folder / MARKER).is_file():
        (folder / MARKER).unlink()
    for d in sorted((p for p in folder.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)) + [folder]:
        try:
            d.rmdir()
        except OSError:
            pass


def _write_text_once(path: Path, text: str, what: str) -> None:
    """Write ``text`` to ``path`` unless it already holds other text (a user's edited plan)."""
    if path.exists() and (not path.is_file() or path.read_bytes() != text.encode()):
        raise InputError(f"{what}: {path} exists with other content; refusing to overwrite it — choose an empty folder")
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_phantom(name: str, out_dir: str | Path) -> Path:
    """Write phantom ``name`` (DICOM CT + MR series, RTSTRUCTs, ``plan.toml`` on the CT and
    ``plan_mr.toml`` on the MR series; for a phantom with an iron deposit also the post-injection CT
    ``dicom/ct_post`` and ``plan_ct_iron.toml``) into ``out_dir``.

    Returns the path of ``plan.toml``; ``planner run <out_dir>/plan.toml`` runs it as is. Refuses
    (before writing anything) to replace files it did not write.
    """
    ph = _phantom(name)
    out = Path(out_dir)
    plan, plan_mr = out / "plan.toml", out / "plan_mr.toml"
    plans = [(plan, ph.plan_toml()), (plan_mr, ph.plan_mr_toml())]
    if ph.deposit is not None:
        plans.append((out / "plan_ct_iron.toml", ph.plan_ct_iron_toml()))
    for path, text in plans:
        if path.exists() and (not path.is_file() or path.read_bytes() != text.encode()):
            raise InputError(f"phantom {name!r}: {path} exists with other content; "
                             "refusing to overwrite it — choose an empty folder")
    _refuse_foreign(out / "dicom", f"phantom {name!r}")
    write_phantom_data(name, out)
    try:
        for path, text in plans:
            _write_text_once(path, text, f"phantom {name!r}")
    except OSError as exc:
        raise InputError(f"phantom {name!r}: writing {exc.filename or out} failed ({exc.strerror})") from None
    return plan


def phantom_data_complete(name: str, folder: str | Path) -> bool:
    m = Path(folder) / "dicom" / MARKER
    if not m.is_file():
        return False
    text = m.read_text()
    try:
        data = json.loads(text)
        return data.get("phantom") == name and data.get("version") == GENERATOR_VERSION
    except ValueError:
        return text.split() == [name, GENERATOR_VERSION]


def _lacks_post_injection_ct(name: str, folder: Path) -> bool:
    """Phantom data written by this generator (its marker) before it wrote ``dicom/ct_post``."""
    if PHANTOMS[name].deposit is None or not phantom_data_complete(name, folder):
        return False
    files = _generated_files(Path(folder) / "dicom") or set()
    return not any(f.startswith("ct_post/") for f in files)


_IMAGE_KEYS = ("ct", "mr", "nifti", "labels", "rtstruct", "target_mask")


def ensure_phantom_inputs(cfg: ImagingPlan) -> list[Path]:
    """Generate the phantom DICOM beside the plan file if ``[imaging] phantom`` is set and missing.

    Returns the paths written (empty when nothing was generated). Never regenerates inputs that
    exist (a ``phantom`` key left in a patient plan cannot touch the patient's images), and never
    writes into a ``dicom/`` folder holding files the generator did not write.
    """
    raw = cfg.imaging or {}
    name = raw.get("phantom")
    if name is None:
        return []
    if not isinstance(name, str):
        raise InputError(f"imaging.phantom = {name!r}: expected a phantom name ({', '.join(sorted(PHANTOMS))})")
    _phantom(name)
    if _lacks_post_injection_ct(name, cfg.base_dir) and not _foreign(cfg.base_dir / "dicom"):
        log.info("phantom %r: generated data lacks the post-injection CT (dicom/ct_post); regenerating", name)
        return write_phantom_data(name, cfg.base_dir)
    named = {k: cfg.resolve(str(raw[k])) for k in _IMAGE_KEYS if isinstance(raw.get(k), str)}
    if named and all(p.exists() for p in named.values()):
        if not phantom_data_complete(name, cfg.base_dir):
            log.warning("imaging.phantom = %r: the plan's inputs (%s) exist and are used as they are; "
                        "nothing generated",
                        name, ", ".join(f"imaging.{k}" for k in named))
        return []
    if phantom_data_complete(name, cfg.base_dir) and not _foreign(cfg.base_dir / "dicom"):
        return []
    _refuse_foreign(cfg.base_dir / "dicom", f"imaging.phantom = {name!r}")
    return write_phantom_data(name, cfg.base_dir)


__all__ = ["PHANTOMS", "Phantom", "IronDeposit", "post_injection_ct", "write_phantom", "write_phantom_data",
           "ensure_phantom_inputs", "phantom_images", "make_uid"]
