"""One registry idiom for every model choice of a plan: applicators, shapes, segmenters, SLP models,
particle distributions, perfusion models.

A :class:`Registry` maps a plan name (``"solenoid"``) to the model's implementation and to the model's
own **parameter section**: a frozen dataclass of :func:`planner.config.schema.spec` fields (or ``None``
when the model takes no keys of its own). The plan loader (:mod:`planner.config.plan`) checks every
choice against the registry and every per-model key against the chosen model's section, so
``planner check`` rejects an unknown model or a missing per-model key at load.

This module imports no stage package. Stage packages register INTO these registries when they are
imported; each stage module exposes the idiom ``register_x`` / ``get_x`` / ``available_x`` built on
:meth:`Registry.register` / :meth:`Registry.get` / :meth:`Registry.available`. So that the registries
are full whenever they are read, without config importing a stage and without ``import planner``
paying for every stage's imports (numba, scipy), the top-level package installs a loader
(:func:`add_loader`, in ``planner/__init__.py``) that imports the registering modules; every read of
a registry runs the pending loaders once, first.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from typing import Generic, TypeVar

from planner.errors import InputError, bad_value

T = TypeVar("T")

_loaders: list[Callable[[], None]] = []


def add_loader(fn: Callable[[], None]) -> None:
    """Run ``fn`` (which imports modules that register models) before the next read of any registry."""
    _loaders.append(fn)


def _load() -> None:
    while _loaders:
        _loaders.pop(0)()  # popped first: reads during the imports see the registries as they fill


@dataclasses.dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered model: its plan name, implementation, parameter section and a one-line help."""

    name: str
    impl: T
    params: type | None = None
    help: str = ""


class Registry(Mapping[str, T]):
    """Plan name → implementation, with each model's own parameter section.

    ``what`` names the kind of model in messages (``"applicator"``), ``key`` is the plan key that
    chooses it (``"applicator.type"``). A registry is a read-only Mapping of names to implementations.
    """

    def __init__(self, what: str, key: str) -> None:
        self.what = what
        self.key = key
        self._entries: dict[str, Entry[T]] = {}

    # --- the idiom ------------------------------------------------------------------------------
    def register(self, name: str, impl: T, params: type | None = None, *, help: str = "",
                 replace: bool = False) -> T:
        """Make ``impl`` available as ``name``; ``params`` is the model's parameter dataclass."""
        if not name or not isinstance(name, str):
            raise ValueError(f"{self.what} registry: a model name must be a non-empty string, got {name!r}")
        old = self._entries.get(name)
        if old is not None and not replace and _qualname(old.impl) != _qualname(impl):
            raise ValueError(f"{self.what} {name!r} is already registered ({_qualname(old.impl)}); pass replace=True")
        if params is not None and not dataclasses.is_dataclass(params):
            raise TypeError(f"{self.what} {name!r}: params must be a dataclass of spec() fields, got {params!r}")
        self._entries[name] = Entry(name, impl, params, help)
        return impl

    def decorator(self, name: str, params: type | None = None, *, help: str = "",
                  replace: bool = False) -> Callable[[T], T]:
        """``@registry.decorator(name, Params)`` form of :meth:`register`."""

        def deco(impl: T) -> T:
            return self.register(name, impl, params, help=help, replace=replace)

        return deco

    def unregister(self, name: str) -> None:
        """Remove ``name`` (plugins and tests); unknown names are ignored."""
        self._entries.pop(name, None)

    def get(self, name: str, *, key: str | None = None) -> T:  # type: ignore[override]
        """The implementation of ``name``; unlike ``Mapping.get``, an unknown name raises InputError
        naming the plan key (``key`` overrides :attr:`key`) and the available choices."""
        return self.entry(name, key=key).impl

    def entry(self, name: str, *, key: str | None = None) -> Entry[T]:
        _load()
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise InputError(bad_value(key or self.key, name, self.expected())) from None

    def params(self, name: str) -> type | None:
        """The parameter section of ``name`` (None: the model takes no keys of its own)."""
        return self.entry(name).params

    def available(self) -> tuple[str, ...]:
        """Registered names, in registration order."""
        _load()
        return tuple(self._entries)

    def expected(self) -> str:
        """'one of ...' for messages, listing the available names."""
        names = self.available()
        return "one of " + ", ".join(repr(n) for n in names) if names else f"a registered {self.what} (none registered)"

    def param_fields(self) -> dict[str, dataclasses.Field]:
        """Every per-model key of every registered model (first declaration wins)."""
        _load()
        out: dict[str, dataclasses.Field] = {}
        for e in self._entries.values():
            if e.params is not None:
                for f in dataclasses.fields(e.params):
                    if f.init:
                        out.setdefault(f.name, f)
        return out

    # --- Mapping ---------------------------------------------------------------------------------
    def __getitem__(self, name: str) -> T:
        _load()
        return self._entries[name].impl

    def __iter__(self) -> Iterator[str]:
        _load()
        return iter(tuple(self._entries))

    def __len__(self) -> int:
        _load()
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        _load()
        return isinstance(name, str) and name in self._entries

    def __repr__(self) -> str:
        return f"Registry({self.what!r}: {', '.join(self.available())})"


def _qualname(obj: object) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


def section_name(model: str) -> str:
    """Sub-table name of a model's parameters: ``linear-response`` → ``linear_response``."""
    return model.replace("-", "_")


# --- the plan's registries ---------------------------------------------------------------------
APPLICATORS: Registry = Registry("applicator", "applicator.type")
SHAPES: Registry = Registry("shape", "geometry.bodies[].shape")
SEGMENTERS: Registry = Registry("segmenter", "segmentation.method")
SLP_MODELS: Registry = Registry("SLP model", "nanoparticles.slp_model")
DISTRIBUTIONS: Registry = Registry("particle distribution", "nanoparticles.distribution.kind")
PERFUSION_MODELS: Registry = Registry("perfusion model", "thermal.perfusion_model")

ALL: tuple[Registry, ...] = (APPLICATORS, SHAPES, SEGMENTERS, SLP_MODELS, DISTRIBUTIONS, PERFUSION_MODELS)
# Plan sections that a stage owns and validates itself (kept as raw tables in PlanConfig): name →
# ``validate(plan_dict)``, run by the loader so `planner check` reports their errors at load too.
STAGE_SECTIONS: Registry = Registry("stage-owned plan section", "")
