"""Record-keeping keys: schema version, git commit of this checkout, hypre from PETSc's header, MPI
ranks, command line; existing provenance keys are kept."""
import re
import subprocess
import sys

from planner.reporting.record import SCHEMA_VERSION, add_record, hypre_version
from tests.conftest import ROOT


def test_add_record_is_additive_and_names_the_checkout():
    summary = {"plan": {"name": "x"}, "provenance": {"plan_sha256": "abc", "mpi_ranks": "kept"}}
    add_record(summary)
    prov = summary["provenance"]
    assert summary["schema_version"] == SCHEMA_VERSION and summary["plan"] == {"name": "x"}
    assert prov["plan_sha256"] == "abc" and prov["mpi_ranks"] == "kept"  # existing keys untouched
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert prov["git"]["commit"] == head and re.fullmatch(r"[0-9a-f]{40}", head)
    assert prov["library_versions"]["scipy"] and prov["library_versions"]["highdicom"].startswith("0.28")
    assert prov["command_line"].split()[0].endswith(sys.argv[0].split("/")[-1])


def test_hypre_version_from_petsc_header(tmp_path):
    inc = tmp_path / "include"
    inc.mkdir()
    (inc / "petscpkg_version.h").write_text(
        "#define PETSC_PKG_HYPRE_VERSION_MAJOR 2\n#define PETSC_PKG_HYPRE_VERSION_MINOR 26\n"
        "#define PETSC_PKG_HYPRE_VERSION_SUBMINOR 0\n")
    assert hypre_version(str(tmp_path)) == "2.26.0"
    assert hypre_version(str(tmp_path / "nothing")) is None


def test_tissues_used_lists_the_runs_library_entries_with_citations():
    from planner.tissues.library import load_library

    lib = load_library({})
    summary = {"provenance": {}}
    add_record(summary, tissue_names=["muscle", "fat", "muscle"], library=lib, frequency_Hz=1e5)
    used = summary["tissues_used"]
    assert sorted(used) == ["fat", "muscle"]
    assert used["muscle"]["citation"] and used["muscle"]["frequency_Hz"] == 1e5
    assert used["muscle"]["conductivity_S_per_m"] == lib["muscle"].conductivity_S_per_m(1e5)
    add_record(bare := {"provenance": {}}, tissue_names=["muscle"], library=None)
    assert "tissues_used" not in bare
