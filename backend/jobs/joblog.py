"""One log per job on disk, ``logs/job-N.log``: what the job did, written while it runs.

Why on disk and written by the process that runs the job: the log must outlive the app session
(the Log pane reads it back after a restart), say why a job failed when nobody watched it, and
be there for a job run from the CLI too. Stages report most of what they do as progress
(training's loss), so progress lands here as well, a line every :data:`PROGRESS_LOG_S` (and the
last one). Lines are appended by opening the file for each one: the job's process, its parent
(a crashed child's output) and the app (queued, cancel asked) may all add to it, and an
append of one short line is not interleaved.
"""

from __future__ import annotations

import time
from pathlib import Path

from backend.jobs.throttle import Throttle
from backend.workspace import Workspace

PROGRESS_LOG_S = 5.0  # a progress line at most this often per job (the first and the last always)
READ_LIMIT = 1_000_000  # the pane shows at most the last megabyte of a log


def log_path(ws: Workspace, job_id: int) -> Path:
    """Each job's log, kept in the workspace so that it outlives the app session."""
    return ws.path("logs") / f"job-{int(job_id)}.log"


def append(ws: Workspace, job_id: int, text: str) -> None:
    """Add ``text`` (one or more lines) to the job's log, each line stamped with the time. A
    read-only workspace or a full disk loses the line, never the job: the log is a record."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    lines = "".join(f"{stamp}  {line}\n" for line in str(text).splitlines() or [""])
    path = log_path(ws, job_id)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as f:
            f.write(lines)
    except OSError:
        pass


class JobLog:
    """The log of one running job: lines as they come, progress a few seconds apart."""

    def __init__(self, ws: Workspace, job_id: int, interval_s: float = PROGRESS_LOG_S):
        self.ws, self.job_id = ws, job_id
        self._throttle = Throttle(interval_s)

    def line(self, text: str) -> None:
        append(self.ws, self.job_id, text)

    def progress(self, done: int, total: int, message: str = "") -> None:
        if self._throttle.due(done, total):
            self.line(f"{done}/{total} {message}".rstrip())


def read(ws: Workspace, job_id: int, offset: int = 0) -> tuple[str, int]:
    """The job's log from byte ``offset`` on (its last :data:`READ_LIMIT` bytes from 0) and the
    offset to read from next time; ``("", 0)`` while there is no log."""
    path = log_path(ws, job_id)
    try:
        with path.open("rb") as f:
            size = f.seek(0, 2)
            if offset > size:  # the file was replaced: read it anew
                offset = 0
            start = max(offset, size - READ_LIMIT) if offset == 0 else offset
            f.seek(start)
            data = f.read(size - start)
    except OSError:
        return "", 0
    end = data.rfind(b"\n") + 1  # a line still being written is read next time
    return data[:end].decode("utf-8", errors="replace"), start + end
