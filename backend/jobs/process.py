"""One queued job run in a child process.

Why a child process: a segfault or abort in a native library (CUDA, OpenCV, a driver), an
out-of-memory kill or a hang then ends that job only, never the program that queued it;
cancel can become a hard stop when a stage does not answer in time; and the GPU memory the
job held goes back to the system when it ends. The parent side (:class:`JobProcess`) is
Qt-free: the desktop app's worker thread calls it.

Protocol: the child runs :func:`backend.jobs.queue.run_job` and writes events to stdout as JSON
lines that start with :data:`EVENT_PREFIX`; any other output (warnings, a native crash
report) is a log line. The parent writes ``cancel`` to the child's stdin; the end of stdin
(the parent died) cancels too, so no orphan keeps a GPU busy.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from backend.config import threads
from backend.jobs import CHILD_COMMAND
from backend.jobs.queue import JobRecord, JobStore, run_job
from backend.workspace import Workspace

EVENT_PREFIX = "@@diffgen-job "
CANCEL_GRACE_S = 10.0  # a cancelled job that has not stopped by then is killed
EVENT_INTERVAL_S = 0.05  # the child reports progress at most 20 times a second (the last always)
TAIL_LINES = 40  # output lines kept for the message of a crashed job


def default_launcher() -> list[str]:
    """The command that starts the diffgen entry point: the bundle's executable when frozen."""
    return [sys.executable] if getattr(sys, "frozen", False) else [sys.executable, "-m", "backend.cli"]


@dataclass(frozen=True)
class JobEvent:
    """What the child reported: ``progress`` (done, total, text) or a ``log`` line (text)."""

    kind: str
    text: str = ""
    done: int = 0
    total: int = 0


def parse_line(line: str) -> JobEvent:
    if line.startswith(EVENT_PREFIX):
        try:
            data = json.loads(line[len(EVENT_PREFIX) :])
            return JobEvent(str(data["kind"]), str(data.get("text", "")), int(data.get("done", 0)), int(data.get("total", 0)))
        except (ValueError, KeyError, TypeError):
            pass
    return JobEvent("log", line.rstrip("\n"))


def log_path(ws: Workspace, job_id: int) -> Path:
    """Each job's output, kept in the workspace so the log outlives the app session."""
    return ws.path("logs") / f"job-{job_id}.log"


# -- the parent side ------------------------------------------------------------------------
class JobProcess:
    """Runs one claimed job in a child process and gives it a final state whatever happens."""

    def __init__(self, ws: Workspace, job_id: int, launcher: list[str] | None = None, grace_s: float | None = None):
        self.ws, self.job_id = ws, job_id
        self.grace_s = CANCEL_GRACE_S if grace_s is None else grace_s
        self.launcher = launcher or default_launcher()
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._cancelled = False
        self._killed = False
        self._tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._start_error = ""

    def events(self) -> Iterator[JobEvent]:
        """Start the child and yield its events until its output ends."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        cmd = [*self.launcher, CHILD_COMMAND, str(self.ws.root), str(self.job_id)]
        with self._lock:
            try:
                self._proc = subprocess.Popen(
                    cmd,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    encoding="utf-8",
                    errors="replace",
                    env=env,
                    bufsize=1,
                )
            except OSError as e:
                self._start_error = f"could not start the job's process ({cmd[0]}): {e}"
                return
            if self._cancelled:  # cancelled before it started
                self._send_cancel()
        log = _open_log(log_path(self.ws, self.job_id))
        try:
            assert self._proc.stdout is not None
            for line in self._proc.stdout:
                event = parse_line(line)
                if event.kind == "log":
                    self._tail.append(event.text)
                    _write_log(log, event.text)
                yield event
        finally:
            if log is not None:
                log.close()

    def cancel(self) -> None:
        """Thread-safe: ask the job to stop; kill it if it has not stopped after the grace time."""
        with self._lock:
            if self._cancelled:
                return
            self._cancelled = True
            if self._proc is not None:
                self._send_cancel()
        timer = threading.Timer(self.grace_s, self.kill)
        timer.daemon = True
        timer.start()

    def kill(self) -> None:
        """Thread-safe hard stop (SIGKILL)."""
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                self._killed = True
                self._proc.kill()

    def _send_cancel(self) -> None:
        try:
            assert self._proc is not None and self._proc.stdin is not None
            self._proc.stdin.write("cancel\n")
            self._proc.stdin.flush()
        except (OSError, ValueError):  # the child has already gone
            pass

    def finish(self, store: JobStore) -> JobRecord:
        """Wait for the child and return the job's final record; a child that died without
        finishing its job gets a final state here, with the reason and the last output lines."""
        if self._proc is None:
            return store.finish(self.job_id, "failed", self._start_error or "the job's process never started")
        rc = self._proc.wait()
        if self._proc.stdin is not None:
            try:
                self._proc.stdin.close()
            except OSError:
                pass
        rec = store.get(self.job_id)
        if rec.status not in ("running", "interrupted"):
            return rec
        status, message = self._death_verdict(rc)
        return store.finish(self.job_id, status, message, {"exit_code": rc, "output_tail": list(self._tail)})

    def _death_verdict(self, rc: int) -> tuple[str, str]:
        if self._killed:
            return "cancelled", (
                f"cancelled by the user: the job did not stop within {self.grace_s:.0f} s "
                "and was stopped hard (files it had finished are kept)"
            )
        last = next((t for t in reversed(self._tail) if t.strip()), "")
        tail = f"; last output: {last[:300]}" if last else ""
        if rc < 0 and -rc in (signal.SIGKILL, signal.SIGTERM):
            return "interrupted", (
                f"interrupted: the job's process was killed ({_signal_name(-rc)}), "
                "perhaps by the system for lack of memory; re-queue it to run again" + tail
            )
        if rc < 0:
            return "failed", f"the job's process crashed ({_signal_name(-rc)}) in native code{tail}"
        return "failed", f"the job's process exited with code {rc} before finishing the job{tail}"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _open_log(path: Path):
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.open("a", encoding="utf-8")
    except OSError:  # a read-only workspace or a full disk: the log is a convenience
        return None


def _write_log(log, text: str) -> None:
    if log is None:
        return
    try:
        log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')}  {text}\n")
        log.flush()
    except OSError:
        pass


# -- the child side ---------------------------------------------------------------------------
def _emit(kind: str, **fields) -> None:
    sys.stdout.write(EVENT_PREFIX + json.dumps({"kind": kind, **fields}) + "\n")
    sys.stdout.flush()


def _watch_stdin(cancel: threading.Event) -> None:
    for line in sys.stdin:
        if line.strip() == "cancel":
            break
    cancel.set()  # asked to, or the parent is gone


def _throttled_progress() -> Callable[[int, int, str], None]:
    last = [0.0]

    def progress(done: int, total: int, message: str = "") -> None:
        t = time.monotonic()
        if t - last[0] >= EVENT_INTERVAL_S or done >= total:
            last[0] = t
            _emit("progress", done=int(done), total=int(total), text=str(message))

    return progress


def child_main(argv: list[str]) -> int:
    """``diffgen _job-child WORKSPACE JOB_ID``: run one job, reporting events on stdout."""
    threads.configure_process(gui_job=True)
    root, job_id = argv[0], int(argv[1])
    cancel = threading.Event()
    threading.Thread(target=_watch_stdin, args=(cancel,), daemon=True, name="cancel-watch").start()
    ws = Workspace.open(root)
    rec = run_job(ws, job_id, _throttled_progress(), cancel.is_set, log=lambda text: _emit("log", text=text))
    _emit("finished", text=rec.status)
    return 0
