"""Start-up: QApplication, style sheet, the workspace to open, the main window."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from backend.data.importer import ensure_demo_workspace
from backend.paths import resource
from backend.workspace import Workspace


def make_app(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance() or QApplication(argv or sys.argv[:1])
    app.setApplicationName("DiffGen Studio")
    app.setOrganizationName("DiffGen")
    app.setWindowIcon(QIcon(str(resource("icons", "diffgen.svg"))))
    qss = resource("style.qss")
    if qss.exists():
        app.setStyleSheet(qss.read_text())
    return app


def open_workspace(path: str | Path | None) -> Workspace:
    """The named workspace, or the demo workspace (created on first run)."""
    return Workspace.open(path) if path else ensure_demo_workspace()


def main(workspace: str | None = None) -> int:
    app = make_app()
    from diffgen_gui.main_window import MainWindow

    win = MainWindow(open_workspace(workspace))
    win.show()
    return app.exec()
