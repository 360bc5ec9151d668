"""What to do next on an empty view: a short text, the command that does it (copyable, never
widening the window) and a button that starts it in the app."""

from __future__ import annotations

from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget


class Welcome(QWidget):
    def __init__(self, title: str, text: str, command: str, button: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.text = QLabel(f"<h3>{title}</h3><p>{text}</p>", wordWrap=True)
        self.command = QLineEdit(command, readOnly=True, toolTip="The same from a terminal (select to copy)")
        self.command.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.command.setCursorPosition(0)
        self.button = QPushButton(button)
        self.button.setObjectName("primary")
        row = QHBoxLayout()
        row.addWidget(self.button)
        row.addStretch(1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.text)
        lay.addLayout(row)
        lay.addWidget(QLabel("or run:", objectName="hint"))
        lay.addWidget(self.command)
        lay.addStretch(1)
