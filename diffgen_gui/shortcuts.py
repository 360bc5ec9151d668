"""Help > Keyboard shortcuts: every key of every view in one table, gathered from where the
keys are defined (the menus' actions and each view's ``KEYS``), so the list cannot drift."""

from __future__ import annotations

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QMenu,
    QMenuBar,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from backend.survey.keys import QUESTIONS, commands, shown
from diffgen_gui import dataset_view, mask_tools, review_view


def menu_keys(bar: QMenuBar) -> list[tuple[str, str, str]]:
    """(menu, keys, action) for every menu action with a shortcut."""
    rows = []
    for top in bar.actions():
        menu = top.menu()
        for a in menu.actions() if isinstance(menu, QMenu) else []:
            keys = " / ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in a.shortcuts())
            if keys:
                rows.append((f"{top.text().replace('&', '')} menu", keys, a.text().replace("&", "")))
    return rows


def rater_keys() -> list[tuple[str, str]]:
    """From the rater's one table (``backend.survey.keys``), in human words."""
    rows = [
        (" / ".join(a.key for a in q.answers), f"{q.title.rstrip('?')}: " + " / ".join(a.label.lower() for a in q.answers))
        for q in QUESTIONS
    ]
    return rows + [(" / ".join(map(shown, c.keys)), c.does) for c in commands(desktop=True)]


def all_shortcuts(bar: QMenuBar) -> list[tuple[str, str, str]]:
    """(where, keys, what) for the whole app."""
    views = [("Dataset", dataset_view.KEYS + mask_tools.KEYS), ("Review", review_view.KEYS), ("Survey rater", rater_keys())]
    return menu_keys(bar) + [(where, keys, what) for where, rows in views for keys, what in rows]


class ShortcutsDialog(QDialog):
    def __init__(self, bar: QMenuBar, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        rows = all_shortcuts(bar)
        self.table = QTableWidget(len(rows), 3)
        self.table.setHorizontalHeaderLabels(["Where", "Keys", "Does"])
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                self.table.setItem(r, c, QTableWidgetItem(text))
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.resizeColumnsToContents()
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        box.rejected.connect(self.close)
        lay = QVBoxLayout(self)
        lay.addWidget(self.table)
        lay.addWidget(box)
        self.resize(720, 560)
