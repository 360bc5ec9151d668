"""One-off background tasks (import, export) with a progress dialog and cancel.

The task's thread only emits signals; :class:`ProgressTask` lives in the GUI thread and its
slots receive them there (queued), so the dialog is only ever touched by the GUI thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot
from PySide6.QtWidgets import QProgressDialog, QWidget


class _TaskThread(QThread):
    """Runs ``func(progress, cancel)``; emits progress, then done or failed."""

    progressed = Signal(int, int, str)
    done = Signal(object)
    failed = Signal(str)

    def __init__(self, func: Callable[[Callable, Callable], Any], cancel: threading.Event, parent: QObject):
        super().__init__(parent)
        self.func, self.cancel = func, cancel

    def run(self) -> None:
        try:
            result = self.func(lambda d, t, m="": self.progressed.emit(int(d), int(t), str(m)), self.cancel.is_set)
        except Exception as e:  # noqa: BLE001 - shown to the user, never crashes the app
            self.failed.emit(str(e))
            return
        self.done.emit(result)


class ProgressTask(QObject):
    """Start ``func`` in the background behind a cancellable progress dialog; ``on_done(result)``
    or ``on_failed(message)`` is called in the GUI thread when it ends."""

    def __init__(self, parent: QWidget, title: str, func, on_done: Callable[[Any], None], on_failed: Callable[[str], None]):
        super().__init__(parent)
        self.title, self.on_done, self.on_failed = title, on_done, on_failed
        self._cancel = threading.Event()
        self.dialog = QProgressDialog(title, "Cancel", 0, 0, parent)
        self.dialog.setWindowTitle(title)
        self.dialog.setMinimumDuration(300)
        self.dialog.setAutoClose(False)
        self.dialog.setAutoReset(False)
        self.dialog.canceled.connect(self._cancel.set)
        self._thread = _TaskThread(func, self._cancel, self)
        self._thread.progressed.connect(self._progressed)
        self._thread.done.connect(self._done)
        self._thread.failed.connect(self._failed)
        self._thread.start()

    @Slot(int, int, str)
    def _progressed(self, done: int, total: int, message: str) -> None:
        self.dialog.setMaximum(max(total, 1))
        self.dialog.setValue(done)
        self.dialog.setLabelText(f"{self.title}: {done}/{total}  {message}")

    @Slot(object)
    def _done(self, result: Any) -> None:
        self._end()
        self.on_done(result)

    @Slot(str)
    def _failed(self, message: str) -> None:
        self._end()
        self.on_failed(message)

    def _end(self) -> None:
        self.dialog.close()
        self._thread.wait()
        self.deleteLater()


def run_with_progress(parent: QWidget, title: str, func, on_done, on_failed) -> ProgressTask:
    return ProgressTask(parent, title, func, on_done, on_failed)
