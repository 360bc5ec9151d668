"""Presets are data: TOML files in ``resources/presets`` with one section per stage.

``load_preset`` returns plain dicts; each stage turns its section into its own dataclass
(``from_section``) and applies CLI overrides written as ``section.field=value``.

A preset may start from another: ``inherits = "paper"`` at the top takes every section of
``paper`` and lets this file change single fields (``diffuse-gen`` is ``paper`` plus the
choices of the author's code). A parent is a preset name, or a ``.toml`` path relative to the
inheriting file; the chain is followed to its root and a cycle is an error.

Values are checked where they arrive: every field of a known section (``SECTIONS``) against
the range its dataclass declares (:mod:`backend.config.fields`) when a preset is loaded, each
``--set`` value when it is applied, and a whole section again when it becomes its dataclass.
The section classes live in modules without torch, so a refusal costs no more than reading
the file.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from backend.config.fields import check_section, check_value, declared, takes_text
from backend.config.paths import resource
from backend.errors import BadInputError, DiffGenError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")

# The dataclass that declares each section's fields and their ranges ("module:Class", imported
# when a preset is checked; each of these modules is free of torch).
SECTIONS = {
    "model": "backend.diffusion.config:ModelConfig",
    "diffusion": "backend.diffusion.config:DiffusionConfig",
    "train": "backend.diffusion.train_config:TrainConfig",
    "inpaint": "backend.inpaint.config:InpaintConfig",
    "style": "backend.style.config:StyleConfig",
    "cluster": "backend.clustering.config:ClusterConfig",
    "segment": "backend.segmentation.config:SegConfig",
    "gates": "backend.gates:GateConfig",
}


def preset_names() -> list[str]:
    return sorted(p.stem for p in resource("presets").glob("*.toml"))


def inherits(name: str) -> bool:
    """Whether the shipped preset ``name`` starts from another (``fast`` from ``paper``)."""
    return "inherits" in _read_toml(_preset_file(name))


def _preset_file(name_or_path: str, relative_to: Path | None = None) -> Path:
    """A name (``tiny``) is a shipped preset; anything ending in ``.toml`` is a file path
    (relative to ``relative_to``, the inheriting file's folder, when given)."""
    p = Path(name_or_path)
    if not p.suffix:
        return resource("presets", f"{name_or_path}.toml")
    return relative_to / p if relative_to is not None and not p.is_absolute() else p


MAX_PRESET_BYTES = 1 << 20  # a preset is a few kB of settings; a larger file is not one


def _read_toml(p: Path) -> dict[str, Any]:
    if not p.is_file():
        raise BadInputError(f"preset {p} is not a file (a folder or a device?); give a .toml file")
    if p.stat().st_size > MAX_PRESET_BYTES:
        raise BadInputError(
            f"preset {p} is {p.stat().st_size} bytes, more than a preset's {MAX_PRESET_BYTES}; give a .toml preset"
        )
    try:
        return tomllib.loads(p.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as e:
        raise BadInputError(f"preset {p}: not UTF-8 text (byte {e.start}); save it as UTF-8") from None
    except tomllib.TOMLDecodeError as e:
        raise DiffGenError(f"preset {p}: not valid TOML ({e})") from None
    except OSError as e:
        raise BadInputError(f"preset {p} cannot be read ({e.strerror})") from None


def check_preset(preset: dict[str, Any], where: str) -> None:
    """Every field of the known sections of ``preset`` against its declared type and range."""
    for section, ref in SECTIONS.items():
        values = preset.get(section)
        if values is None:
            continue
        if not isinstance(values, dict):
            raise BadInputError(f"{where}: [{section}] must be a table of settings, not {values!r}")
        check_section(declared(ref), values, f"{where}: {section}")


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
    check_preset(merged, f"preset {name_or_path}")
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
        if section not in out or not isinstance(out[section], dict) or field not in out[section]:
            raise DiffGenError(f"override {item!r}: no field {field!r} in section [{section}]")
        cls = declared(SECTIONS[section]) if section in SECTIONS else None
        out[section][field] = value if cls is not None and takes_text(cls, field) else parse_value(value)
        if cls is not None:
            check_value(cls, field, out[section][field], f"--set {section}")
    return out


def from_section(cls: type[T], section: dict[str, Any], where: str = "") -> T:
    """Build a config dataclass from a preset section, refusing unknown fields and values
    outside their declared ranges (``where`` names the section in messages)."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(section) - names
    if unknown:
        raise DiffGenError(f"unknown {cls.__name__} fields: {', '.join(sorted(unknown))}")
    check_section(cls, section, where or cls.__name__)
    return cls(**section)
