"""Label volume → conforming multi-tissue tetrahedral :class:`~planner.artefacts.TissueMesh`.

Meshing uses CGAL Mesh_3 through pygalmesh (Debian ``python3-pygalmesh`` 0.10.x) on a labelled
image domain: every non-zero label is a subdomain, touching labels share their interface facets,
so the mesh is conforming across tissues; label 0 is outside. Element size is set **per region**
from the ``[mesh]`` section and the region's role (``target_size_mm`` in targets,
``implant_size_mm`` in implants, ``organ_size_mm`` in organs, ``max_size_mm`` elsewhere), through
``generate_from_inr``'s per-subdomain ``max_cell_circumradius``. The circumradius of a regular
tetrahedron with edge h is R = h·√6/4 ≈ 0.61 h; we pass R = 0.61 × size so "size" means edge length.
With ``[mesh] growth_distance_mm`` the coarse regions within that distance of a fine region are
meshed in graded shells (see :func:`_grading_shells`); without it CGAL's Delaunay refinement grades
sizes on its own (typically 3 → 9 mm within 20 mm of a 3-mm target).
Surface facets use ``max_radius_surface_delaunay_ball`` = 0.61 × ``max_size_mm`` (pygalmesh's facet
criteria are global; the per-region cell sizes refine the target/implant surfaces) and
``max_facet_distance`` = one voxel (the labelled-image boundary is a voxel staircase; finer
facet distance only resolves the staircase and multiplies the cell count).

CGAL places the centre of voxel (i, j, k) at (i Δi, j Δj, k Δk) in the image frame (checked in
the tests); the label array is padded with one voxel of 0 so regions touching the image border are
closed, then points are mapped to patient LPS metres with the image geometry.

Quality (reported, and :class:`MeshError` below ``[imaging] min_dihedral_deg`` /
``min_radius_ratio``): minimum dihedral angle, and the radius ratio ρ = 3 r_in / R_circ (1 for the
regular tetrahedron, → 0 for slivers); see Shewchuk (2002), "What is a good linear finite
element?", IMR. Region volumes of the mesh are compared with the voxel volumes; a relative
difference above ``max_volume_difference`` is a :class:`MeshError` for targets, implants and every
region holding ≥ 1 % of the labelled volume; smaller regions (e.g. bowel gas pockets below the element
size) are flagged ``poorly_resolved`` in the report instead.
"""
from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import meshio
import numpy as np

from planner.artefacts import Region, Role, TissueMesh, boundary_facets
from planner.errors import InputError, MeshError
from planner.imaging.segmentation import LabelVolume

log = logging.getLogger(__name__)

R_OVER_EDGE = 0.61  # circumradius / edge length of the regular tetrahedron (√6/4 = 0.612)


@dataclass(frozen=True)
class MeshQuality:
    num_cells: int
    num_vertices: int
    min_dihedral_deg: float
    mean_min_dihedral_deg: float
    min_radius_ratio: float
    mean_radius_ratio: float

    def summary_block(self) -> dict:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class MeshReport:
    """Quality and volume check of a label mesh."""

    quality: MeshQuality
    volumes: tuple[dict, ...]  # per region: name, tissue, role, voxel_volume_cm3, mesh_volume_cm3, rel_diff
    sizes_mm: dict  # region name → requested element size (edge, mm)
    crop_kji: tuple[tuple[int, int], ...] | None
    seconds: float
    source: str

    def summary_block(self) -> dict:
        return {
            "quality": self.quality.summary_block(),
            "volumes": list(self.volumes),
            "sizes_mm": self.sizes_mm,
            "crop_kji": [list(c) for c in self.crop_kji] if self.crop_kji else None,
            "mesh_seconds": round(self.seconds, 3),
            "source": self.source,
        }


def tet_quality(points: np.ndarray, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-cell minimum dihedral angle (degrees) and radius ratio ρ = 3 r_in / R_circ.

    Dihedral angle at edge (a, b) between faces with outward normals n1, n2: π − ∠(n1, n2).
    r_in = 3V / ΣA_faces; R_circ from |α| with the Cayley–Menger-free formula
    R = |a² (b×c) + b² (c×a) + c² (a×b)| / (12 V) for edge vectors a, b, c at one vertex.
    """
    x = points[cells]
    a, b, c = x[:, 1] - x[:, 0], x[:, 2] - x[:, 0], x[:, 3] - x[:, 0]
    vol6 = np.einsum("ij,ij->i", a, np.cross(b, c))
    V = np.abs(vol6) / 6.0
    # face normals (face opposite vertex m), oriented outward
    faces = [(1, 2, 3), (0, 3, 2), (0, 1, 3), (0, 2, 1)]
    normals = []
    areas = []
    for f in faces:
        n = np.cross(x[:, f[1]] - x[:, f[0]], x[:, f[2]] - x[:, f[0]])
        n *= np.sign(vol6)[:, None]
        ln = np.linalg.norm(n, axis=1)
        areas.append(0.5 * ln)
        normals.append(n / np.maximum(ln, 1e-300)[:, None])
    min_dih = np.full(len(cells), np.pi)
    for p in range(4):
        for q in range(p + 1, 4):
            cosang = np.clip(np.einsum("ij,ij->i", normals[p], normals[q]), -1.0, 1.0)
            min_dih = np.minimum(min_dih, np.pi - np.arccos(cosang))
    r_in = 3.0 * V / np.maximum(sum(areas), 1e-300)
    num = (np.einsum("ij,ij->i", a, a)[:, None] * np.cross(b, c) + np.einsum("ij,ij->i", b, b)[:, None] * np.cross(c, a)
           + np.einsum("ij,ij->i", c, c)[:, None] * np.cross(a, b))
    R = np.linalg.norm(num, axis=1) / np.maximum(2.0 * np.abs(vol6), 1e-300)
    rho = 3.0 * r_in / np.maximum(R, 1e-300)
    return np.degrees(min_dih), rho




#: exudation stops once every dihedral angle is above this bound (degrees); CGAL's default (0 =
#: optimise until no improvement) costs ~7× more time for the same minimum angle on our meshes
EXUDE_SLIVER_BOUND_DEG = 10.0


def _cgal_mesh_labels(inr: str, out: str, radii: dict[int, float], default_radius: float, facet_size: float,
                      facet_distance: float, seed: int) -> None:
    """CGAL Mesh_3 on a labelled INR image with per-label cell sizes, written to medit ``out``.

    Calls pygalmesh's compiled binding directly: its Python wrapper does not expose the exudation
    bound for per-subdomain sizing (and ``generate_from_array`` passes its arguments shifted).
    """
    try:
        from _pygalmesh import _generate_from_inr_with_subdomain_sizing as gen
    except ImportError:  # other pygalmesh builds: public wrapper, default exudation
        import pygalmesh

        circumradius: dict[Any, float] = {**radii, "default": default_radius}
        m = pygalmesh.generate_from_inr(inr, max_cell_circumradius=circumradius,
                                        max_radius_surface_delaunay_ball=facet_size, max_facet_distance=facet_distance,
                                        min_facet_angle=25.0, max_circumradius_edge_ratio=3.0, verbose=False, seed=seed)
        meshio.write(out, m, file_format="medit")
        return
    labels = sorted(radii)
    gen(inr, out, default_radius, [radii[v] for v in labels], labels, lloyd=False, odt=False, perturb=True, exude=True,
        min_facet_angle=25.0, max_radius_surface_delaunay_ball=facet_size, max_facet_distance=facet_distance,
        max_circumradius_edge_ratio=3.0, exude_time_limit=0.0, exude_sliver_bound=EXUDE_SLIVER_BOUND_DEG,
        verbose=False, seed=seed)


def _refs_to_labels(refs: np.ndarray, centroids_ijk: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Map CGAL's medit subdomain references to label values.

    CGAL's medit writer renumbers subdomains 1..n in increasing order of their index
    (``CGAL/IO/File_medit.h``: "rebind indices in alphanumeric order"). Each reference is matched
    to the label found (by majority) at its cells' centroids in the label volume; when a vote is
    not clear (< 50 %, e.g. a one-voxel-thick layer whose cells sample their neighbours) and no
    label vanished in meshing, the documented sorted order is used instead. Inconsistent results
    are a :class:`MeshError`.
    """
    idx = np.rint(centroids_ijk).astype(np.int64)
    for ax, n in zip(range(3), (labels.shape[2], labels.shape[1], labels.shape[0])):
        np.clip(idx[:, ax], 0, n - 1, out=idx[:, ax])
    sampled = labels[idx[:, 2], idx[:, 1], idx[:, 0]].astype(np.int64)
    uref = np.unique(refs)
    present = np.flatnonzero(np.bincount(labels.ravel()))
    present = present[present > 0]
    mapping: dict[int, int] = {}
    clear = True
    for r in uref:
        sel = refs == r
        votes = np.bincount(sampled[sel])
        votes[0] = 0
        lab = int(np.argmax(votes))
        clear &= bool(votes[lab] >= 0.5 * sel.sum())
        mapping[int(r)] = lab
    if not clear or len(set(mapping.values())) != len(mapping):
        if len(uref) != len(present):
            raise MeshError(
                f"cannot match CGAL subdomains {uref.tolist()} to labels {present.tolist()} (a label vanished and the "
                "cell-centroid vote is ambiguous); expected a finer [mesh] size for thin regions"
            )
        mapping = {int(r): int(v) for r, v in zip(uref, present)}
    lut = np.zeros(int(uref.max()) + 1, dtype=np.int64)
    for r, v in mapping.items():
        lut[r] = v
    return lut[refs]


#: number of distance shells used to grade element sizes from fine regions out to max_size_mm
N_SHELLS = 3


def _grading_shells(labels: np.ndarray, table, sizes: dict, max_size: float, growth_mm: float,
                    spacing_kji_mm: np.ndarray) -> tuple[np.ndarray, dict[int, int], dict[int, float]]:
    """Graded sizes around fine regions (``[mesh] growth_distance_mm``) through temporary labels.

    pygalmesh's labelled-image mesher only takes one size per label, so coarse-region voxels within
    ``growth_mm`` of a fine region (target/implant/organ with a size below ``max_size``) are given
    temporary labels in ``N_SHELLS`` equal distance shells, sized linearly from the finest size to
    ``max_size``: size_s = h_min + (max − h_min)·s/(N+1). After meshing the temporary labels are
    mapped back, so regions are unchanged; the shells only add (conforming) internal facets.
    Returns (label array with shells, temporary → original label, temporary label → circumradius).
    """
    from scipy import ndimage

    fine = [t for t in table if sizes[t.name] < max_size]
    coarse = [t for t in table if sizes[t.name] >= max_size]
    if not fine or not coarse:
        return labels, {}, {}
    h_min = min(sizes[t.name] for t in fine)
    fine_mask = np.isin(labels, [t.value for t in fine])
    idx = np.argwhere(fine_mask)
    pad = np.ceil(growth_mm / spacing_kji_mm).astype(int) + 1
    lo = np.maximum(idx.min(axis=0) - pad, 0)
    hi = np.minimum(idx.max(axis=0) + pad + 1, labels.shape)
    box = tuple(slice(a, b) for a, b in zip(lo, hi))
    dist = ndimage.distance_transform_edt(~fine_mask[box], sampling=spacing_kji_mm)
    out = labels.astype(np.int32, copy=True)
    sub = out[box]
    coarse_vals = np.array([t.value for t in coarse])
    is_coarse = np.isin(sub, coarse_vals)
    next_value = int(labels.max()) + 1
    shell_of: dict[int, int] = {}
    radii: dict[int, float] = {}
    for s in range(1, N_SHELLS + 1):
        ring = is_coarse & (dist > (s - 1) * growth_mm / N_SHELLS) & (dist <= s * growth_mm / N_SHELLS)
        size = h_min + (max_size - h_min) * s / (N_SHELLS + 1)
        for v in coarse_vals:
            m = ring & (sub == v)
            if not m.any():
                continue
            if next_value > 65535:
                raise MeshError("too many labels for grading shells (label values above 65535)")
            sub[m] = next_value
            shell_of[next_value] = int(v)
            radii[next_value] = R_OVER_EDGE * size
            next_value += 1
    out[box] = sub
    return out, shell_of, radii


def _crop_box(lv: LabelVolume, margin_mm: float) -> tuple[tuple[int, int], ...]:
    tgt = [t.value for t in lv.table if t.role == Role.TARGET]
    if not tgt:
        raise InputError(f"imaging.crop_margin_mm = {margin_mm}: needs a target region to crop around; none was segmented")
    idx = np.argwhere(np.isin(lv.labels, tgt))
    lo_kji, hi_kji = idx.min(axis=0), idx.max(axis=0) + 1
    sp_kji = lv.grid.spacing_m[::-1] * 1e3
    m = np.ceil(margin_mm / sp_kji).astype(int)
    lo = np.maximum(lo_kji - m, 0)
    hi = np.minimum(hi_kji + m, lv.labels.shape)
    return tuple((int(a), int(b)) for a, b in zip(lo, hi))


def split_cut_facets(facets: np.ndarray, ijk: np.ndarray, shape_ijk: tuple[int, ...],
                     tol_voxels: float = 1.0, min_cos: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """(skin, cut): boundary triangles on a bounding plane of the meshed label volume (voxel faces at
    index −0.5 and n − 0.5 along i, j or k: the ends of a CT/MR slab, the faces of a crop box, a field
    of view that cuts the body) are cut faces — the body goes on there — the others are skin. A
    triangle is on the planes when each vertex is within ``tol_voxels`` of one of them and its normal
    is within acos(``min_cos``) of one it touches (CGAL puts the plane's vertices within ~0.01 voxel of it
    and chamfers the rim where the plane meets the skin within ~1 voxel: rim triangles are cut faces
    unless steeper than that).
    ``ijk``: vertex positions in (unpadded) voxel index coordinates."""
    x = ijk[facets]  # (K, 3 vertices, 3 axes)
    nrm = np.cross(x[:, 1] - x[:, 0], x[:, 2] - x[:, 0])
    nrm /= np.maximum(np.linalg.norm(nrm, axis=1), 1e-300)[:, None]
    near_any = np.zeros(x.shape[:2], bool)  # vertex within tol of some bounding plane
    facing = np.zeros(len(facets), bool)  # normal within acos(min_cos) of a plane the facet touches
    for ax, n in enumerate(shape_ijk):
        for plane in (-0.5, n - 0.5):
            near = np.abs(x[:, :, ax] - plane) < tol_voxels
            near_any |= near
            facing |= near.any(axis=1) & (np.abs(nrm[:, ax]) > min_cos)
    on = near_any.all(axis=1) & facing
    return facets[~on], facets[on]


def _region_size_mm(role: Role, mesh_section) -> float:
    m = mesh_section
    size = {
        Role.TARGET: m.target_size_mm,
        Role.IMPLANT: m.implant_size_mm,
        Role.ORGAN: m.organ_size_mm,
    }.get(role)
    return float(size if size is not None else m.max_size_mm)


def mesh_labels(
    lv: LabelVolume,
    mesh_section,
    *,
    crop_margin_mm: float | None = None,
    min_dihedral_deg: float = 2.0,
    min_radius_ratio: float = 0.02,
    max_volume_difference: float = 0.5,
    seed: int = 0,
) -> tuple[TissueMesh, MeshReport]:
    """Mesh a :class:`LabelVolume` with pygalmesh; returns the TissueMesh and its report.

    ``mesh_section`` is the plan's ``[mesh]`` (:class:`planner.config.plan.MeshSection`).
    """
    t0 = time.perf_counter()
    labels, grid, crop = _cropped(lv, crop_margin_mm)
    table, present, sp_mm = _meshable(lv, labels, grid)
    sizes = {t.name: _region_size_mm(t.role, mesh_section) for t in table}
    radii = {int(t.value): R_OVER_EDGE * sizes[t.name] for t in table}
    growth = getattr(mesh_section, "growth_distance_mm", None)
    try:
        cells, refs, ijk, mesher = _labels_to_tets(labels, table, sizes, radii, mesh_section, growth, grid, sp_mm, seed)
        lost = [t.name for t in table if t.role in (Role.TARGET, Role.IMPLANT) and t.value not in set(refs.tolist())]
    except MeshError:  # a label vanished and CGAL's subdomains could not be matched to the labels
        if growth is not None:
            raise
        lost = ["a region"]
    if lost and growth is None:
        # CGAL's initial points (random rays) can miss a small region wholly inside one coarse region (an
        # implant drawn as an RTSTRUCT ROI in muscle): a few voxels of graded shells around the fine regions
        # give it neighbouring surfaces, and it is meshed (regions unchanged: the shells map back)
        growth = PROTECT_VOXELS * float(max(sp_mm))
        log.warning("label mesh: %s got no tetrahedra; meshing again with %.3g mm of graded shells around the fine "
                    "regions", ", ".join(lost), growth)
        cells, refs, ijk, mesher = _labels_to_tets(labels, table, sizes, radii, mesh_section, growth, grid, sp_mm, seed)
        mesher += f"; graded shells of {growth:.3g} mm around fine regions ({', '.join(lost)} missed without)"
    points_m = grid.index_to_lps_m(ijk)
    q, vols = _checked_quality(points_m, cells, min_dihedral_deg, min_radius_ratio)
    skin, cut = split_cut_facets(boundary_facets(cells), ijk, labels.shape[::-1])
    counts = np.bincount(labels.ravel(), minlength=int(max(present)) + 1)
    regions, rows = _regions_and_volumes(table, counts, grid.voxel_volume_m3, refs, vols, max_volume_difference)
    mesh = TissueMesh(
        points_m=points_m,
        cells=cells,
        cell_region=refs.astype(np.int32),
        regions=tuple(regions),
        skin_facets=skin.astype(np.int64),
        cut_facets=cut.astype(np.int64),
        source=f"{mesher} (CGAL Mesh_3) from {lv.method} label volume",
    )
    report = MeshReport(q, tuple(rows), sizes, crop, time.perf_counter() - t0, mesh.source)
    return mesh, report


#: shells (in voxels) added around fine regions when CGAL missed a target or implant without them
PROTECT_VOXELS = 2.0


def _labels_to_tets(labels: np.ndarray, table, sizes: dict, radii: dict, mesh_section, growth: float | None, grid,
                    sp_mm: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """(cells, label value per cell, vertex voxel indices (i, j, k), mesher) of one CGAL run, with
    grading shells within ``growth`` mm of the fine regions (None: none)."""
    arr, shell_of, radii = labels, dict[int, int](), dict(radii)
    if growth is not None:
        arr, shell_of, shell_radii = _grading_shells(labels, table, sizes, float(mesh_section.max_size_mm),
                                                     float(growth), grid.spacing_m[::-1] * 1e3)
        radii.update(shell_radii)
    tets, refs, p_mm, mesher = _saved_or_cgal(arr, sp_mm, radii, float(mesh_section.max_size_mm), int(seed))
    used, inverse = np.unique(tets, return_inverse=True)
    cells = inverse.reshape(-1, 4).astype(np.int64)
    ijk = p_mm[used] / sp_mm - 1.0  # undo the one-voxel zero padding (voxel centres at i·Δi in CGAL's frame)
    refs = _refs_to_labels(refs, ijk[cells].mean(axis=1), arr)
    if shell_of:
        lut = np.arange(max(int(refs.max()), max(shell_of)) + 1)
        for v, orig in shell_of.items():
            lut[v] = orig
        refs = lut[refs]
    return cells, refs, ijk, mesher


def _cropped(lv: LabelVolume, crop_margin_mm: float | None):
    """(labels, grid, crop box or None): the label volume, cropped around the target when asked."""
    labels, grid, crop = lv.labels, lv.grid, None
    if crop_margin_mm is not None:
        crop = _crop_box(lv, crop_margin_mm)
        (k0, k1), (j0, j1), (i0, i1) = crop
        labels = labels[k0:k1, j0:j1, i0:i1]
        grid = grid.cropped((k0, j0, i0), (k1, j1, i1))
    if min(labels.shape) < 3:
        raise InputError(f"label volume shape {labels.shape}: expected at least 3 voxels along every axis to mesh")
    return labels, grid, crop


def _meshable(lv: LabelVolume, labels: np.ndarray, grid):
    """(label table entries present, present values, voxel size in mm as CGAL's INR header stores it)."""
    present = set(np.flatnonzero(np.bincount(labels.ravel())).tolist()) - {0}
    table = [t for t in lv.table if t.value in present]
    if not table:
        raise MeshError("label volume has no labelled voxel inside the meshed box; expected tissue to mesh")
    if max(t.value for t in table) > 65535:
        raise MeshError("label values above 65535 cannot be meshed by CGAL's INR reader")
    # the INR header stores voxel sizes with 6 decimals ("%f"): use exactly what CGAL will see
    sp_mm = np.array([float(f"{v:f}") for v in grid.spacing_m * 1e3])  # (Δi, Δj, Δk)
    if np.any(sp_mm <= 0):
        raise MeshError(f"voxel size {list(grid.spacing_m * 1e3)} mm is below the INR header resolution (1e-6 mm)")
    return table, present, sp_mm


def _saved_or_cgal(labels: np.ndarray, sp_mm: np.ndarray, radii: dict, max_size_mm: float, seed: int):
    """(tets, refs, points mm, "pygalmesh <version>") of :func:`_cgal_tetrahedra`, from the mesh cache when
    ``PLANNER_MESH_CACHE`` is set and holds them (:mod:`planner.geometry.mesh_cache`)."""
    from planner.geometry.mesh_cache import cached_arrays

    def make() -> dict[str, object]:
        import pygalmesh

        tets, refs, p_mm = _cgal_tetrahedra(labels, sp_mm, radii, max_size_mm, seed)
        return {"tets": tets, "refs": refs, "points_mm": p_mm, "mesher": f"pygalmesh {getattr(pygalmesh, '__version__', '?')}"}

    inputs = {"labels": labels, "spacing_mm": sp_mm, "radii_mm": radii, "max_size_mm": max_size_mm, "seed": seed,
              "R_OVER_EDGE": R_OVER_EDGE}
    m = cached_arrays("label-volume", inputs, make)
    return np.asarray(m["tets"]), np.asarray(m["refs"]), np.asarray(m["points_mm"]), str(m["mesher"])


def _cgal_tetrahedra(labels: np.ndarray, sp_mm: np.ndarray, radii: dict, max_size_mm: float, seed: int):
    """CGAL Mesh_3 on the zero-padded label volume: (tets, CGAL subdomain refs > 0, points in mm)."""
    import pygalmesh

    vmax = int(labels.max())
    vol_ijk = np.pad(labels, 1).transpose(2, 1, 0)  # (i, j, k), zero border
    vol_ijk = np.asfortranarray(vol_ijk.astype(np.uint16 if vmax > 255 else np.uint8))
    facet_size = R_OVER_EDGE * max_size_mm
    fd, inr = tempfile.mkstemp(suffix=".inr")
    os.close(fd)
    fd, out = tempfile.mkstemp(suffix=".mesh")
    os.close(fd)
    try:
        pygalmesh.save_inr(vol_ijk, tuple(float(s) for s in sp_mm), inr)
        _cgal_mesh_labels(inr, out, radii, R_OVER_EDGE * max_size_mm, facet_size, float(min(sp_mm)), seed)
        m = meshio.read(out)
    except Exception as exc:  # CGAL errors surface as RuntimeError
        raise MeshError(f"CGAL Mesh_3 (pygalmesh) failed on the label volume: {' '.join(str(exc).split())[:160]}") from None
    finally:
        for f in (inr, out):
            if os.path.exists(f):
                os.remove(f)
    tets, refs = None, None
    for block, data in zip(m.cells, m.cell_data.get("medit:ref", [None] * len(m.cells))):
        if block.type == "tetra":
            tets, refs = np.asarray(block.data, dtype=np.int64), np.asarray(data, dtype=np.int64)
    if tets is None or refs is None or len(tets) == 0:
        raise MeshError("pygalmesh produced no tetrahedra; expected a volume mesh (regions too small for the voxel size?)")
    keep = refs > 0
    return tets[keep], refs[keep], np.asarray(m.points, dtype=float)


def _checked_quality(points_m: np.ndarray, cells: np.ndarray, min_dihedral_deg: float, min_radius_ratio: float):
    """(MeshQuality, cell volumes m³); MeshError below the plan's quality bounds or on degenerate cells."""
    min_dih, rho = tet_quality(points_m, cells)
    x = points_m[cells]
    vols = np.abs(np.einsum("ij,ij->i", x[:, 1] - x[:, 0], np.cross(x[:, 2] - x[:, 0], x[:, 3] - x[:, 0]))) / 6.0
    if vols.min() <= 0:
        raise MeshError(f"label mesh has {int((vols <= 0).sum())} degenerate (zero-volume) tetrahedra")
    q = MeshQuality(int(len(cells)), int(len(points_m)), float(min_dih.min()), float(min_dih.mean()),
                    float(rho.min()), float(rho.mean()))
    if q.min_dihedral_deg < min_dihedral_deg:
        raise MeshError(f"label mesh min dihedral angle = {q.min_dihedral_deg:.3g}°: "
                        f"expected at least imaging.min_dihedral_deg = {min_dihedral_deg}°")
    if q.min_radius_ratio < min_radius_ratio:
        raise MeshError(f"label mesh min radius ratio = {q.min_radius_ratio:.3g}: "
                        f"expected at least imaging.min_radius_ratio = {min_radius_ratio}")
    return q, vols


def _regions_and_volumes(table, counts: np.ndarray, vvox: float, refs: np.ndarray, vols: np.ndarray,
                         max_volume_difference: float) -> tuple[list[Region], list[dict]]:
    """Regions of the meshed labels and the mesh-vs-voxel volume rows of the report."""
    meshed = set(np.unique(refs).tolist())
    total_v = float(sum(counts[t.value] for t in table)) * vvox
    regions, rows = [], []
    for t in table:
        voxel_v = float(counts[t.value]) * vvox
        if t.value not in meshed:
            if t.role in (Role.TARGET, Role.IMPLANT):
                raise MeshError(
                    f"region {t.name!r} ({t.role.value}, {voxel_v * 1e6:.3g} cm³) got no tetrahedra; expected a smaller [mesh] size for it"
                )
            log.warning("region %s (%.3g cm³) vanished in meshing", t.name, voxel_v * 1e6)
            rows.append({"name": t.name, "tissue": t.tissue, "role": t.role.value, "voxel_volume_cm3": voxel_v * 1e6,
                         "mesh_volume_cm3": 0.0, "rel_diff": -1.0, "cells": 0})
            continue
        mv = float(vols[refs == t.value].sum())
        rel = (mv - voxel_v) / voxel_v
        rows.append({"name": t.name, "tissue": t.tissue, "role": t.role.value, "voxel_volume_cm3": round(voxel_v * 1e6, 6),
                     "mesh_volume_cm3": round(mv * 1e6, 6), "rel_diff": round(rel, 6), "cells": int((refs == t.value).sum())})
        small = voxel_v < 0.01 * total_v and t.role not in (Role.TARGET, Role.IMPLANT)
        if abs(rel) > max_volume_difference and small:
            rows[-1]["poorly_resolved"] = True
            log.warning("region %s: mesh volume differs from voxel volume by %+.1f%% (small region, not an error)", t.name, 100 * rel)
        elif abs(rel) > max_volume_difference:
            raise MeshError(
                f"region {t.name!r}: mesh volume {mv * 1e6:.4g} cm³ vs voxel volume {voxel_v * 1e6:.4g} cm³ "
                f"(rel. difference {rel:+.2%}): expected within imaging.max_volume_difference = {max_volume_difference} "
                "(a region thinner than the element size? lower [mesh] max_size_mm)"
            )
        regions.append(Region(tag=int(t.value), name=t.name, tissue=t.tissue, role=t.role, exact_volume_m3=None))
    return regions, rows
