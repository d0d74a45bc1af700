"""Applied magnetic field (applicators, Biot–Savart) and eddy currents / SAR in tissue.

Stage functions (pipeline contract, COMMON.md):

    app = planner.em.applied_field(mesh, cfg.applicator, base_dir=cfg.base_dir)   # AppliedField
    fld = planner.em.solve_eddy_currents(mesh, app, lib, cfg.applicator,
                                         insulated=insulated_bodies(cfg.geometry))   # FieldSolution

This package imports without FEniCSx; the FE solve lives in :mod:`planner.fem.scalar_potential`.
Metal implants (:mod:`planner.em.implants`) are a separate stage owned elsewhere.
"""
from planner.em.applicators import (
    APPLICATORS,
    AppliedField,
    Coil,
    applied_field,
    available_applicators,
    get_applicator,
    register_applicator,
)
from planner.em.eddy import FieldSolution, solve_eddy_currents

__all__ = ["APPLICATORS", "AppliedField", "Coil", "FieldSolution", "applied_field", "available_applicators",
           "get_applicator", "register_applicator", "solve_eddy_currents"]
