"""Where the curl-curl assembly time goes on each FEniCSx stack (issue 13): JIT compile vs kernel.

    python -m benchmarks.stack_assembly [--refinement 0.5] [--degrees 2 3 4 5 6 8] [--mesh-cache DIR]

Meshes the implant sphere sub-model (curved P2 tetrahedra, N1curl 2, as the implant solver does), then for
the curl-curl and the mass form prints: the form compiler's cache folder and compile flags, the time of
``form()`` (JIT: compile or cache load), of the first and a second assembly, and the same with a fixed
quadrature degree, so that a slower assembly can be told apart from a slower compile or a higher
estimated quadrature degree.
"""
from __future__ import annotations

import argparse
import os
import time


def _sphere(occ):
    return [(3, occ.addSphere(0.0, 0.0, 0.0, 10.0))]


def _jit_options() -> str:
    """DOLFINx's JIT options and FFCx's form compiler options (the names changed in 0.6: parameters → options)."""
    import dolfinx.jit
    import ffcx

    jit = getattr(dolfinx.jit, "get_options", None) or dolfinx.jit.get_parameters
    if hasattr(ffcx, "get_parameters"):
        fc = ffcx.get_parameters()
    else:
        import ffcx.options

        fc = ffcx.options.get_options()
    return f"dolfinx {jit()}; ffcx {fc}"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--refinement", type=float, default=0.5)
    ap.add_argument("--degrees", type=int, nargs="*", default=[2, 3, 4, 5, 6, 8])
    ap.add_argument("--mesh-cache", default="results-stacks/assembly-meshes",
                    help="PLANNER_MESH_CACHE for the sub-model: the first stack meshes, the other reads the same mesh")
    args = ap.parse_args(argv)
    os.environ["PLANNER_MESH_CACHE"] = args.mesh_cache
    import ufl

    from planner.fem import _compat
    from planner.fem.implant_eddy.mesh_import import mesh_submodel
    from planner.geometry.submodel import SubModelGeometry, SubModelSizing

    geo = SubModelGeometry(_sphere, sizing=SubModelSizing(refinement=args.refinement))
    msh, _, _ = mesh_submodel(lambda: geo.open(5.0, 2))
    V = _compat.function_space(msh, "N1curl", 2)
    u, w = ufl.TrialFunction(V), ufl.TestFunction(V)
    n = V.dofmap.index_map.size_global
    print(f"DOLFINx {_compat.DOLFINX_VERSION}, {n} dofs, load {os.getloadavg()[0]:.1f}")
    print(f"JIT: {_jit_options()}")
    print(f"{'form':10s} {'qdeg':>5s} {'form() s':>9s} {'1st asm s':>10s} {'2nd asm s':>10s} {'|A|_F':>14s}")
    for name, expr in (("curl-curl", ufl.inner(ufl.curl(u), ufl.curl(w))), ("mass", ufl.inner(u, w))):
        for q in [None, *args.degrees]:
            dx = ufl.dx(domain=msh, metadata={} if q is None else {"quadrature_degree": q})
            t0 = time.perf_counter()
            f = _compat.form(expr * dx)
            t1 = time.perf_counter()
            A = _compat.assemble_matrix(f)
            A.assemble()
            t2 = time.perf_counter()
            A.zeroEntries()
            _compat.assemble_matrix_into(A, f)
            A.assemble()
            t3 = time.perf_counter()
            print(f"{name:10s} {'est' if q is None else q:>5} {t1 - t0:9.3f} {t2 - t1:10.3f} {t3 - t2:10.3f} {A.norm(3):14.8e}")
            A.destroy()


if __name__ == "__main__":
    main()
