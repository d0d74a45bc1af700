"""One exception hierarchy for the whole planner.

Every message names the offending field (or file), the value received and what was expected, so a
physicist can fix a plan from the one-line message alone. Use :func:`bad_value` to build messages in
that shape.
"""
from __future__ import annotations

from typing import Any


class PlannerError(Exception):
    """Base class of every error the planner raises on purpose."""


class InputError(PlannerError, ValueError):
    """A plan file, an input file or a function argument is invalid."""


class InputErrors(InputError):
    """Several input errors found together (e.g. all errors of one plan): ``errors`` holds one line
    each; ``str()`` joins them with newlines."""

    def __init__(self, errors: list[str] | tuple[str, ...]) -> None:
        self.errors = tuple(errors)
        super().__init__("\n".join(self.errors))


def error_lines(exc: BaseException) -> list[str]:
    """The one-line messages of an error: each of :class:`InputErrors`, else ``str(exc)``."""
    return list(exc.errors) if isinstance(exc, InputErrors) else [str(exc)]


class SegmentationError(PlannerError):
    """Images could not be turned into tissue labels."""


class MeshError(PlannerError):
    """Geometry could not be meshed, or a mesh fails a quality/volume check."""


class SolverError(PlannerError):
    """A numerical solver did not converge or produced a non-physical result."""


class SafetyLimitExceeded(PlannerError):
    """A plan violates a configured safety limit and the plan asks to stop on violations."""


class StageUnavailable(PlannerError):
    """A pipeline stage that the plan needs is not implemented in this version."""


def bad_value(field: str, value: Any, expected: str) -> str:
    """Return the canonical message ``<field> = <value!r>: expected <expected>``."""
    return f"{field} = {value!r}: expected {expected}"


def require(condition: bool, field: str, value: Any, expected: str, exc: type[PlannerError] = InputError) -> None:
    """Raise ``exc`` with a :func:`bad_value` message unless ``condition`` holds.

    Used instead of ``assert`` for runtime checks (asserts vanish under ``python -O``).
    """
    if not condition:
        raise exc(bad_value(field, value, expected))
