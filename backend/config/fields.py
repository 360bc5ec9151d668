"""Settings declared once: a config dataclass field carries its allowed range as metadata,
and every value that arrives (a preset file, a ``--set`` override, a model folder's config, a
CLI number) is checked against that one declaration before anything is built or allocated.

``setting(default, lo, hi)`` declares a field; ``param(...)`` declares a job parameter the same
way and adds what a face shows of it (label, help, unit, choices; the CLI's flag, the Generate
form's row), so that the CLI flags (:mod:`backend.cli.flags`), the form's widgets
(``diffgen_gui/param_widgets``) and the checks all come from the one declaration.
:func:`check_section` checks a preset section (a mapping) against a dataclass's declarations;
:func:`check_value` checks one value;
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
LABEL = "label"  # metadata key: the field's name in a form ("Samples / image")
HELP = "help"  # metadata key: one line of what it does (a flag's help, a widget's tooltip)
CHOICES = "choices"  # metadata key: the allowed values: a tuple, a callable or "module:NAME" (a dict's keys)
FLAG = "flag"  # metadata key: the CLI option strings; () for none (default: --field-name when there is a help)
CLI = "cli"  # metadata key: more argparse keywords of the flag (metavar, action, nargs, const, default)
FORM = "form"  # metadata key: the Generate form's row the field is on (None: not in the form)
WIDGET = "widget"  # metadata key: a form widget the form fills from the workspace (images, model, preset, ...)
REQUIRED: Any = dataclasses.MISSING  # param(REQUIRED, ...): a field every job must give


def setting(default: Any, lo: float | None = None, hi: float | None = None, *, unit: str = "", max_len: int | None = None) -> Any:
    """A dataclass field with ``default`` whose values (or, for a tuple, each element) must lie
    in ``lo..hi``; ``max_len`` bounds a tuple's length."""
    meta: dict[str, Any] = {RANGE: (lo, hi), UNIT: unit}
    if max_len is not None:
        meta[MAX_LEN] = max_len
    if isinstance(default, list | tuple):
        return dataclasses.field(default=tuple(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def param(
    default: Any = None,
    lo: float | None = None,
    hi: float | None = None,
    *,
    label: str = "",
    help: str = "",
    unit: str = "",
    choices: tuple[Any, ...] | Callable[[], Any] | str | None = None,
    flag: tuple[str, ...] | None = None,
    cli: Mapping[str, Any] | None = None,
    form: str | bool | None = None,
    widget: str = "",
    max_len: int | None = None,
    default_factory: Callable[[], Any] | None = None,
) -> Any:
    """A job parameter declared once (magicgui-style): :func:`setting`'s range and unit, plus its
    ``label`` and ``help``, its ``choices`` (a callable or ``"module:NAME"`` is resolved when
    used, so that this module and the params module stay light), its CLI ``flag`` (and ``cli``
    argparse keywords), and its Generate-form row (``form=True``: a row of its own; a name: a row
    shared with the next fields of that name) drawn by a type's widget or a named ``widget``."""
    meta: dict[str, Any] = {UNIT: unit, LABEL: label, HELP: help}
    if lo is not None or hi is not None:
        meta[RANGE] = (lo, hi)
    if max_len is not None:
        meta[MAX_LEN] = max_len
    if choices is not None:
        meta[CHOICES] = choices
    if flag is not None:
        meta[FLAG] = tuple(flag)
    if cli:
        meta[CLI] = dict(cli)
    if form:
        meta[FORM] = form
    if widget:
        meta[WIDGET] = widget
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=tuple(default) if isinstance(default, list) else default, metadata=meta)


def label_of(f: dataclasses.Field) -> str:
    """The field's label, else its name in words (``min_island`` -> ``Min island``)."""
    return str(f.metadata.get(LABEL) or f.name.replace("_", " ").capitalize())


def choices_of(f: dataclasses.Field) -> tuple[Any, ...] | None:
    """The values field ``f`` allows, resolved now (a callable called, ``"module:NAME"`` imported;
    a mapping gives its keys), or None when it declares none."""
    found = f.metadata.get(CHOICES)
    if found is None:
        return None
    if isinstance(found, str):
        import importlib

        module, _, name = found.partition(":")
        found = getattr(importlib.import_module(module), name)
    if callable(found):
        found = found()
    return tuple(found)


def range_words(f: dataclasses.Field) -> str:
    """A field's range and unit in words ('1..1000', '0..1024 px', '>= 1'); '' when unbounded."""
    lo, hi = f.metadata.get(RANGE, (None, None))
    unit = f" {f.metadata[UNIT]}" if f.metadata.get(UNIT) else ""
    if lo is None and hi is None:
        return unit.strip()
    where = (
        f"{_fmt(lo)}..{_fmt(hi)}"
        if lo is not None and hi is not None
        else f">= {_fmt(lo)}"
        if lo is not None
        else f"<= {_fmt(hi)}"
    )
    return where + unit


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
    choices = choices_of(f)
    if choices is not None:
        return "one of " + ", ".join(map(str, choices))
    lo, hi = f.metadata.get(RANGE, (None, None))
    if lo is None and hi is None:
        return names.get(hint, str(hint))
    both = lo is not None and hi is not None  # 'an integer in 1..9', 'an integer >= 1'
    return f"{names.get(hint, str(hint))}{' in' if both else ''} {range_words(f)}"


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
        choices = choices_of(f)
        return isinstance(value, str) and (choices is None or value in choices)
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
        raise BadInputError(_refusal(f, hint, value, f"{where}.{name}"))
    return value


def _refusal(f: dataclasses.Field, hint: Any, value: Any, what: str) -> str:
    why = "is not a choice" if CHOICES in f.metadata else "is out of bounds"
    return f"{what} = {_shown(value)} {why}: it must be {allowed(f, hint)}"


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


def arg_type(ref: str | type, name: str, where: str) -> Callable[[str], Any]:
    """An ``argparse`` ``type=`` for a flag that sets field ``name`` of the dataclass ``ref``
    (the class, or ``"module:Class"`` imported only when the flag is given, so ``--help`` stays
    fast): the text parsed as the field's type and checked against its range and choices
    (argparse shows the message)."""
    import argparse

    def parse(text: str) -> Any:
        cls = declared(ref) if isinstance(ref, str) else ref
        f, hint = _field(cls, name)
        union = get_origin(hint) in (Union, types.UnionType)
        base = next(a for a in get_args(hint) if a is not type(None)) if union else hint
        if get_origin(base) is tuple:  # a flag given once per element (nargs, append): its range is each one's
            base = get_args(base)[0]
        try:
            value = base(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{where}.{name}: {text!r} is not {allowed(f, base)}") from None
        if not _fits(value, base, f):  # the flag's own type: a flag not given is the "empty" of an optional field
            raise argparse.ArgumentTypeError(_refusal(f, base, value, f"{where}.{name}"))
        return value

    return parse
