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

    is_initialized = getattr(gmsh, "isInitialized", None)  # gmsh ≥ 4.9 (4.13 prints an error on a needless finalize)
    if is_initialized is None:  # gmsh 4.8: finalize() of a live session is the reset, of none a no-op
        try:
            gmsh.finalize()
        except Exception:
            pass
    elif is_initialized():
        gmsh.finalize()
    gmsh.initialize(readConfigFiles=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.model.add(model_name)
        yield gmsh
    finally:
        gmsh.finalize()


__all__ = ["gmsh_session"]
