"""CI-size imaging benchmarks (the --full sizes are run by hand; numbers in benchmarks/README_imaging.md)."""
from __future__ import annotations

from benchmarks import imaging_perf


def test_imaging_perf_ci_size(tmp_path):
    r = imaging_perf.run("ci", workdir=tmp_path)
    imaging_perf.print_table(r)
    assert imaging_perf.check(r) == []
    assert r["cells"] > 10_000 and r["min_dihedral_deg"] > 2.0
    assert set(r["timings"]) == {"read", "rtstruct", "segment", "mesh"}


def test_imaging_accuracy_ci_size(tmp_path):
    from benchmarks import imaging_accuracy

    rows = imaging_accuracy.run((4.0, 2.0, 1.0), workdir=tmp_path)
    imaging_accuracy.print_table(rows)
    assert imaging_accuracy.check(rows) == []
    assert len(rows) == 3 and all("order" in r for r in rows[1:])


import pytest  # noqa: E402


@pytest.mark.slow
def test_imaging_perf_full_size(tmp_path):
    """512 × 512 × 200 CT through read + RTSTRUCT + segmentation + meshing within 60 s."""
    r = imaging_perf.run("full", workdir=tmp_path)
    imaging_perf.print_table(r)
    assert imaging_perf.check(r) == []
