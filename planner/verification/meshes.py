"""Reference meshes: the gmsh scripts of ``meshes/`` run through the gmsh API, and a structured cube.

``reference_mesh("sphere_in_sphere.geo", {"a_mm": 10, "h_mm": 2})`` runs the script with the given
parameters (each script declares its parameters with ``DefineConstant[x = {default, Name
"Parameters/x"}]``, so the same values can be set on the command line with ``gmsh -3 -setnumber x v``),
meshes it in 3-D and returns a :class:`TissueMesh` in metres (the scripts work in millimetres): one
region per physical volume (tag and name from the script; tissue = the name unless ``tissues`` maps
it; role ``body`` unless ``roles`` maps it). The mesh is cached as a binary ``.msh`` in
``meshes/.cache/`` under a key of the script's text, the parameters and the gmsh version, so a second
call reads the file instead of meshing (a cached and a fresh mesh are the same to the bit).

``structured_cube(n, ...)``: a cube split into n³ cubes × 6 tetrahedra (pure NumPy, millions of cells
in seconds) for solver performance runs and tests.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from planner.artefacts import Region, Role, TissueMesh, boundary_facets
from planner.errors import InputError, MeshError, bad_value

MESHES_DIR = Path(__file__).resolve().parents[2] / "meshes"
CACHE_DIR = MESHES_DIR / ".cache"

_PARAM = re.compile(r'(\w+)\s*=\s*\{\s*([^,}]+)\s*,[^}]*Name\s*"Parameters/(\w+)"')


def script_path(script: str | Path) -> Path:
    """A bare file name is looked up in ``meshes/`` (then in the working directory); a path is taken as given."""
    p = Path(script)
    for cand in ([MESHES_DIR / p, p] if p.parent == Path(".") else [p]):
        if cand.is_file():
            return cand
    have = sorted(f.name for f in MESHES_DIR.glob("*.geo")) if MESHES_DIR.is_dir() else []
    raise InputError(bad_value("reference mesh script", str(script), f"a .geo file, one of {have} in {MESHES_DIR}"))


def script_parameters(script: str | Path) -> dict[str, str]:
    """The parameters a script declares (``DefineConstant`` with ``Name "Parameters/<name>"``):
    name → default expression (as written)."""
    text = script_path(script).read_text()
    out = {}
    for var, default, name in _PARAM.findall(text):
        if var != name:
            raise MeshError(f"{script}: DefineConstant {var} is named Parameters/{name}; expected Parameters/{var}")
        out[var] = default.strip()
    return out


def reference_mesh(script: str | Path, params: Mapping[str, float] | None = None, *,
                   tissues: Mapping[str, str] | None = None, roles: Mapping[str, Role | str] | None = None,
                   cache: bool = True, cache_dir: Path | None = None) -> TissueMesh:
    """Mesh a ``meshes/*.geo`` script with ``params`` (mm) → TissueMesh in metres (see the module doc)."""
    from planner.geometry.gmsh_session import gmsh_session
    from planner.geometry.mesher import _extract  # one extraction: the mesher's (tags → regions)

    path = script_path(script)
    params = {k: float(v) for k, v in (params or {}).items()}
    declared = script_parameters(path)
    for k in params:
        if k not in declared:
            raise InputError(bad_value(f"{path.name} parameter", k, f"one of {sorted(declared)}"))
    with gmsh_session(path.stem) as gmsh:
        text = json.dumps([path.read_text(), sorted(params.items()), gmsh.__version__])
        key = hashlib.sha256(text.encode()).hexdigest()
        msh = (cache_dir or CACHE_DIR) / f"{path.stem}-{key[:16]}.msh"
        if cache and msh.is_file():
            try:
                gmsh.open(str(msh))
            except Exception as exc:  # gmsh raises plain Exception
                raise MeshError(f"cached mesh {msh}: unreadable ({exc}); expected a gmsh .msh, delete it to re-mesh"
                                ) from None
        else:
            _mesh_script(gmsh, path, params)
            if cache:
                _write_atomic(gmsh, msh)
        names = {t: gmsh.model.getPhysicalName(3, t) or f"region{t}" for _, t in gmsh.model.getPhysicalGroups(3)}
        pieces = {t - 1: [int(v) for v in gmsh.model.getEntitiesForPhysicalGroup(3, t)] for t in sorted(names)}
        points_m, cells, cell_region = _extract(gmsh, pieces)  # region of pieces[i] = i + 1 = physical tag
        source = f"gmsh {gmsh.__version__} meshes/{path.name} {params}"
    tissues, roles = tissues or {}, roles or {}
    regions = tuple(Region(t, names[t], tissues.get(names[t], names[t]), Role(roles.get(names[t], Role.BODY)))
                    for t in sorted(names))
    return TissueMesh(points_m, cells, cell_region, regions, boundary_facets(cells), source=source)


def _mesh_script(gmsh, path: Path, params: Mapping[str, float]) -> None:
    gmsh.onelab.clear()  # ONELAB values outlive gmsh.finalize(): a parameter not given must take its default
    for k, v in params.items():
        gmsh.onelab.setNumber(f"Parameters/{k}", [v])
    try:
        gmsh.open(str(path))
        gmsh.model.mesh.generate(3)
    except Exception as exc:  # gmsh raises plain Exception
        raise MeshError(f"gmsh could not mesh {path.name} with {dict(params)}: {exc}") from None
    if not gmsh.model.getPhysicalGroups(3):
        raise MeshError(f"{path.name}: no physical volumes; expected one per region")


def _write_atomic(gmsh, msh: Path) -> None:
    """Binary MSH4 (coordinates to the bit), written beside and renamed: never half a file."""
    msh.parent.mkdir(parents=True, exist_ok=True)
    tmp = msh.with_name(f".{msh.name}.{os.getpid()}.msh")
    gmsh.option.setNumber("Mesh.Binary", 1)
    gmsh.write(str(tmp))
    os.replace(tmp, msh)


def structured_cube(n: int, length_m: float = 0.1, *, center_m: tuple[float, float, float] = (0.0, 0.0, 0.0),
                    tissue: str = "muscle", region_of: Callable[[np.ndarray], np.ndarray] | None = None,
                    regions: tuple[Region, ...] | None = None, skin: bool = True) -> TissueMesh:
    """Cube of side ``length_m`` split into n³ cubes × 6 tetrahedra (Kuhn/Freudenthal, conforming).

    ``region_of(centroids (M,3)) -> tags`` with ``regions`` defines several regions; default: one
    region (tag 1, "box", role body) of ``tissue``. ``skin=False`` skips the boundary facets (their
    search costs seconds at millions of cells).
    """
    g = np.linspace(-length_m / 2, length_m / 2, n + 1)
    X, Y, Z = np.meshgrid(g, g, g, indexing="ij")
    pts = np.column_stack([X.ravel(), Y.ravel(), Z.ravel()]) + np.asarray(center_m, float)
    idx = np.arange((n + 1) ** 3).reshape(n + 1, n + 1, n + 1)
    i, j, k = (a.ravel() for a in np.meshgrid(np.arange(n), np.arange(n), np.arange(n), indexing="ij"))

    def v(a: int, b: int, c: int) -> np.ndarray:
        return idx[i + a, j + b, k + c]

    v000, v111 = v(0, 0, 0), v(1, 1, 1)
    # the 6 monotone lattice paths from (0,0,0) to (1,1,1)
    steps = [((1, 0, 0), (1, 1, 0)), ((1, 0, 0), (1, 0, 1)), ((0, 1, 0), (1, 1, 0)),
             ((0, 1, 0), (0, 1, 1)), ((0, 0, 1), (1, 0, 1)), ((0, 0, 1), (0, 1, 1))]
    cells = np.concatenate([np.column_stack([v000, v(*a), v(*b), v111]) for a, b in steps]).astype(np.int64)
    if region_of is None or regions is None:
        if (region_of is None) != (regions is None):
            raise InputError(bad_value("structured_cube regions", regions, "region_of and regions given together"))
        regions = (Region(1, "box", tissue, Role.BODY),)
        cr = np.ones(cells.shape[0], np.int32)
    else:
        cr = np.asarray(region_of(pts[cells].mean(axis=1)), np.int32)
    facets = boundary_facets(cells) if skin else np.zeros((0, 3), np.int64)
    return TissueMesh(pts, cells, cr, tuple(regions), facets, source=f"structured cube n={n}")


def half_and_mirrored_box(n: int = 4, size: float = 0.06,
                          heated_radius: float = 0.025) -> tuple[TissueMesh, TissueMesh]:
    """A structured box x ∈ [0, size] (m) whose face x = 0 is a cut plane (``cut_facets``), with a heated
    hemisphere (region 2 "tumour": centroids within ``heated_radius`` of the origin) on it, and its
    mirror image across x = 0 merged into the full box x ∈ [−size, size] (discretely mirror-symmetric;
    the first N vertices are the half's). The symmetry plane of the full box carries zero flux, so the
    half box with an adiabatic cut face must reproduce it exactly."""
    regions = (Region(1, "body", "muscle", Role.BODY), Region(2, "tumour", "tumour", Role.TARGET))
    half_all = structured_cube(n, size, center_m=(size / 2, 0.0, 0.0), regions=regions, skin=False,
                               region_of=lambda c: np.where(np.linalg.norm(c, axis=1) < heated_radius, 2, 1))
    pts, cells, region = half_all.points_m, half_all.cells, half_all.cell_region
    faces = boundary_facets(cells)
    on_cut = np.all(np.abs(pts[faces][:, :, 0]) < 1e-12, axis=1)
    half = TissueMesh(pts, cells, region, regions, faces[~on_cut], source=f"half box n={n}", cut_facets=faces[on_cut])
    N = len(pts)
    on_plane = np.abs(pts[:, 0]) < 1e-12
    mirror_index = np.where(on_plane, np.arange(N), N + np.cumsum(~on_plane) - 1)
    full_pts = np.vstack([pts, (pts * [-1.0, 1.0, 1.0])[~on_plane]])
    full_cells = np.vstack([cells, mirror_index[cells]])
    full = TissueMesh(full_pts, full_cells, np.concatenate([region, region]), regions, boundary_facets(full_cells),
                      source=f"mirrored box n={n}")
    return half, full


__all__ = ["CACHE_DIR", "MESHES_DIR", "half_and_mirrored_box", "reference_mesh", "script_parameters", "script_path",
           "structured_cube"]
