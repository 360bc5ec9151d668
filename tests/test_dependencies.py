"""Every runtime dependency in pyproject.toml is imported by the app (tests-only ones belong
in the test extra), so the app and the bundle carry nothing for nothing."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _imported_modules() -> set[str]:
    pattern = re.compile(r"^\s*(?:from|import)\s+([A-Za-z_][A-Za-z0-9_]*)", re.M)
    return {
        m for folder in ("backend", "diffgen_gui") for f in (ROOT / folder).rglob("*.py") for m in pattern.findall(f.read_text())
    }


def test_every_runtime_dependency_is_imported_at_run_time():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    wanted = {_normal(re.split(r"[<>=!~; \[]", d, maxsplit=1)[0]) for d in deps}
    provided: dict[str, set[str]] = {}
    for module, dists in packages_distributions().items():
        for dist in dists:
            provided.setdefault(_normal(dist), set()).add(module)
    imported = _imported_modules()
    unused = sorted(d for d in wanted if not provided.get(d, set()) & imported)
    assert unused == [], f"runtime dependencies the app never imports (move them to an extra): {unused}"
