"""Titanium hip stem next to a tumour in a torso-like body: implant loss through the stage API.

The torso (muscle ellipsoid 155 × 105 × 245 mm semi-axes) holds a 30 mm tumour at (40, 20, 0) mm and a
Ti-6Al-4V hip-stem-like implant (planner.geometry.hip_stem defaults: stem 130 mm, head Ø 28 mm, CCD
135°) with its shoulder at (60, 0, −60) mm (head centre ≈ 60 mm from the tumour centre); uniform applicator
100 kHz, H0 = 5 kA/m peak along z.
The main TissueMesh comes from planner.geometry.mesher.mesh_shapes (``hip-stem`` is a registered shape,
planner.config.registry.SHAPES); the implant sub-model rebuilds the stem exactly (curved P2 tetrahedra).

No closed form exists: the table shows self-convergence of the loss over the sub-model refinement
(differences must shrink; exit 1 otherwise) and checks that ∫Q dV over the stem's cells equals the loss.
Run: ``python -m benchmarks.implants_hip_stem [--full]``.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from planner.verification.convergence import Checks, print_table

H0 = 5e3
F = 100e3


def torso_with_stem(implant_size_mm: float = 5.0):
    from planner.config.plan import BodySpec, GeometrySection, MeshSection
    from planner.geometry import mesher as meshing
    geo = GeometrySection(bodies=(
        BodySpec(name="muscle", shape="ellipsoid", tissue="muscle", semi_axes_mm=(155.0, 105.0, 245.0)),
        BodySpec(name="tumour", shape="sphere", tissue="tumour", role="target", center_mm=(40.0, 20.0, 0.0),
                 radius_mm=15.0),
        BodySpec(name="hip_stem", shape="hip-stem", tissue="ti6al4v", role="implant", center_mm=(60.0, 0.0, -60.0)),
    ))
    mesh = meshing.mesh_shapes(geo, MeshSection(max_size_mm=30.0, target_size_mm=5.0, implant_size_mm=implant_size_mm))
    return geo, mesh


def run(refinements=(0.3, 0.4, 0.55), checks: Checks | None = None):
    from planner.em.implants import ImplantOptions, implant_losses, implant_regions
    from planner.fem.implant_eddy import uniform_A0
    from planner.tissues.library import load_library

    checks = checks or Checks()
    lib = load_library()
    t = time.perf_counter()
    geo, mesh = torso_with_stem()
    print(f"torso mesh: {mesh.num_cells} cells, {(mesh.cell_region == mesh.region('hip_stem').tag).sum()} in the stem "
          f"({time.perf_counter() - t:.1f} s)")
    H = np.array([0.0, 0.0, H0])
    rows, losses = [], []
    for ref in refinements:
        t = time.perf_counter()
        (L,) = implant_losses(mesh, implant_regions(mesh, lib), A_peak_at=uniform_A0(H),
                              H_peak_at=lambda p: np.tile(H, (len(p), 1)), frequency_Hz=F, lib=lib, geometry=geo,
                              options=ImplantOptions(refinement=ref))
        wall = time.perf_counter() - t
        integral = float((L.Q_on_mesh_W_per_m3 * mesh.cell_volumes_m3()).sum())
        checks.check(abs(integral / L.loss_W - 1) < 1e-10, f"refinement {ref}: ∫Q dV = loss ({integral:.6g} W)")
        losses.append(L.loss_W)
        rows.append([ref, round(L.surface_size_mm, 3), round(L.elements_per_skin_depth, 2), L.dofs, L.iterations,
                     L.loss_W, L.peak_surface_J_A_per_m2, round(L.box_size_mm, 1), round(wall, 1)])
    d = [abs(losses[i + 1] - losses[i]) for i in range(len(losses) - 1)]
    for r, di in zip(rows, [float("nan")] + d):
        r.append(di / losses[-1] if di == di else di)
    print_table(f"Ti-6Al-4V hip stem in a torso, {F / 1e3:g} kHz, H0 = {H0:g} A/m peak (a/δ = {L.a_over_delta:.2f}, "
                f"δ = {L.skin_depth_mm:.3g} mm)",
                ["refinement", "h_s_mm", "el/delta", "dofs", "its", "loss_W", "peak_J_A_per_m2", "box_mm", "wall_s",
                 "|ΔP|/P"], rows)
    checks.check(all(b < a for a, b in zip(d, d[1:])), f"hip stem loss self-converges: successive |ΔP| {d}")
    return rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true")
    args = ap.parse_args(argv)
    checks = Checks()
    run((0.3, 0.4, 0.55, 0.75) if args.full else (0.3, 0.4, 0.55), checks=checks)
    checks.exit()


if __name__ == "__main__":
    main()
