"""Shared helpers of the eddy-current benchmarks: meshes (meshes/*.geo), constant-σ materials.

Tables, orders and checks: planner.verification.convergence (re-exported here for older imports).

Benchmark materials are defined here (constant, tissue-like σ and ρ) so that the closed forms apply
exactly; they do not depend on the tissue library's data.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planner.config.plan import parse_plan
from planner.verification.convergence import Checks, observed_orders, print_table  # noqa: F401  (re-export)


@dataclass(frozen=True)
class ConstantTissue:
    """Minimal tissue stand-in: constant conductivity, density, kind."""

    name: str
    sigma_S_per_m: float
    density_kg_per_m3: float = 1000.0
    kind: str = "tissue"

    def conductivity_S_per_m(self, frequency_Hz: float) -> float:
        return self.sigma_S_per_m


def library(**sigmas: float) -> dict[str, ConstantTissue]:
    """{"muscle": 0.5, ...} → a dict usable as a tissue library (``lib[name]``)."""
    return {k: ConstantTissue(k, v) for k, v in sigmas.items()}


def plan(bodies: list[dict], max_size_mm: float, applicator: dict | None = None, **mesh_kw):
    data = {"plan": {"name": "benchmark"}, "mesh": {"max_size_mm": max_size_mm, **mesh_kw},
            "geometry": {"bodies": bodies}}
    if applicator is not None:
        data["applicator"] = applicator
    return parse_plan(data)


def mesh_of(cfg):
    from planner.geometry.mesher import mesh_shapes

    return mesh_shapes(cfg.geometry, cfg.mesh)


_BODY_SCRIPTS = {  # plan shape → (meshes/ script, {script parameter: body key or (key, index)})
    "sphere": ("sphere.geo", {"r_mm": "radius_mm"}),
    "ellipsoid": ("ellipsoid.geo",
                  {"a_mm": ("semi_axes_mm", 0), "b_mm": ("semi_axes_mm", 1), "c_mm": ("semi_axes_mm", 2)}),
    "cylinder": ("cylinder.geo", {"r_mm": "radius_mm", "length_mm": "length_mm"}),
}


def body_mesh(body: dict, h_mm: float):
    """The meshes/ script of one plan body (sphere, ellipsoid, or cylinder along z at the origin) at element
    size ≤ h: the same mesh as ``mesh_of(plan([body], h_mm))`` (tests/verification/test_meshes.py), one region
    named after the body."""
    import dataclasses

    from planner.errors import InputError, bad_value
    from planner.verification.meshes import reference_mesh

    shape = body["shape"]
    if shape not in _BODY_SCRIPTS or (shape == "cylinder" and (list(body.get("axis", [0, 0, 1])) != [0, 0, 1]
                                                               or any(body.get("center_mm", [0, 0, 0])))):
        raise InputError(bad_value("body_mesh shape", shape, "sphere, ellipsoid, or a cylinder along z at the origin"))
    script, keys = _BODY_SCRIPTS[shape]
    params = {p: body[k] if isinstance(k, str) else body[k[0]][k[1]] for p, k in keys.items()}
    if shape != "cylinder":
        params.update(zip(("cx_mm", "cy_mm", "cz_mm"), body.get("center_mm", [0.0, 0.0, 0.0])))
    mesh = reference_mesh(script, {**params, "h_mm": h_mm}, tissues={shape: body["tissue"]})
    name = body.get("name", shape)
    return dataclasses.replace(mesh, regions=tuple(dataclasses.replace(r, name=name) for r in mesh.regions))


def h_eff_mm(mesh) -> float:
    """Effective element size (mean cell volume)^{1/3} in mm — the refinement measure for orders."""
    return float(np.cbrt(mesh.cell_volumes_m3().mean()) * 1e3)


def structured_box_mesh(n: int, length_m: float = 0.1, *, center_m=(0.0, 0.0, 0.0), tissue: str = "muscle",
                        region_of=None, regions=None):
    """planner.verification.meshes.structured_cube (n³ cubes × 6 tets); skin facets only up to n = 64."""
    from planner.verification.meshes import structured_cube

    return structured_cube(n, length_m, center_m=tuple(center_m), tissue=tissue, region_of=region_of, regions=regions,
                           skin=n <= 64)
