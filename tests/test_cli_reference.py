"""docs/cli.md is generated from the parser; it must not drift from the real commands."""

from pathlib import Path

from backend.cli.reference import cli_reference
from diffgen_gui.launcher import build_parser

ROOT = Path(__file__).resolve().parents[1]


def test_cli_reference_is_current():
    expected = cli_reference(build_parser())
    assert (ROOT / "docs" / "cli.md").read_text() == expected, "docs/cli.md is stale: run 'diffgen cli-reference > docs/cli.md'"
    for command in ("demo", "train", "inpaint", "style", "cluster", "fid", "msssim", "segment", "survey", "export", "gui"):
        assert f"## `diffgen {command}`" in expected
