"""Plan files: the TOML loader, the section schema engine and the key-reference generator.

Imports no stage package: stage packages register their models (applicators, shapes, SLP models,
distributions, perfusion laws) in :mod:`planner.config.registry`, which the loader consults.
"""
from planner.config.plan import PlanConfig, load_plan, parse_plan

__all__ = ["PlanConfig", "load_plan", "parse_plan"]
