"""Generate the plan-file key reference (docs/plan-files.md) from the typed config sections.

`python -m planner.config.doc > docs/plan-files.md`; a test checks the file is up to date.
"""
from __future__ import annotations

import dataclasses
import inspect
import typing

from planner.config import plan as config
from planner.config.schema import _MISSING, _type_name


def _default(f: dataclasses.Field) -> str:
    if f.default is not _MISSING:
        d = f.default
        return "—" if d is None else f"`{list(d) if isinstance(d, tuple) else d!r}`".replace("'", '"')
    if f.default_factory is not _MISSING:
        return "empty"
    return "**required**"


def section_table(cls: type, title: str) -> list[str]:
    hints = typing.get_type_hints(cls)
    lines = [f"### `{title}`", ""]
    doc = inspect.cleandoc(cls.__doc__ or "")
    if doc and not doc.startswith(cls.__name__ + "("):
        lines += [doc, ""]
    lines += ["| key | type | default | expected / notes |", "| --- | --- | --- | --- |"]
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        exp = f.metadata.get("expected") or ""
        note = f.metadata.get("help") or ""
        text = "; ".join(x for x in (exp, note) if x).replace("|", "\\|")
        lines.append(f"| `{f.name}` | {_type_name(hints[f.name])} | {_default(f)} | {text} |")
    return lines + [""]


def extra_sections() -> list[tuple[type, str]]:
    """Sections that stage modules define (imported lazily; absent modules are skipped)."""
    out = []
    for mod, names in (("planner.imaging.config", ()),):
        try:
            m = __import__(mod, fromlist=["*"])
        except ImportError:
            continue
        for obj in vars(m).values():
            if dataclasses.is_dataclass(obj) and getattr(obj, "__module__", "") == mod and getattr(obj, "PLAN_SECTION", None):
                out.append((obj, obj.PLAN_SECTION))
    return out


def render() -> str:
    lines = [
        "# Plan file reference",
        "",
        "Generated from the typed config sections by `python -m planner.config.doc`; do not edit by hand.",
        "Units are in the key names; an unknown key, a missing required key, a wrong type or a",
        "non-physical value is an error naming the key, the value and what was expected.",
        "",
    ]
    sections = [
        (config.PlanSection, "[plan]"),
        (config.BodySpec, "[[geometry.bodies]]"),
        (config.MeshSection, "[mesh]"),
        (config.ApplicatorSection, "[applicator]"),
        (config.NanoparticleSection, "[nanoparticles]"),
        (config.ThermalSection, "[thermal]"),
        (config.SafetySection, "[safety]"),
        (config.SearchSection, "[search]"),
        (config.ImplantsSection, "[implants]"),
        (config.TissueOverride, "[tissues.<name>]"),
    ]
    for name in dir(config):
        obj = getattr(config, name)
        title = getattr(obj, "PLAN_SECTION", None)
        if dataclasses.is_dataclass(obj) and title and (obj, title) not in sections:
            sections.append((obj, title))
    sections += [s for s in extra_sections() if s not in sections]
    for cls, title in sections:
        lines += section_table(cls, title)
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(render(), end="")
