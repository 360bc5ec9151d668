"""Exporting kept samples: a folder typed or browsed to (a new one is created when the user
confirms), and the result as one short line with an "Open folder" button."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from backend.exporters import FORMATS


class ExportDialog(QDialog):
    chosen = Signal(
        str, bool, str, bool, bool
    )  # folder (exists now), with real images, format, only passed gates, with empty masks

    def __init__(self, parent: QWidget | None = None, start: str = ""):
        super().__init__(parent)
        self.setWindowTitle("Export kept samples")
        self.path = QLineEdit(start, placeholderText="a folder outside the workspace; a new one is created")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.with_real = QCheckBox("Also export the real images with their masks")
        self.only_passed = QCheckBox(
            "Only samples that passed the quality gates",
            toolTip="Leave out kept samples that failed a gate (no polyp, cut off, copy, "
            "seam); samples not scored yet are exported and counted",
        )
        self.include_empty = QCheckBox(
            "Also kept samples with an empty mask",
            toolTip="A sample whose mask has no polyp pixel is left out (and counted) unless this is checked",
        )
        self.format = QComboBox(
            toolTip="The layout of the tool you train with (each carries provenance.csv and a README data card)"
        )
        self.format.addItems(list(FORMATS))
        self.error = QLabel(objectName="error", wordWrap=True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("Export to folder:"))
        lay.addLayout(row)
        fmt = QHBoxLayout()
        fmt.addWidget(QLabel("Format:"))
        fmt.addWidget(self.format, 1)
        lay.addLayout(fmt)
        lay.addWidget(self.with_real)
        lay.addWidget(self.only_passed)
        lay.addWidget(self.include_empty)
        lay.addWidget(self.error)
        lay.addWidget(self.buttons)
        self.resize(560, self.sizeHint().height())

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export kept samples to folder", self.path.text())
        if folder:
            self.path.setText(folder)

    def accept(self) -> None:
        text = self.path.text().strip()
        if not text:
            self.error.setText("Name a folder to export to.")
            return
        folder = Path(text).expanduser()
        if folder.exists() and not folder.is_dir():
            self.error.setText(f"{folder} is a file; name a folder.")
            return
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            self.error.setText(f"Cannot create {folder}: {e.strerror}.")
            return
        super().accept()
        self.chosen.emit(
            str(folder.resolve()),
            self.with_real.isChecked(),
            self.format.currentText(),
            self.only_passed.isChecked(),
            self.include_empty.isChecked(),
        )


def export_result(parent: QWidget, folder: str, summary: str) -> QMessageBox:
    """A non-modal message: the summary's first sentence with the folder by its name (a long
    path pushed the counts out of a short box), the full path and the rest as details, and Open folder."""
    head, _, rest = summary.partition(" (provenance")
    head = head.replace(f" to {folder} ", f' to "{Path(folder).name}" ', 1)
    box = QMessageBox(QMessageBox.Icon.Information, "Export finished", head.rstrip(".") + ".", parent=parent)
    box.setDetailedText(f"Folder: {folder}" + (f"\n(provenance{rest}" if rest else ""))
    open_btn = box.addButton("Open folder", QMessageBox.ButtonRole.ActionRole)
    open_btn.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(folder)))
    box.addButton(QMessageBox.StandardButton.Close)
    box.open()
    return box
