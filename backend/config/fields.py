"""Settings declared once: a config dataclass field carries its allowed range as metadata,
and every value that arrives (a preset file, a ``--set`` override, a model folder's config, a
CLI number) is checked against that one declaration before anything is built or allocated.

``setting(default, lo, hi)`` declares a field; :func:`check_section` checks a preset section
(a mapping) against a dataclass's declarations; :func:`check_value` checks one value;
:func:`arg_type` turns a declaration into an ``argparse`` type, so a CLI flag refuses what the
preset would. A message names the field, the value and the allowed range, so whoever typed it
knows what to type instead. Types come from the field annotations: an ``int`` field refuses
``1e9`` (a float) and ``true``; a ``float`` field refuses NaN and infinities; a tuple field
checks each element and its length.
"""

from __future__ import annotations

import dataclasses
import math
import types
from collections.abc import Callable, Mapping
from typing import Any, Union, get_args, get_origin, get_type_hints

from backend.errors import BadInputError

RANGE = "range"  # metadata key: (lo, hi), inclusive; None on a side = unbounded
MAX_LEN = "max_len"  # metadata key: the most elements a tuple field may hold
UNIT = "unit"  # metadata key: shown after the range ("px", "steps")


def setting(default: Any, lo: float | None = None, hi: float | None = None, *, unit: str = "", max_len: int | None = None) -> Any:
    """A dataclass field with ``default`` whose values (or, for a tuple, each element) must lie
    in ``lo..hi``; ``max_len`` bounds a tuple's length."""
    meta: dict[str, Any] = {RANGE: (lo, hi), UNIT: unit}
    if max_len is not None:
        meta[MAX_LEN] = max_len
    if isinstance(default, list | tuple):
        return dataclasses.field(default=tuple(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _fmt(x: float | None) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def allowed(f: dataclasses.Field, hint: Any) -> str:
    """What a field accepts, in words: 'an integer in 1..4096 px'."""
    names = {int: "an integer", float: "a finite number", bool: "true or false", str: "a string"}
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        return " or ".join("empty (null)" if a is type(None) else allowed(f, a) for a in args)
    if origin is tuple:
        n, each = f.metadata.get(MAX_LEN), allowed(f, args[0])
        return f"a list of at most {n} values, each {each}" if n is not None else f"a list of values, each {each}"
    lo, hi = f.metadata.get(RANGE, (None, None))
    unit = f" {f.metadata[UNIT]}" if f.metadata.get(UNIT) else ""
    if lo is None and hi is None:
        return names.get(hint, str(hint))
    where = (
        f"{_fmt(lo)}..{_fmt(hi)}"
        if lo is not None and hi is not None
        else f">= {_fmt(lo)}"
        if lo is not None
        else f"<= {_fmt(hi)}"
    )
    return f"{names.get(hint, str(hint))} in {where}{unit}"


def _fits(value: Any, hint: Any, f: dataclasses.Field) -> bool:
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any:
        return True
    if origin in (Union, types.UnionType):
        return any(value is None if a is type(None) else _fits(value, a, f) for a in args)
    if origin is tuple:
        n = f.metadata.get(MAX_LEN)
        return isinstance(value, list | tuple) and (n is None or len(value) <= n) and all(_fits(v, args[0], f) for v in value)
    if hint is bool:
        return isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif hint is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    else:
        return True  # a type this module does not know is the dataclass's own business
    lo, hi = f.metadata.get(RANGE, (None, None))
    return ok and (lo is None or value >= lo) and (hi is None or value <= hi)


def _field(cls: type, name: str) -> tuple[dataclasses.Field, Any]:
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    return f, get_type_hints(cls)[name]


def _shown(value: Any) -> str:
    text = f"{value:g}" if isinstance(value, float) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_value(cls: type, name: str, value: Any, where: str) -> Any:
    """``value`` if field ``name`` of ``cls`` accepts it, else a :class:`BadInputError` naming
    ``where.name``, the value and what is allowed."""
    f, hint = _field(cls, name)
    if not _fits(value, hint, f):
        raise BadInputError(f"{where}.{name} = {_shown(value)} is out of bounds: it must be {allowed(f, hint)}")
    return value


def takes_text(cls: type, name: str) -> bool:
    """Whether field ``name`` of ``cls`` holds a string (``--set`` then keeps '50' as text)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return name in names and _field(cls, name)[1] in (str, str | None)


def check_section(cls: type, section: Mapping[str, Any], where: str) -> None:
    """Every key of ``section`` that is a field of ``cls`` checked against its declaration
    (unknown keys are the caller's to refuse)."""
    names = {f.name for f in dataclasses.fields(cls)}
    for key, value in section.items():
        if key in names:
            check_value(cls, key, value, where)


def declared(ref: str) -> type:
    """The dataclass named ``"module:Class"``, imported now (a parser names it without loading it)."""
    import importlib

    module, _, name = ref.partition(":")
    cls: type = getattr(importlib.import_module(module), name)
    return cls


def arg_type(ref: str, name: str, where: str) -> Callable[[str], Any]:
    """An ``argparse`` ``type=`` for a flag that sets field ``name`` of the dataclass ``ref``
    (``"module:Class"``, imported only when the flag is given, so ``--help`` stays fast): the
    text parsed as the field's type and checked against its range (argparse shows the message)."""
    import argparse

    def parse(text: str) -> Any:
        cls = declared(ref)
        f, hint = _field(cls, name)
        base = next((a for a in get_args(hint) if a is not type(None)), hint)
        try:
            value = base(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{where}.{name}: {text!r} is not {allowed(f, hint)}") from None
        try:
            return check_value(cls, name, value, where)
        except BadInputError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    return parse
