"""The project's one CSV writer (and the matching reader), safe to open in a spreadsheet.

A text cell that starts with ``=``, ``+``, ``-``, ``@``, tab or carriage return is run as
a formula by Excel, LibreOffice and Google Sheets (CSV injection). Following OWASP, such a
cell is written with a single quote in front, which spreadsheets show as text. Only text
is escaped: numbers (``-0.5`` written from a float) stay numbers.

Reading (answer sheets filled in elsewhere) undoes exactly that escape and copes with the
encodings and separators spreadsheets save CSV in.
"""

from __future__ import annotations

import codecs
import csv
import io
import numbers
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from backend.errors import BadInputError
from backend.io.files import atomic_write_text

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_ESCAPE = "'"


def escape_cell(value: object) -> object:
    """A cell as written: numbers and None unchanged, text quoted when it could run as a formula."""
    if value is None or isinstance(value, numbers.Number):
        return value
    text = str(value)
    return _ESCAPE + text if text.startswith(FORMULA_START) else text


def unescape_cell(text: str) -> str:
    """Undo :func:`escape_cell`: a quote followed by a formula character is our escape."""
    if len(text) > 1 and text[0] == _ESCAPE and text[1:].startswith(FORMULA_START):
        return text[1:]
    return text


Row = Sequence[object] | Mapping[str, object]


def _cells(header: Sequence[str], row: Row) -> list[object]:
    if isinstance(row, Mapping):
        extra = set(row) - set(header)
        if extra:
            raise ValueError(f"row has columns not in the header: {sorted(extra)}")
        row = [row.get(h, "") for h in header]
    return [escape_cell(c) for c in row]


def csv_text(header: Sequence[str], rows: Iterable[Row]) -> str:
    """CSV text with a header line; rows are sequences or dicts keyed by the header."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")  # RFC 4180; also makes a lone CR in a cell get quoted
    w.writerow([escape_cell(h) for h in header])
    w.writerows(_cells(header, r) for r in rows)
    return buf.getvalue()


def write_csv(path: str | os.PathLike, header: Sequence[str], rows: Iterable[Row]) -> Path:
    """Write a CSV file atomically (UTF-8); see :func:`csv_text`."""
    return atomic_write_text(path, csv_text(header, rows))


def _decode(path: Path, data: bytes) -> tuple[str, str | None]:
    """Text of a CSV file and a note when it was not UTF-8 (what spreadsheets save varies)."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16"), None
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError:
        pass
    try:
        text, name = data.decode("cp1252"), "Windows-1252"
    except UnicodeDecodeError:
        text, name = data.decode("latin-1"), "Latin-1"
    return text, (
        f"{path.name} is not UTF-8; it was read as {name}. Check that accented "
        "characters came through; save as 'CSV UTF-8' to avoid this."
    )


def read_csv(path: str | os.PathLike) -> tuple[list[str], list[dict[str, str]], str | None]:
    """(columns, rows, note) of a CSV file written here or by a spreadsheet.

    Accepts UTF-8 (with or without BOM), UTF-16 with BOM and, with a note, Windows-1252 /
    Latin-1; the separator may be ',', ';' (spreadsheets in many locales) or tab. Cells are
    stripped of our formula escape. Rows keep their line numbers in the key ``_line``.
    """
    path = Path(path)
    try:
        text, note = _decode(path, path.read_bytes())
    except OSError as e:
        raise BadInputError(f"cannot read {path}: {e}") from e
    first = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first.count)
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        lines = [(reader.line_num, row) for row in reader]
    except csv.Error as e:
        raise BadInputError(f"{path.name} is not a readable CSV file ({e}); save it from the spreadsheet as CSV") from e
    if not lines:
        raise BadInputError(f"{path.name} is empty; expected a header line and one row per answer")
    columns = [unescape_cell(c).strip() for c in lines[0][1]]
    rows = []
    for line, cells in lines[1:]:
        if not any(c.strip() for c in cells):
            continue
        row = {col: unescape_cell(c) for col, c in zip(columns, cells)}
        row["_line"] = str(line)
        rows.append(row)
    return columns, rows, note
