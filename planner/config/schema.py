"""Typed, validated config sections from TOML tables.

A section is a frozen dataclass whose fields carry a :func:`spec` (type check, constraint, help).
:func:`parse_section` turns a dict into the dataclass and raises :class:`InputError` naming the
dotted key, the value and what was expected for: an unknown key, a missing required key, a wrong
type, or a value failing its constraint. Sections of later stages reuse this module.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import typing
from collections.abc import Callable
from typing import Any

from planner.config.registry import Registry, section_name
from planner.errors import InputError, InputErrors, bad_value, error_lines

_MISSING = dataclasses.MISSING


def spec(
    default: Any = _MISSING,
    *,
    check: Callable[[Any], bool] | None = None,
    expected: str | None = None,
    help: str = "",
    default_factory: Any = _MISSING,
    choice: Registry | None = None,
    selects: str | None = None,
) -> Any:
    """A dataclass field with validation metadata; no default means the key is required.

    ``choice``: the value must be a name in this :class:`Registry` (the message lists the available
    ones). ``selects``: the choice picks the model whose parameter section is parsed too: ``"keys"``
    (its keys sit in this same table, stored in the host's :func:`model_key` fields) or ``"section"``
    (they sit in the sub-table ``[<path>.<model name with _>]``, stored in the :func:`model_section`).
    """
    if selects not in (None, "keys", "section") or (selects and choice is None):
        raise ValueError(f"spec(selects={selects!r}): expected 'keys' or 'section', with a choice registry")
    if choice is not None and check is None:
        check = choice.__contains__
    md = {"check": check, "expected": expected, "help": help, "choice": choice, "selects": selects}
    if default_factory is not _MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=md)
    return dataclasses.field(default=default, metadata=md)


def model_key(default: Any = None, *, default_factory: Any = _MISSING) -> Any:
    """Host storage of a per-model key: declared, checked and documented by the models' sections
    (give the same default as they do)."""
    md = {"model_key": True}
    if default_factory is not _MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=md)
    return dataclasses.field(default=default, metadata=md)


def model_parameters(host: Any) -> Any:
    """The chosen model's parameter object of a host section (built from its flat or sub-table storage)."""
    for f in dataclasses.fields(host):
        if f.metadata.get("model_section"):
            return getattr(host, f.name)
    sel = next((f for f in dataclasses.fields(host) if f.metadata.get("selects")), None)
    if sel is None:
        raise TypeError(f"{type(host).__name__} chooses no model")
    params = sel.metadata["choice"].params(getattr(host, sel.name))
    if params is None:
        return None
    return params(**{f.name: getattr(host, f.name) for f in dataclasses.fields(params) if f.init})


def model_section() -> Any:
    """Host storage of the chosen model's parameter sub-table (see ``spec(selects="section")``)."""
    return dataclasses.field(default=None, metadata={"model_section": True})


def expected_of(f: dataclasses.Field, tp: Any = None) -> str:
    """What a field expects, for messages and docs (a registry choice lists its names)."""
    exp = f.metadata.get("expected")
    choice = f.metadata.get("choice")
    if exp:
        return exp
    if choice is not None:
        return choice.expected()
    return _type_name(tp) if tp is not None else "a valid value"


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
        return tuple(_each(lambda v, k: _convert(v, inner, k), [(v, f"{key}[{i}]") for i, v in enumerate(value)]))
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return parse_section(tp, value, key)
    if origin is dict and args and dataclasses.is_dataclass(args[1]):
        items = list(value.items())
        out = _each(lambda v, k: parse_section(args[1], v, k), [(v, f"{key}.{k}") for k, v in items])
        return {k: o for (k, _), o in zip(items, out)}
    return value


def _each(fn: Callable[[Any, str], Any], items: list[tuple[Any, str]]) -> list[Any]:
    """``fn(value, key)`` for every item, reporting the errors of all items together."""
    out, errors = [], []
    for v, k in items:
        try:
            out.append(fn(v, k))
        except InputError as exc:
            errors.extend(error_lines(exc))
    _fail(errors)
    return out


_TYPO = "\0typo"  # placeholder: a missing required key whose typo is reported as an unknown key


def _fail(errors: list[str]) -> None:
    real = [e for e in errors if e != _TYPO]
    if len(real) == 1:
        raise InputError(real[0])
    if errors:  # (only typo placeholders: the enclosing table reports the unknown key)
        raise InputErrors(real)


@dataclasses.dataclass
class _Model:
    """The model a host table chooses (``spec(selects=...)``) and the keys it owns."""

    field: str
    layout: str  # 'keys' | 'section'
    registry: Registry
    name: str | None = None  # None: no valid choice (that error is reported on the field itself)
    params: type | None = None

    @property
    def own(self) -> set[str]:
        return {f.name for f in dataclasses.fields(self.params) if f.init} if self.params is not None else set()

    @property
    def context(self) -> str:
        return f" for {self.field} = {self.name!r}"


def _chosen_model(fields: dict[str, dataclasses.Field], data: dict) -> _Model | None:
    sel = next((f for f in fields.values() if f.metadata.get("selects")), None)
    if sel is None:
        return None
    reg = sel.metadata["choice"]
    m = _Model(sel.name, sel.metadata["selects"], reg)
    value = data.get(sel.name, None if sel.default is _MISSING else sel.default)
    if isinstance(value, str) and value in reg:
        m.name, m.params = value, reg.params(value)
    return m


def _shown(value: Any, tp: Any, key: str) -> Any:
    """The value as the plan means it (ints as floats, lists as tuples) for messages, else as given."""
    try:
        return _convert(value, tp, key) if _type_ok(value, tp) and not isinstance(value, dict) else value
    except InputError:
        return value


def _default_of(f: dataclasses.Field) -> Any:
    if f.default_factory is not _MISSING:
        return f.default_factory()
    return None if f.default is _MISSING else f.default


def _key_errors(cls: type, fields: dict[str, dataclasses.Field], hints: dict, data: dict, path: str,
                model: _Model | None) -> tuple[list[str], set[str]]:
    """Unknown keys, and keys or sub-tables of models other than the chosen one; and the absent keys
    that unknown keys are likely typos of (their "missing" error would repeat the same mistake)."""
    model_keys = {n for n, f in fields.items() if f.metadata.get("model_key")}
    common = {n for n, f in fields.items() if not f.metadata.get("model_key") and not f.metadata.get("model_section")}
    subs = {section_name(n) for n in model.registry} if model is not None and model.layout == "section" else set()
    own = model.own if model is not None else set()
    errors: list[str] = []
    meant: set[str] = set()
    for k in sorted(data, key=str):
        if k in common:
            continue
        if model is not None and model.layout == "keys" and (k in model_keys or k in own):
            if model.name is None and data.get(model.field) is None and fields[model.field].default is None:
                errors.append(f"{path}.{k}: a per-{model.field} key, but {path}.{model.field} is not given; "
                              f"expected {model.field} = {model.registry.expected()}")
            elif model.name is not None and k not in own:
                shown = _shown(data[k], hints[k], f"{path}.{k}")
                if k in fields and shown == _default_of(fields[k]):
                    continue  # another model's key at its default value: harmless, ignored
                errors.append(f"{path}.{k} = {shown!r}: not used by {model.field} = {model.name!r}; "
                              f"expected only {sorted(own)}")
            continue
        if k in subs:
            if model is not None and model.name is not None and k != section_name(model.name):
                errors.append(f"[{path}.{k}]: not used by {model.field} = {model.name!r}")
            continue
        listed = sorted(common | (own if model is not None and model.layout == "keys" else set()))
        close = difflib.get_close_matches(str(k), [n for n in listed if n not in data], n=1, cutoff=0.8)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        meant.update(close)
        errors.append(f"{path}.{k}: unknown key (value {data[k]!r}); expected one of: {', '.join(listed)}{hint}")
    return errors, meant


def _field_value(f: dataclasses.Field, tp: Any, data: dict, key: str, context: str, errors: list[str],
                 meant: set[str]) -> Any:
    """The checked, converted value of one field, or _MISSING (absent, or an error was recorded)."""
    if f.name not in data:
        if f.default is _MISSING and f.default_factory is _MISSING:
            if f.name in meant:  # reported as the unknown key it is a typo of
                errors.append(_TYPO)
            else:
                errors.append(f"{key}: missing required key{context}; expected {expected_of(f, tp)}")
        return _MISSING
    value = data[f.name]
    if not _type_ok(value, tp):
        errors.append(bad_value(key, value, _type_name(tp)))
        return _MISSING
    check = f.metadata.get("check")
    if check is not None and value is not None:
        try:
            ok = bool(check(value))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            errors.append(bad_value(key, value, expected_of(f, tp)))
            return _MISSING
    try:
        return _convert(value, tp, key)
    except InputError as exc:
        errors.extend(error_lines(exc))
        return _MISSING


def _model_values(model: _Model, fields: dict[str, dataclasses.Field], data: dict, path: str,
                  errors: list[str], meant: set[str]) -> tuple[dict[str, Any], Any]:
    """Parse the chosen model's parameter section: host keyword arguments and the parameter object."""
    if model.name is None or model.params is None:
        return {}, None
    if model.layout == "keys":
        sub = {k: v for k, v in data.items() if k in model.own}
        try:
            params = parse_section(model.params, sub, path, context=model.context, _meant=meant)
        except InputError as exc:
            errors.extend(error_lines(exc))
            return {}, None
        missing = sorted(model.own - set(fields))
        if missing:  # a programming error of the model's registration, not of the plan
            raise TypeError(f"{model.registry.what} {model.name!r}: keys {missing} have no model_key() field in the "
                            "host section")
        return {k: getattr(params, k) for k in model.own}, params
    store = next(n for n, f in fields.items() if f.metadata.get("model_section"))
    sname = section_name(model.name)
    if sname not in data:
        errors.append(f"[{path}.{sname}]: missing; expected the parameters of {model.field} = {model.name!r}")
        return {}, None
    try:
        params = parse_section(model.params, data[sname], f"{path}.{sname}")
    except InputError as exc:
        errors.extend(error_lines(exc))
        return {}, None
    return {store: params}, params


def parse_section(cls: type, data: Any, path: str, *, context: str = "", _meant: set[str] | None = None) -> Any:
    """Build dataclass ``cls`` from TOML table ``data`` found at dotted key ``path``.

    Every error of the table is collected: one error raises :class:`InputError`, several raise
    :class:`InputErrors` (one line each). ``context`` is added to "missing required key" messages
    (e.g. `` for type = 'solenoid'``).
    """
    if not isinstance(data, dict):
        raise InputError(bad_value(path, data, "a table"))
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    model = _chosen_model(fields, data)
    errors, meant = _key_errors(cls, fields, hints, data, path, model)
    meant |= _meant or set()
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        if f.metadata.get("model_key") or f.metadata.get("model_section"):
            continue
        value = _field_value(f, hints[name], data, f"{path}.{name}", context, errors, meant)
        if value is not _MISSING:
            kwargs[name] = value
    params = None
    if model is not None:
        values, params = _model_values(model, fields, data, path, errors, meant)
        kwargs.update(values)
    _fail(errors)
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if validate is not None:
        validate(path)
    validate_host = getattr(params, "validate_host", None)
    if validate_host is not None:
        validate_host(obj, path)
    return obj
