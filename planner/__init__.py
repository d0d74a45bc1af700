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

# Stage modules register their models (applicators, shapes, segmenters, SLP models, distributions,
# perfusion laws) into planner.config.registry when imported; importing them here fills the
# registries before any plan is loaded (every `import planner.x` runs this file first), so the loader
# validates model choices and per-model keys without planner.config importing a stage package.
# None of these imports DOLFINx (tests/test_architecture.py).
from planner.em import applicators as _applicators  # noqa: E402,F401
from planner.geometry import mesher as _mesher  # noqa: E402,F401  (shapes, incl. the hip stem)
from planner.imaging import segmentation as _segmentation  # noqa: E402,F401  (segmenters, [imaging] checks)
from planner.nanoparticles import distributions as _distributions, slp as _slp  # noqa: E402,F401
from planner.thermal import perfusion as _perfusion  # noqa: E402,F401
