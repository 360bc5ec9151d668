"""One-off background tasks (import, export) with a progress dialog and cancel."""

from __future__ import annotations

import threading
from typing import Any, Callable

from PySide6.QtCore import QThread, Signal
from PySide6.QtWidgets import QProgressDialog, QWidget


class BackgroundTask(QThread):
    """Runs ``func(progress, cancel)`` off the GUI thread; emits progress, then done or failed."""

    progressed = Signal(int, int, str)
    done = Signal(object)
    failed = Signal(str)

    def __init__(self, func: Callable[[Callable, Callable], Any], parent=None):
        super().__init__(parent)
        self.func = func
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    def run(self) -> None:
        try:
            result = self.func(lambda d, t, m="": self.progressed.emit(int(d), int(t), str(m)), self._cancel.is_set)
        except Exception as e:  # noqa: BLE001 - shown to the user, never crashes the app
            self.failed.emit(str(e))
            return
        self.done.emit(result)


def run_with_progress(parent: QWidget, title: str, func, on_done, on_failed) -> BackgroundTask:
    """Start ``func`` in the background behind a cancellable progress dialog."""
    dialog = QProgressDialog(title, "Cancel", 0, 0, parent)
    dialog.setWindowTitle(title)
    dialog.setMinimumDuration(300)
    dialog.setAutoClose(False)
    dialog.setAutoReset(False)
    task = BackgroundTask(func, parent)

    def progressed(done: int, total: int, message: str) -> None:
        dialog.setMaximum(max(total, 1))
        dialog.setValue(done)
        dialog.setLabelText(f"{title}: {done}/{total}  {message}")

    def finish(handler, value) -> None:
        dialog.close()
        handler(value)
        task.deleteLater()

    task.progressed.connect(progressed)
    dialog.canceled.connect(task.cancel)
    task.done.connect(lambda r: finish(on_done, r))
    task.failed.connect(lambda m: finish(on_failed, m))
    task.dialog = dialog
    task.start()
    return task
