"""Options, typed results and the geometry seam of the implant eddy-current solver (no FEniCSx calls)."""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Generic, Protocol, TypeVar

import numpy as np
from mpi4py import MPI

from planner.errors import InputError, bad_value
from planner.units import MM, MU0_H_per_m

# cell tags of the sub-model mesh; planner.geometry.submodel (the producer) writes the same values
METAL_TAG = 1
SURROUNDING_TAG = 2

AppliedPotential = Callable[[np.ndarray], np.ndarray]  # points (n, 3) m -> peak A0 (n, 3) V·s/m


class CellTags(Protocol):
    """Cell tags of a DOLFINx mesh (``dolfinx.mesh.MeshTags``): local cell indices and their tags."""

    @property
    def indices(self) -> np.ndarray: ...

    @property
    def values(self) -> np.ndarray: ...


SOLVERS = ("auto", "direct", "ams")


@dataclass(frozen=True)
class ImplantSolveOptions:
    """Material, drive and solver controls of one reduced-field solve (SI; peak phasors).

    ``dirichlet``: n × A_r = 0 on the whole outer boundary (default); False leaves the natural
    condition n × curl A_r = 0 (used for the infinite-cylinder benchmark, where H_r = 0 outside).
    ``regularisation`` ε (relative to κ_metal) is added as ε κ_metal ∫ u·w over the surroundings in the
    preconditioner only. ``collect_cells``: gather per-cell metal losses on every rank.
    ``comm``: communicator of the sub-model mesh (``solve_implant``).
    ``solver``: ``"direct"`` (MUMPS LDLᵀ of the gauged block system, :mod:`.direct`), ``"ams"`` (MINRES with
    the block-diagonal AMS preconditioner, :mod:`.blocks`) or ``"auto"``: direct up to ``direct_max_dofs``
    N1curl dofs when PETSc has MUMPS, AMS above (the direct factor's memory grows like N^{4/3}).
    """

    sigma_S_per_m: float
    frequency_Hz: float
    A0_peak_at: AppliedPotential
    degree: int = 2
    rtol: float = 1e-4  # MINRES: loss within 1e-4 of the direct solve for a/δ 0.3…10 (README_implants)
    max_iterations: int = 300
    regularisation: float = 1e-6
    collect_cells: bool = True
    dirichlet: bool = True
    comm: MPI.Comm = field(default_factory=lambda: MPI.COMM_WORLD)
    solver: str = "auto"
    direct_max_dofs: int = 20_000

    def __post_init__(self) -> None:
        if self.solver not in SOLVERS:
            raise InputError(bad_value("solver", self.solver, f"one of {', '.join(SOLVERS)}"))
        if self.degree not in (1, 2):
            raise InputError(bad_value("degree", self.degree, "1 or 2 (N1curl degree)"))
        if not (self.sigma_S_per_m > 0 and math.isfinite(self.sigma_S_per_m)):
            raise InputError(bad_value("sigma_S_per_m", self.sigma_S_per_m, "a positive finite conductivity"))

    @property
    def omega_rad_per_s(self) -> float:
        return 2.0 * math.pi * self.frequency_Hz

    @property
    def skin_depth_mm(self) -> float:
        """δ = sqrt(2 / (ω μ0 σ)), in mm."""
        return math.sqrt(2.0 / (self.omega_rad_per_s * MU0_H_per_m * self.sigma_S_per_m)) / MM


@dataclass(frozen=True)
class ReducedFieldSolution:
    """Summary of one reduced-field solve on a tagged mesh (SI units)."""

    loss_W: float  # time-averaged
    peak_J_A_per_m2: float  # max |J| (peak) over the metal, at Lagrange nodes of degree 2 (surface)
    dofs: int  # N1curl dofs (complex unknowns); the real block system has 2 × dofs
    num_cells: int
    iterations: int
    ksp_reason: int
    residual_norm: float  # preconditioned residual norm at exit
    fe_volume_m3: float  # volume of the (curved) metal cells
    times_s: dict[str, float]
    metal_cell_centroids_m: np.ndarray  # (n, 3), all ranks (empty unless collect_cells)
    metal_cell_loss_W: np.ndarray  # (n,), all ranks (empty unless collect_cells)


class SubModelInfoLike(Protocol):
    """What the solver reads from the mesher's description of a sub-model."""

    @property
    def exact_volume_m3(self) -> float: ...  # CAD volume of the implant

    @property
    def geometry_order(self) -> int: ...


InfoT = TypeVar("InfoT", bound=SubModelInfoLike)
InfoT_co = TypeVar("InfoT_co", bound=SubModelInfoLike, covariant=True)


class SubModelSource(Protocol[InfoT_co]):
    """A sub-model builder (e.g. :class:`planner.geometry.submodel.SubModelGeometry`): ``open`` builds
    and meshes the sub-model in gmsh (millimetres) for skin depth δ and N1curl ``degree``, tagged
    METAL_TAG / SURROUNDING_TAG, and yields (gmsh module, info) while the model is live."""

    def open(self, skin_depth_mm: float, degree: int) -> AbstractContextManager[tuple[ModuleType, InfoT_co]]: ...


@dataclass(frozen=True)
class SubModelResult(ReducedFieldSolution, Generic[InfoT]):
    """Solution summary of one implant sub-model: the solve plus the sub-model it ran on."""

    submodel: InfoT  # the mesher's description (sizes in mm as meshed)
    frequency_Hz: float
    sigma_S_per_m: float
    degree: int
    geometry_order: int
    exact_volume_m3: float  # CAD volume of the implant


def uniform_A0(H0_peak_A_per_m: Sequence[float], centre_m: Sequence[float] = (0.0, 0.0, 0.0)) -> AppliedPotential:
    """A0 = ½ μ0 H0 × (r − r0) (Coulomb gauge) of a uniform peak field H0, as a callable (n,3) → (n,3)."""
    H = np.asarray(H0_peak_A_per_m, float)
    c = np.asarray(centre_m, float)

    def A0(p: np.ndarray) -> np.ndarray:
        return 0.5 * MU0_H_per_m * np.cross(H[None, :], np.asarray(p, float) - c[None, :])

    return A0


__all__ = [
    "METAL_TAG",
    "SURROUNDING_TAG",
    "AppliedPotential",
    "CellTags",
    "ImplantSolveOptions",
    "ReducedFieldSolution",
    "SubModelInfoLike",
    "SubModelSource",
    "SubModelResult",
    "uniform_A0",
]
