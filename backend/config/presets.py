"""Presets are data: TOML files in ``resources/presets`` with one section per stage.

``load_preset`` returns plain dicts; each stage turns its section into its own dataclass
(``from_section``) and applies CLI overrides written as ``section.field=value``.

A preset may start from another: ``inherits = "paper"`` at the top takes every section of
``paper`` and lets this file change single fields (``diffuse-gen`` is ``paper`` plus the
choices of the author's code). A parent is a preset name, or a ``.toml`` path relative to the
inheriting file; the chain is followed to its root and a cycle is an error.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from backend.config.paths import resource
from backend.errors import DiffGenError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")


def preset_names() -> list[str]:
    return sorted(p.stem for p in resource("presets").glob("*.toml"))


def _preset_file(name_or_path: str, relative_to: Path | None = None) -> Path:
    """A name (``tiny``) is a shipped preset; anything ending in ``.toml`` is a file path
    (relative to ``relative_to``, the inheriting file's folder, when given)."""
    p = Path(name_or_path)
    if not p.suffix:
        return resource("presets", f"{name_or_path}.toml")
    return relative_to / p if relative_to is not None and not p.is_absolute() else p


def _read_toml(p: Path) -> dict[str, Any]:
    try:
        with open(p, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise DiffGenError(f"preset {p}: not valid TOML ({e})") from None


def _merge(parent: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """The parent's sections with the child's fields on top (field by field, not whole sections)."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in parent.items()}
    for key, value in child.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key].update(value)
        else:
            out[key] = value
    return out


def load_preset(name_or_path: str) -> dict[str, Any]:
    """A preset by name (``tiny``, ``paper``, ``diffuse-gen``) or from a TOML file path, with
    its ``inherits`` chain resolved (the returned dict has no ``inherits`` key)."""
    chain: list[dict[str, Any]] = []
    seen: list[Path] = []
    ref, relative_to = name_or_path, None
    while True:
        p = _preset_file(ref, relative_to)
        if not p.exists():
            where = f" (inherited by {seen[-1]})" if seen else ""
            raise DiffGenError(f"unknown preset {ref!r}{where}; known: {', '.join(preset_names())} or a path to a .toml file")
        if p.resolve() in seen:
            loop = " -> ".join(str(s) for s in [*seen, p.resolve()])
            raise DiffGenError(f"preset inheritance loops: {loop}; remove one of the 'inherits' lines")
        seen.append(p.resolve())
        data = _read_toml(p)
        parent = data.pop("inherits", None)
        chain.append(data)
        if parent is None:
            break
        if not isinstance(parent, str) or not parent:
            raise DiffGenError(f"preset {p}: 'inherits' must be a preset name or a .toml path, not {parent!r}")
        ref, relative_to = parent, p.parent
    merged: dict[str, Any] = {}
    for data in reversed(chain):
        merged = _merge(merged, data)
    return merged


def check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    """A clear error for a config field outside its named choices."""
    if value not in allowed:
        raise DiffGenError(f"{name} must be one of {', '.join(allowed)} (got {value!r})")


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
