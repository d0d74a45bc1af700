"""prefixed_options: per-solver defaults in PETSc's global database only while a solver is set up."""
import pytest

pytest.importorskip("petsc4py")

from petsc4py import PETSc  # noqa: E402

from planner.fem.petsc_options import prefixed_options  # noqa: E402


def test_defaults_are_removed_afterwards_and_the_users_option_wins_and_stays():
    opts = PETSc.Options()
    before = set(opts.getAll())
    opts["t_pc_hypre_boomeramg_P_max"] = 2  # as given on the command line
    try:
        with prefixed_options("t_", {"pc_hypre_type": "boomeramg", "pc_hypre_boomeramg_P_max": 4}):
            assert opts.getString("t_pc_hypre_type") == "boomeramg"
            assert opts.getInt("t_pc_hypre_boomeramg_P_max") == 2
        assert not opts.hasName("t_pc_hypre_type") and opts.getInt("t_pc_hypre_boomeramg_P_max") == 2
        with pytest.raises(RuntimeError), prefixed_options("t_", {"ksp_type": "cg"}):
            raise RuntimeError("set-up failed")
        assert not opts.hasName("t_ksp_type")  # removed on the way out of an error too
    finally:
        opts.delValue("t_pc_hypre_boomeramg_P_max")
    assert set(opts.getAll()) == before
