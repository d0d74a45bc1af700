"""Field on/off schedules and the time grid of a bioheat run (pure NumPy, no FEniCSx).

A schedule is a sequence of segments; within a segment the field fraction (applicator amplitude /
nominal amplitude) is linear in time: ``hold`` keeps it constant, ``ramp`` goes linearly from the
previous segment's end value (0 at the start of the session) to its own ``field_fraction``, ``off``
sets it to zero (cool-down, pause). The fraction may jump between segments (e.g. hold → off).

Time steps never straddle a segment boundary: each segment of length D is cut into
``n = ceil(D / dt - 1e-9)`` equal steps of ``D / n`` ≤ dt, so jumps of the source fall on step
boundaries and every step lies in exactly one segment. The fraction used inside a step is the
segment's linear law evaluated at the step's own ends (right/left limits at the jumps).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from planner.errors import InputError, bad_value


@dataclass(frozen=True)
class Segment:
    kind: str  # 'ramp' | 'hold' | 'off'
    t_start_s: float
    duration_s: float
    fraction_start: float  # field fraction at the segment's start (right limit)
    fraction_end: float  # field fraction at the segment's end (left limit)

    @property
    def t_end_s(self) -> float:
        return self.t_start_s + self.duration_s

    def fraction_at(self, t_s: float) -> float:
        """Linear law f(t) = f0 + (f1 − f0)(t − t0)/D on [t0, t0 + D]."""
        s = (t_s - self.t_start_s) / self.duration_s
        s = min(max(s, 0.0), 1.0)
        return self.fraction_start + (self.fraction_end - self.fraction_start) * s


@dataclass(frozen=True)
class Step:
    """One time step [t0, t1] inside segment ``segment``; field fractions at its two ends."""

    index: int
    t0_s: float
    t1_s: float
    fraction0: float
    fraction1: float
    segment: int

    @property
    def dt_s(self) -> float:
        return self.t1_s - self.t0_s


@dataclass(frozen=True)
class Schedule:
    segments: tuple[Segment, ...]

    @property
    def total_s(self) -> float:
        return self.segments[-1].t_end_s if self.segments else 0.0

    def fraction_at(self, t_s: float) -> float:
        """Field fraction at time t (at a jump: the value of the later segment)."""
        for seg in reversed(self.segments):
            if t_s >= seg.t_start_s:
                return seg.fraction_at(t_s)
        return self.segments[0].fraction_start

    def heating_end_s(self) -> float:
        """End of the last segment with the field on (0 if the field is never on)."""
        end = 0.0
        for seg in self.segments:
            if max(seg.fraction_start, seg.fraction_end) > 0.0:
                end = seg.t_end_s
        return end

    def steps(self, dt_s: float) -> list[Step]:
        """Fixed-step grid: every segment cut into equal steps of at most ``dt_s``."""
        if not (math.isfinite(dt_s) and dt_s > 0):
            raise InputError(bad_value("thermal.time_step_s", dt_s, "a positive number of seconds"))
        if dt_s > self.total_s * (1 + 1e-12):
            raise InputError(bad_value("thermal.time_step_s", dt_s, f"at most the session duration ({self.total_s} s)"))
        out: list[Step] = []
        for j, seg in enumerate(self.segments):
            n = max(1, math.ceil(seg.duration_s / dt_s - 1e-9))
            h = seg.duration_s / n
            for i in range(n):
                t0 = seg.t_start_s + i * h
                t1 = seg.t_end_s if i == n - 1 else seg.t_start_s + (i + 1) * h
                out.append(Step(len(out), t0, t1, seg.fraction_at(t0), seg.fraction_at(t1), j))
        return out


def build_schedule(segments: tuple = (), duration_min: float = 30.0) -> Schedule:
    """Schedule from typed ``[[thermal.schedule]]`` segments (``planner.config.plan.ScheduleSegment``).

    Without segments: one ``hold`` at fraction 1 for ``duration_min``.
    """
    if not segments:
        if not (math.isfinite(duration_min) and duration_min > 0):
            raise InputError(bad_value("thermal.duration_min", duration_min, "a positive number of minutes"))
        return Schedule((Segment("hold", 0.0, duration_min * 60.0, 1.0, 1.0),))
    out = []
    t = 0.0
    prev = 0.0
    for i, s in enumerate(segments):
        kind = s.kind
        dur = s.duration_min * 60.0
        if not (math.isfinite(dur) and dur > 0):
            raise InputError(bad_value(f"thermal.schedule[{i}].duration_min", s.duration_min, "a positive number of minutes"))
        f = s.field_fraction
        if kind == "hold":
            f0 = f1 = 1.0 if f is None else float(f)
        elif kind == "ramp":
            f0, f1 = prev, 1.0 if f is None else float(f)
        elif kind == "off":
            if f not in (None, 0.0):
                raise InputError(bad_value(f"thermal.schedule[{i}].field_fraction", f, "none for kind = 'off'"))
            f0 = f1 = 0.0
        else:
            raise InputError(bad_value(f"thermal.schedule[{i}].kind", kind, "one of 'ramp', 'hold', 'off'"))
        if f0 < 0 or f1 < 0:
            raise InputError(bad_value(f"thermal.schedule[{i}].field_fraction", f, "a non-negative fraction"))
        out.append(Segment(kind, t, dur, f0, f1))
        t += dur
        prev = f1
    return Schedule(tuple(out))


def step_times(steps: list[Step]) -> np.ndarray:
    """Times t_0 = 0, t_1, …, t_n (s) of a step list."""
    if not steps:
        return np.zeros(1)
    return np.array([steps[0].t0_s] + [s.t1_s for s in steps])
