"""CLI flags derived from a job kind's parameters dataclass: each field declared with
:func:`backend.config.fields.param` and a ``help`` becomes one flag (``--field-name`` unless the
declaration names another), its type and range checked by :func:`backend.config.fields.arg_type`
(the same check a queued job and a preset value get), its choices listed, its unit and range in
its help. ``diffgen inpaint`` and ``diffgen jobs add inpaint`` thus offer the same flags, and a new
kind's flags are its declaration. A params class lives in a light module, so building the parser
stays fast (``tests/test_startup.py``)."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Collection
from typing import Any, get_args, get_origin, get_type_hints

from backend.config.fields import CLI, FLAG, HELP, arg_type, choices_of, range_words

NO_DEFAULT = argparse.SUPPRESS  # ``defaults=False``: a flag not given leaves no attribute


def _base(hint: Any) -> Any:
    """``int`` of ``int | None``."""
    return next((a for a in get_args(hint) if a is not type(None)), hint) if type(None) in get_args(hint) else hint


def flag_fields(cls: type) -> list[dataclasses.Field]:
    """The fields of ``cls`` that have a flag: declared with a help, not a group (the image
    selection has its own flags, :func:`backend.workspace.selection.add_selection_args`)."""
    hints = get_type_hints(cls)
    return [
        f
        for f in dataclasses.fields(cls)
        if f.metadata.get(HELP) and f.metadata.get(FLAG) != () and not dataclasses.is_dataclass(hints[f.name])
    ]


def flag_help(f: dataclasses.Field) -> str:
    """The declaration's help, with its range and unit when it has them (argparse lists choices)."""
    where = "" if f.metadata.get("choices") is not None else range_words(f)
    return str(f.metadata[HELP]).replace("%", "%%") + (f"; {where}" if where else "")


def add_param_flags(
    p: argparse.ArgumentParser | argparse._ArgumentGroup, cls: type, skip: Collection[str] = (), defaults: bool = True
) -> list[str]:
    """Add a flag for each field of ``cls`` that declares one (those named in ``skip`` are the
    command's own); each flag's ``dest`` is its field's name (or the declaration's). With ``defaults=False`` a flag that is
    not given sets nothing (``jobs add`` then sends only what was typed). Returns the fields added."""
    hints = get_type_hints(cls)
    where = cls.label() if hasattr(cls, "label") else cls.__name__
    added = []
    for f in flag_fields(cls):
        if f.name in skip:
            continue
        flags = f.metadata.get(FLAG) or (f"--{f.name.replace('_', '-')}",)
        extra = dict(f.metadata.get(CLI, {}))
        base = _base(hints[f.name])
        kwargs: dict[str, Any] = {"dest": f.name, "help": flag_help(f)}
        if base is bool:
            kwargs["action"] = "store_false" if flags[0].startswith("--no-") else "store_true"
        else:
            many = get_origin(base) is tuple  # given once per element
            each, choices = get_args(base)[0] if many else base, choices_of(f)
            if choices is not None and each is str:
                kwargs["choices"] = list(choices)
            elif each is not str and each is not Any:
                kwargs["type"] = arg_type(cls, f.name, where)
            if many and "nargs" not in extra:
                kwargs["action"] = "append"
        default = None if f.default is dataclasses.MISSING else f.default
        default = list(default) if isinstance(default, tuple) else default  # argparse appends to a list
        kwargs["default"] = extra.pop("default", default) if defaults else NO_DEFAULT
        if not defaults:
            extra.pop("default", None)
        p.add_argument(*flags, **{**kwargs, **extra})
        added.append(f.name)
    return added


def given_params(a: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The values of ``cls``'s flags that ``a`` holds (with ``defaults=False``: those typed),
    as a job's parameters (``JobParams.from_dict`` checks them again)."""
    dests = {f.name: f.metadata.get(CLI, {}).get("dest", f.name) for f in flag_fields(cls)}
    return {name: getattr(a, dest) for name, dest in dests.items() if hasattr(a, dest)}
