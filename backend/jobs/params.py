"""One mechanism for the parameters and results of every job kind.

A kind's parameters are a frozen dataclass deriving from :class:`JobParams`; a job stores them
as JSON (``to_dict``) and reads them back (``from_dict``), by the same rules for every kind:

- an unknown key is refused with its name and the known ones (a typo never silently does nothing);
- None means "not given": the field's default (for settings that is None: the preset's value);
- values are checked against the field types; JSON lists become tuples;
- a field whose type is a dataclass (the image selection) is stored flattened: its fields are
  top-level keys (``images``, ``cluster``, ``all``), the shape the CLI and the GUI have always
  written, so jobs queued by older versions still load. A dict under the field's name is read too.

A result is a frozen dataclass deriving from :class:`JobResult`: a ``summary`` line (the job's
final message) and whatever the stage reports; ``to_dict`` is what the job stores.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar, Union, get_args, get_origin, get_type_hints

from backend.config.fields import CHOICES, RANGE, check_value
from backend.errors import BadInputError

P = TypeVar("P", bound="JobParams")


def absolute(path: str) -> str:
    """``path`` with ``~`` expanded, absolute and resolved: what a queued job's row names, so that
    it means the same file whatever folder the app or the CLI ran in."""
    return str(Path(path).expanduser().resolve())


def plain(value: Any) -> Any:
    """``value`` as JSON-able data: tuples become lists, dataclasses dicts (recursively)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def _type_name(hint: Any) -> str:
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
    if hint in names:
        return names[hint]
    origin = get_origin(hint)
    if origin is tuple:
        return f"a list of {_type_name(get_args(hint)[0]).removeprefix('a ').removeprefix('an ')}s"
    if origin is dict:
        return "a mapping"
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(hint) if a is not type(None))
    return str(hint)


def _convert(value: Any, hint: Any, where: str) -> Any:
    """``value`` checked against (and shaped to) the type ``hint``; ``where`` names it in errors."""
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for option in (a for a in args if a is not type(None)):
            try:
                return _convert(value, option, where)
            except BadInputError:
                continue
    elif origin is tuple and isinstance(value, list | tuple):
        return tuple(_convert(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
    elif origin is dict and isinstance(value, Mapping):
        return {str(k): _convert(v, args[1], f"{where}.{k}") for k, v in value.items()}
    elif hint is bool and isinstance(value, bool):
        return value
    elif hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    elif hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    elif hint is str and isinstance(value, str):
        return value
    raise BadInputError(f"{where} must be {_type_name(hint)}, not {value!r}")


def _is_group(hint: Any) -> bool:
    """A nested dataclass stored flattened (the image selection)."""
    return isinstance(hint, type) and dataclasses.is_dataclass(hint)


def _fields(cls: type) -> tuple[dataclasses.Field, ...]:
    return dataclasses.fields(cls)


class JobParams:
    """Base of the parameter dataclasses of job kinds (each ``@dataclass(frozen=True)``)."""

    LEGACY_KEYS: ClassVar[frozenset[str]] = frozenset()  # keys older versions stored: read and ignored

    @classmethod
    def label(cls) -> str:
        """The kind in messages: InpaintParams -> inpaint."""
        return cls.__name__.removesuffix("Params").removesuffix("Config").lower()

    @classmethod
    def known_keys(cls) -> list[str]:
        """The keys ``from_dict`` reads, flattened, in field order."""
        keys: list[str] = []
        for f in _fields(cls):
            hint = get_type_hints(cls)[f.name]
            keys += [g.name for g in _fields(hint)] if _is_group(hint) else [f.name]
        return keys

    @classmethod
    def from_dict(cls: type[P], data: Mapping[str, Any] | None) -> P:
        data = dict(data or {})
        known = cls.known_keys()
        groups = [f.name for f in _fields(cls) if _is_group(get_type_hints(cls)[f.name])]
        unknown = [k for k in data if k not in known and k not in groups and k not in cls.LEGACY_KEYS]
        if unknown:
            raise BadInputError(
                f"unknown {cls.label()} parameter{'s' * (len(unknown) > 1)} "
                f"{', '.join(map(repr, unknown))}; known: {', '.join(known)}"
            )
        values: dict[str, Any] = {}
        for f in _fields(cls):
            hint, value = get_type_hints(cls)[f.name], data.get(f.name)
            if _is_group(hint):
                source = value if isinstance(value, Mapping) else data
                values[f.name] = hint(
                    **{
                        g.name: _convert(source[g.name], get_type_hints(hint)[g.name], g.name)
                        for g in _fields(hint)
                        if source.get(g.name) is not None
                    }
                )
            elif value is not None:
                values[f.name] = _convert(value, hint, f.name)
                if RANGE in f.metadata or CHOICES in f.metadata:  # declared on the field (backend.config.fields)
                    check_value(cls, f.name, values[f.name], cls.label())
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise BadInputError(f"a {cls.label()} job needs {f.name!r}")
        return cls(**values)

    def validate(self) -> None:
        """Checks of the values alone that the field types cannot make (a word among choices, two
        sets, not three): run when the job is queued and by the stage as it starts (a CLI run is
        not queued). None by default."""

    def check(self, ws: Any) -> None:
        """Checks that need the workspace ``ws``, run when the job is queued, so that a job that
        cannot run never enters the queue (:meth:`validate` by default; a kind with an image
        selection checks that it selects images)."""
        self.validate()

    def queued(self: P, ws: Any) -> P:
        """These parameters as the job stores them when queued in ``ws``: what the run would
        otherwise pick when it starts (a random seed, a model) fixed now, so that the job shows
        what it will use and a run stopped by the app resumes the same run. Unchanged by default."""
        return self

    def resumed(self: P) -> P:
        """These parameters for the job queued again after the app stopped it (training then
        continues its checkpoint). Unchanged by default: a run that skips finished work resumes
        by running again."""
        return self

    def to_dict(self) -> dict[str, Any]:
        """JSON-able, flattened as ``from_dict`` reads it: ``from_dict(p.to_dict()) == p``."""
        out: dict[str, Any] = {}
        for f in _fields(type(self)):
            value = plain(getattr(self, f.name))
            out.update(value if _is_group(get_type_hints(type(self))[f.name]) else {f.name: value})
        return out


@dataclasses.dataclass(frozen=True, kw_only=True)
class JobResult:
    """Base of the result dataclasses: ``summary`` becomes the finished job's message."""

    summary: str

    def to_dict(self) -> dict[str, Any]:
        return plain(self)
