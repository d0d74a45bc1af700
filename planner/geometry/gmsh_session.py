"""The one place that starts gmsh (a process-wide singleton)."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from types import ModuleType


@contextlib.contextmanager
def gmsh_session(model_name: str = "planner") -> Iterator[ModuleType]:
    """A fresh gmsh session (gmsh is a process-wide singleton): yields the gmsh module with an empty
    model ``model_name``, terminal output off; finalised on exit. The one place that starts gmsh."""
    import gmsh

    try:  # gmsh 4.8 has no isInitialized(); finalize() of a live session is the reset
        gmsh.finalize()
    except Exception:
        pass
    gmsh.initialize(readConfigFiles=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.model.add(model_name)
        yield gmsh
    finally:
        gmsh.finalize()


__all__ = ["gmsh_session"]
