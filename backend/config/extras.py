"""Optional packages (pip extras): imported on first use, with a message naming the extra."""

from __future__ import annotations

import importlib
from types import ModuleType

from backend.errors import DiffGenError


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """``module`` imported, or a DiffGenError saying which extra of the package installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise DiffGenError(
            f"{purpose} needs the optional package '{module.split('.')[0]}' ({e.msg}): "
            f"install it with  pip install 'diffgen-studio[{extra}]'"
        ) from None
