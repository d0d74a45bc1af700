"""``field_probes.csv``: the ``[[em.field_probes]]`` results (planner.em.probes), one row per point.

Columns carry their units and say peak; a '#' header line states the conventions (H: applied field
H0 plus the implant sub-models' reaction field where one covers the point, column H_model; E: the
tissue field, amplitude of a phasor lagging H by 90°, in implant metal the sub-model's, column E_model;
empty E where not defined)."""
from __future__ import annotations

import csv
import math
from pathlib import Path

from planner.em.probes import E_NOTE, H_NOTE, FieldProbes


def write_field_probes_csv(probes: FieldProbes, path: Path) -> Path:
    """Write ``path`` (UTF-8 CSV) and return it."""
    header, rows = probes.rows()
    with Path(path).open("w", newline="", encoding="utf-8") as fh:
        fh.write(f"# frequency_Hz: {probes.frequency_Hz:.9g}; amplitudes: peak\n")
        fh.write(f"# H: {H_NOTE}\n# E: {E_NOTE}\n")
        w = csv.writer(fh)
        w.writerow(header)
        for r in rows:
            w.writerow(["" if isinstance(v, float) and not math.isfinite(v) else
                        (f"{v:.9g}" if isinstance(v, float) else v) for v in r])
    return Path(path)
