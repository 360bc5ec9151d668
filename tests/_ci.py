"""Whether the tests run under CI, and what a missing system tool does there.

A Python dependency of the tests (the ``test`` extra) is imported plainly: missing, its tests
fail. A system tool (Xvfb, Chromium, openssl) cannot come from pip, so a developer's machine
without it skips the tests that need it; under CI (``.ci/run`` installs them and sets ``CI``)
the same absence fails, so a broken CI image never turns into a green run of skips.
"""

from __future__ import annotations

import os

import pytest


def under_ci() -> bool:
    """``CI`` is set to anything but empty, 0 or false (GitHub and GitLab set "true", .ci/run too)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def missing_system_tool(message: str) -> None:
    """Stop the calling test: fail under CI, skip elsewhere; ``message`` says what to install."""
    if under_ci():
        pytest.fail(f"{message} (CI must install it: .ci/run)")
    pytest.skip(message)
