"""Artefacts passed between pipeline stages.

Each artefact is a frozen dataclass of NumPy arrays and plain values with SI units in the field
names. Stages never mutate an artefact; they return a new one. Artefacts of later stages live beside
the stage that makes them (e.g. :mod:`planner.em`), this module holds the ones many stages share.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from planner.errors import MeshError


def boundary_facets(cells: np.ndarray) -> np.ndarray:
    """Triangles that belong to exactly one tetrahedron (the outer boundary), in the cells' own
    vertex order; MeshError if a triangle is shared by more than two tetrahedra (non-conforming)."""
    f = np.concatenate([cells[:, [1, 2, 3]], cells[:, [0, 2, 3]], cells[:, [0, 1, 3]], cells[:, [0, 1, 2]]])
    _, idx, counts = np.unique(np.sort(f, axis=1), axis=0, return_index=True, return_counts=True)
    if counts.max(initial=0) > 2:
        raise MeshError(f"mesh is not conforming: {int((counts > 2).sum())} facets shared by more than 2 tetrahedra")
    return f[idx[counts == 1]]


class StageStatus(str, enum.Enum):
    """How a pipeline stage ended (``summary.json`` → ``stages``)."""

    DONE = "done"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class StageRecord:
    """A stage's status and, when skipped or done with findings, why (one line)."""

    status: StageStatus
    detail: str = ""

    @property
    def text(self) -> str:
        """The summary form: ``done``, ``done: 2 violation(s)``, ``skipped: <reason>``."""
        return self.status.value + (f": {self.detail}" if self.detail else "")


DONE = StageRecord(StageStatus.DONE)


def skipped(reason: str) -> StageRecord:
    return StageRecord(StageStatus.SKIPPED, reason)


class Role(str, enum.Enum):
    """What a region is for. The plan key ``role`` takes these values."""

    BODY = "body"
    TARGET = "target"
    ORGAN = "organ"
    IMPLANT = "implant"


@dataclass(frozen=True)
class Region:
    """One tagged volume of a :class:`TissueMesh` (a primitive body or a segmented label)."""

    tag: int  # cell tag, >= 1
    name: str  # unique region name (body name in the plan, or label name)
    tissue: str  # key into the tissue library (after plan overrides)
    role: Role
    exact_volume_m3: float | None = None  # analytic volume when known (primitives), else None


@dataclass(frozen=True)
class TissueMesh:
    """A conforming linear tetrahedral mesh of the patient model, in metres (patient LPS frame).

    ``cells`` index ``points_m``; ``cell_region`` holds the :class:`Region` tag of each cell;
    ``skin_facets`` are the boundary triangles of the whole model that are real skin (body surface in
    contact with air), oriented arbitrarily; ``cut_facets`` are the boundary triangles that lie on a
    cut plane (the bounds of a CT/MR slab, the faces of a crop box): the body goes on there, so they
    carry no skin condition (DESIGN.md §2). ``skin_facets`` ∪ ``cut_facets`` is the whole boundary.
    Region tags are unique; every cell belongs to exactly one region.
    """

    points_m: np.ndarray  # (N, 3) float64
    cells: np.ndarray  # (M, 4) int64
    cell_region: np.ndarray  # (M,) int32
    regions: tuple[Region, ...]
    skin_facets: np.ndarray  # (K, 3) int64
    source: str = ""  # how it was made, for provenance (e.g. "gmsh 4.8 OCC fragments")
    cut_facets: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.int64))  # (K', 3) int64
    frame_of_reference_uid: str = ""  # DICOM FrameOfReferenceUID of the planning image ("" if none)
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        p, c, r = self.points_m, self.cells, self.cell_region
        if p.ndim != 2 or p.shape[1] != 3:
            raise MeshError(f"points_m has shape {p.shape}: expected (N, 3)")
        if c.ndim != 2 or c.shape[1] != 4:
            raise MeshError(f"cells has shape {c.shape}: expected (M, 4) tetrahedra")
        if r.shape != (c.shape[0],):
            raise MeshError(f"cell_region has shape {r.shape}: expected ({c.shape[0]},)")
        tags = [reg.tag for reg in self.regions]
        if len(set(tags)) != len(tags):
            raise MeshError(f"region tags {tags}: expected unique tags")
        unknown = set(np.unique(r).tolist()) - set(tags)
        if unknown:
            raise MeshError(f"cell_region contains tags {sorted(unknown)}: expected one of {tags}")

    # --- geometry helpers (pure NumPy) -------------------------------------------------------
    @property
    def num_cells(self) -> int:
        return int(self.cells.shape[0])

    @property
    def num_vertices(self) -> int:
        return int(self.points_m.shape[0])

    def cell_volumes_m3(self) -> np.ndarray:
        if "vol" not in self._cache:
            x = self.points_m[self.cells]
            d = np.cross(x[:, 1] - x[:, 0], x[:, 2] - x[:, 0])
            self._cache["vol"] = np.abs(np.einsum("ij,ij->i", d, x[:, 3] - x[:, 0])) / 6.0
        return self._cache["vol"]

    def cell_centroids_m(self) -> np.ndarray:
        if "cen" not in self._cache:
            self._cache["cen"] = self.points_m[self.cells].mean(axis=1)
        return self._cache["cen"]

    def region(self, name_or_tag: str | int) -> Region:
        for reg in self.regions:
            if reg.name == name_or_tag or reg.tag == name_or_tag:
                return reg
        raise KeyError(name_or_tag)

    def regions_with_role(self, role: Role) -> tuple[Region, ...]:
        return tuple(reg for reg in self.regions if reg.role == role)

    def region_volume_m3(self, tag: int) -> float:
        return float(self.cell_volumes_m3()[self.cell_region == tag].sum())

    def cells_of_tissue(self, tissue: str) -> np.ndarray:
        tags = [reg.tag for reg in self.regions if reg.tissue == tissue]
        return np.isin(self.cell_region, tags)

    def cell_property(self, values_by_tissue: dict[str, float]) -> np.ndarray:
        """Per-cell array of a property given per tissue name (KeyError names a missing tissue)."""
        lut = np.zeros(max(reg.tag for reg in self.regions) + 1)
        for reg in self.regions:
            lut[reg.tag] = values_by_tissue[reg.tissue]
        return lut[self.cell_region]

    def target_centroid_m(self) -> np.ndarray | None:
        """Volume-weighted centroid of all target regions, or None if there is no target."""
        tags = [reg.tag for reg in self.regions_with_role(Role.TARGET)]
        if not tags:
            return None
        sel = np.isin(self.cell_region, tags)
        v = self.cell_volumes_m3()[sel]
        return (self.cell_centroids_m()[sel] * v[:, None]).sum(axis=0) / v.sum()


# --- what a stage needs of an upstream artefact (structural types: any object with these members) ----
class AppliedFieldLike(Protocol):
    """The applied (coil) field as the heat and thermal stages see it."""

    @property
    def frequency_Hz(self) -> float: ...

    def H_peak_at(self, points_m: np.ndarray) -> np.ndarray:
        """(n, 3) peak H in A/m at (n, 3) points in metres."""
        ...


class CellLossesLike(Protocol):
    """Per-cell eddy-current and implant losses (W/m³ at the nominal field; None means zero)."""

    @property
    def Q_eddy_W_per_m3(self) -> np.ndarray | None: ...

    @property
    def Q_implant_W_per_m3(self) -> np.ndarray | None: ...


class TissueLookup(Protocol):
    """What stages read of the tissue library: ``lib[name]`` → a tissue with its properties."""

    def __getitem__(self, name: str) -> object: ...

    def __contains__(self, name: object) -> bool: ...


class Progress(Protocol):
    """Progress of a long stage, reported by the stages and shown by the CLI (which alone knows
    whether there is a terminal): ``progress(task, done, total)`` with ``done`` in the task's own
    unit (steps, seconds of simulated time, evaluations); ``total`` None: unknown (a spinner). A task
    is finished when ``done >= total``; the same name may start again after that. Stages never print."""

    def __call__(self, task: str, done: float, total: float | None) -> None: ...


def no_progress(task: str, done: float, total: float | None) -> None:
    """The default :class:`Progress`: report nothing."""
