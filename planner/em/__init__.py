"""Applied magnetic field (applicators, Biot–Savart) and eddy currents / SAR in tissue.

Stage functions (pipeline contract, COMMON.md):

    app = planner.em.applied_field(mesh, cfg.applicator, base_dir=cfg.base_dir)   # AppliedField
    fld = planner.em.solve_eddy_currents(mesh, app, lib, cfg.applicator,
                                         insulated=insulated_bodies(cfg.geometry),
                                         admittivity=cfg.em.admittivity)              # FieldSolution

``admittivity`` ('auto' | 'real' | 'complex', ``[em] admittivity``): with the complex σ + jωε0εr the
field arrays (``F_vertex_cell_V_s_per_m``, probe E) are complex phasors; magnitudes use |Re|² + |Im|².

This package imports without FEniCSx; the FE solve lives in :mod:`planner.fem.scalar_potential`.
Field probes (``[[em.field_probes]]``): ``located = locate_field_probes(mesh, cfg.em.field_probes)`` before
the solve (bad points fail early), ``field_probes(mesh, fld, located)`` after it (:mod:`planner.em.probes`).
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
from planner.em.probes import FieldProbes, field_probes, locate_field_probes

__all__ = ["APPLICATORS", "AppliedField", "Coil", "FieldProbes", "FieldSolution", "applied_field",
           "available_applicators", "field_probes", "get_applicator", "locate_field_probes", "register_applicator",
           "solve_eddy_currents"]
