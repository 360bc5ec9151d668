"""Where things live: packaged resources, the user's data and config folders.

The user folders follow each platform's convention through ``platformdirs`` (XDG on Linux,
``~/Library/Application Support`` on macOS, ``%LOCALAPPDATA%`` on Windows); the
``DIFFGEN_DATA_DIR`` / ``DIFFGEN_CONFIG_DIR`` environment variables override them (tests,
portable installs).
"""

from __future__ import annotations

import os
from importlib import resources as _res
from pathlib import Path

APP = "diffgen-studio"


def resource(*parts: str) -> Path:
    """Path of a file shipped in the ``resources`` package (works from a wheel too)."""
    return Path(str(_res.files("resources").joinpath(*parts)))


def _platform_dirs():
    from platformdirs import PlatformDirs  # imported on first use: start-up stays light

    return PlatformDirs(APP, appauthor=False)


def user_data_dir() -> Path:
    """Per-user data folder; DIFFGEN_DATA_DIR overrides it."""
    env = os.environ.get("DIFFGEN_DATA_DIR")
    return Path(env) if env else Path(_platform_dirs().user_data_dir)


def user_config_dir() -> Path:
    """Per-user config folder; DIFFGEN_CONFIG_DIR overrides it."""
    env = os.environ.get("DIFFGEN_CONFIG_DIR")
    return Path(env) if env else Path(_platform_dirs().user_config_dir)


# One demo data set: the app's demo workspace, 'diffgen demo' (which runs in that workspace by
# default) and 'diffgen demo-data' write this many images (the app's 40 and the demo's 30 differed).
DEMO_COUNT = 30


def demo_workspace_dir() -> Path:
    return user_data_dir() / "demo-workspace"
