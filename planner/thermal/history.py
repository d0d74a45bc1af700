"""TemperatureHistory: the artefact of the bioheat stage."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class TemperatureHistory:
    """Temperatures and thermal dose of one run. Per-vertex arrays are in TissueMesh vertex order.

    ``T_max_C``: per-vertex maximum over the session (baseline included); ``CEM43_min``: cumulative
    equivalent minutes at 43 °C (Sapareto & Dewey 1984, step-mean temperature);
    ``time_above_42C_min``: per-vertex time at or above 42 °C. ``probe_T_C[p]`` is the time series of
    probe p at ``times_s``. ``T_snapshots_C`` are full fields at ``snapshot_times_s`` (the first one
    is the baseline) for ParaView.
    """

    mode: str
    scheme: str
    element_order: int
    times_s: np.ndarray
    field_fraction: np.ndarray
    T_baseline_C: np.ndarray
    T_final_C: np.ndarray
    T_max_C: np.ndarray
    CEM43_min: np.ndarray
    time_above_42C_min: np.ndarray
    snapshot_times_s: np.ndarray
    T_snapshots_C: np.ndarray
    probe_names: tuple[str, ...]
    probe_positions_m: np.ndarray
    probe_T_C: np.ndarray
    body_max_T_C: np.ndarray
    target: dict | None
    tissues: dict
    dvh: dict
    baseline: dict
    perfusion_model: str
    solver: dict = field(default_factory=dict)
    arterial_T_C: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (n_times,) blood-pool temperature
    exchange_W: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (n_times,) ∫β(T − T_a) dV
    systemic: dict | None = None  # blood-pool parameters; None: arterial blood fixed
    implant_self_heating_dT_K: dict | None = None  # implant name → rise from its own loss alone (K)

    def definitions(self) -> dict[str, str]:
        """What each number of the block is; steady mode says which are upper bounds."""
        steady = self.mode == "steady"
        held = " of the steady state held for the whole duration (an upper bound of a session's dose for constant perfusion)"
        return {
            "T90_C": ("temperature reached or exceeded by 90 % of the target volume (lumped vertex volumes) "
                      + ("in the steady state at field fraction 1: an upper bound of any session's maximum for constant perfusion"
                         if steady else "of the per-vertex maximum over the session")),
            "CEM43": "Sapareto & Dewey 1984, sum of dt * R^(43 - T_mean_step), R = 0.5 (T >= 43) else 0.25, minutes"
                     + (held if steady else ", from the transient session"),
            "time_above_42C_min": "time at or above 42 °C reached or exceeded by 90 % of the target volume"
                                  + (" (steady: the whole duration if the steady state is above 42 °C — upper bound)" if steady else ""),
            "arterial_T_C": "blood-pool (arterial) temperature at the start, its maximum and at the end of the session "
                            "(planner.thermal.systemic); constant when thermal.systemic = 'off'"
                            + ("; steady mode: the steady blood-pool temperature (no time course)" if steady else ""),
            "body_max_C": "largest temperature anywhere" + (" in the steady state" if steady else " over the session"),
        }

    def arterial_block(self) -> dict:
        """``thermal.arterial_T_C``: start, max and end of the arterial temperature."""
        a = np.asarray(self.arterial_T_C, dtype=float)
        if a.size == 0:
            return {"start": None, "max": None, "end": None}
        return {"start": float(a[0]), "max": float(a.max()), "end": float(a[-1])}

    @property
    def duration_s(self) -> float:
        return float(self.times_s[-1])

    def summary_block(self) -> dict:
        """The ``thermal`` block of summary.json (JSON-serialisable)."""
        return {
            "mode": self.mode,
            "scheme": self.scheme,
            "element_order": self.element_order,
            "perfusion_model": self.perfusion_model,
            "duration_s": self.duration_s,
            "steps": int(self.times_s.size - 1),
            "target": self.target,
            "tissues": self.tissues,
            "probes": {n: [self.times_s.tolist(), self.probe_T_C[i].tolist()] for i, n in enumerate(self.probe_names)},
            "baseline": self.baseline,
            "body_max_C": float(np.max(self.T_max_C)),
            "dvh": self.dvh,
            "solver": self.solver,
            "arterial_T_C": self.arterial_block(),
            "systemic": self.systemic,
            "definitions": self.definitions(),
        }

