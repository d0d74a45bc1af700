"""Generate the plan-file key reference (docs/plan-files.md) from the typed config sections and the
models' own parameter sections (planner.config.registry).

`python -m planner.config.doc > docs/plan-files.md`; a test checks the file is up to date.
"""
from __future__ import annotations

import dataclasses
import inspect
import typing
from typing import Any

from planner.config import plan as config
from planner.config.registry import STAGE_SECTIONS, Registry, section_name
from planner.config.schema import _MISSING, _type_name, expected_of


def _default(f: dataclasses.Field) -> str:
    if f.default is not _MISSING:
        d = f.default
        return "—" if d is None else f"`{list(d) if isinstance(d, tuple) else d!r}`".replace("'", '"')
    if f.default_factory is not _MISSING:
        return "empty"
    return "**required**"


def _doc(cls: type) -> str:
    doc = inspect.cleandoc(cls.__doc__ or "")
    return "" if doc.startswith(cls.__name__ + "(") else doc


def section_table(cls: type, title: str, doc: str | None = None) -> list[str]:
    hints = typing.get_type_hints(cls)
    lines = [f"### `{title}`", ""]
    doc = _doc(cls) if doc is None else doc
    if doc:
        lines += [doc, ""]
    if not any(f.init for f in dataclasses.fields(cls)):
        return lines
    lines += ["| key | type | default | expected / notes |", "| --- | --- | --- | --- |"]
    for f in dataclasses.fields(cls):
        if not f.init or f.metadata.get("model_key") or f.metadata.get("model_section"):
            continue
        exp = expected_of(f) if (f.metadata.get("expected") or f.metadata.get("choice")) else ""
        note = f.metadata.get("help") or ""
        text = "; ".join(x for x in (exp, note) if x).replace("|", "\\|")
        lines.append(f"| `{f.name}` | {_type_name(hints[f.name])} | {_default(f)} | {text} |")
    return lines + [""]


def _nested(cls: type) -> list[Any]:
    """Table types used by a section's fields (e.g. [[...deposits]] rows) that name their PLAN_SECTION."""
    out = []
    for tp in typing.get_type_hints(cls).values():
        for a in (tp, *typing.get_args(tp)):
            if dataclasses.is_dataclass(a) and getattr(a, "PLAN_SECTION", None):
                out.append(a)
    return out


def model_tables(host: type, title: str) -> list[tuple[type, str, str]]:
    """One table per registered model of the host's model choice: (params, title, doc)."""
    sel = next((f for f in dataclasses.fields(host) if f.metadata.get("selects")), None)
    if sel is None:
        return []
    reg: Registry = sel.metadata["choice"]
    path = title.strip("[]")
    out = []
    for name in reg.available():
        params = reg.params(name)
        if params is None:
            continue
        if sel.metadata["selects"] == "keys":
            t = f'{title} {sel.name} = "{name}"'
            doc = _doc(params)
        else:
            t = f"[{path}.{section_name(name)}]"
            doc = _doc(params) + f' (with {sel.name} = "{name}")'
        out.append((params, t, doc.strip()))
    return out


def render() -> str:
    lines = [
        "# Plan file reference",
        "",
        "Generated from the typed config sections by `python -m planner.config.doc`; do not edit by hand.",
        "Units are in the key names; an unknown key, a missing required key, a wrong type or a",
        "non-physical value is an error naming the key, the value and what was expected. Model choices",
        "(applicator `type`, body `shape`, distribution `kind`, `slp_model`, `perfusion_model`, segmentation",
        "`method`) list the registered models; each model's own keys follow its host section. `planner check`",
        "reports all errors of a plan at once, one line each.",
        "",
    ]
    sections = [
        (config.PlanSection, "[plan]"),
        (config.BodySpec, "[[geometry.bodies]]"),
        (config.MeshSection, "[mesh]"),
        (config.ApplicatorSection, "[applicator]"),
        (config.NanoparticleSection, "[nanoparticles]"),
        (config.DistributionSection, "[nanoparticles.distribution]"),
        (config.ThermalSection, "[thermal]"),
        (config.ProbeSpec, "[[thermal.probes]]"),
        (config.SafetySection, "[safety]"),
        (config.SearchSection, "[search]"),
        (config.ImplantsSection, "[implants]"),
        (config.EMSection, "[em]"),
        (config.TissueOverride, "[tissues.<name>]"),
    ]
    sections += [(e.params, e.params.PLAN_SECTION) for e in map(STAGE_SECTIONS.entry, STAGE_SECTIONS)  # type: ignore[attr-defined]
                 if e.params is not None]
    seen: set[Any] = {cls for cls, _ in sections}
    for cls, title in sections:
        lines += section_table(cls, title)
        for params, t, doc in model_tables(cls, title):
            lines += section_table(params, t, doc)
            for sub in _nested(params):
                if sub not in seen:
                    seen.add(sub)
                    lines += section_table(sub, sub.PLAN_SECTION)
        for sub in _nested(cls):
            if sub not in seen:
                seen.add(sub)
                lines += section_table(sub, sub.PLAN_SECTION)
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(render(), end="")
