"""What the issue-20 walk's steps share: pictures, waits, a pixel's point, question boxes
answered by a click, the focus given back after a dialog. Imported inside the app (the
journey's helpers need its environment), so Qt and ``journey_hook`` load lazily."""

from __future__ import annotations

import time
from collections.abc import Iterator


def shot(name: str):
    from journey_hook import Shot

    return Shot(name)


def wait(what: str, until, timeout_s: float = 10):
    from journey_hook import Wait

    return Wait(what, until, timeout_s)


def at(canvas, x: float, y: float):
    """The widget point over image pixel (x, y)."""
    from PySide6.QtCore import QPointF

    return canvas._transform().map(QPointF(x + 0.5, y + 0.5)).toPoint()


def answer_box(j, name: str, button, tries: int = 100) -> None:
    """The next question box is photographed and answered by clicking ``button`` (a standard
    button) on it; call it just before the click that opens the box."""
    from journey_hook import click
    from PySide6.QtWidgets import QApplication, QMessageBox

    def answer(left: int = tries) -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            if left <= 0:
                j.note(f"no question box appeared for {name}")
                return
            QTimer.singleShot(100, lambda: answer(left - 1))
            return
        j.note(f"question box {name}: {box.text()!r}")
        j.asked.append(box.text())
        j.screenshot(name)
        click(box.button(button))

    from PySide6.QtCore import QTimer

    if not hasattr(j, "asked"):
        j.asked = []
    QTimer.singleShot(100, answer)


def reactivate(j) -> Iterator:
    """After a dialog closed: a window manager gives the focus back to the main window; Xvfb
    has none, so the walk does what it would."""
    w = j.win
    j.note(f"main window active after the dialog: {w.isActiveWindow()}")
    if not w.isActiveWindow():
        w.activateWindow()
        since = time.monotonic()
        yield wait("the window active again", lambda: w.isActiveWindow() or time.monotonic() - since > 3, 5)
        assert w.isActiveWindow()


def same_width(w) -> None:
    assert w.width() == w.walk_width, f"the window widened: {w.walk_width} -> {w.width()} px"
