"""Reports: Markdown + self-contained HTML documents built from tables and figures."""

from backend.reports.document import Figure, Report, Section, Table, markdown_table

__all__ = ["Report", "Section", "Table", "Figure", "markdown_table"]
