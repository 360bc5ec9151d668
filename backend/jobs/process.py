"""One queued job run in a child process.

Why a child process: a segfault or abort in a native library (CUDA, OpenCV, a driver), an
out-of-memory kill or a hang then ends that job only, never the program that queued it;
cancel can become a hard stop when a stage does not answer in time; and the GPU memory the
job held goes back to the system when it ends. The parent side (:class:`JobProcess`) is
Qt-free: the desktop app's worker thread calls it.

Protocol: the child runs :func:`backend.jobs.runner.run_job` (the one runner, the CLI's too,
which writes the job's log, see :mod:`backend.jobs.joblog`) and writes events to stdout as JSON
lines that start with :data:`EVENT_PREFIX`; any other output (warnings, a native crash report)
is ``output``, which the parent adds to the log. The parent writes one word to the child's stdin: ``cancel`` (the user
cancelled the job), ``stop`` (the app quits: stop at the next safe point and queue the job again,
to resume at the next start) or ``detach`` (the app quits: finish the job alone). An app that
quits closes the child's stdin after its word; at the end of stdin (and after ``stop`` or
``detach``) the child's output goes to the job's log, so the app need not wait. The end of stdin
with no word (the parent died) stops the job the ``stop`` way, so no orphan keeps a GPU busy and
the job is not lost.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from backend.config import threads
from backend.jobs import CHILD_COMMAND
from backend.jobs.joblog import append, log_path
from backend.jobs.queue import JobRecord, JobStore
from backend.jobs.runner import run_job
from backend.jobs.throttle import Throttle
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
    """What the child reported: ``progress`` (done, total, text), a ``log`` line of the stage
    (the child logged it), or ``output`` (text the child printed, not an event)."""

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
    return JobEvent("output", line.rstrip("\n"))


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
        self._released = False  # the app quits: the child goes on (or stops) alone
        self._leave = "stop"  # how (see release)
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
            if self._released:  # the app quit before it started
                self._send(self._leave)
                self._close_stdin()
            elif self._cancelled:  # cancelled before it started
                self._send("cancel")
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            event = parse_line(line)
            if event.kind in ("log", "output"):
                self._tail.append(event.text)
            if event.kind == "output" and event.text.strip():
                append(self.ws, self.job_id, event.text)  # the child logs its own events
            yield event

    def cancel(self) -> None:
        """Thread-safe: ask the job to stop; kill it if it has not stopped after the grace time."""
        with self._lock:
            if self._cancelled:
                return
            self._cancelled = True
            if self._proc is not None:
                self._send("cancel")
        timer = threading.Timer(self.grace_s, self.kill)
        timer.daemon = True
        timer.start()

    def release(self, how: str) -> None:
        """Thread-safe, when the app quits: the child ``stop``s (queued again, to resume at the
        next start), ``detach``es (finishes alone) or is ``cancel``led, and records its job's end
        itself; its output goes to the job's log, so :meth:`events` ends at once and
        :meth:`finish` does not wait for it."""
        if how not in ("stop", "detach", "cancel"):
            raise ValueError(f"unknown way to leave a job: {how!r}")
        with self._lock:
            self._released = self._cancelled = True
            self._leave = how
            if self._proc is not None:
                self._send(how)
                self._close_stdin()  # the child sees the end of stdin: its output goes to the log

    def kill(self) -> None:
        """Thread-safe hard stop (SIGKILL)."""
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                self._killed = True
                self._proc.kill()

    def _close_stdin(self) -> None:
        try:
            assert self._proc is not None
            if self._proc.stdin is not None:
                self._proc.stdin.close()
        except OSError:
            pass

    def _send(self, word: str) -> None:
        try:
            assert self._proc is not None and self._proc.stdin is not None
            self._proc.stdin.write(word + "\n")
            self._proc.stdin.flush()
        except (OSError, ValueError):  # the child has already gone
            pass

    def finish(self, store: JobStore) -> JobRecord:
        """Wait for the child and return the job's final record; a child that died without
        finishing its job gets a final state here, with the reason and the last output lines."""
        if self._proc is None:
            rec = store.finish(self.job_id, "failed", self._start_error or "the job's process never started")
            append(self.ws, self.job_id, f"failed: {rec.message}")
            return rec
        if self._released:  # the child ends its job alone
            return store.get(self.job_id)
        rc = self._proc.wait()
        self._close_stdin()
        rec = store.get(self.job_id)
        if rec.status not in ("running", "interrupted"):
            return rec
        status, message = self._death_verdict(rc)
        append(self.ws, self.job_id, f"{status}: {message}")
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


# -- the child side ---------------------------------------------------------------------------
class _Parent:
    """The child's view of its parent: the word it sent on stdin (read by a thread), and whether
    the child now runs alone (after ``stop`` or ``detach``, or once the parent is gone), its
    output then going to the job's log instead of a pipe nobody reads."""

    def __init__(self, log: Path):
        self.halt = threading.Event()  # the stage stops at its next safe point
        self.word = ""
        self.alone = False
        self._log = log

    def watch(self) -> None:
        for line in sys.stdin:
            word = line.strip()
            if word in ("cancel", "stop", "detach") and not self.word:
                self.word = word
                if word != "cancel":
                    self._go_alone()
                if word != "detach":
                    self.halt.set()
        # the end of stdin: the parent is gone, or quits (it closes stdin after its word)
        if not self.word:  # gone without a word: stop, and resume at its next start
            self.word = "stop"
            self.halt.set()
        if not self.alone:
            self._go_alone()

    def resume_later(self) -> bool:
        return self.word == "stop"

    def _go_alone(self) -> None:
        self.alone = True
        try:
            self._log.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self._log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError:
            fd = os.open(os.devnull, os.O_WRONLY)
        try:
            sys.stdout.flush()
        except (OSError, ValueError):
            pass
        os.dup2(fd, 1)  # the pipe's write end closes: the parent's reader ends at once
        os.dup2(fd, 2)
        os.close(fd)

    def emit(self, kind: str, **fields) -> None:
        if self.alone:
            return
        try:
            sys.stdout.write(EVENT_PREFIX + json.dumps({"kind": kind, **fields}) + "\n")
            sys.stdout.flush()
        except (OSError, ValueError):  # the parent has gone
            self.alone = True


def _throttled_progress(parent: _Parent) -> Callable[[int, int, str], None]:
    throttle = Throttle(EVENT_INTERVAL_S)

    def progress(done: int, total: int, message: str = "") -> None:
        if throttle.due(done, total):
            parent.emit("progress", done=int(done), total=int(total), text=str(message))

    return progress


def child_main(argv: list[str]) -> int:
    """``diffgen _job-child WORKSPACE JOB_ID``: run one job, reporting events on stdout."""
    threads.configure_process(gui_job=True)
    root, job_id = argv[0], int(argv[1])
    ws = Workspace.open(root)
    parent = _Parent(log_path(ws, job_id))
    threading.Thread(target=parent.watch, daemon=True, name="parent-watch").start()
    rec = run_job(
        ws,
        job_id,
        _throttled_progress(parent),
        parent.halt.is_set,
        log=lambda text: parent.emit("log", text=text),
        resume_later=parent.resume_later,
    )
    parent.emit("finished", text=rec.status)
    return 0
