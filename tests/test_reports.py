"""The report document: Markdown and HTML show the same numbers; figures are embedded."""

import base64

import numpy as np

from backend.reports import Figure, Report, Section, Table
from backend.reports.document import markdown_to_html
from backend.workspace.files import write_png


def test_markdown_and_html_carry_the_same_cells_and_embedded_figures(tmp_path):
    img = np.zeros((4, 4, 3), np.uint8)
    fig = write_png(tmp_path / "f.png", img)
    rep = Report("Title", "sub")
    rep.add(Section("S", "para one\n\npara two", [Table("T", ["a", "b"], [["x", 0.123456], ["y", None]])],
                    [Figure(fig, "a figure")]))
    md_path, html_path = rep.write(tmp_path / "out")
    md, page = md_path.read_text(), html_path.read_text()
    assert "| x | 0.1235 |" in md and "| y | – |" in md
    assert "<td>x</td><td>0.1235</td>" in page and "<td>y</td><td>–</td>" in page
    assert base64.b64encode(fig.read_bytes()).decode() in page  # self-contained
    assert "![a figure](../f.png)" in md
    assert page.count("<p>") == 2 and "<p class='sub'>sub</p>" in page


def test_markdown_to_html_tables_lists_images(tmp_path):
    write_png(tmp_path / "p.png", np.zeros((2, 2), np.uint8))
    html = markdown_to_html("## H\n\n| a | b |\n|---|---|\n| 1 | **2** |\n\n- one\n- two\n\n![cap](p.png)\n\ntext *it*",
                            tmp_path)
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
