"""Per-solver PETSc options without leaving them behind in PETSc's global options database.

A solver with its own prefix reads its options from the global database at ``setFromOptions``; a prefix
left there fills the database (512 entries at most) after a few hundred solves in one process (the
86th eddy solve of a search failed that way). :func:`prefixed_options` adds the defaults for the
set-up inside the block and removes exactly what it added; an option the user gave on the PETSc
command line under that prefix wins and stays.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

from petsc4py import PETSc


@contextlib.contextmanager
def prefixed_options(prefix: str, defaults: Mapping[str, object]) -> Iterator[None]:
    """``defaults`` (names without the prefix) under ``prefix`` in the global database inside the block
    (call ``setFromOptions``/``setUp`` there), then removed."""
    opts = PETSc.Options()
    added = [prefix + k for k in defaults if not opts.hasName(prefix + k)]
    for name in added:
        opts[name] = defaults[name[len(prefix):]]
    try:
        yield
    finally:
        for name in added:
            opts.delValue(name)
