"""gmsh (OCC) meshes of the thermal verification benchmarks, as TissueMesh (pure NumPy out)."""
from __future__ import annotations

import numpy as np

from planner.artefacts import Region, Role, TissueMesh


def boundary_faces(cells: np.ndarray) -> np.ndarray:
    """Triangles that belong to exactly one tetrahedron."""
    f = np.concatenate([cells[:, [0, 1, 2]], cells[:, [0, 1, 3]], cells[:, [0, 2, 3]], cells[:, [1, 2, 3]]])
    key = np.sort(f, axis=1)
    _, idx, cnt = np.unique(key, axis=0, return_index=True, return_counts=True)
    return f[idx[cnt == 1]]


def _extract(gmsh, groups: list[tuple[int, str, str, Role]], source: str) -> TissueMesh:
    tags, coords, _ = gmsh.model.mesh.getNodes()
    order = np.argsort(tags)
    tags = tags[order]
    pts = coords.reshape(-1, 3)[order]
    cells_all, reg_all, regions = [], [], []
    for vol_tag, name, tissue, role in groups:
        et, _, nodes = gmsh.model.mesh.getElements(3, vol_tag)
        tets = np.asarray(nodes[list(et).index(4)], dtype=np.int64).reshape(-1, 4)
        cells_all.append(np.searchsorted(tags, tets))
        reg_all.append(np.full(tets.shape[0], len(regions) + 1, np.int32))
        regions.append(Region(len(regions) + 1, name, tissue, role))
    cells = np.concatenate(cells_all)
    used = np.unique(cells)
    remap = -np.ones(pts.shape[0], np.int64)
    remap[used] = np.arange(used.size)
    cells = remap[cells]
    pts = pts[used] * 1e-3  # gmsh geometry built in mm
    return TissueMesh(pts, cells, np.concatenate(reg_all), tuple(regions), boundary_faces(cells), source=source)


def sphere_in_sphere(a_mm: float, R_mm: float, h_mm: float, h_outer_mm: float | None = None,
                     inner_tissue: str = "core", outer_tissue: str = "shell", order_seed: int = 0) -> TissueMesh:
    """Sphere radius a (target, tissue ``inner_tissue``) inside a sphere radius R (body)."""
    from planner.geometry.mesher import gmsh_session

    with gmsh_session("sphere_in_sphere") as gmsh:
        inner = gmsh.model.occ.addSphere(0, 0, 0, a_mm)
        outer = gmsh.model.occ.addSphere(0, 0, 0, R_mm)
        out, _ = gmsh.model.occ.fragment([(3, outer)], [(3, inner)])
        gmsh.model.occ.synchronize()
        vols = [t for d, t in gmsh.model.getEntities(3)]
        # identify the inner volume by its mass
        masses = {t: gmsh.model.occ.getMass(3, t) for t in vols}
        v_in = min(vols, key=lambda t: masses[t])
        v_out = max(vols, key=lambda t: masses[t])
        h_out = h_outer_mm if h_outer_mm is not None else h_mm
        gmsh.option.setNumber("Mesh.MeshSizeFromPoints", 0)
        gmsh.option.setNumber("Mesh.MeshSizeExtendFromBoundary", 0)
        gmsh.option.setNumber("Mesh.MeshSizeFromCurvature", 0)
        f = gmsh.model.mesh.field.add("MathEval")
        if h_out == h_mm:
            gmsh.model.mesh.field.setString(f, "F", f"{h_mm}")
        else:
            gmsh.model.mesh.field.setString(
                f, "F", f"{h_mm} + ({h_out} - {h_mm}) * Max(0, Min(1, (Sqrt(x*x+y*y+z*z) - {a_mm}) / ({R_mm} - {a_mm})))")
        gmsh.model.mesh.field.setAsBackgroundMesh(f)
        gmsh.option.setNumber("Mesh.RandomSeed", order_seed)
        gmsh.option.setNumber("Mesh.Algorithm3D", 1)
        gmsh.model.mesh.generate(3)
        tm = _extract(gmsh, [(v_in, "core", inner_tissue, Role.TARGET), (v_out, "shell", outer_tissue, Role.BODY)],
                      f"gmsh {gmsh.__version__} OCC sphere a={a_mm} R={R_mm} h={h_mm}")
    return tm


def box(size_mm: tuple[float, float, float], h_mm: float, tissue: str = "slab",
        role: Role = Role.BODY, n_target_x: tuple[float, float] | None = None) -> TissueMesh:
    """Box [0, lx]×[0, ly]×[0, lz] (mm) with uniform size h."""
    from planner.geometry.mesher import gmsh_session

    with gmsh_session("box") as gmsh:
        b = gmsh.model.occ.addBox(0, 0, 0, *size_mm)
        gmsh.model.occ.synchronize()
        gmsh.option.setNumber("Mesh.MeshSizeMin", h_mm)
        gmsh.option.setNumber("Mesh.MeshSizeMax", h_mm)
        gmsh.model.mesh.generate(3)
        tm = _extract(gmsh, [(b, "slab", tissue, role)], f"gmsh {gmsh.__version__} OCC box {size_mm} h={h_mm}")
    return tm


def half_and_mirrored_box(n: int = 4, size: float = 0.06, heated_radius: float = 0.025):
    """A box x ∈ [0, size] whose face x = 0 is a cut plane (``cut_facets``), with a heated hemisphere
    (region 2, centroids within ``heated_radius`` of the origin) on it, and its mirror image across
    x = 0 merged into the full box x ∈ [−size, size] (discretely mirror-symmetric; the first N vertices
    are the half's). The symmetry plane of the full box carries zero flux, so the half box with an
    adiabatic cut face must reproduce it exactly."""
    from benchmarks.thermal_performance import structured_box
    from planner.artefacts import TissueMesh

    base = structured_box(n, size_m=size, target_radius_m=0.0)
    pts = base.points_m + np.array([size / 2, 0.0, 0.0])
    cells = base.cells
    region = np.where(np.linalg.norm(pts[cells].mean(axis=1), axis=1) < heated_radius, 2, 1).astype(np.int32)
    faces = boundary_faces(cells)
    on_cut = np.all(np.abs(pts[faces][:, :, 0]) < 1e-12, axis=1)
    half = TissueMesh(pts, cells, region, base.regions, faces[~on_cut], cut_facets=faces[on_cut])
    N = len(pts)
    on_plane = np.abs(pts[:, 0]) < 1e-12
    mirror_index = np.where(on_plane, np.arange(N), N + np.cumsum(~on_plane) - 1)
    full_pts = np.vstack([pts, (pts * [-1.0, 1.0, 1.0])[~on_plane]])
    full_cells = np.vstack([cells, mirror_index[cells]])
    full = TissueMesh(full_pts, full_cells, np.concatenate([region, region]), base.regions, boundary_faces(full_cells))
    return half, full
