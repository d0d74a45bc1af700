"""Generate the plan-file key reference (docs/plan-files.md) from the typed config sections and the
models' own parameter sections (planner.config.registry).

`python -m planner.config.doc > docs/plan-files.md` and `python -m planner.config.doc --schema >
docs/plan.schema.json` (the JSON Schema of `planner schema`); tests check both files are up to date.
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
        (config.ScheduleSegment, "[[thermal.schedule]]"),
        (config.SafetySection, "[safety]"),
        (config.SearchSection, "[search]"),
        (config.ImplantsSection, "[implants]"),
        (config.EMSection, "[em]"),
        (config.SelectionFieldSection, "[selection_field]"),
        (config.UncertaintySection, "[uncertainty]"),
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


def schema_text() -> str:
    """The JSON Schema as `planner schema` prints it and docs/plan.schema.json holds it."""
    import json

    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"



# --- JSON Schema of plan files (`planner schema`), from the same metadata as the tables above -------
SCHEMA_ID = "urn:planner:plan-file"


def _def_name(cls: type) -> str:
    return cls.__qualname__ if cls.__module__.startswith("planner.config") else f"{cls.__module__}.{cls.__qualname__}"


def _type_schema(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    """JSON Schema of a field's Python type (TOML has no null: ``X | None`` is X, absent = default)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is float:
        return {"type": "number"}
    if tp is int:
        return {"type": "integer"}
    if tp is bool:
        return {"type": "boolean"}
    if tp is str:
        return {"type": "string"}
    if origin is typing.Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
        alts = [_type_schema(a, defs) for a in args if a is not type(None)]
        return alts[0] if len(alts) == 1 else {"anyOf": alts}
    if origin in (tuple, list):
        if origin is tuple and args and args[-1] is not Ellipsis:
            return {"type": "array", "prefixItems": [_type_schema(a, defs) for a in args], "items": False,
                    "minItems": len(args)}
        return {"type": "array", "items": _type_schema(args[0], defs) if args else {}}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return {"$ref": f"#/$defs/{_table_def(tp, defs)}"}
    if origin is dict:
        inner = args[1] if len(args) == 2 else Any
        return {"type": "object", "additionalProperties": _type_schema(inner, defs) if inner is not Any else {}}
    return {}


def _field_schema(f: dataclasses.Field, tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    out = _type_schema(tp, defs)
    choice = f.metadata.get("choice")
    if choice is not None:
        out = {"type": "string", "enum": list(choice.available())}
    text = "; ".join(x for x in (expected_of(f) if (f.metadata.get("expected") or choice) else "",
                                 f.metadata.get("help") or "") if x)
    if text:
        out = {**out, "description": text}
    if f.default is not _MISSING and f.default is not None:
        d = f.default
        out["default"] = list(d) if isinstance(d, tuple) else d
    return out


def _table_def(cls: type, defs: dict[str, Any]) -> str:
    """Register the schema of table ``cls`` (with its model choice as conditional subschemas) in ``defs``."""
    name = _def_name(cls)
    if name in defs:
        return name
    defs[name] = {}  # placeholder: recursive references resolve to it
    hints = typing.get_type_hints(cls)
    props: dict[str, Any] = {}
    required: list[str] = []
    for f in dataclasses.fields(cls):
        if not f.init or f.metadata.get("model_key") or f.metadata.get("model_section"):
            continue
        props[f.name] = _field_schema(f, hints[f.name], defs)
        if f.default is _MISSING and f.default_factory is _MISSING:
            required.append(f.name)
    schema: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
    doc = _doc(cls)
    if doc:
        schema["description"] = doc
    if required:
        schema["required"] = required
    conditions = _model_conditions(cls, props, defs)
    if conditions:
        schema["allOf"] = conditions
    defs[name] = schema
    return name


def _model_conditions(host: type, props: dict[str, Any], defs: dict[str, Any]) -> list[dict[str, Any]]:
    """Per-model keys of the host's model choice: every model's keys are properties of the host (or its
    sub-table ``[<host>.<model>]``); ``if <choice> = name then`` that model's required keys/sub-table."""
    sel = next((f for f in dataclasses.fields(host) if f.metadata.get("selects")), None)
    if sel is None:
        return []
    reg: Registry = sel.metadata["choice"]
    default = None if sel.default is _MISSING else sel.default
    out = []
    for name in reg.available():
        params = reg.params(name)
        chosen: dict[str, Any] = {"required": [sel.name], "properties": {sel.name: {"const": name}}}
        when = {"anyOf": [chosen, {"not": {"required": [sel.name]}}]} if name == default else chosen
        if params is None:
            continue
        hints = typing.get_type_hints(params)
        fields = [f for f in dataclasses.fields(params) if f.init]
        need = [f.name for f in fields if f.default is _MISSING and f.default_factory is _MISSING]
        if sel.metadata["selects"] == "keys":
            for f in fields:
                props.setdefault(f.name, _field_schema(f, hints[f.name], defs))
            then: dict[str, Any] = {"properties": {f.name: _field_schema(f, hints[f.name], defs) for f in fields}}
            if need:
                then["required"] = need
        else:
            sub = section_name(name)
            props[sub] = {"$ref": f"#/$defs/{_table_def(params, defs)}"}
            then = {"required": [sub]}
        out.append({"if": when, "then": then})
    return out


def json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a plan file: the typed sections, the registered models' own keys
    (conditional on the model chosen) and the stage-owned sections ([imaging], [segmentation])."""
    defs: dict[str, Any] = {}
    top = {"plan": config.PlanSection, "geometry": config.GeometrySection, "mesh": config.MeshSection,
           "applicator": config.ApplicatorSection, "nanoparticles": config.NanoparticleSection,
           "thermal": config.ThermalSection, "safety": config.SafetySection, "search": config.SearchSection,
           "implants": config.ImplantsSection, "em": config.EMSection, "selection_field": config.SelectionFieldSection,
           "uncertainty": config.UncertaintySection}
    props: dict[str, Any] = {k: {"$ref": f"#/$defs/{_table_def(cls, defs)}"} for k, cls in top.items()}
    for name in STAGE_SECTIONS.available():
        params = STAGE_SECTIONS.params(name)
        props[name] = {"$ref": f"#/$defs/{_table_def(params, defs)}"} if params is not None else {"type": "object"}
    props["tissues"] = {"type": "object", "description": "[tissues.<name>]: " + _doc(config.TissueOverride),
                        "additionalProperties": {"$ref": f"#/$defs/{_table_def(config.TissueOverride, defs)}"}}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "planner plan file",
        "description": "Generated by `planner schema` from the typed config sections (as docs/plan-files.md); "
                       "units are in the key names.",
        "type": "object",
        "properties": props,
        "required": ["plan", "mesh"],
        "oneOf": [{"required": ["geometry"], "not": {"required": ["imaging"]}},
                  {"required": ["imaging"], "not": {"required": ["geometry"]}}],
        "additionalProperties": False,
        "$defs": defs,
    }


if __name__ == "__main__":
    import sys

    print(schema_text() if sys.argv[1:] == ["--schema"] else render(), end="")
