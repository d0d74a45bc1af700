"""DESIGN.md §3: only planner.fem imports DOLFINx/UFL/basix/FFCx/PETSc/MPI; the rest imports without."""
import subprocess
import sys

from tests.conftest import ROOT

SCRIPT = r"""
import sys, pkgutil, importlib
for m in ("dolfinx", "ufl", "basix", "ffcx", "petsc4py", "mpi4py"):
    sys.modules[m] = None  # importing any of them now raises ImportError
import planner
bad = []
for mi in pkgutil.walk_packages(planner.__path__, "planner."):
    if mi.name.startswith("planner.fem") or mi.name == "planner.__main__":
        continue
    try:
        importlib.import_module(mi.name)
    except ImportError as e:
        bad.append(f"{mi.name}: {e}")
print("\n".join(bad) if bad else "OK")
"""


def test_everything_outside_fem_imports_without_fenicsx():
    res = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == "OK", res.stdout
