"""Declarative checks of JSON values: one description of what a file's metadata must hold, checked as a whole.

::

    RUN = Obj({"epoch": Int(low=0), "rng": Nullable(Str()), "sizes": List(Int(low=1))},
              optional={"note": Str()})
    check(meta, RUN, "checkpoint")
    # FileFormatError: checkpoint.sizes[2]: expected an integer >= 1, got 'x'

A description is built from a handful of node types (:class:`Int`,
:class:`Float`, :class:`Str`, :class:`Bool`, :class:`Nullable`,
:class:`List`, :class:`Map`, :class:`Obj`, :class:`AnyJSON`) and checked by
:func:`check`, which walks the value and the description together and raises
one error naming the first place that does not fit: a missing or unknown key,
a wrong type, a number out of range, a list too long.  Loaders check a file's
metadata against its description *before* using any of it, so a doctored file
cannot reach a ``KeyError``, a ``TypeError`` or a half-restored state.

:func:`schema_of` derives the description of a dataclass or NamedTuple from
its type hints (``int``, ``float``, ``str``, ``bool``, ``X | None``,
``list[X]``, ``tuple[X, ...]``, ``dict[str, X]``, nested dataclasses), so a
field added to, say, ``TrainConfig`` or ``EpochRecord`` is checked without
touching this module; a field of a type it does not know raises
:class:`TypeError` when the description is built (at import time).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, Mapping

from glassnet.errors import FileFormatError, GlassnetError

__all__ = ["Spec", "Int", "Float", "Str", "Bool", "Nullable", "List", "Map", "Obj", "AnyJSON", "check", "schema_of"]


class _Mismatch(Exception):
    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Spec:
    """A node of a description; :meth:`walk` raises ``_Mismatch`` for the first problem."""

    def walk(self, value: Any, where: str) -> None:
        raise NotImplementedError


class AnyJSON(Spec):
    """Any JSON value (its size is bounded by the reader's limits)."""

    def walk(self, value: Any, where: str) -> None:
        return None


class Int(Spec):
    """An integer (not a boolean) in ``[low, high]``."""

    def __init__(self, low: int | None = None, high: int | None = None) -> None:
        self.low, self.high = low, high

    def walk(self, value: Any, where: str) -> None:
        bounds = " >= " + str(self.low) if self.low is not None and self.high is None else (
            f" in [{self.low}, {self.high}]" if self.low is not None else "")
        if type(value) is not int:
            raise _Mismatch(where, f"expected an integer{bounds}, got {_shown(value)}")
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            raise _Mismatch(where, f"expected an integer{bounds}, got {_shown(value)}")


class Float(Spec):
    """A finite number (an integer is accepted) in ``[low, high]``."""

    def __init__(self, low: float | None = None, high: float | None = None) -> None:
        self.low, self.high = low, high

    def walk(self, value: Any, where: str) -> None:
        if type(value) not in (int, float) or not math.isfinite(value):
            raise _Mismatch(where, f"expected a finite number, got {_shown(value)}")
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            raise _Mismatch(where, f"expected a number in [{self.low}, {self.high}], got {_shown(value)}")


class Str(Spec):
    """A string, one of ``choices`` when given."""

    def __init__(self, choices: typing.Collection[str] | None = None) -> None:
        self.choices = choices

    def walk(self, value: Any, where: str) -> None:
        if not isinstance(value, str):
            raise _Mismatch(where, f"expected a string, got {_shown(value)}")
        if self.choices is not None and value not in self.choices:
            raise _Mismatch(where, f"expected one of {sorted(self.choices)}, got {_shown(value)}")


class Bool(Spec):
    """``true`` or ``false``."""

    def walk(self, value: Any, where: str) -> None:
        if not isinstance(value, bool):
            raise _Mismatch(where, f"expected true or false, got {_shown(value)}")


class Nullable(Spec):
    """``null`` or what ``inner`` describes."""

    def __init__(self, inner: Spec) -> None:
        self.inner = inner

    def walk(self, value: Any, where: str) -> None:
        if value is not None:
            self.inner.walk(value, where)


class List(Spec):
    """A list of ``item``, of exactly ``length`` or at most ``max_length`` entries when given."""

    def __init__(self, item: Spec, *, length: int | None = None, max_length: int | None = None) -> None:
        self.item, self.length, self.max_length = item, length, max_length

    def walk(self, value: Any, where: str) -> None:
        if not isinstance(value, list):
            raise _Mismatch(where, f"expected a list, got {_shown(value)}")
        if self.length is not None and len(value) != self.length:
            raise _Mismatch(where, f"expected a list of {self.length} entries, got {len(value)}")
        if self.max_length is not None and len(value) > self.max_length:
            raise _Mismatch(where, f"expected at most {self.max_length} entries, got {len(value)}")
        for i, item in enumerate(value):
            self.item.walk(item, f"{where}[{i}]")


class Map(Spec):
    """An object with any string keys, each value described by ``value``."""

    def __init__(self, value: Spec) -> None:
        self.value = value

    def walk(self, value: Any, where: str) -> None:
        if not isinstance(value, dict):
            raise _Mismatch(where, f"expected an object, got {_shown(value)}")
        for key, item in value.items():
            self.value.walk(item, f"{where}.{key}")


class Obj(Spec):
    """An object with exactly the ``required`` keys, any of the ``optional`` ones, and nothing else."""

    def __init__(self, required: Mapping[str, Spec], optional: Mapping[str, Spec] | None = None) -> None:
        self.required, self.optional = dict(required), dict(optional or {})

    def walk(self, value: Any, where: str) -> None:
        if not isinstance(value, dict):
            raise _Mismatch(where, f"expected an object with keys {sorted(self.required)}, got {_shown(value)}")
        missing = sorted(set(self.required) - set(value))
        if missing:
            raise _Mismatch(where, f"missing key(s) {missing}")
        unknown = sorted(set(value) - set(self.required) - set(self.optional))
        if unknown:
            raise _Mismatch(where, f"unknown key(s) {unknown}; expected {sorted({**self.required, **self.optional})}")
        for key, spec in (*self.required.items(), *self.optional.items()):
            if key in value:
                spec.walk(value[key], f"{where}.{key}")


def check(value: Any, spec: Spec, where: str = "metadata", *, error: type[GlassnetError] = FileFormatError) -> None:
    """Raise ``error`` (default :class:`FileFormatError`) naming the first place where ``value`` does not fit ``spec``.

    ``where`` names the root in the message (``"checkpoint.history.records[3].epoch: ..."``).
    """
    try:
        spec.walk(value, where)
    except _Mismatch as exc:
        raise error(str(exc)) from None


# ----------------------------------------------------------------------------- from type hints
def schema_of(cls: type, *, float_spec: Spec | None = None, overrides: Mapping[str, Spec] | None = None) -> Obj:
    """The :class:`Obj` describing a dataclass or NamedTuple ``cls`` as JSON (its ``asdict`` form).

    Fields with a default are optional.  ``float_spec`` describes every
    ``float`` (default :class:`Float`; ``Nullable(Float())`` for records that
    store NaN as ``null``); ``overrides`` replaces the spec of named fields.
    """
    overrides = dict(overrides or {})
    hints = typing.get_type_hints(cls)
    if dataclasses.is_dataclass(cls):
        names = [(f.name, f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING)
                 for f in dataclasses.fields(cls)]
    else:  # NamedTuple
        names = [(name, name in cls._field_defaults) for name in cls._fields]
    required, optional = {}, {}
    for name, has_default in names:
        spec = overrides.pop(name) if name in overrides else _spec_of_type(hints[name], float_spec or Float(), f"{cls.__name__}.{name}")
        (optional if has_default else required)[name] = spec
    if overrides:
        raise TypeError(f"schema_of({cls.__name__}): no field(s) {sorted(overrides)}")
    return Obj(required, optional)


def _spec_of_type(tp: Any, float_spec: Spec, where: str) -> Spec:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is int:
        return Int()
    if tp is float:
        return float_spec
    if tp is str:
        return Str()
    if tp is bool:
        return Bool()
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return Nullable(_spec_of_type(rest[0], float_spec, where))
    if origin in (list, tuple) and args and (origin is list or (len(args) == 2 and args[1] is Ellipsis)):
        return List(_spec_of_type(args[0], float_spec, where))
    if origin is dict and args and args[0] is str:
        return Map(_spec_of_type(args[1], float_spec, where))
    if isinstance(tp, type) and (dataclasses.is_dataclass(tp) or hasattr(tp, "_fields")):
        return schema_of(tp, float_spec=float_spec)
    raise TypeError(f"{where}: no JSON description for the type {tp!r}; give one in schema_of(..., overrides=)")
