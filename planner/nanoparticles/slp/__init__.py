"""Specific loss power (SLP) models behind the registry :data:`planner.config.registry.SLP_MODELS`,
keyed by ``[nanoparticles] slp_model`` (``register_slp_model`` / ``get_slp_model`` / ``available_slp_models``).

Every model answers ``slp_W_per_g(H_peak_A_per_m, frequency_Hz)`` for an array of local PEAK field
amplitudes at one frequency, states its ``mass_basis`` (``per_g_Fe`` or ``per_g_particle``, as
ISO/TS 19807-1 asks) and reports the intrinsic loss power ILP = SLP/(f H0²) in nH m² kg⁻¹.

One module per model, each declaring its parameter section ``[nanoparticles.<model>]``:
:mod:`.linear_response` (Rosensweig 2002), :mod:`.nonlinear` (``nonlinear-relaxation``: kinetic Néel–Brown
relaxation in AC + DC fields, tabulated and cached), :mod:`.table` (measured SLP(H, f)), :mod:`.constant`.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from planner.config.registry import SLP_MODELS
from planner.nanoparticles.slp.base import MASS_BASES, SLPModel, ilp_nH_m2_per_kg
from planner.nanoparticles.slp.constant import ConstantModel, SlpConstantSection
from planner.nanoparticles.slp.linear_response import (
    AUTO_NODES,
    AUTO_RTOL,
    AUTO_TEST_FIELDS_A_per_m,
    LinearResponseModel,
    LinearResponseParameters,
    LinearResponseSection,
    SizeRule,
    build_size_rule,
)
from planner.nanoparticles.slp.nonlinear import NonlinearRelaxationModel, NonlinearRelaxationSection
from planner.nanoparticles.slp.table import SlpTable, SlpTableSection, TableModel, read_slp_table

SLPFactory = Callable[[Any, Path], SLPModel]


def register_slp_model(name: str, params: type | None = None, *, replace: bool = False) -> Callable[[SLPFactory],
                                                                                                    SLPFactory]:
    """Decorator: ``factory(parameters, base_dir) -> SLPModel`` available as ``slp_model = name``;
    ``params`` is the model's parameter section ``[nanoparticles.<name with _>]``."""
    return SLP_MODELS.decorator(name, params, replace=replace)


def get_slp_model(name: str) -> SLPFactory:
    return SLP_MODELS.get(name)


def available_slp_models() -> tuple[str, ...]:
    return SLP_MODELS.available()


def make_slp_model(np_section: Any, base_dir: Path | None = None) -> SLPModel:
    """Build the model named by ``np_section.slp_model`` from its parameter sub-section."""
    factory = get_slp_model(np_section.slp_model)
    return factory(np_section.model_parameters, Path(base_dir) if base_dir is not None else Path.cwd())


__all__ = [
    "AUTO_NODES", "AUTO_RTOL", "AUTO_TEST_FIELDS_A_per_m", "MASS_BASES", "SLP_MODELS", "ConstantModel",
    "LinearResponseModel", "LinearResponseParameters", "NonlinearRelaxationModel",
    "NonlinearRelaxationSection", "LinearResponseSection", "SLPModel", "SizeRule",
    "SlpConstantSection", "SlpTable", "SlpTableSection", "TableModel", "available_slp_models", "build_size_rule",
    "get_slp_model", "ilp_nH_m2_per_kg", "make_slp_model", "read_slp_table", "register_slp_model",
]
