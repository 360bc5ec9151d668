"""The app's remembered choices (theme, the Generate form's last values): one small JSON
file in the user's config folder, written atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from backend.config.paths import user_config_dir
from backend.io.files import atomic_write_text


def prefs_file() -> Path:
    return user_config_dir() / "gui-settings.json"


def load_prefs() -> dict[str, Any]:
    try:
        data = json.loads(prefs_file().read_text())
    except (OSError, ValueError):  # none yet, or unreadable: start from the defaults
        return {}
    return data if isinstance(data, dict) else {}


def save_pref(key: str, value: Any) -> None:
    atomic_write_text(prefs_file(), json.dumps({**load_prefs(), key: value}, indent=1))
