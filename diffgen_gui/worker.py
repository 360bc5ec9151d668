"""The app's one way to run work in the background: the job queue, a worker per lane.

Every job, a training as well as an export or a survey report started by a button, is a job
row with a log, run by the one runner in a child process (see ``backend.jobs.process`` for
why), with progress and cancel through the same signals. The GUI thread only enqueues, cancels
and listens. Each lane (:data:`backend.jobs.kinds.LANES`: GPU jobs, and short CPU-only ones
beside them) has a worker thread that claims its kinds' jobs one after another and reads their
progress, with its own SQLite connection (Workspace connections are per thread), so the
interface never waits for a job.
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections.abc import Callable

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from backend.jobs import joblog
from backend.jobs.estimate import Speed, seconds_left
from backend.jobs.kinds import LANES, lane_kinds
from backend.jobs.params import JobParams
from backend.jobs.process import JobProcess
from backend.jobs.queue import JOB_KINDS, JobRecord, JobStore
from backend.jobs.throttle import Throttle
from backend.workspace import Workspace

SIGNAL_INTERVAL_S = 0.05  # progress signals at most 20 per second (the last one always)
POLL_MS = 2000  # how often an idle app looks for jobs queued by another process


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
    """Lives in a worker thread: claims the queued jobs of its ``lane`` and runs each in a child
    process (:class:`backend.jobs.process.JobProcess`), turning its events into signals. Only the
    GUI thread's :class:`JobQueue` listens to these signals."""

    started = Signal(int)  # job id
    progress = Signal(int, int, int, str, float)  # job id, done, total, message, eta seconds (-1 unknown)
    finished = Signal(int, str, str)  # job id, final status, message
    idle = Signal()
    devices = Signal(list, str)  # device names, warning

    def __init__(self, ws: Workspace, launcher: list[str] | None = None, lane: str = "device"):
        super().__init__()
        self.ws = ws
        self.launcher = launcher
        self.lane = lane
        self.current: int | None = None
        self._lock = threading.Lock()
        self._process: JobProcess | None = None
        self._cancel_next: int | None = None
        self._stop = threading.Event()
        self._leave = "stop"  # what the running job does when the app quits (JobProcess.release)

    @Slot()
    def probe_devices(self) -> None:
        names, warning = detect_devices()
        self.devices.emit(names, warning)

    @Slot()
    def run_pending(self) -> None:
        """Run this lane's queued jobs until none is left (called again whenever a job is added);
        none while another process runs one of its kinds (``diffgen jobs run``: one GPU)."""
        if self.current is not None:
            return
        store = JobStore(self.ws)
        kinds = lane_kinds(self.lane)  # read now: tests register kinds of their own
        while not self._stop.is_set() and not store.running_elsewhere(kinds) and (job := store.claim_next(kinds)) is not None:
            self.current = job.id
            process = JobProcess(self.ws, job.id, self.launcher)
            with self._lock:
                self._process = process
                if self._stop.is_set():  # the app quits as it was claimed
                    process.release(self._leave)
                elif self._cancel_next == job.id:  # cancelled as it was claimed
                    process.cancel()
            self.started.emit(job.id)
            emit_progress = self._progress_emitter(job.id)
            for event in process.events():  # the job's process writes its log (backend.jobs.joblog)
                if event.kind == "progress":
                    emit_progress(event.done, event.total, event.text)
            rec = process.finish(store)
            with self._lock:
                self._process = None
            self.current = None
            if self._stop.is_set():  # the job goes on, or stops, alone: its process records its end
                break
            self.finished.emit(job.id, rec.status, rec.message)
        self.ws.close()  # this thread's connection
        self.idle.emit()

    def _progress_emitter(self, job_id: int, clock: Callable[[], float] = time.monotonic):
        """Progress signals, throttled, with the job's one time estimate (:mod:`backend.jobs.estimate`:
        the units left x this run's measured seconds per unit; -1 until it has measured one)."""
        speed = Speed()
        throttle = Throttle(SIGNAL_INTERVAL_S, clock)

        def progress(done: int, total: int, message: str = "") -> None:
            t = clock()
            per_unit = speed.per_unit(done, t)  # every report, the throttled ones too
            if not throttle.due(done, total, t):
                return
            eta = seconds_left(total - done, per_unit) if per_unit is not None and total >= done else -1.0
            self.progress.emit(job_id, int(done), int(total), str(message), float(eta))

        return progress

    def request_cancel(self, job_id: int | None = None) -> None:
        """Thread-safe: the running job (or job ``job_id``, also when it is only being claimed) is
        asked to stop, and killed if it does not stop in time."""
        with self._lock:
            if self._process is not None and job_id in (None, self._process.job_id):
                self._process.cancel()
            elif job_id is not None:
                self._cancel_next = job_id

    def request_stop(self, how: str = "stop") -> None:
        """Thread-safe, when the app quits: the running job ``stop``s (resumes at the next
        start), ``detach``es (finishes alone) or is ``cancel``led; no new job starts."""
        with self._lock:
            self._leave = how
            self._stop.set()
            if self._process is not None:
                self._process.release(how)

    def kill_current(self) -> None:
        with self._lock:
            if self._process is not None:
                self._process.kill()


class JobQueue(QObject):
    """GUI-side handle: the job store plus a worker thread per lane. Lives in the GUI thread.

    The workers' signals are connected only to slots of this object, so they are delivered in
    the GUI thread; views connect to the signals re-emitted here, never to a worker's."""

    changed = Signal()  # the list of jobs changed (added, moved, started, finished)
    started = Signal(int)
    progress = Signal(int, int, int, str, float)
    finished = Signal(int, str, str)
    workspaceChanged = Signal(list)  # what a job that ended changed: "samples", "masks", ... (JOB_KINDS)
    devicesFound = Signal(list, str)
    _wake = Signal()
    _probe = Signal()

    def __init__(self, ws: Workspace, parent: QObject | None = None, launcher: list[str] | None = None):
        super().__init__(parent)
        self.ws = ws
        self.store = JobStore(ws)  # marks jobs of a dead process as interrupted
        self._latest: dict[int, tuple[int, int]] = {}  # job id -> (done, total) of its last progress signal
        self._threads: dict[str, QThread] = {}
        self.workers = {lane: self._start_worker(lane, launcher) for lane in LANES}
        self._probe.connect(self.worker.probe_devices)
        self.worker.devices.connect(self._on_devices)
        self.devices: tuple[list, str] | None = None  # (names, warning) once probed
        self.poll = QTimer(self)  # jobs queued by another process (the CLI) while the app idles
        self.poll.setInterval(POLL_MS)
        self.poll.timeout.connect(self._poll)
        self._probe.emit()
        self.wake()
        self.poll.start()

    def _start_worker(self, lane: str, launcher: list[str] | None) -> JobWorker:
        """The worker of ``lane`` in a thread of its own, its signals to this object's slots."""
        thread = QThread(self)
        thread.setObjectName(f"diffgen-job-worker-{lane}")
        worker = JobWorker(self.ws, launcher, lane)
        worker.moveToThread(thread)
        self._wake.connect(worker.run_pending)
        worker.started.connect(self._on_started)
        worker.progress.connect(self._on_progress)
        worker.finished.connect(self._on_finished)
        self._threads[lane] = thread
        thread.start()
        return worker

    @property
    def worker(self) -> JobWorker:
        """The worker of the GPU lane (it also probes the devices)."""
        return self.workers["device"]

    @Slot(int)
    def _on_started(self, job_id: int) -> None:
        self.started.emit(job_id)
        self.changed.emit()

    @Slot(int, int, int, str, float)
    def _on_progress(self, job_id: int, done: int, total: int, message: str, eta: float) -> None:
        self._latest[job_id] = (done, total)
        self.progress.emit(job_id, done, total, message, eta)

    def progress_of(self, job: JobRecord) -> tuple[int, int]:
        """(done, total) as the progress bar shows it: the last signal of a job running now (the
        database's copy is written less often: a dialog said 8/200 beside a bar at 12/200)."""
        if job.status == "running" and job.id in self._latest:
            return self._latest[job.id]
        return job.progress_done, job.progress_total

    @Slot(int, str, str)
    def _on_finished(self, job_id: int, status: str, message: str) -> None:
        self._latest.pop(job_id, None)
        self.finished.emit(job_id, status, message)
        self.changed.emit()
        kind = JOB_KINDS.get(self.store.get(job_id).kind)
        if kind is not None and kind.changes:  # a cancelled or failed run may have stored part of its work
            self.workspaceChanged.emit(list(kind.changes))

    @Slot(list, str)
    def _on_devices(self, names: list, warning: str) -> None:
        self.devices = (names, warning)
        self.devicesFound.emit(names, warning)

    def _log(self, job_id: int, line: str) -> None:
        joblog.append(self.ws, job_id, line)

    @Slot()
    def _poll(self) -> None:
        if self.store.queued_ids():  # a busy lane's worker returns at once
            self.wake()

    def wake(self) -> None:
        self._wake.emit()

    def enqueue(self, kind: str, params: JobParams | dict) -> int:
        job_id = self.store.enqueue(kind, params)
        self._log(job_id, f"queued {kind} {self.store.get(job_id).params}")  # as stored: seeds and models fixed
        self.changed.emit()
        self.wake()
        return job_id

    def cancel(self, job_id: int) -> None:
        """Cancel a queued job (it ends here: ``finished`` says so, as for a job that ran) or ask
        the running one to stop (its worker says when it has)."""
        if self.store.cancel_queued(job_id):
            message = self.store.get(job_id).message
            self._log(job_id, f"cancelled: {message}")
            self.finished.emit(job_id, "cancelled", message)
            self.changed.emit()
        elif (job := self.store.get(job_id)).status == "running":
            self.workers[JOB_KINDS[job.kind].lane].request_cancel(job_id)
            self._log(job_id, "cancel requested")

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
        return bool(self.running_jobs())

    def running_jobs(self) -> list[int]:
        """The jobs the workers run now, the GPU lane's first (thread-safe read)."""
        return [w.current for w in self.workers.values() if w.current is not None]

    def running_job(self) -> int | None:
        """The job running now that matters most: the GPU lane's, else the other lane's."""
        return next(iter(self.running_jobs()), None)

    def shutdown(self, wait_ms: int = 15000, how: str = "stop") -> bool:
        """Stop the worker; the running job ``stop``s (queued again, it resumes from its last
        checkpoint or finished image at the next start), ``detach``es (finishes alone) or is
        ``cancel``led. The job's process records its end itself, so this returns at once. False if
        the worker still did not stop; the job is then marked interrupted at the next start."""
        self.poll.stop()
        for worker, thread in zip(self.workers.values(), self._threads.values(), strict=True):
            worker.request_stop(how)
            thread.quit()
        return all(self._stopped(lane, wait_ms) for lane in self._threads)

    def _stopped(self, lane: str, wait_ms: int) -> bool:
        """Whether the worker thread of ``lane`` ended within ``wait_ms`` (its job killed if not)."""
        if self._threads[lane].wait(wait_ms):
            return True
        self.workers[lane].kill_current()
        return self._threads[lane].wait(5000)
