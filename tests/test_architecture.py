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


# --- static rules on the import graph and the size of functions (ast, no imports executed) ---------
import ast  # noqa: E402
from pathlib import Path  # noqa: E402

PKG = ROOT / "planner"
#: packages that are not pipeline stages: everything may import them
CORE = {"planner.errors", "planner.units", "planner.artefacts"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PKG.rglob("*.py")}


def _imports(path: Path, name: str, modules: dict[str, Path]) -> set[str]:
    """planner modules imported anywhere in the file (module level or inside functions)."""
    out: set[str] = set()
    is_pkg = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("planner")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = name if is_pkg else name.rsplit(".", 1)[0]
                for _ in range(node.level - 1):
                    pkg = pkg.rsplit(".", 1)[0]
                base = f"{pkg}.{base}" if base else pkg
            if not base.startswith("planner"):
                continue
            for a in node.names:  # `from planner import em` imports the module planner.em
                out.add(f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base)
    return {m for m in out if m in modules and m != name}


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    return {n: _imports(p, n, mods) for n, p in mods.items()}


def _within(mod: str, allowed: set[str]) -> bool:
    return any(mod == a or mod.startswith(a + ".") for a in allowed) or mod == "planner"


def test_fem_imports_no_stage_package():
    bad = {f"{m} → {d}" for m, deps in _graph().items() if m.startswith("planner.fem")
           for d in deps if not _within(d, {"planner.fem"} | CORE)}
    assert not bad, sorted(bad)


def test_config_imports_no_stage_package():
    bad = {f"{m} → {d}" for m, deps in _graph().items() if m.startswith("planner.config")
           for d in deps if not _within(d, {"planner.config"} | CORE)}
    assert not bad, sorted(bad)


def test_no_import_cycles():
    g = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    cycles: list[list[str]] = []

    def strong(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in g[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in g:
        if v not in index:
            strong(v)
    assert not cycles, cycles


def test_cycle_detector_finds_a_cycle(tmp_path, monkeypatch):
    """The rule above can fail: a two-module cycle is found by _imports on real files."""
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("from planner.units import MM\nimport planner.errors\n")
    b.write_text("def f():\n    from planner import units\n")
    mods = {"planner.units": a, "planner.errors": b}
    assert _imports(a, "planner.units", mods) == {"planner.errors"}
    assert _imports(b, "planner.errors", mods) == {"planner.units"}


def test_at_most_ten_top_level_modules():
    top = sorted(p.name for p in PKG.glob("*.py"))
    assert len(top) <= 10, top


def _is_numba(fn: ast.FunctionDef) -> bool:
    return any("njit" in ast.unparse(d) or "numba" in ast.unparse(d) for d in fn.decorator_list)


def test_no_function_over_80_lines():
    """Functions in planner/ have at most 80 lines (numba kernels 120), docstrings included."""
    long = []
    for p in PKG.rglob("*.py"):
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > (120 if _is_numba(node) else 80):
                    long.append(f"{p.relative_to(ROOT)}:{node.lineno} {node.name} ({n} lines)")
    assert not long, long
