"""A job a button starts and the view that asked waits for: an import, an export, a survey, its report.

Why through the job queue and not a thread of the view's own: such work then has what every job
has, a row in the Jobs list, a log on disk, progress and cancel through the same signals as a
training, and a crash in native code ends the job, not the app. These kinds run in the queue's
CPU lane (:data:`backend.jobs.kinds.LANES`), so they start at once while a training holds the GPU.

:class:`JobWatch` listens only to the :class:`JobQueue`'s signals, which that GUI-thread object
re-emits in the GUI thread, so its dialog and the view's callbacks are touched by the GUI thread
alone. It is a plain object, not a QObject: nothing then waits for a deferred delete when it is
done (a ``deleteLater`` of such a watcher, as the in-process ``ProgressTask`` before it did,
crashed the survey tests now and then as a later test processed its events).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QProgressDialog, QWidget

from backend.errors import DiffGenError
from backend.jobs.params import JobParams
from diffgen_gui.worker import JobQueue

Done = Callable[[dict, str], object]  # the finished job's stored result and its message (the summary)
Failed = Callable[[str, str], object]  # how it ended ("failed", "cancelled", "interrupted") and why


class JobWatch:
    """Follows job ``job_id`` behind a cancellable progress dialog; ``on_done(result, message)``
    or ``on_failed(status, message)`` is called when it ends."""

    def __init__(self, queue: JobQueue, parent: QWidget, title: str, job_id: int, on_done: Done, on_failed: Failed):
        self.queue, self.title, self.job_id = queue, title, job_id
        self.on_done, self.on_failed = on_done, on_failed
        self.dialog = QProgressDialog(title, "Cancel", 0, 0, parent)
        self.dialog.setWindowTitle(title)
        self.dialog.setMinimumDuration(300)
        self.dialog.setAutoClose(False)
        self.dialog.setAutoReset(False)
        self.dialog.canceled.connect(self._cancel)
        queue.progress.connect(self._progressed)
        queue.finished.connect(self._finished)

    def _cancel(self) -> None:
        self.queue.cancel(self.job_id)

    def _progressed(self, job_id: int, done: int, total: int, message: str, _eta: float) -> None:
        if job_id == self.job_id:
            self.dialog.setMaximum(max(total, 1))
            self.dialog.setValue(done)
            self.dialog.setLabelText(f"{self.title}: {done}/{total}  {message}")

    def _finished(self, job_id: int, status: str, message: str) -> None:
        if job_id != self.job_id:
            return
        self.queue.progress.disconnect(self._progressed)
        self.queue.finished.disconnect(self._finished)
        self.dialog.canceled.disconnect(self._cancel)  # closing a progress dialog emits canceled
        self.dialog.close()
        self.dialog.deleteLater()
        if status == "done":
            self.on_done(self.queue.store.get(job_id).result or {}, message)
        else:
            self.on_failed(status, message)


def start_job(
    queue: JobQueue, parent: QWidget, title: str, kind: str, params: JobParams, on_done: Done, on_failed: Failed
) -> JobWatch | None:
    """Queue a ``kind`` job and watch it. A job refused as it is queued (its parameters checked
    against the workspace) goes to ``on_failed`` at once, as failed, and None is returned."""
    try:
        job_id = queue.enqueue(kind, params)
    except DiffGenError as e:
        on_failed("failed", str(e))
        return None
    return JobWatch(queue, parent, title, job_id, on_done, on_failed)
