"""The README's first screen says what the install costs, how to get CPU-only torch, how long
the tests take and which system packages the GUI and browser tests need (issue 33 item 14):
the package list is the one .ci/run installs, so the two cannot drift apart."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _first_screen() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return text.split("## From a real dataset")[0]


def test_the_first_screen_names_every_system_package_ci_installs():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    packages = re.search(r'^XPKGS="([^"]+)"', ci, re.M)
    assert packages is not None
    words = set(_first_screen().replace("`", " ").split())
    assert set(packages.group(1).split()) <= words


def test_the_first_screen_gives_cpu_torch_at_the_pinned_versions_and_the_costs():
    pins = [d for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"] if d.startswith("torch")]
    screen = _first_screen()
    cpu = next(line for line in screen.splitlines() if "download.pytorch.org/whl/cpu" in line)
    assert all(pin in cpu for pin in pins), (pins, cpu)  # the CPU wheels of the versions the project pins
    assert re.search(r"\d+(\.\d+)? GB", screen) and re.search(r"tests \(about \d+ minutes", screen)
