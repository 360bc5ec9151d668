"""The report document (Markdown and HTML show the same numbers; figures are embedded) and
the one CSV writer (formula-safe) with its reader."""

import base64
import csv
import re
from pathlib import Path

import numpy as np
import pytest

from backend.errors import BadInputError
from backend.io.files import write_png
from backend.reports import Figure, Report, Section, Table
from backend.reports.csvio import read_csv, write_csv
from backend.reports.document import markdown_to_html

ROOT = Path(__file__).resolve().parents[1]


def test_markdown_and_html_carry_the_same_cells_and_embedded_figures(tmp_path):
    img = np.zeros((4, 4, 3), np.uint8)
    fig = write_png(tmp_path / "f.png", img)
    rep = Report("Title", "sub")
    rep.add(
        Section("S", "para one\n\npara two", [Table("T", ["a", "b"], [["x", 0.123456], ["y", None]])], [Figure(fig, "a figure")])
    )
    md_path, html_path = rep.write(tmp_path / "out")
    md, page = md_path.read_text(), html_path.read_text()
    assert "| x | 0.1235 |" in md and "| y | – |" in md
    assert "<td class='t'>x</td><td>0.1235</td>" in page and "<td class='t'>y</td><td>–</td>" in page  # words left
    assert base64.b64encode(fig.read_bytes()).decode() in page  # self-contained
    assert "![a figure](../f.png)" in md
    assert page.count("<p>") == 2 and "<p class='sub'>sub</p>" in page


def test_a_sections_text_is_bold_in_both_renderings_and_escaped_in_html(tmp_path):
    """The demo report's HTML showed "**0 of 156 samples fail the no-polyp gate**" with its stars."""
    rep = Report("T")
    rep.add(Section("S", "**0 of 156 samples (0%) fail** the gate (`gates.py`, a < b)\n\n3 * 4 stays"))
    md_path, html_path = rep.write(tmp_path / "out")
    assert "**0 of 156 samples (0%) fail** the gate" in md_path.read_text()
    page = html_path.read_text()
    assert "<p><b>0 of 156 samples (0%) fail</b> the gate (<code>gates.py</code>, a &lt; b)</p>" in page
    assert "<p>3 * 4 stays</p>" in page


def test_a_quoted_note_is_a_blockquote_not_a_literal_marker():
    """The survey report's "> **Simulated raters.** ..." showed its ">" in the demo's HTML."""
    html = markdown_to_html("> **Simulated raters.** Not expert\n> judgements.\n>\n> Second.\n\nAfter")
    assert html == "<blockquote><p><b>Simulated raters.</b> Not expert judgements.</p><p>Second.</p></blockquote>\n<p>After</p>"


def test_markdown_to_html_tables_lists_images(tmp_path):
    write_png(tmp_path / "p.png", np.zeros((2, 2), np.uint8))
    html = markdown_to_html("## H\n\n| a | b |\n|---|---|\n| 1 | **2** |\n\n- one\n- two\n\n![cap](p.png)\n\ntext *it*", tmp_path)
    assert "<h2>H</h2>" in html
    assert "<tr><th>a</th><th>b</th></tr><tr><td>1</td><td><b>2</b></td></tr>" in html
    assert "<ul><li>one</li><li>two</li></ul>" in html
    assert "src='data:image/png;base64," in html and "<p>text <i>it</i></p>" in html


def test_included_markdown_is_demoted_and_relinked(tmp_path):
    sub = tmp_path / "stage"
    write_png(sub / "c.png", np.zeros((2, 2), np.uint8))
    rep = Report("R")
    rep.add(Section("S", markdown="# Inner\n\n![c](c.png)", markdown_base=sub))
    md = rep.to_markdown(relative_to=tmp_path / "report")
    assert "### Inner" in md and "![c](../stage/c.png)" in md


# -- the one CSV writer -----------------------------------------------------------------


def test_csv_text_that_would_run_as_a_formula_is_quoted_and_numbers_stay_numbers(tmp_path):
    rows = [
        ['=HYPERLINK("http://x")', -0.5],
        ["+1+1", np.float32(-1.5)],
        ["-2+3", -7],
        ["@SUM(A1)", None],
        ["\tlead", ""],
        ["\rlead", "fine"],
        ["plain 'quoted'", np.int64(-3)],
    ]
    path = write_csv(tmp_path / "t.csv", ["text", "=number"], rows)
    with open(path, newline="", encoding="utf-8") as f:
        got = list(csv.reader(f))
    assert got == [
        ["text", "'=number"],
        ['\'=HYPERLINK("http://x")', "-0.5"],
        ["'+1+1", "-1.5"],
        ["'-2+3", "-7"],
        ["'@SUM(A1)", ""],
        ["'\tlead", ""],
        ["'\rlead", "fine"],
        ["plain 'quoted'", "-3"],
    ]
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]  # atomic: no temporary file left
    dicts = write_csv(tmp_path / "d.csv", ["a", "b"], [{"a": "-x"}, {"b": 2.5}])
    assert dicts.read_bytes() == b"a,b\r\n'-x,\r\n,2.5\r\n"
    with pytest.raises(ValueError, match=r"columns not in the header: \['c'\]"):
        write_csv(tmp_path / "e.csv", ["a"], [{"a": 1, "c": 2}])


def test_read_csv_undoes_only_our_escape_and_reads_what_spreadsheets_save(tmp_path):
    cells = ["=1+2", "-minus", "@at", "'quoted", "'", "plain"]
    path = write_csv(tmp_path / "ours.csv", ["v"], [[c] for c in cells])
    columns, rows, note = read_csv(path)
    assert columns == ["v"] and [r["v"] for r in rows] == cells and note is None
    assert [r["_line"] for r in rows] == ["2", "3", "4", "5", "6", "7"]
    # German Excel: Windows-1252 and semicolons; UTF-16 with BOM ("Unicode text")
    (tmp_path / "de.csv").write_bytes("rater;comment\nMüller;Läsion, unscharf\n\n".encode("cp1252"))
    columns, rows, note = read_csv(tmp_path / "de.csv")
    assert columns == ["rater", "comment"] and rows == [{"rater": "Müller", "comment": "Läsion, unscharf", "_line": "2"}]
    assert "de.csv is not UTF-8; it was read as Windows-1252" in note
    (tmp_path / "u16.csv").write_bytes("a\tb\nü\t1\n".encode("utf-16"))
    assert read_csv(tmp_path / "u16.csv")[:2] == (["a", "b"], [{"a": "ü", "b": "1", "_line": "2"}])
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(BadInputError, match="empty.csv is empty"):
        read_csv(tmp_path / "empty.csv")
    with pytest.raises(BadInputError, match="cannot read .*missing.csv"):
        read_csv(tmp_path / "missing.csv")


def test_every_csv_the_project_writes_goes_through_the_one_writer():
    writers = re.compile(r"csv\.writer\(|DictWriter\(")
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "backend").rglob("*.py")
        if p != ROOT / "backend" / "reports" / "csvio.py" and writers.search(p.read_text())
    ]
    assert offenders == []
