"""Start-up: QApplication, theme (palette + style sheet), the workspace to open, the main window."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from backend.config import threads
from backend.config.paths import resource
from backend.data.importer import ensure_demo_workspace
from backend.workspace import Workspace
from diffgen_gui.prefs import load_prefs
from diffgen_gui.qt_messages import install_log
from diffgen_gui.theme import THEMES, apply_theme


def make_app(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance() or QApplication(argv or sys.argv[:1])
    if not isinstance(app, QApplication):
        raise RuntimeError("a QCoreApplication is running; the GUI needs a QApplication")
    app.setApplicationName("DiffGen Studio")
    app.setOrganizationName("DiffGen")
    app.setWindowIcon(QIcon(str(resource("icons", "diffgen.svg"))))
    theme = load_prefs().get("theme", "system")
    apply_theme(app, theme if theme in THEMES else "system")
    return app


def open_workspace(path: str | Path | None) -> Workspace:
    """The named workspace, or the demo workspace (created on first run)."""
    return Workspace.open(path) if path else ensure_demo_workspace()


def main(workspace: str | None = None) -> int:
    threads.configure_process()
    app = make_app()
    from diffgen_gui.main_window import MainWindow

    win = MainWindow(open_workspace(workspace))
    install_log(lambda: win.workspace.path("logs") / "gui.log")
    try:
        win.show()
        load_test_hook(win)
        return app.exec()
    finally:  # however the loop ended, the worker thread stops before Qt objects go away
        if win.queue is not None:
            win.queue.shutdown()


def load_test_hook(win) -> None:
    """``DIFFGEN_GUI_HOOK=FILE.py``: run ``FILE.start(window)`` once the window is shown. The
    real-window journey test drives the real app from inside its process this way."""
    path = os.environ.get("DIFFGEN_GUI_HOOK")
    if not path:
        return
    spec = importlib.util.spec_from_file_location("diffgen_gui_hook", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"DIFFGEN_GUI_HOOK={path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    module.start(win)


def rater_main(workspace: str, survey: str, rater: str) -> int:
    """``diffgen survey rate``: the rater window alone, full screen."""
    from backend.survey import RaterSession
    from diffgen_gui.survey_rater import RaterWindow

    app = make_app()
    win = RaterWindow(RaterSession.open(Workspace.open(workspace), survey, rater))
    win.show_full_screen()  # the only window: ending the session (asked first) quits
    load_test_hook(win)
    return app.exec()
