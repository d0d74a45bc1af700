"""What the FEniCSx/PETSc/MPI stack provides (used by `planner doctor`)."""
from __future__ import annotations

Check = tuple[str, bool, str]


def stack_checks() -> list[Check]:
    out: list[Check] = []
    try:
        import numpy as np
        from petsc4py import PETSc

        from planner.fem import _compat

        out.append(("DOLFINx", True, _compat.DOLFINX_VERSION))
        real = np.dtype(PETSc.ScalarType) == np.float64
        out.append(("PETSc scalar type", real,
                    f"{np.dtype(PETSc.ScalarType).name}" + ("" if real else " (expected float64: the real build)")))
        ver = ".".join(str(v) for v in PETSc.Sys.getVersion())
        out.append(("PETSc", True, ver))
        for kind in ("boomeramg", "ams"):
            pc = PETSc.PC().create(PETSc.COMM_SELF)
            try:
                pc.setType("hypre")
                pc.setHYPREType(kind)
                out.append((f"hypre {kind}", True, "available"))
            except PETSc.Error:
                out.append((f"hypre {kind}", False, "not available (install the real PETSc build with hypre)"))
            finally:
                pc.destroy()
        from mpi4py import MPI

        out.append(("MPI", True, f"{MPI.Get_library_version().splitlines()[0].strip()} (mpi4py, {MPI.COMM_WORLD.size} rank(s))"))
    except Exception as exc:  # report, do not crash the doctor
        out.append(("DOLFINx/PETSc", False, f"import failed: {exc}"))
    return out
