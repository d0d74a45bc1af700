"""Closed-form references the benchmarks and tests compare the solvers against (one copy each)."""
