"""Pennes bioheat stage: schedules, perfusion models, systemic heat (arterial blood pool), thermal
dose and temperature metrics, implant self-heating (implant-only superposition run).

This package imports without FEniCSx; :func:`solve_bioheat` calls :mod:`planner.fem.bioheat`.
"""
from planner.thermal.history import TemperatureHistory
from planner.thermal.perfusion import PERFUSION_MODELS, PerfusionLaw, make_perfusion_law
from planner.thermal.schedule import Schedule, Segment, Step, build_schedule
from planner.thermal.stage import reusing_operators, solve_bioheat

__all__ = [
    "PERFUSION_MODELS",
    "PerfusionLaw",
    "Schedule",
    "Segment",
    "Step",
    "TemperatureHistory",
    "build_schedule",
    "make_perfusion_law",
    "reusing_operators",
    "solve_bioheat",
]
