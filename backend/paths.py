"""Where things live: packaged resources, the user's data and config folders."""

from __future__ import annotations

import os
from importlib import resources as _res
from pathlib import Path


def resource(*parts: str) -> Path:
    """Path of a file shipped in the ``resources`` package (works from a wheel too)."""
    return Path(str(_res.files("resources").joinpath(*parts)))


def user_data_dir() -> Path:
    """Per-user data folder (XDG on Linux); DIFFGEN_DATA_DIR overrides it (tests, portable use)."""
    env = os.environ.get("DIFFGEN_DATA_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "diffgen-studio"


def user_config_dir() -> Path:
    """Per-user config folder; DIFFGEN_CONFIG_DIR overrides it."""
    env = os.environ.get("DIFFGEN_CONFIG_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "diffgen-studio"


def demo_workspace_dir() -> Path:
    return user_data_dir() / "demo-workspace"
