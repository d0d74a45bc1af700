"""The DOLFINx compatibility layer: one interface, every versioned module complete, no version-specific
call outside it, and the interface behaving the same on whichever DOLFINx is installed."""
from __future__ import annotations

import ast
import re
import tokenize
from pathlib import Path

import numpy as np
import pytest

FEM = Path(__file__).resolve().parents[2] / "planner" / "fem"
COMPAT = FEM / "_compat"

# calls/attributes that differ between DOLFINx 0.5 and 0.9 (or change again in 0.10): only _compat may use them
VERSION_SPECIFIC = [
    r"\bVectorFunctionSpace\b", r"\bdolfinx\.fem\.FunctionSpace\(", r"\bfunctionspace\(",
    r"\bufl\.(Vector|Finite|Mixed)Element\b",
    r"\bbasix\.ufl\b", r"\bMeshTagsMetaClass\b", r"\.vector\b(?!\w)", r"\.petsc_vec\b", r"\bdofmap\.list\b",
    r"\bgeometry\.dofmap\b", r"\binterpolation_points\b", r"\bdolfinx\.fem\.Expression\b", r"\bgmshio\.model_to_mesh\b",
    r"\bdolfinx\.cpp\b", r"\bdolfinx\.fem\.petsc\.", r"\bexterior_facet_indices\(", r"\bcreate_mesh\(",
    r"\boriginal_cell_index\b", r"\binput_global_indices\b", r"\bcompute_midpoints\(",
]


def _top_level_names(path: Path) -> set[str]:
    """Names a module provides: its own definitions and the names it imports from _compat.common."""
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[-1] == "common":
            names |= {a.asname or a.name for a in node.names}
    return names


def _api() -> tuple[str, ...]:
    tree = ast.parse((COMPAT / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "API" for t in node.targets):
            return tuple(ast.literal_eval(node.value))
    raise AssertionError("planner/fem/_compat/__init__.py defines no API tuple")


@pytest.mark.parametrize("module", sorted(p.name for p in COMPAT.glob("v*.py")))
def test_every_versioned_module_provides_the_whole_interface(module):
    """Defined in the module or re-exported from common.py: whichever version gets selected, the package
    exposes all of API (checked statically, so on either stack for both modules)."""
    missing = set(_api()) - _top_level_names(COMPAT / module)
    assert not missing, f"{module} lacks {sorted(missing)}"


def test_common_names_are_defined_in_common():
    """What a versioned module imports from common.py exists there (and is part of the interface)."""
    defined = _top_level_names(COMPAT / "common.py")
    for module in sorted(COMPAT.glob("v*.py")):
        imported = {a.name for node in ast.parse(module.read_text()).body if isinstance(node, ast.ImportFrom)
                    and (node.module or "").endswith("common") for a in node.names}
        assert imported, f"{module.name} re-exports nothing from common.py"
        assert imported <= defined, f"{module.name} imports {sorted(imported - defined)} that common.py lacks"
        assert imported <= set(_api()), f"{module.name} re-exports non-interface names {sorted(imported - set(_api()))}"


def test_the_interface_scan_catches_a_missing_name(tmp_path):
    mod = tmp_path / "v99.py"
    mod.write_text("from planner.fem._compat.common import form, set_bc\n\ndef petsc_vec(f):\n    return f\n")
    assert _top_level_names(mod) == {"form", "set_bc", "petsc_vec"}
    assert "cell_dofs" in set(_api()) - _top_level_names(mod)


def test_both_supported_versions_have_a_module():
    assert {"v05.py", "v09.py"} <= {p.name for p in COMPAT.glob("v*.py")}


def _code_lines(path: Path) -> dict[int, str]:
    """Source lines without strings, comments and ``_compat.<name>`` references."""
    lines: dict[int, list[str]] = {}
    with path.open() as fh:
        for tok in tokenize.generate_tokens(fh.readline):
            if tok.type in (tokenize.STRING, tokenize.COMMENT) or tok.type >= tokenize.N_TOKENS:
                continue
            if tok.type in (tokenize.NAME, tokenize.OP, tokenize.NUMBER):
                lines.setdefault(tok.start[0], []).append(tok.string)
    return {i: re.sub(r"\b_compat\s*\.\s*\w+", "_compat", " ".join(t)).replace(" . ", ".").replace(" (", "(")
            for i, t in lines.items()}


def test_no_version_specific_call_outside_compat():
    bad = []
    for path in sorted(FEM.rglob("*.py")):
        if COMPAT in path.parents:
            continue
        for i, code in _code_lines(path).items():
            if any(re.search(pat, code) for pat in VERSION_SPECIFIC):
                bad.append(f"{path.relative_to(FEM.parent.parent)}:{i}: {code}")
    assert not bad, "version-specific DOLFINx calls outside planner/fem/_compat:\n" + "\n".join(bad)


def test_the_scan_catches_a_version_specific_call(tmp_path):
    src = tmp_path / "m.py"
    src.write_text('"""docs may say f.vector"""\nx = f.vector  # here\n'
                   'y = _compat.petsc_vec(f)\nz = V.dofmap.list.array\n')
    found = {i for i, code in _code_lines(src).items() if any(re.search(p, code) for p in VERSION_SPECIFIC)}
    assert found == {2, 4}


def test_interface_on_the_installed_dolfinx():
    pytest.importorskip("dolfinx")
    import dolfinx
    import dolfinx.fem
    import ufl
    from mpi4py import MPI

    from planner.fem import _compat

    assert _compat.DOLFINX_VERSION == dolfinx.__version__
    selected = _compat._impl  # the versioned module chosen for the installed DOLFINx
    for name in _compat.API:
        assert hasattr(selected, name) and getattr(_compat, name) is getattr(selected, name), name
    # two tetrahedra sharing a face
    pts = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]], float)
    cells = np.array([[0, 1, 2, 3], [1, 2, 3, 4]], np.int64)
    comm = MPI.COMM_SELF
    msh = _compat.create_tet_mesh(comm, cells, pts)
    assert sorted(_compat.original_cell_index(msh).tolist()) == [0, 1]
    gdm = _compat.geometry_dofmap(msh)
    assert gdm.shape == (2, 4)
    # geometry nodes map back to the input vertices
    gidx = _compat.input_global_vertex_index(msh)
    np.testing.assert_array_equal(np.sort(gidx[gdm], axis=1)[np.argsort(_compat.original_cell_index(msh))],
                                  np.sort(cells, axis=1))
    assert _compat.exterior_facets(msh).size == 6
    P2 = _compat.function_space(msh, "Lagrange", 2)
    assert _compat.cell_dofs(P2).shape == (2, 10)
    W = _compat.function_space(msh, "Lagrange", 1, (3,))
    assert _compat.cell_dofs(W).shape == (2, 4) and W.dofmap.index_map_bs == 3
    # the PETSc vector shares the Function's memory
    f = dolfinx.fem.Function(P2)
    _compat.petsc_vec(f).set(2.5)
    assert np.all(f.x.array == 2.5)
    # expression interpolation on a subset of cells, then everywhere
    D = _compat.function_space(msh, "DG", 1)
    g = dolfinx.fem.Function(D)
    x = ufl.SpatialCoordinate(msh)
    _compat.interpolate_expression(g, 1.0 + x[0], np.array([0], np.int32))
    cd = _compat.cell_dofs(D)
    assert np.all(g.x.array[cd[1]] == 0.0) and np.all(g.x.array[cd[0]] >= 1.0)
    _compat.interpolate_expression(g, 1.0 + x[0])
    np.testing.assert_allclose(g.x.array[cd[1]], 1.0 + D.tabulate_dof_coordinates()[cd[1], 0])
    # assembly: ∫ 1 dx = volume (1/6 + 1/3), as a vector sum over DG0
    Q0 = _compat.function_space(msh, "DG", 0)
    b = _compat.assemble_vector(_compat.form(ufl.TestFunction(Q0) * ufl.dx))
    assert b.sum() == pytest.approx(0.5, rel=1e-12)
    A = _compat.assemble_matrix(_compat.form(ufl.TrialFunction(Q0) * ufl.TestFunction(Q0) * ufl.dx))
    A.assemble()
    A2 = _compat.create_matrix(_compat.form(ufl.TrialFunction(Q0) * ufl.TestFunction(Q0) * ufl.dx))
    _compat.assemble_matrix_into(A2, _compat.form(ufl.TrialFunction(Q0) * ufl.TestFunction(Q0) * ufl.dx))
    A2.assemble()
    assert A.getDiagonal().sum() == pytest.approx(0.5, rel=1e-12) == A2.getDiagonal().sum()
    # AMS auxiliaries: G maps P1 to N1curl (one row per edge: 9 edges, 5 vertices), rows sum to 0
    N1 = _compat.function_space(msh, "N1curl", 1)
    G = _compat.discrete_gradient(_compat.function_space(msh, "Lagrange", 1), N1)
    assert G.getSize() == (9, 5)
    ones = G.createVecRight()
    ones.set(1.0)
    out = G.createVecLeft()
    G.mult(ones, out)
    assert out.norm() == pytest.approx(0.0, abs=1e-12)
    Pi = _compat.interpolation_matrix(W, _compat.function_space(msh, "N1curl", 1))
    assert Pi.getSize() == (9, 15)
    for obj in (b, A, A2, G, Pi, ones, out):
        obj.destroy()
