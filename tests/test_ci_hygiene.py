"""The suite's own honesty under CI: a missing system tool fails there (skips only on a
developer's machine), golden files are never regenerated there, and no test skips because a
Python package is missing (the test extra installs them all: missing means broken)."""

from __future__ import annotations

from pathlib import Path

import pytest
from _ci import missing_system_tool, under_ci
from _report_helpers import GOLDEN, same_as_golden

TESTS = Path(__file__).resolve().parent


@pytest.mark.parametrize("value", ["true", "1", "yes"])
def test_a_missing_system_tool_fails_under_ci(monkeypatch, value):
    monkeypatch.setenv("CI", value)
    assert under_ci()
    with pytest.raises(pytest.fail.Exception, match="xvfb-run is not installed.*CI must install it"):
        missing_system_tool("xvfb-run is not installed")


@pytest.mark.parametrize("value", [None, "", "0", "false"])
def test_a_missing_system_tool_skips_outside_ci(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.skip.Exception, match="xvfb-run is not installed"):
        missing_system_tool("xvfb-run is not installed")


def test_golden_files_are_not_regenerated_under_ci(monkeypatch):
    golden = GOLDEN / "evaluate-tables.md"
    before = golden.read_bytes()
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("DIFFGEN_REGEN_GOLDEN", "1")
    with pytest.raises(pytest.fail.Exception, match="DIFFGEN_REGEN_GOLDEN is set under CI"):
        same_as_golden("evaluate-tables.md", "a changed report\n")
    assert golden.read_bytes() == before


def test_no_test_skips_on_a_missing_python_package():
    found = [
        f"{path.relative_to(TESTS)}:{n}"
        for path in TESTS.rglob("*.py")
        if path.name != Path(__file__).name
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "importorskip(" in line
    ]
    assert not found, f"import the package instead (a test extra: missing must fail): {found}"
