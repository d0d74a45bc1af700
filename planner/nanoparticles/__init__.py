"""Nanoparticle heating: SLP models, particle distributions and the heat source on the mesh.

Public API::

    heat = heat_source(mesh, applied, fields, lib, cfg.nanoparticles, base_dir=cfg.base_dir)  # -> HeatSource
    heat.Q_W_per_m3(field_fraction=1.0)                     # total W/m³ per cell
    heat.summary_block()                                     # summary.json "nanoparticles"
    planner.reporting.fields.write_heat_fields(heat, out_dir, mesh)   # heat_source.vtu

Registries (:mod:`planner.config.registry`): :data:`SLP_MODELS` (``[nanoparticles] slp_model``: linear-response,
nonlinear-relaxation, table, constant)
and :data:`DISTRIBUTIONS` (``[nanoparticles.distribution] kind``: uniform-in-target, deposit,
concentration-map, r2star-map, ct-hu-map, organ-uptake). No FEniCSx imports: works on TissueMesh NumPy arrays.
"""
from __future__ import annotations

from planner.nanoparticles import (
    ct_iron,  # noqa: F401,E402  (registers kind 'ct-hu-map')
    uptake,  # noqa: F401,E402  (registers kind 'organ-uptake')
)
from planner.nanoparticles.distributions import (
    DISTRIBUTIONS,
    ParticleDistribution,
    available_distributions,
    distribute,
    get_distribution,
    register_distribution,
)
from planner.nanoparticles.heat import HeatSource, heat_source, input_files
from planner.nanoparticles.slp import (
    SLP_MODELS,
    ConstantModel,
    LinearResponseModel,
    LinearResponseParameters,
    TableModel,
    available_slp_models,
    get_slp_model,
    make_slp_model,
    read_slp_table,
    register_slp_model,
)

__all__ = [
    "heat_source",
    "input_files",
    "HeatSource",
    "SLP_MODELS",
    "DISTRIBUTIONS",
    "make_slp_model",
    "register_slp_model",
    "get_slp_model",
    "available_slp_models",
    "register_distribution",
    "get_distribution",
    "available_distributions",
    "distribute",
    "ParticleDistribution",
    "LinearResponseModel",
    "LinearResponseParameters",
    "TableModel",
    "ConstantModel",
    "read_slp_table",
]
