"""Full eddy-current solver for metal implants: A-formulation on N1curl, real 2×2 block form, AMS.

Physics (peak phasors, e^{jωt}, SI; DESIGN.md §2)
--------------------------------------------------
In a local sub-model (the implant Ω_m plus a cube of non-conducting surroundings Ω_0 around it) the
total vector potential (temporal gauge, E = −jωA) is split A = A0 + A_r, where A0 is the applied
potential of the applicator (Coulomb gauge, curl curl A0 = 0 inside the sub-model because the coils
are outside) and A_r is the reaction field of the eddy currents. With κ = ω μ0 σ (1/m², κ = 2/δ²)

    curl curl A_r + j κ A_r = − j κ A0      in Ω_m ∪ Ω_0   (κ = 0 in Ω_0),
    n × A_r = 0                               on the cube (far from the implant: reaction dipole ~ r⁻³).

Weak form on N1curl_p (Nédélec first kind, degree p = 1 or 2) with A_r = u + j v:

    K u − M v = 0,    −M u − K v = b       (b = ∫ κ A0·w dx over Ω_m),

i.e. the real symmetric indefinite block system [[K, −M], [−M, −K]] [u; v] = [0; b], solved by GMRES
with the PRESB preconditioner (Axelsson, Neytcheva & Ahmad 2014) — two solves with P = K + M + ε M_0
(ε a tiny mass in the non-conducting region, preconditioner only) per application, each one hypre AMS
cycle (discrete gradient Lagrange_p → N1curl_p, for p ≥ 2 the Nédélec interpolation of vector
Lagrange_p, and a scalar "alpha Poisson" matrix; auxiliary-space AMGs without aggressive coarsening).
``krylov = "minres"`` keeps the former MINRES with the block-diagonal diag(P, P). Measured on this
machine: 6–7 iterations at rtol 1e-4 (preconditioned residual) on spheres, flat in a/δ = 0.3…10 and σ = 1e2…1e8, 9 on the hip stem
(benchmarks/README_implants.md). Small sub-models (≤ 8 000 dofs by default) are instead factorised
(MUMPS LDLᵀ of the gauged block system, module ``direct``). The operator is singular on gradients
supported in Ω_0 (A_r is gauge-free there); the right-hand side is consistent (it vanishes on such
gradients), so the Krylov iteration converges; E and the loss inside the metal are unique.

Time-averaged loss: P = ½ σ ω² ∫_{Ω_m} |A0 + A_r|² dx = ½ (ω/μ0) ∫ κ [(A0 + u)² + v²] dx.
Peak current density J = σ E = −jωσ(A0 + A_r), |J| = σ ω |A0 + A_r|.

Neglected (documented): the conductivity of the tissue inside the sub-model (σ_tissue/σ_metal ~ 1e-6,
its reaction field is ≤ 1e-3 of H0 at these sizes and it is computed by the tissue solver anyway),
and galvanic tissue currents entering the metal (they dissipate ~ (σ_t/σ_m) of the tissue loss there).

Geometry: the implant sub-model is built and meshed in gmsh by :mod:`planner.geometry.submodel`
(second-order curved tetrahedra graded from h_s = δ/n_δ at the metal surface); this package only
reads the open gmsh model with ``dolfinx.io.gmshio.model_to_mesh`` on rank 0 (distributed by DOLFINx).

Modules, by concern: ``model`` (options, results, the geometry seam), ``mesh_import`` (gmsh → DOLFINx),
``assembly`` (forms and matrices), ``blocks`` (block operator, AMS block preconditioners, PRESB-GMRES and MINRES),
``direct`` (sparse direct solve),
``solve`` (reduced-field solve, one implant end to end), ``losses`` (post-processing),
``low_frequency`` (scalar-potential check for a ≪ δ), ``evaluate`` (total H and E at given points:
``ImplantSolveOptions(sample_points_m=..., H0_peak_at=...)`` → ``result.field_sample``).

Usage::

    from planner.geometry.submodel import SubModelGeometry, SubModelSizing
    res = solve_implant(SubModelGeometry(build, sizing=SubModelSizing(refinement=0.5)),
                        ImplantSolveOptions(sigma_S_per_m=5.6e5, frequency_Hz=1e5, A0_peak_at=uniform_A0(H0)))
"""
from planner.fem.implant_eddy.low_frequency import low_frequency_loss_W
from planner.fem.implant_eddy.mesh_import import mesh_submodel
from planner.fem.implant_eddy.model import (
    METAL_TAG,
    SURROUNDING_TAG,
    ImplantSolveOptions,
    ReducedFieldSolution,
    SubModelFieldSample,
    SubModelInfoLike,
    SubModelResult,
    SubModelSource,
    uniform_A0,
)
from planner.fem.implant_eddy.solve import solve_implant, solve_reduced_field

__all__ = [
    "ImplantSolveOptions",
    "ReducedFieldSolution",
    "SubModelResult",
    "SubModelFieldSample",
    "SubModelInfoLike",
    "SubModelSource",
    "mesh_submodel",
    "solve_reduced_field",
    "solve_implant",
    "uniform_A0",
    "low_frequency_loss_W",
    "METAL_TAG",
    "SURROUNDING_TAG",
]
