"""FE results on the voxel grid of the planning image (CT/MR), written as NIfTI for 3D Slicer.

Sampling is the FE interpolant itself, not a nearest-vertex lookup: each voxel centre is located in
the TissueMesh (:mod:`planner.reporting._kernels`); a per-vertex (P1) field takes the barycentric
combination of its cell's four vertex values, a per-cell field takes its cell's value. Voxel
centres outside the mesh (air, or beyond a crop box) get the value 0 — ``labels.nii.gz`` (label 0)
and ``image_outputs.voxels_inside_mesh`` in summary.json say where that is.

Files go to ``results/image/`` in the image's own voxel order and orientation, in millimetres
(:func:`planner.imaging.nifti.write_nifti`: LPS metres → NIfTI RAS mm, sform = qform = the image
affine), so they overlay on the CT in 3D Slicer. ``labels.nii.gz`` is the segmentation label map on
the image grid (voxel-identical to the CT), with ``labels.ctbl``, a 3D Slicer colour table
(``value name R G B A`` per line), ``labels.csv`` (value, name, tissue, role) and ``labels.seg.nrrd``,
the same voxels as a Slicer segmentation whose segments carry the region names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from planner.artefacts import TissueMesh
from planner.imaging.nifti import write_nifti
from planner.imaging.volume import Grid
from planner.reporting._kernels import interpolate_vertex_nb, locate_voxels_nb

#: barycentric tolerance: a voxel centre this far outside a cell (in barycentric units) still counts
BARY_TOL = 1e-9


@dataclass(frozen=True)
class GridSampler:
    """Where each voxel centre of ``grid`` lies in the mesh: ``cell_of`` (nk, nj, ni), −1 outside;
    ``points_ijk`` are the mesh vertices in continuous voxel-index space (i, j, k)."""

    grid: Grid
    cell_of: np.ndarray  # (nk, nj, ni) int32
    points_ijk: np.ndarray  # (N, 3)
    cells: np.ndarray  # (M, 4) int64

    @property
    def inside(self) -> np.ndarray:
        return self.cell_of >= 0

    def sample_vertex(self, values: np.ndarray) -> np.ndarray:
        """P1 field (one value per mesh vertex) → float32 image, 0 outside the mesh."""
        nk, nj, ni = self.cell_of.shape
        vals = np.ascontiguousarray(values, dtype=np.float64)
        if vals.shape != (self.points_ijk.shape[0],):
            raise ValueError(f"vertex field of shape {vals.shape}: expected ({self.points_ijk.shape[0]},)")
        out = interpolate_vertex_nb(self.points_ijk, self.cells, self.cell_of.ravel(), nj, ni, vals)
        return out.reshape(self.cell_of.shape)

    def sample_cell(self, values: np.ndarray) -> np.ndarray:
        """Per-cell field → float32 image (each voxel takes its cell's value), 0 outside the mesh."""
        out = np.zeros(self.grid.shape, dtype=np.float32)
        out[self.inside] = np.asarray(values, float)[self.cell_of[self.inside]]
        return out


def sampler_for(mesh: TissueMesh, grid: Grid) -> GridSampler:
    """Locate every voxel centre of ``grid`` in ``mesh`` (cost ~ voxels covered by cell boxes;
    memory 4 bytes per voxel of the grid plus 12 per voxel of the mesh's bounding box)."""
    pts = np.ascontiguousarray(grid.lps_m_to_index(mesh.points_m))
    cells = np.ascontiguousarray(mesh.cells, dtype=np.int64)
    shape = np.array(grid.shape[::-1])  # (ni, nj, nk)
    cell_of = -np.ones(grid.shape, dtype=np.int32)
    if pts.size == 0:
        return GridSampler(grid, cell_of, pts, cells)
    lo = np.clip(np.floor(pts.min(axis=0)).astype(int), 0, shape)  # index box of the mesh (i, j, k)
    hi = np.clip(np.ceil(pts.max(axis=0)).astype(int) + 1, 0, shape)
    if np.all(hi > lo):
        ni, nj, nk = (int(v) for v in hi - lo)
        sub = locate_voxels_nb(np.ascontiguousarray(pts - lo), cells, nk, nj, ni, BARY_TOL).reshape(nk, nj, ni)
        cell_of[lo[2] : hi[2], lo[1] : hi[1], lo[0] : hi[0]] = sub
    return GridSampler(grid, cell_of, pts, cells)


@dataclass(frozen=True)
class LabelEntry:
    value: int
    name: str
    tissue: str
    role: str


def _colour(n: int) -> tuple[int, int, int]:
    from matplotlib import colormaps

    r, g, b, _ = colormaps["tab20"](n % 20)
    return int(round(255 * r)), int(round(255 * g)), int(round(255 * b))


def write_label_table(folder: Path, entries: list[LabelEntry]) -> list[Path]:
    """3D Slicer colour tables (Slicer developer guide, "Color table file format"): ``labels.ctbl``
    (``# Color table file`` header, ``value name R G B A`` lines, spaces in names become '_') and
    ``labels.csv`` (columns LabelValue, Name, Color_R/G/B/A, plus tissue and role; no background row)."""
    ordered = sorted(entries, key=lambda e: e.value)
    colours = [_colour(n) for n in range(len(ordered))]
    lines = ["# Color table file labels.ctbl", f"# {len(ordered) + 1} values", "0 outside 0 0 0 0"]
    lines += [
        f"{e.value} {'_'.join(e.name.split()) or 'label'} {r} {g} {b} 255" for e, (r, g, b) in zip(ordered, colours)
    ]
    ctbl = folder / "labels.ctbl"
    ctbl.write_text("\n".join(lines) + "\n")
    rows = ["LabelValue,Name,Color_R,Color_G,Color_B,Color_A,tissue,role"]
    rows += [
        f"{e.value},{_csv(e.name)},{r},{g},{b},255,{_csv(e.tissue)},{e.role}" for e, (r, g, b) in zip(ordered, colours)
    ]
    csv = folder / "labels.csv"
    csv.write_text("\n".join(rows) + "\n")
    return [ctbl, csv]


def _csv(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if any(ch in text for ch in ',"\n') else text


def write_image_fields(
    folder: Path, sampler: GridSampler, vertex_fields: dict[str, np.ndarray], cell_fields: dict[str, np.ndarray]
) -> list[Path]:
    """One ``<name>.nii.gz`` (float32) per field on the sampler's grid; the files are compressed on
    the cores this process may use (zlib releases the GIL: 7 fields on a 512 × 512 × 160 CT grid take
    ~6 s of gzip on one core)."""
    from concurrent.futures import ThreadPoolExecutor

    from planner.fem.launch import available_cores  # CPU affinity (imports no FEniCSx/MPI)

    folder.mkdir(parents=True, exist_ok=True)
    jobs = [(name, sampler.sample_vertex, values) for name, values in vertex_fields.items()]
    jobs += [(name, sampler.sample_cell, values) for name, values in cell_fields.items()]

    def write(job) -> Path:
        name, sample, values = job
        return write_nifti(folder / f"{name}.nii.gz", sample(values), sampler.grid)
    with ThreadPoolExecutor(max_workers=max(1, min(len(jobs), available_cores()))) as pool:
        return list(pool.map(write, jobs))  # in job order; the first error is raised here


def write_labels(folder: Path, labels_kji: np.ndarray, grid: Grid, entries: list[LabelEntry]) -> list[Path]:
    """``labels.nii.gz`` (uint16, voxel-identical to the image), its label tables and
    ``labels.seg.nrrd`` (the same voxels as a 3D Slicer segmentation with named, coloured segments)."""
    folder.mkdir(parents=True, exist_ok=True)
    lab = np.asarray(labels_kji).astype(np.uint16)
    p = write_nifti(folder / "labels.nii.gz", lab, grid)
    seg = write_seg_nrrd(folder / "labels.seg.nrrd", lab, grid, entries)
    return [p, *write_label_table(folder, entries), seg]


def write_seg_nrrd(path: Path, labels_kji: np.ndarray, grid: Grid, entries: list[LabelEntry]) -> Path:
    """A 3D Slicer ``.seg.nrrd`` (NRRD0004, LPS mm, gzip; one layer, segment N = label value, name and
    colour from ``entries``; Slicer "Segmentation labelmap file format" conventions)."""
    import gzip

    nk, nj, ni = labels_kji.shape
    axes = grid.direction * (grid.spacing_m * 1e3)[None, :]  # columns: i, j, k steps in LPS mm
    vec = " ".join("(" + ",".join(f"{v:.10g}" for v in axes[:, a]) + ")" for a in range(3))
    origin = "(" + ",".join(f"{v:.10g}" for v in grid.origin_m * 1e3) + ")"
    lines = [
        "NRRD0004",
        "# planner segmentation (3D Slicer .seg.nrrd conventions)",
        "type: unsigned short",
        "dimension: 3",
        "space: left-posterior-superior",
        f"sizes: {ni} {nj} {nk}",
        f"space directions: {vec}",
        "kinds: domain domain domain",
        "endian: little",
        "encoding: gzip",
        f"space origin: {origin}",
        "Segmentation_MasterRepresentation:=Binary labelmap",
        "Segmentation_ContainedRepresentationNames:=Binary labelmap|",
        "Segmentation_ReferenceImageExtentOffset:=0 0 0",
    ]
    for n, e in enumerate(sorted(entries, key=lambda e: e.value)):
        r, g, b = _colour(n)
        name = " ".join(e.name.split()) or f"label {e.value}"
        lines += [
            f"Segment{n}_ID:=Segment_{e.value}",
            f"Segment{n}_Name:={name}",
            f"Segment{n}_NameAutoGenerated:=0",
            f"Segment{n}_Color:={r / 255:.6f} {g / 255:.6f} {b / 255:.6f}",
            f"Segment{n}_ColorAutoGenerated:=0",
            f"Segment{n}_LabelValue:={e.value}",
            f"Segment{n}_Layer:=0",
            f"Segment{n}_Extent:=0 {ni - 1} 0 {nj - 1} 0 {nk - 1}",
            f"Segment{n}_Tags:=tissue:{e.tissue}|role:{e.role}|",
        ]
    data = np.ascontiguousarray(labels_kji, dtype="<u2").tobytes()  # C order (k, j, i): i runs fastest
    path.write_bytes(("\n".join(lines) + "\n\n").encode("utf-8") + gzip.compress(data, compresslevel=6))
    return path
