"""What a job function gets besides its workspace and parameters: the job's id, where its
progress and log lines go, and whether the user asked it to stop.

Every stage is ``run_x(ws, params: XParams, ctx: JobContext) -> XResult``; the queue's runner,
the CLI, the demo and tests all build a context (``JobContext()`` alone: no job, no progress,
never cancelled), so a stage has one way to report and to stop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from backend.errors import Cancelled

Progress = Callable[[int, int, str], None]
Cancel = Callable[[], bool]
Log = Callable[[str], None]


@dataclass(frozen=True)
class JobContext:
    job_id: int | None = None  # the queued job (sample provenance); None outside the queue
    progress: Progress | None = None  # (done, total, message)
    cancel: Cancel | None = None  # polled: True once the user asked the job to stop
    logger: Log | None = None  # a line for the job's log

    def report(self, done: int, total: int, message: str = "") -> None:
        if self.progress is not None:
            self.progress(done, total, message)

    def cancelled(self) -> bool:
        return bool(self.cancel is not None and self.cancel())

    def check_cancel(self, what: str = "") -> None:
        """Raise :class:`Cancelled` (``what``: where it stopped and what was kept) when asked to stop."""
        if self.cancelled():
            raise Cancelled(what)

    def log(self, message: str) -> None:
        if self.logger is not None:
            self.logger(message)
