"""Presets are data: TOML files in ``resources/presets`` with one section per stage.

``load_preset`` returns plain dicts; each stage turns its section into its own dataclass
(``from_section``) and applies CLI overrides written as ``section.field=value``.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from backend.errors import DiffGenError
from backend.paths import resource

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")


def preset_names() -> list[str]:
    return sorted(p.stem for p in resource("presets").glob("*.toml"))


def load_preset(name_or_path: str) -> dict[str, Any]:
    """A preset by name (``tiny``, ``paper``) or from a TOML file path."""
    p = Path(name_or_path)
    if not p.suffix:
        p = resource("presets", f"{name_or_path}.toml")
    if not p.exists():
        raise DiffGenError(f"unknown preset {name_or_path!r}; known: {', '.join(preset_names())} "
                           "or a path to a .toml file")
    with open(p, "rb") as f:
        return tomllib.load(f)


def parse_value(text: str) -> Any:
    """Override values are JSON where they parse (numbers, lists, true/false), else strings."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def apply_overrides(preset: dict[str, Any], overrides: list[str] | None) -> dict[str, Any]:
    """Return a copy with ``section.field=value`` overrides applied (unknown keys are errors)."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in preset.items()}
    for item in overrides or []:
        key, sep, value = item.partition("=")
        section, dot, field = key.partition(".")
        if not sep or not dot:
            raise DiffGenError(f"override {item!r} must look like section.field=value")
        if section not in out or field not in out[section]:
            raise DiffGenError(f"override {item!r}: no field {field!r} in section [{section}]")
        out[section][field] = parse_value(value)
    return out


def from_section(cls: type[T], section: dict[str, Any]) -> T:
    """Build a config dataclass from a preset section, refusing unknown fields."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(section) - names
    if unknown:
        raise DiffGenError(f"unknown {cls.__name__} fields: {', '.join(sorted(unknown))}")
    return cls(**section)
