"""The paper's Table 7 as a table widget: a question over its answers, one row per data type."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTableWidget, QTableWidgetItem

from backend.survey.template import Template


class Table7Widget(QTableWidget):
    """The paper's Table 7 layout: two header rows (a question over its answers, from the
    survey's template), one row per data type."""

    def __init__(self):
        super().__init__(0, 9)
        self.horizontalHeader().hide()
        self.verticalHeader().hide()
        # sized to its content: never a scroll box inside the results' scroll area
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)

    def show_rows(self, rows, template: Template) -> None:
        self.clear()
        self.clearSpans()
        answers = [a for q in template.questions for a in q.answers]
        self.setColumnCount(1 + len(answers))
        self.setRowCount(2 + len(rows))
        self._cell(0, 0, "", bold=True)
        col = 1
        for q in template.questions:
            self._cell(0, col, q.title.rstrip("?"), bold=True)
            self.setSpan(0, col, 1, len(q.answers))
            col += len(q.answers)
        for col, text in enumerate(["Data type"] + [a.label for a in answers]):
            self._cell(1, col, text, bold=True)
        for r, row in enumerate(rows, start=2):
            self._cell(r, 0, row.label, bold=True)
            for c, v in enumerate(row.cells(), start=1):
                self._cell(r, c, str(v))
        self.resizeColumnsToContents()
        for c in range(1, 1 + len(answers)):  # equal number columns, wide enough for the spanning headers
            self.setColumnWidth(c, 88)
        self.setFixedWidth(self.columnWidth(0) + len(answers) * 88 + 4)
        self.setFixedHeight(self.verticalHeader().length() + 4)

    def _cell(self, r: int, c: int, text: str, bold: bool = False) -> None:
        item = QTableWidgetItem(text)
        item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
        if bold:
            f = item.font()
            f.setBold(True)
            item.setFont(f)
        self.setItem(r, c, item)
