"""Inputs, run description and result of the Pennes solver (plain data, no FEniCSx objects)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

T_MIN_C = 0.0
T_MAX_C = 100.0


class DoseStep(Protocol):
    """In place over one step: CEM43 (min), time at/above ``threshold_C`` (s) and running maximum.

    The thermal stage injects its kernel (:func:`planner.thermal._kernels.accumulate_dose_nb`);
    :mod:`planner.fem` imports no stage package."""

    def __call__(self, cem_min: np.ndarray, t_above_s: np.ndarray, T_max_C: np.ndarray, T0_C: np.ndarray,
                 T1_C: np.ndarray, dt_s: float, threshold_C: float) -> None: ...


def running_max_only(cem_min, t_above_s, T_max_C, T0_C, T1_C, dt_s, threshold_C) -> None:
    """Default :class:`DoseStep` when none is injected: running maximum only (no dose)."""
    np.maximum(T_max_C, T1_C, out=T_max_C)


@dataclass
class DirichletData:
    """T = value(x (3, n) in m, t in s) → (n,) °C on the boundary dofs where marker(x) is True
    (marker None: the whole skin). Used by the verification benchmarks."""

    value: Callable[[np.ndarray, float], np.ndarray]
    marker: Callable[[np.ndarray], np.ndarray] | None = None


@dataclass(frozen=True)
class BloodPool:
    """Arterial temperature as a state (see :mod:`planner.fem.bioheat.pool`): heat capacity of the
    unmeshed body (J/K) and the whole-body loss conductance (W/K) about the baseline balance."""

    heat_capacity_J_per_K: float
    loss_W_per_K: float


class PerfusionLike(Protocol):
    """What the solver reads of a perfusion law (planner.thermal.perfusion.PerfusionLaw)."""

    name: str
    w0_per_s: np.ndarray

    @property
    def temperature_dependent(self) -> bool: ...

    def beta(self, T_cell_C: np.ndarray, cells: np.ndarray | slice = ...) -> np.ndarray: ...


@dataclass
class PennesInputs:
    """Coefficients per TissueMesh cell (SI) and boundary data."""

    k_W_per_m_K: np.ndarray
    rho_c_J_per_m3_K: np.ndarray
    q_met_W_per_m3: np.ndarray
    perfusion: PerfusionLike  # planner.thermal.perfusion.PerfusionLaw
    heat_W_per_m3: Callable[[float], np.ndarray]  # field fraction → (M,)
    T_arterial_C: float
    T_ambient_C: float
    h_skin_W_per_m2_K: float
    cell_tissue: np.ndarray  # (M,) int index into tissue_names
    tissue_names: tuple[str, ...]
    dirichlet: DirichletData | None = None
    blood_pool: BloodPool | None = None  # None: arterial temperature fixed at T_arterial_C


@dataclass
class PennesRun:
    """What to integrate. ``steps``: list of planner.thermal.schedule.Step (transient)."""

    mode: str  # 'steady' | 'transient'
    scheme: str  # 'implicit-euler' | 'crank-nicolson' | 'bdf2'
    element_order: int
    steps: list = field(default_factory=list)
    steady_fraction: float = 1.0
    steady_duration_s: float = 0.0
    picard_tol_K: float = 1e-3
    picard_max_iter: int = 50
    linear_rtol: float = 1e-10
    snapshot_times_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    probe_vertices: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.int64))  # (P, 4)
    probe_weights: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))  # (P, 4)
    check_physical: bool = True
    threshold_C: float = 42.0
    linear_pc: str = "auto"  # 'auto' | 'amg' | 'jacobi' (see Operators.pc_kind)
    adaptive: bool = False  # TR-AB2 adaptive Crank–Nicolson (see steppers.AdaptiveTRAB2)
    segments: list = field(default_factory=list)  # planner.thermal.schedule.Segment (adaptive)
    time_step_s: float = 30.0  # first step of each segment (adaptive)
    max_time_step_s: float = 240.0
    min_time_step_s: float = 0.5
    adaptive_tol_K: float = 0.01
    dose_step: DoseStep = running_max_only  # injected by the thermal stage
    initial_T_C: np.ndarray | None = None  # steady, P1: Picard start (TissueMesh vertex order) instead of the baseline
    cut_faces: str = "adiabatic"  # 'adiabatic' (zero flux) | 'baseline' (held at the no-field baseline after it)
    on_time: Callable[[float], None] | None = None  # told the simulated time (s) after each accepted step (progress)


@dataclass
class PennesResult:
    """Outputs in TissueMesh vertex order (identical on every rank)."""

    times_s: np.ndarray
    fractions: np.ndarray  # field fraction at the end of each step (left limit), [0] = 0 baseline
    T_baseline_C: np.ndarray
    T_final_C: np.ndarray
    T_max_C: np.ndarray
    CEM43_min: np.ndarray
    time_above_s: np.ndarray
    snapshot_times_s: np.ndarray
    T_snapshots_C: np.ndarray  # (S, N)
    probe_T_C: np.ndarray  # (P, n_times)
    body_max_T_C: np.ndarray  # (n_times,)
    stats: dict
    arterial_T_C: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (n_times,)
    exchange_W: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (n_times,) ∫β(T − T_a) dV
