"""A ``DIFFGEN_GUI_HOOK`` for ``benchmarks.startup``: the wall time of the window's first paint
event goes to ``$DIFFGEN_FIRST_PAINT_OUT``, then the app quits. The bare-window baseline
calls :func:`start` too, so both are timed the same way."""

from __future__ import annotations

import os
import time
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QWidget


class _FirstPaint(QObject):
    def __init__(self, win: QWidget):
        super().__init__(win)
        self.win, self.seen = win, False

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        in_window = isinstance(obj, QWidget) and obj.window() is self.win
        if not self.seen and in_window and event.type() == QEvent.Type.Paint:
            self.seen = True
            Path(os.environ["DIFFGEN_FIRST_PAINT_OUT"]).write_text(repr(time.time()))
            QTimer.singleShot(0, QApplication.quit)
        return False


def start(win: QWidget) -> None:
    app = QApplication.instance()
    assert app is not None
    app.installEventFilter(_FirstPaint(win))
