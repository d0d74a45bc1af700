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


def _register_models() -> None:
    """Import the stage modules that register models (applicators, shapes incl. the hip stem,
    segmenters and the [imaging] checks, SLP models, distributions, perfusion laws) into
    planner.config.registry. Run on the first read of a registry, so the plan loader validates model
    choices and per-model keys without planner.config importing a stage package, and ``import planner``
    stays light. None of these imports DOLFINx (tests/test_architecture.py)."""
    import planner.em.applicators  # noqa: F401
    import planner.geometry.mesher  # noqa: F401
    import planner.imaging.segmentation  # noqa: F401
    import planner.nanoparticles.distributions  # noqa: F401
    import planner.nanoparticles.slp  # noqa: F401
    import planner.thermal.perfusion  # noqa: F401


from planner.config.registry import add_loader  # noqa: E402

add_loader(_register_models)
