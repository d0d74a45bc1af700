"""CI runs of the nanoparticle benchmarks (benchmarks/np_*.py)."""
from __future__ import annotations

from benchmarks import np_perf, np_slp_verification


def test_slp_verification_benchmark_passes():
    out, fails = np_slp_verification.run(full=False)
    assert not fails, fails
    assert len(out["closed_form"]) == 19
    for key, rows in out.items():
        if key.startswith("nodes: "):
            assert rows[-1][2] < 1e-9


def test_perf_benchmark_small_kernel_agrees_and_is_faster():
    """Correctness at CI size; the hard targets (1e6 points ≤ 0.2 s, ≥ 20× NumPy) are asserted by
    `python -m benchmarks.np_perf` itself, on a machine not shared with other jobs."""
    rows = np_perf.run(sizes=(100_000,), repeats=3)
    assert not np_perf.check(rows)
    assert all(r["max_rel_diff"] < 1e-12 for r in rows)
    assert all(r["ratio"] > 2.0 for r in rows), rows
