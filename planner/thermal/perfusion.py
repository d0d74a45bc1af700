"""Perfusion models (registry :data:`planner.config.registry.PERFUSION_MODELS` keyed by the plan name
``thermal.perfusion_model``: ``register_perfusion_model`` / ``get_perfusion_model`` /
``available_perfusion_models``), pure NumPy.

Pennes' perfusion term is β(T)(T_a − T) with β = w ρ_b c_b (W m⁻³ K⁻¹), w = volumetric blood flow
per tissue volume (1/s, ``perfusion_per_s`` of the tissue library), ρ_b c_b of blood.

Models
------
``constant``
    w = library ``perfusion_per_s`` of each tissue, independent of temperature.

``lang1999``
    Temperature-dependent curves of Lang, Erdmann & Seebass, "Impact of nonlinear heat transfer on
    temperature control in regional hyperthermia", IEEE Trans. Biomed. Eng. 46(9):1129–1138 (1999),
    also used by Erdmann, Lang & Seebass, Ann. N. Y. Acad. Sci. 858:36–46 (1998). Blood mass flow
    W(T) in kg m⁻³ s⁻¹:

    - muscle: W = 0.45 + 3.55 exp(−(T − 45)²/12) for T ≤ 45 °C, 4.00 for T > 45 °C
    - fat:    W = 0.36 + 0.36 exp(−(T − 45)²/12) for T ≤ 45 °C, 0.72 for T > 45 °C
    - tumour: W = 0.833 for T < 37 °C, 0.833 − (T − 37)^4.8 / 5438 for 37 ≤ T ≤ 42 °C,
      0.416 for T > 42 °C

    Here the *shape* of each curve scales the library baseline: w(T) = w_lib · W(T)/W(37 °C), so the
    plan's and the library's basal perfusion stay in force and the curve supplies the relative
    vasodilation (muscle ×8.6 at 45 °C) or tumour flow collapse (×0.5 above 42 °C).

``lang1999-absolute``
    The same curves in absolute terms: w(T) = W(T)/ρ_b (1/s), replacing the library value for
    tissues mapped to a curve (others keep their constant library value).

Tissues are mapped to curves by ``thermal.perfusion_curves`` {tissue: 'muscle'|'fat'|'tumour'|
'constant'}; unlisted tissues by name (contains 'muscle' → muscle; 'fat' or 'adipose' → fat;
'tumour' or 'tumor' → tumour), otherwise constant. Metal and air never perfuse.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from planner.config.registry import PERFUSION_MODELS

CURVES = ("constant", "muscle", "fat", "tumour")
_CURVE_ID = {name: i for i, name in enumerate(CURVES)}


def lang1999_muscle(T_C: np.ndarray) -> np.ndarray:
    """Lang et al. 1999 muscle blood flow W(T), kg m⁻³ s⁻¹."""
    T = np.asarray(T_C, dtype=float)
    return np.where(T <= 45.0, 0.45 + 3.55 * np.exp(-((T - 45.0) ** 2) / 12.0), 4.0)


def lang1999_fat(T_C: np.ndarray) -> np.ndarray:
    """Lang et al. 1999 fat blood flow W(T), kg m⁻³ s⁻¹."""
    T = np.asarray(T_C, dtype=float)
    return np.where(T <= 45.0, 0.36 + 0.36 * np.exp(-((T - 45.0) ** 2) / 12.0), 0.72)


def lang1999_tumour(T_C: np.ndarray) -> np.ndarray:
    """Lang et al. 1999 tumour blood flow W(T), kg m⁻³ s⁻¹."""
    T = np.asarray(T_C, dtype=float)
    mid = 0.833 - np.clip(T - 37.0, 0.0, 5.0) ** 4.8 / 5438.0
    return np.where(T < 37.0, 0.833, np.where(T > 42.0, 0.416, mid))


_CURVE_FUNCS: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    1: lang1999_muscle,
    2: lang1999_fat,
    3: lang1999_tumour,
}


def curve_for_tissue(tissue: str, explicit: dict[str, str]) -> str:
    """Curve name of a tissue: explicit mapping first, then by name, else 'constant'."""
    if tissue in explicit:
        return explicit[tissue]
    n = tissue.lower()
    if "muscle" in n:
        return "muscle"
    if "fat" in n or "adipose" in n:
        return "fat"
    if "tumour" in n or "tumor" in n:
        return "tumour"
    return "constant"


#: every cell (the default selection of the perfusion evaluations)
ALL_CELLS = slice(None)


@dataclass
class PerfusionLaw:
    """β per cell as a function of the cell temperature: ``beta(T_cell_C, cells)``.

    ``w0_per_s`` and ``curve_id`` are per TissueMesh cell; ``cells`` selects the cells whose
    temperatures are given (e.g. the local cells of an MPI rank).
    """

    name: str
    w0_per_s: np.ndarray  # (M,) baseline volumetric perfusion, 1/s
    curve_id: np.ndarray  # (M,) int: 0 constant, 1 muscle, 2 fat, 3 tumour
    rho_c_blood_J_per_m3_K: float
    absolute: bool = False
    rho_blood_kg_per_m3: float = 1050.0

    @property
    def temperature_dependent(self) -> bool:
        return bool(np.any(self.curve_id > 0))

    def w_per_s(self, T_cell_C: np.ndarray, cells: np.ndarray | slice = ALL_CELLS) -> np.ndarray:
        """Volumetric perfusion w(T) per selected cell, 1/s."""
        w0 = self.w0_per_s[cells]
        cid = self.curve_id[cells]
        w = w0.astype(float).copy()
        T = np.asarray(T_cell_C, dtype=float)
        for c, fn in _CURVE_FUNCS.items():
            sel = cid == c
            if not np.any(sel):
                continue
            if self.absolute:
                w[sel] = fn(T[sel]) / self.rho_blood_kg_per_m3
            else:
                w[sel] = w0[sel] * fn(T[sel]) / float(fn(np.array(37.0)))
        return w

    def beta(self, T_cell_C: np.ndarray, cells: np.ndarray | slice = ALL_CELLS) -> np.ndarray:
        """β = w(T) ρ_b c_b per selected cell, W m⁻³ K⁻¹."""
        return self.w_per_s(T_cell_C, cells) * self.rho_c_blood_J_per_m3_K


def _constant(w0, curve_id, rho_c_b, rho_b) -> PerfusionLaw:
    return PerfusionLaw("constant", w0, np.zeros(w0.shape, dtype=np.int64), rho_c_b)


def _lang(absolute: bool):
    def make(w0, curve_id, rho_c_b, rho_b) -> PerfusionLaw:
        cid = np.asarray(curve_id, dtype=np.int64)
        return PerfusionLaw("lang1999-absolute" if absolute else "lang1999", w0, cid, rho_c_b,
                            absolute=absolute, rho_blood_kg_per_m3=rho_b)
    return make


def register_perfusion_model(name: str, params: type | None = None, *, replace: bool = False) -> Callable:
    """Decorator: ``make(w0_per_s, curve_id, rho_c_blood, rho_blood) -> PerfusionLaw`` available as
    ``[thermal] perfusion_model = name``; ``params`` declares keys of its own (none so far)."""
    return PERFUSION_MODELS.decorator(name, params, replace=replace)


def get_perfusion_model(name: str) -> Callable[..., PerfusionLaw]:
    return PERFUSION_MODELS.get(name)


def available_perfusion_models() -> tuple[str, ...]:
    return PERFUSION_MODELS.available()


register_perfusion_model("constant")(_constant)
register_perfusion_model("lang1999")(_lang(False))
register_perfusion_model("lang1999-absolute")(_lang(True))


def curve_id(curve: str) -> int:
    """Integer id of a curve name (0 constant, 1 muscle, 2 fat, 3 tumour)."""
    return _CURVE_ID[curve]


def make_perfusion_law(name: str, w0_per_s: np.ndarray, cell_curve_id: np.ndarray,
                       rho_c_blood_J_per_m3_K: float, rho_blood_kg_per_m3: float) -> PerfusionLaw:
    """Build the law ``name`` from per-cell baseline perfusion (1/s) and per-cell curve ids."""
    return get_perfusion_model(name)(np.asarray(w0_per_s, dtype=float), np.asarray(cell_curve_id),
                                  rho_c_blood_J_per_m3_K, rho_blood_kg_per_m3)
