"""planner: treatment planning for magnetic nanoparticle hyperthermia.

Importing this package never imports DOLFINx/PETSc/MPI; those live in :mod:`planner.fem` only.
"""
from __future__ import annotations

__version__ = "0.1.0"

from planner.errors import (  # noqa: E402
    InputError,
    MeshError,
    PlannerError,
    SafetyLimitExceeded,
    SegmentationError,
    SolverError,
    StageUnavailable,
)

__all__ = [
    "__version__",
    "PlannerError",
    "InputError",
    "MeshError",
    "SolverError",
    "SegmentationError",
    "SafetyLimitExceeded",
    "StageUnavailable",
]
