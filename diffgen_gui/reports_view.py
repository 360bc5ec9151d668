"""Reports view: the files under the workspace's ``reports/`` folder (PNG, Markdown, CSV, text)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (QLabel, QListWidget, QListWidgetItem, QPushButton, QScrollArea, QSplitter,
                               QStackedWidget, QTextBrowser, QVBoxLayout, QWidget)

from diffgen_gui.state import WorkspaceState

IMAGES = {".png", ".jpg", ".jpeg", ".svg"}
TEXT = {".md", ".markdown", ".csv", ".txt", ".json", ".tex", ".log", ".tsv"}


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
        self.picture = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        pic_scroll = QScrollArea(widgetResizable=True)
        pic_scroll.setWidget(self.picture)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.text)
        self.stack.addWidget(pic_scroll)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(self.stack)
        split.setSizes([280, 1000])
        split.setStretchFactor(1, 1)
        QVBoxLayout(self).addWidget(split)
        self.refresh()

    @property
    def folder(self) -> Path:
        return self.ws.path("reports")

    def refresh(self) -> None:
        self.files.clear()
        found = sorted((p for p in self.folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGES | TEXT),
                       key=lambda p: (str(p.parent), p.name)) if self.folder.is_dir() else []
        for p in found:
            item = QListWidgetItem(str(p.relative_to(self.folder)))
            item.setData(Qt.ItemDataRole.UserRole, str(p))
            self.files.addItem(item)
        self.hint.setText(f"{len(found)} files in {self.folder}" if found else
                          f"No reports yet. Evaluations and experiments write their tables and figures to "
                          f"{self.folder}.")
        if found:
            self.files.setCurrentRow(0)
        else:
            self.text.setMarkdown("## No reports yet\nRun `diffgen evaluate` or a segmentation experiment; "
                                  "their figures and tables appear here.")
            self.stack.setCurrentIndex(0)

    def show_file(self, item: QListWidgetItem | None) -> None:
        if item is None:
            return
        path = Path(item.data(Qt.ItemDataRole.UserRole))
        if path.suffix.lower() in IMAGES:
            pm = QPixmap(str(path))
            self.picture.setPixmap(pm)
            self.stack.setCurrentIndex(1)
            return
        try:
            text = path.read_text(errors="replace")
        except OSError as e:
            text = f"cannot read {path}: {e}"
        self.text.setSearchPaths([str(path.parent)])
        if path.suffix.lower() in (".md", ".markdown"):
            self.text.setMarkdown(text)
        else:
            self.text.setPlainText(text)
        self.stack.setCurrentIndex(0)
