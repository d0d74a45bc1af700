"""Pennes bioheat finite-element solver (DOLFINx 0.5, real PETSc, CG + BoomerAMG).

Strong form (SI, T in °C):

    ρc ∂T/∂t = ∇·(k∇T) + β(T)(T_a − T) + Q_met + Q(x, t)      in the body Ω,
    −k ∂T/∂n = h (T − T_amb)                                  on the skin ∂Ω (Robin),

β = w ρ_b c_b (W m⁻³ K⁻¹, w = volumetric perfusion, 1/s). Optional Dirichlet data T = g(x, t) on
(part of) the boundary replace the Robin condition there (verification benchmarks only).

Galerkin P1/P2 on the tetrahedral mesh with per-cell (DG0) coefficients gives

    M dT/dt + K(β) T = f(t),   M = ∫ρc φ_i φ_j,  K = ∫k∇φ_i·∇φ_j + ∫β φ_i φ_j + ∫_skin h φ_i φ_j,
    f = ∫(Q_met + Q) φ_i + T_a ∫β φ_i + ∫_skin h T_amb φ_i.

Every scheme solves (c M + K) Tⁿ⁺¹ = b with
    implicit Euler:  c = 1/Δt,             b = M Tⁿ/Δt + fⁿ⁺¹
    Crank–Nicolson:  c = 2/Δt,             b = (2M/Δt − K) Tⁿ + fⁿ + fⁿ⁺¹
    BDF2 (variable step, ω = Δtₙ/Δtₙ₋₁; one implicit-Euler step at the start, at each schedule
    segment boundary and when ω > 2):
                     c = (1+2ω)/((1+ω)Δt),  b = M[(1+ω)Tⁿ − ω²/(1+ω) Tⁿ⁻¹]/Δt + fⁿ⁺¹
    steady:          c = 0,                 b = f.
The operator c M + K and its preconditioner set-up are built once per distinct c while K is
unchanged (constant perfusion: once per run). CG with BoomerAMG, or — with ``linear_pc = 'auto'``
and a mass-dominated transient operator (every cell's diffusion number k/(c ρc h²) ≤ 1) — CG
with Jacobi, which converges in a few iterations there and is much cheaper per iteration. With
temperature-dependent perfusion β is lagged on the cell
temperatures (Picard): β from Tⁿ⁺¹ (IE, BDF2, steady) or (Tⁿ+Tⁿ⁺¹)/2 (CN), repeated until the
largest nodal change δ = T̂ − T_k is below ``picard_tol_K``; updates are damped,
T_{k+1} = T_k + ω δ, with ω halved (down to 1/64) whenever |δ| stops decreasing (plain Picard diverges
for strong vasodilation, e.g. Lang's muscle curve in a steady hot spot); the AMG hierarchy is then reused while it stays
effective (re-set-up when CG needs more than 2× the iterations of a fresh set-up + 3).

Adaptive stepping (``adaptive``): Crank–Nicolson with an AB2 predictor and local-error control
(TR-AB2, Gresho, Griffiths & Silvester 2008), steps from a ladder h_max/2^k; see
:class:`~planner.fem.bioheat.steppers.AdaptiveTRAB2`.

Per-vertex outputs (dose, maxima, probes) use the vertex values of the solution (for P2: its P1
interpolant at the mesh vertices). The dose kernel is injected by the caller
(``PennesRun.dose_step``): :mod:`planner.fem` imports no stage package.

Modules: ``data`` (inputs, run, result), ``operators`` (cached c M + K with their KSPs), ``solver``
(:class:`PennesSolver`: assemble / baseline / step / run), ``steppers`` (IE, CN, BDF2, adaptive
TR-AB2, steady), ``recorder`` (vertex values, probes, dose, snapshots).
"""
from planner.fem.bioheat.data import BloodPool, DirichletData, DoseStep, PennesInputs, PennesResult, PennesRun
from planner.fem.bioheat.solver import PennesSolver, reuse_operators, solve_pennes

__all__ = ["BloodPool", "DirichletData", "DoseStep", "PennesInputs", "PennesResult", "PennesRun", "PennesSolver",
           "reuse_operators", "solve_pennes"]
