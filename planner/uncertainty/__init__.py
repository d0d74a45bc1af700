"""Uncertainty of a plan (issue 18): log-normal scale factors sampled by scrambled Sobol QMC, evaluated
through unit temperature responses (Pennes is linear for constant perfusion), first-order Sobol indices
and a robust field search. Imports without FEniCSx; the thermal solves go through planner.thermal."""
from planner.uncertainty.sampling import Parameter, saltelli_first_order, sample_points
from planner.uncertainty.study import UncertaintyResult, run_uncertainty

__all__ = ["Parameter", "UncertaintyResult", "run_uncertainty", "saltelli_first_order", "sample_points"]
