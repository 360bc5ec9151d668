"""Reports view: the files under the workspace's ``reports/`` folder (PNG, Markdown, HTML, CSV, text).

The folder is watched: a report written by a job or the CLI appears without pressing Refresh.
CSV and TSV files are shown as tables.
"""

from __future__ import annotations

import csv
from pathlib import Path

from PySide6.QtCore import QFileSystemWatcher, Qt, QTimer, Slot
from PySide6.QtGui import QPixmap, QTextOption
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from diffgen_gui.state import WorkspaceState

IMAGES = {".png", ".jpg", ".jpeg", ".svg"}
TABLES = {".csv": ",", ".tsv": "\t"}
TEXT = {".md", ".markdown", ".txt", ".json", ".tex", ".log"}
PAGES = {".html", ".htm"}  # the demo's report.html beside report.md: one self-contained page
SETTLE_MS = 300  # a burst of file events becomes one refresh
MAX_TABLE_ROWS = 5000  # larger tables show their first rows (the file has them all)


def read_table(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8", errors="replace") as f:
        return [row for _, row in zip(range(MAX_TABLE_ROWS + 1), csv.reader(f, delimiter=TABLES[path.suffix.lower()]))]


class ReportsView(QWidget):
    def __init__(self, state: WorkspaceState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state, self.ws = state, state.workspace
        self.files = QListWidget()
        self.files.currentItemChanged.connect(lambda cur, _prev: self.show_file(cur))
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh)
        self.hint = QLabel(wordWrap=True, objectName="hint")
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.files, 1)
        ll.addWidget(self.hint)
        ll.addWidget(refresh)
        self.text = QTextBrowser(openExternalLinks=True)
        # lines break between words only: a narrow table column read "Compariso / n" (a wide one scrolls)
        self.text.setWordWrapMode(QTextOption.WrapMode.WordWrap)
        self.picture = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        pic_scroll = QScrollArea(widgetResizable=True)
        pic_scroll.setWidget(self.picture)
        self.table = QTableWidget()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.stack = QStackedWidget()
        for w in (self.text, pic_scroll, self.table):
            self.stack.addWidget(w)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(self.stack)
        split.setSizes([280, 1000])
        split.setStretchFactor(1, 1)
        QVBoxLayout(self).addWidget(split)
        self.watcher = QFileSystemWatcher(self)
        self.watcher.directoryChanged.connect(self._folder_changed)
        self.settle = QTimer(self, singleShot=True, interval=SETTLE_MS)
        self.settle.timeout.connect(self.refresh)
        self.refresh()

    @property
    def folder(self) -> Path:
        return self.ws.path("reports")

    @Slot(str)
    def _folder_changed(self, _path: str) -> None:
        self.settle.start()

    def _watch(self) -> None:
        """The reports folder and every folder in it (or the workspace, until reports/ exists)."""
        folders = [self.folder, *(p for p in self.folder.rglob("*") if p.is_dir())] if self.folder.is_dir() else [self.ws.root]
        old = self.watcher.directories()
        if old:
            self.watcher.removePaths(old)
        self.watcher.addPaths([str(p) for p in folders])

    @Slot()
    def refresh(self) -> None:
        current = self.files.currentItem()
        keep = current.data(Qt.ItemDataRole.UserRole) if current else None
        self._watch()
        self.files.blockSignals(True)
        self.files.clear()
        found = (
            sorted(
                (p for p in self.folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGES | TEXT | PAGES | set(TABLES)),
                key=lambda p: (str(p.parent), p.name),
            )
            if self.folder.is_dir()
            else []
        )
        for p in found:
            item = QListWidgetItem(str(p.relative_to(self.folder)))
            item.setData(Qt.ItemDataRole.UserRole, str(p))
            self.files.addItem(item)
        self.files.blockSignals(False)
        self.hint.setText(
            f"{len(found)} file{'s' * (len(found) != 1)}; new ones appear here as they are written."
            if found
            else "No reports yet. Evaluations and experiments write their tables and figures to the "
            "workspace's reports folder; they appear here as they are written."
        )
        self.hint.setToolTip(str(self.folder))
        if found:
            rows = [i for i in range(self.files.count()) if self.files.item(i).data(Qt.ItemDataRole.UserRole) == keep]
            self.files.setCurrentRow(rows[0] if rows else 0)
            self.show_file(self.files.currentItem())
        else:
            self.text.setMarkdown(
                "## No reports yet\nRun `diffgen evaluate` or a segmentation experiment; their figures and tables appear here."
            )
            self.stack.setCurrentIndex(0)

    def show_file(self, item: QListWidgetItem | None) -> None:
        if item is None:
            return
        path = Path(item.data(Qt.ItemDataRole.UserRole))
        suffix = path.suffix.lower()
        if suffix in IMAGES:
            self.picture.setPixmap(QPixmap(str(path)))
            self.stack.setCurrentIndex(1)
            return
        try:
            if suffix in TABLES:
                self._show_table(read_table(path))
                return
            text = path.read_text(errors="replace")
        except OSError as e:
            text = f"cannot read {path}: {e}"
        self.text.setSearchPaths([str(path.parent)])
        if suffix in (".md", ".markdown"):
            self.text.setMarkdown(text)
        elif suffix in PAGES:
            self.text.setHtml(text)
        else:
            self.text.setPlainText(text)
        self.stack.setCurrentIndex(0)

    def _show_table(self, rows: list[list[str]]) -> None:
        header, body = (rows[0], rows[1:]) if rows else ([], [])
        width = max([len(header), *map(len, body)], default=0)
        self.table.clear()
        self.table.setColumnCount(width)
        self.table.setRowCount(len(body))
        self.table.setHorizontalHeaderLabels(header + [""] * (width - len(header)))
        for r, row in enumerate(body):
            for c, value in enumerate(row):
                item = QTableWidgetItem(value)
                if _is_number(value):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        self.stack.setCurrentIndex(2)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
