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
KRYLOV = ("presb", "minres")  # the iteration of solver "ams" (planner.fem.implant_eddy.blocks)


@dataclass(frozen=True)
class ImplantSolveOptions:
    """Material, drive and solver controls of one reduced-field solve (SI; peak phasors).

    ``dirichlet``: n × A_r = 0 on the whole outer boundary (default); False leaves the natural
    condition n × curl A_r = 0 (used for the infinite-cylinder benchmark, where H_r = 0 outside).
    ``regularisation`` ε (relative to κ_metal) is added as ε κ_metal ∫ u·w over the surroundings in the
    preconditioner only. ``collect_cells``: gather per-cell metal losses on every rank.
    ``comm``: communicator of the sub-model mesh (``solve_implant``).
    ``sample_points_m`` (n, 3): points where the total H and E are sampled after the solve
    (:mod:`planner.fem.implant_eddy.evaluate`); ``H0_peak_at`` the applied field there (exact H0; None:
    curl of the interpolated A0); ``sample_total_H`` False: the reaction field only (the caller adds H0).
    ``solver``: ``"direct"`` (MUMPS LDLᵀ of the gauged block system, :mod:`.direct`), ``"ams"`` (a Krylov
    iteration with AMS, :mod:`.blocks`; ``krylov`` below) or ``"auto"``: direct up to ``direct_max_dofs``
    N1curl dofs when PETSc has MUMPS, AMS above (the direct factor's memory grows like N^{4/3}).
    ``krylov``: the iteration of the AMS path, ``"presb"`` (GMRES + PRESB, two AMS cycles per
    iteration) or ``"minres"`` (MINRES + block-diagonal AMS, the former default); ``rtol`` is its
    relative tolerance on the preconditioned residual (both methods).
    """

    sigma_S_per_m: float
    frequency_Hz: float
    A0_peak_at: AppliedPotential
    degree: int = 2
    rtol: float = 1e-4  # loss within 1e-4 of the direct solve for a/δ 0.3…10, both Krylov methods (README_implants)
    max_iterations: int = 300
    regularisation: float = 1e-6
    collect_cells: bool = True
    dirichlet: bool = True
    sample_points_m: np.ndarray | None = None
    H0_peak_at: AppliedPotential | None = None
    sample_total_H: bool = True
    comm: MPI.Comm = field(default_factory=lambda: MPI.COMM_WORLD)
    solver: str = "auto"
    direct_max_dofs: int = 8_000  # PRESB-GMRES is as fast from ~9k dofs (README_implants)
    krylov: str = "presb"

    def __post_init__(self) -> None:
        if self.solver not in SOLVERS:
            raise InputError(bad_value("solver", self.solver, f"one of {', '.join(SOLVERS)}"))
        if self.krylov not in KRYLOV:
            raise InputError(bad_value("krylov", self.krylov, f"one of {', '.join(KRYLOV)}"))
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


@dataclass(frozen=True, eq=False)
class SubModelFieldSample:
    """Total field of one sub-model at given points (peak phasors; NaN where not defined)."""

    points_m: np.ndarray  # (n, 3)
    inside: np.ndarray  # (n,) bool: the point lies in the sub-model mesh
    in_metal: np.ndarray  # (n,) bool: ... in a metal cell
    H_peak_A_per_m: np.ndarray | None  # (n, 3) complex: H0 + curl(A_r)/μ0 (NaN outside the mesh; None: not asked)
    H_reaction_peak_A_per_m: np.ndarray  # (n, 3) complex: curl(A_r)/μ0 (NaN outside the mesh)
    E_peak_V_per_m: np.ndarray  # (n, 3) complex: −jω(A0 + A_r) in the metal, NaN elsewhere

    @property
    def H_magnitude_peak_A_per_m(self) -> np.ndarray:
        """(n,) √(Σ|H_i|²): the peak amplitude for a linearly polarised total field (NaN outside)."""
        if self.H_peak_A_per_m is None:
            raise InputError("H_magnitude_peak_A_per_m: the total H was not sampled (sample_total_H = False); "
                             "expected ImplantSolveOptions(sample_total_H=True)")
        return np.sqrt(np.sum(np.abs(self.H_peak_A_per_m) ** 2, axis=1))


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
    # total H / E at ``ImplantSolveOptions.sample_points_m`` (None when no points were asked for)
    field_sample: SubModelFieldSample | None = field(default=None, kw_only=True)


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
    "SubModelFieldSample",
    "uniform_A0",
]
