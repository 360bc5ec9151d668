"""The one background worker: runs queued jobs one after another on a QThread.

The GUI thread only enqueues, cancels and listens to signals; the worker runs
``backend.jobs.run_job`` with its own SQLite connection (Workspace connections are
per thread), so the interface never waits for a job.
"""

from __future__ import annotations

import ctypes
import threading
import time

from PySide6.QtCore import QObject, QThread, Signal, Slot

from backend.jobs import JobStore, run_job
from backend.workspace import Workspace

SIGNAL_INTERVAL_S = 0.05  # progress signals at most 20 per second (the last one always)


def detect_devices() -> tuple[list[str], str]:
    """CUDA devices (asked of the driver through ctypes: importing torch here would stall the
    interpreter for seconds) and a warning when only the CPU is there."""
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
        count = ctypes.c_int(0)
        if cuda.cuInit(0) == 0 and cuda.cuDeviceGetCount(ctypes.byref(count)) == 0 and count.value > 0:
            return [f"cuda:{i}" for i in range(count.value)] + ["cpu"], ""
    except OSError:
        pass
    return ["cpu"], "No CUDA GPU found: jobs run on the CPU (diffusion training and sampling will be slow)."


class JobWorker(QObject):
    started = Signal(int)                       # job id
    progress = Signal(int, int, int, str, float)  # job id, done, total, message, eta seconds (-1 unknown)
    log = Signal(int, str)
    finished = Signal(int, str, str)            # job id, final status, message
    idle = Signal()
    devices = Signal(list, str)                 # device names, warning

    def __init__(self, ws: Workspace):
        super().__init__()
        self.ws = ws
        self.current: int | None = None
        self._cancel = threading.Event()
        self._stop = threading.Event()

    @Slot()
    def probe_devices(self) -> None:
        names, warning = detect_devices()
        self.devices.emit(names, warning)

    @Slot()
    def run_pending(self) -> None:
        """Run queued jobs until none is left (called again whenever a job is added)."""
        if self.current is not None:
            return
        store = JobStore(self.ws)
        while not self._stop.is_set() and (job := store.claim_next()) is not None:
            self._cancel.clear()
            self.current = job.id
            self.started.emit(job.id)
            self.log.emit(job.id, f"started: {job.describe()} on {job.params.get('device', 'auto')}")
            rec = run_job(self.ws, job.id, self._progress_emitter(job.id), self._cancel.is_set)
            self.current = None
            self.log.emit(job.id, f"{rec.status}: {rec.message}")
            self.finished.emit(job.id, rec.status, rec.message)
        self.ws.close()  # this thread's connection
        self.idle.emit()

    def _progress_emitter(self, job_id: int):
        t0 = time.monotonic()
        last = [0.0]

        def progress(done: int, total: int, message: str = "") -> None:
            t = time.monotonic()
            if t - last[0] < SIGNAL_INTERVAL_S and done < total:
                return
            last[0] = t
            eta = (t - t0) / done * (total - done) if done > 0 and total >= done else -1.0
            self.progress.emit(job_id, int(done), int(total), str(message), float(eta))

        return progress

    def request_cancel(self) -> None:
        """Thread-safe: the running job stops at its next cancel check."""
        self._cancel.set()

    def request_stop(self) -> None:
        self._stop.set()
        self._cancel.set()


class JobQueue(QObject):
    """GUI-side handle: the job store plus the worker thread. Lives in the GUI thread."""

    changed = Signal()        # the list of jobs changed (added, moved, started, finished)
    _wake = Signal()
    _probe = Signal()

    def __init__(self, ws: Workspace, parent: QObject | None = None):
        super().__init__(parent)
        self.ws = ws
        self.store = JobStore(ws)  # marks jobs of a dead process as interrupted
        self.logs: dict[int, list[str]] = {}
        self.thread = QThread(self)
        self.thread.setObjectName("diffgen-job-worker")
        self.worker = JobWorker(ws)
        self.worker.moveToThread(self.thread)
        self._wake.connect(self.worker.run_pending)
        self._probe.connect(self.worker.probe_devices)
        self.worker.started.connect(lambda _j: self.changed.emit())
        self.worker.finished.connect(lambda _j, _s, _m: self.changed.emit())
        self.worker.log.connect(self._log)
        self.devices: tuple[list, str] | None = None  # (names, warning) once probed
        self.worker.devices.connect(lambda names, warning: setattr(self, "devices", (names, warning)))
        self.thread.start()
        self.wake()
        self._probe.emit()

    def _log(self, job_id: int, line: str) -> None:
        self.logs.setdefault(job_id, []).append(f"{time.strftime('%H:%M:%S')}  {line}")

    def wake(self) -> None:
        self._wake.emit()

    def enqueue(self, kind: str, params: dict) -> int:
        job_id = self.store.enqueue(kind, params)
        self._log(job_id, f"queued {kind} {params}")
        self.changed.emit()
        self.wake()
        return job_id

    def cancel(self, job_id: int) -> None:
        job = self.store.get(job_id)
        if job.status == "running" and self.worker.current == job_id:
            self.worker.request_cancel()
            self._log(job_id, "cancel requested")
        elif job.status == "queued":
            self.store.finish(job_id, "cancelled", "cancelled before it started")
            self.changed.emit()

    def move(self, job_id: int, offset: int) -> None:
        self.store.move(job_id, offset)
        self.changed.emit()

    def remove(self, job_id: int) -> None:
        self.store.remove(job_id)
        self.changed.emit()

    def requeue(self, job_id: int) -> None:
        self.store.requeue(job_id)
        self._log(job_id, "queued again")
        self.changed.emit()
        self.wake()

    def busy(self) -> bool:
        return self.worker.current is not None

    def shutdown(self, wait_ms: int = 5000) -> bool:
        """Stop after cancelling the running job; False if it did not stop in time
        (it is then marked interrupted the next time the workspace is opened)."""
        self.worker.request_stop()
        self.thread.quit()
        return self.thread.wait(wait_ms)
