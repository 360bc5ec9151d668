"""A small report model rendered twice: Markdown (for diffs and GitHub) and one
self-contained HTML file (figures embedded as base64, so it can be mailed or archived).

Tables are rows of cells, not pre-rendered text, so both renderings show the same numbers.
"""

from __future__ import annotations

import base64
import html
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from backend.io.files import atomic_write_text


@dataclass
class Table:
    caption: str
    header: list[str]
    rows: list[list[object]]

    def cells(self) -> list[list[str]]:
        return [[_fmt(c) for c in row] for row in self.rows]


@dataclass
class Figure:
    path: Path
    caption: str


@dataclass
class Section:
    title: str
    text: str = ""  # paragraphs (blank-line separated) with inline Markdown: **bold**, *italic*, `code`
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    markdown: str = ""  # a stage's own Markdown (tables, lists), included as is
    markdown_base: Path | None = None  # folder its image links are relative to


def markdown_table(header: Sequence[object], rows: Iterable[Sequence[object]]) -> list[str]:
    """A pipe table's lines: the header, the rule and a line per row (cells as ``str``)."""

    def line(cells: Sequence[object]) -> str:
        return "| " + " | ".join(str(c) for c in cells) + " |"

    return [line(header), "|" + "---|" * len(header), *(line(r) for r in rows)]


def _fmt(value: object) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "–"
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.3e}"
    return "–" if value is None else str(value)


@dataclass
class Report:
    title: str
    subtitle: str = ""
    sections: list[Section] = field(default_factory=list)

    def add(self, section: Section) -> Section:
        self.sections.append(section)
        return section

    # -- Markdown ----------------------------------------------------------------------
    def to_markdown(self, relative_to: Path | None = None) -> str:
        out = [f"# {self.title}", ""]
        if self.subtitle:
            out += [self.subtitle, ""]
        for s in self.sections:
            out += [f"## {s.title}", ""]
            if s.text:
                out += [s.text.strip(), ""]
            if s.markdown:
                out += [_relink(_demote(s.markdown), s.markdown_base, relative_to).strip(), ""]
            for t in s.tables:
                out += [f"**{t.caption}**", "", *markdown_table(t.header, t.cells()), ""]
            for f in s.figures:
                p = Path(f.path)
                rel = Path(os.path.relpath(p, relative_to)) if relative_to else p
                out += [f"![{f.caption}]({rel.as_posix()})", "", f"*{f.caption}*", ""]
        return "\n".join(out)

    # -- HTML --------------------------------------------------------------------------
    def to_html(self) -> str:
        e = html.escape
        parts = [
            f"<!doctype html><html><head><meta charset='utf-8'><title>{e(self.title)}</title>",
            f"<style>{_CSS}</style></head><body><h1>{e(self.title)}</h1>",
        ]
        if self.subtitle:
            parts.append(f"<p class='sub'>{e(self.subtitle)}</p>")
        parts.append(
            "<nav><ol>"
            + "".join(f"<li><a href='#s{i}'>{e(s.title)}</a></li>" for i, s in enumerate(self.sections))
            + "</ol></nav>"
        )
        for i, s in enumerate(self.sections):
            parts.append(f"<section id='s{i}'><h2>{e(s.title)}</h2>")
            for para in filter(None, (p.strip() for p in s.text.split("\n\n"))):
                parts.append(f"<p>{_inline(para)}</p>")  # the Markdown shows it as is: same bold, same code
            if s.markdown:
                parts.append(markdown_to_html(_demote(s.markdown), s.markdown_base))
            for t in s.tables:
                parts.append(
                    f"<table><caption>{e(t.caption)}</caption><tr>" + "".join(f"<th>{e(h)}</th>" for h in t.header) + "</tr>"
                )
                parts += ["<tr>" + "".join(_td(e(c), c) for c in r) + "</tr>" for r in t.cells()]
                parts.append("</table>")
            for f in s.figures:
                p = Path(f.path)
                if p.exists():
                    data = base64.b64encode(p.read_bytes()).decode("ascii")
                    parts.append(
                        f"<figure><img src='data:image/png;base64,{data}' alt='{e(f.caption)}'>"
                        f"<figcaption>{e(f.caption)}</figcaption></figure>"
                    )
                else:
                    parts.append(f"<p class='missing'>Figure missing: {e(str(p))}</p>")
            parts.append("</section>")
        parts.append("</body></html>")
        return "\n".join(parts)

    def write(self, folder: str | Path, stem: str = "report") -> tuple[Path, Path]:
        folder = Path(folder)
        md = atomic_write_text(folder / f"{stem}.md", self.to_markdown(relative_to=folder))
        page = atomic_write_text(folder / f"{stem}.html", self.to_html())
        return md, page


def _demote(md: str) -> str:
    """Headings of an included document sit below the section's own (## -> ####)."""
    return re.sub(r"^(#{1,4}) ", lambda m: "#" * min(len(m.group(1)) + 2, 6) + " ", md, flags=re.M)


def _relink(md: str, base: Path | None, report_dir: Path | None) -> str:
    """Image links of an included document, made relative to the report's folder."""
    if base is None or report_dir is None:
        return md
    return re.sub(
        r"!\[(.*?)\]\((?!data:|https?:)(.+?)\)",
        lambda m: f"![{m.group(1)}]({Path(os.path.relpath(base / m.group(2), report_dir)).as_posix()})",
        md,
    )


def _embed(src: str, base: Path | None) -> str:
    p = Path(src) if base is None else base / src
    if p.exists():
        return "data:image/png;base64," + base64.b64encode(p.read_bytes()).decode("ascii")
    return src


def _inline(text: str) -> str:
    text = html.escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
    text = re.sub(r"(?<![*\w])\*(?!\s)(.+?)(?<!\s)\*(?![*\w])", r"<i>\1</i>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


def _td(cell_html: str, text: str) -> str:
    """A table cell: numbers align right (the style sheet's default), words left."""
    return f"<td>{cell_html}</td>" if _is_number(text) else f"<td class='t'>{cell_html}</td>"


def _is_number(text: str) -> bool:
    head = text.strip("*`").split(" ± ")[0].replace(",", "").rstrip("%").strip()
    try:
        float(head)
    except ValueError:
        return head in ("", "–")
    return True


def markdown_to_html(md: str, base: Path | None = None) -> str:
    """The Markdown our stages write (headings, pipe tables, lists, images, paragraphs) as
    HTML with images embedded; not a general Markdown renderer."""
    out: list[str] = []
    lines = md.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].rstrip()
        if not line.strip():
            i += 1
        elif line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            out.append(f"<h{level}>{_inline(line[level:].strip())}</h{level}>")
            i += 1
        elif line.lstrip().startswith("|"):
            rows = []
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                cells = [c.strip() for c in lines[i].strip().strip("|").split("|")]
                if not all(re.fullmatch(r":?-{2,}:?", c) for c in cells if c):
                    rows.append(cells)
                i += 1
            if rows:
                out.append(
                    "<table><tr>"
                    + "".join(f"<th>{_inline(c)}</th>" for c in rows[0])
                    + "</tr>"
                    + "".join("<tr>" + "".join(_td(_inline(c), c) for c in r) + "</tr>" for r in rows[1:])
                    + "</table>"
                )
        elif line.lstrip().startswith(">"):  # a note set apart ("> **Simulated raters.** ...")
            quoted = []
            while i < len(lines) and lines[i].lstrip().startswith(">"):
                quoted.append(lines[i].lstrip()[1:].strip())
                i += 1
            paras = " ".join(q or "\n" for q in quoted).split("\n")
            out.append("<blockquote>" + "".join(f"<p>{_inline(q.strip())}</p>" for q in paras if q.strip()) + "</blockquote>")
        elif re.match(r"\s*[-*] ", line):
            items = []
            while i < len(lines) and re.match(r"\s*[-*] ", lines[i]):
                items.append(_inline(re.sub(r"^\s*[-*] ", "", lines[i])))
                i += 1
            out.append("<ul>" + "".join(f"<li>{x}</li>" for x in items) + "</ul>")
        elif m := re.fullmatch(r"\s*!\[(.*?)\]\((.+?)\)\s*", line):
            out.append(
                f"<figure><img src='{_embed(m.group(2), base)}' alt='{html.escape(m.group(1))}'>"
                f"<figcaption>{html.escape(m.group(1))}</figcaption></figure>"
            )
            i += 1
        else:
            para = []
            while i < len(lines) and lines[i].strip() and not re.match(r"\s*(#|\||>|[-*] |!\[)", lines[i]):
                para.append(lines[i].strip())
                i += 1
            out.append(f"<p>{_inline(' '.join(para))}</p>")
    return "\n".join(out)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;
color:#222;line-height:1.45;padding:0 1em}
h1{margin-bottom:.2em}.sub{color:#666;margin-top:0}nav{background:#f5f5f7;padding:.5em 1em;border-radius:6px}
h2{border-bottom:2px solid #e0e0e0;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:1em 0;font-size:.92em}caption{font-weight:600;text-align:left;padding:.3em 0}
th,td{border:1px solid #ddd;padding:.3em .7em;text-align:right}th{background:#f0f2f5}
td:first-child,th:first-child,td.t{text-align:left}
blockquote{margin:1em 0;padding:.1em 1em;border-left:4px solid #d9a400;background:#fff8e1}
figure{margin:1em 0}img{max-width:100%;border:1px solid #ddd}figcaption{color:#555;font-size:.9em}
.missing{color:#a00}
"""
