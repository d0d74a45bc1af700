"""Typed, validated config sections from TOML tables.

A section is a frozen dataclass whose fields carry a :func:`spec` (type check, constraint, help).
:func:`parse_section` turns a dict into the dataclass and raises :class:`InputError` naming the
dotted key, the value and what was expected for: an unknown key, a missing required key, a wrong
type, or a value failing its constraint. Sections of later stages reuse this module.
"""
from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any, Callable

from planner.errors import InputError, bad_value

_MISSING = dataclasses.MISSING


def spec(
    default: Any = _MISSING,
    *,
    check: Callable[[Any], bool] | None = None,
    expected: str | None = None,
    help: str = "",
    default_factory: Any = _MISSING,
) -> Any:
    """A dataclass field with validation metadata; no default means the key is required."""
    md = {"check": check, "expected": expected, "help": help}
    if default_factory is not _MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=md)
    return dataclasses.field(default=default, metadata=md)


# --- common constraints ----------------------------------------------------------------------

def positive(x: float) -> bool:
    return math.isfinite(x) and x > 0


def non_negative(x: float) -> bool:
    return math.isfinite(x) and x >= 0


def finite(x: float) -> bool:
    return math.isfinite(x)


def one_of(*choices: str) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: v in choices), "one of " + ", ".join(repr(c) for c in choices)


def vec3(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and len(v) == 3 and all(math.isfinite(x) for x in v)


def positive_vec3(v: Any) -> bool:
    return vec3(v) and all(x > 0 for x in v)


def nonzero_vec3(v: Any) -> bool:
    return vec3(v) and any(x != 0 for x in v)


# --- type checking -----------------------------------------------------------------------------

def _type_ok(value: Any, tp: Any) -> bool:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return True
    if origin is typing.Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
        return any(_type_ok(value, a) for a in args)
    if tp is type(None):
        return value is None
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is bool:
        return isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(_type_ok(v, a) for v, a in zip(value, args))
        inner = args[0] if args else Any
        return all(_type_ok(v, inner) for v in value)
    if origin is dict:
        return isinstance(value, dict)
    if dataclasses.is_dataclass(tp):
        return isinstance(value, dict)
    return isinstance(value, tp)


def _type_name(tp: Any) -> str:
    names = {float: "a number", int: "an integer", bool: "true or false", str: "a string"}
    if tp in names:
        return names[tp]
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
        return " or ".join(_type_name(a) for a in args if a is not type(None))
    if origin in (tuple, list):
        if origin is tuple and args and args[-1] is not Ellipsis:
            return f"a list of {len(args)} numbers" if all(a is float for a in args) else f"a list of {len(args)}"
        return f"a list of {_type_name(args[0]) if args else 'values'}"
    if dataclasses.is_dataclass(tp):
        return "a table"
    if origin is dict:
        return "a table"
    return getattr(tp, "__name__", str(tp))


def _convert(value: Any, tp: Any, key: str) -> Any:
    """Convert checked TOML values: ints to float, lists to tuples, nested tables to dataclasses."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if value is None:
        return None
    if origin is typing.Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
        for a in args:
            if a is not type(None) and _type_ok(value, a):
                return _convert(value, a, key)
        return value
    if tp is float:
        return float(value)
    if origin in (tuple, list):
        inner = args[0] if args else Any
        if origin is tuple and args and args[-1] is not Ellipsis:
            return tuple(_convert(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        return tuple(_convert(v, inner, f"{key}[{i}]") for i, v in enumerate(value))
    if dataclasses.is_dataclass(tp):
        return parse_section(tp, value, key)
    if origin is dict and args and dataclasses.is_dataclass(args[1]):
        return {k: parse_section(args[1], v, f"{key}.{k}") for k, v in value.items()}
    return value


def parse_section(cls: type, data: Any, path: str) -> Any:
    """Build dataclass ``cls`` from TOML table ``data`` found at dotted key ``path``."""
    if not isinstance(data, dict):
        raise InputError(bad_value(path, data, "a table"))
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        k = unknown[0]
        raise InputError(
            f"{path}.{k}: unknown key (value {data[k]!r}); expected one of: {', '.join(sorted(fields))}"
        )
    kwargs = {}
    for name, f in fields.items():
        key = f"{path}.{name}"
        if name not in data:
            if f.default is _MISSING and f.default_factory is _MISSING:
                exp = f.metadata.get("expected") or _type_name(hints[name])
                raise InputError(f"{key}: missing required key; expected {exp}")
            continue
        value = data[name]
        tp = hints[name]
        if not _type_ok(value, tp):
            raise InputError(bad_value(key, value, _type_name(tp)))
        check = f.metadata.get("check")
        if check is not None and value is not None:
            ok = False
            try:
                ok = bool(check(value))
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise InputError(bad_value(key, value, f.metadata.get("expected") or "a valid value"))
        kwargs[name] = _convert(value, tp, key)
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if validate is not None:
        validate(path)
    return obj
