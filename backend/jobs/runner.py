"""The one runner: every job, from the CLI, ``diffgen jobs run`` or the app's child process,
runs through :func:`run_job`.

Why one: each run then has a job row (its parameters, status, result or error) and a log on
disk (``logs/job-N.log``: its start, progress lines, the stage's warnings, its end or error),
whoever started it, and a fix to how jobs run lands everywhere at once. The callers differ
only in where the row comes from and what they do with the outcome:

- the CLI (:func:`run_now`) records its run as a job that is running from the start (never
  queued, so the app's worker cannot claim it), runs it in this process and re-raises the
  stage's error, so the command prints what it always printed;
- ``diffgen jobs run`` (:func:`run_queue`) claims queued jobs one after another;
- the app's child process (:mod:`backend.jobs.process`) runs the one job it was given.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from backend.errors import Cancelled, DiffGenError
from backend.jobs.context import Cancel, JobContext, Log, Progress
from backend.jobs.joblog import JobLog
from backend.jobs.params import JobParams, JobResult
from backend.jobs.queue import JobRecord, JobStore, load_stage, params_class
from backend.jobs.throttle import Throttle
from backend.workspace import Workspace, now

PROGRESS_DB_INTERVAL_S = 0.5  # progress rows are written at most this often

# a stage: run_x(ws, XParams, ctx) -> XResult (ws None: fid and msssim of folders, run by the CLI alone)
StageFunction = Callable[[Workspace | None, JobParams, JobContext], JobResult]


@dataclass(frozen=True)
class JobOutcome(JobRecord):
    """A job's final record, plus what only the process that ran it holds: the stage's typed
    result (None unless done) and the error that ended the run (None when done), which the CLI
    raises again so that it prints what it always printed."""

    value: JobResult | None = None
    error: BaseException | None = None


def _ended(record: JobRecord, value: JobResult | None = None, error: BaseException | None = None) -> JobOutcome:
    return JobOutcome(**vars(record), value=value, error=error)


def resolve(kind: str) -> StageFunction:
    """The stage function of ``kind``."""
    return load_stage(kind, "run")


def _failure_message(e: BaseException) -> str:
    if isinstance(e, DiffGenError):
        return str(e)
    if isinstance(e, MemoryError) or "out of memory" in str(e).lower():
        return f"out of memory: {e}. Try a smaller batch size (override e.g. train.batch_size=4) or another device"
    return f"{type(e).__name__}: {e}"


def run_job(
    ws: Workspace,
    job_id: int,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
    log: Log | None = None,
    resume_later: Cancel | None = None,
) -> JobOutcome:
    """Run job ``job_id`` to a final state in this process. Job errors never propagate (a
    Ctrl-C ends the job as cancelled and comes back in the outcome too).

    The stage gets the job's params (read back through its dataclass, so a job stored by an
    older version runs as it was queued) and a :class:`JobContext` with the job id (for sample
    provenance). Progress goes to ``progress`` at every step, to the database at most every
    :data:`PROGRESS_DB_INTERVAL_S` (so other processes can follow it) and to the job's log
    (:mod:`backend.jobs.joblog`), which also gets the start, the stage's log lines and the end.
    A stage stopped while ``resume_later()`` is true (the app quit) is queued again, to resume
    at the next start, instead of being recorded as cancelled.
    """
    store = JobStore(ws)
    job = store.get(job_id)
    with ws.transaction() as c:  # the pid of the process that runs it (a job child, not its parent)
        c.execute(
            "UPDATE jobs SET status = 'running', pid = ?, started_at = COALESCE(started_at, ?) WHERE id = ?",
            (os.getpid(), now(), job_id),
        )
    journal = JobLog(ws, job_id)
    journal.line(f"started: {job.describe()} (process {os.getpid()})")
    to_db = Throttle(PROGRESS_DB_INTERVAL_S)

    def report(done: int, total: int, message: str = "") -> None:
        if to_db.due(done, total):
            store.set_progress(job_id, done, total, message)
        journal.progress(done, total, message)
        if progress:
            progress(done, total, message)

    def note(text: str) -> None:
        journal.line(text)
        if log:
            log(text)

    outcome = _run_stage(ws, store, job, JobContext(job_id, report, cancel, note), resume_later)
    journal.line(f"{outcome.status}: {outcome.message}")
    if outcome.result and outcome.result.get("traceback"):
        journal.line(str(outcome.result["traceback"]))
    return outcome


def _run_stage(ws: Workspace, store: JobStore, job: JobRecord, ctx: JobContext, resume_later: Cancel | None) -> JobOutcome:
    """The stage of ``job`` run to a final state (the caller logs it)."""
    job_id = job.id
    started = time.monotonic()
    try:
        func = resolve(job.kind)
        result = func(ws, params_class(job.kind).from_dict(job.params), ctx)
    except Cancelled as e:
        if resume_later is not None and resume_later():
            return _ended(store.resume_later(job_id, str(e)), error=e)
        message = f"cancelled by the user: {e}" if str(e) else "cancelled by the user"
        return _ended(store.finish(job_id, "cancelled", message), error=e)
    except KeyboardInterrupt as e:  # Ctrl-C in the CLI: the row says so, the command still stops
        return _ended(store.finish(job_id, "cancelled", "cancelled by the user (interrupted)"), error=e)
    except DiffGenError as e:  # a problem the user can act on: the message says it all
        return _ended(store.finish(job_id, "failed", _failure_message(e)), error=e)
    except Exception as e:  # noqa: BLE001 - any stage error fails this job only
        failed = store.finish(job_id, "failed", _failure_message(e), {"traceback": traceback.format_exc()})
        return _ended(failed, error=e)
    stored = {**result.to_dict(), "seconds": round(time.monotonic() - started, 3)}
    return _ended(store.finish(job_id, "done", stored.pop("summary") or "done", stored), value=result)


def run_now(
    ws: Workspace,
    kind: str,
    params: JobParams,
    progress: Progress | None = None,
    started: Callable[[int], None] | None = None,
    cancel: Cancel | None = None,
) -> JobResult:
    """Run a ``kind`` job with ``params`` now, in this process (the CLI's commands): its row is
    created running (the app's worker never claims it) with the parameters as given (the CLI
    resolves seeds and models when it runs, as it always has), ``started(job_id)`` is called,
    and the stage's error, once recorded and logged, is raised again (``cancel``: polled, as
    the demo's Ctrl-C or the app's Stop). Returns the stage's typed result."""
    job_id = JobStore(ws).start(kind, params)
    if started is not None:
        started(job_id)
    outcome = run_job(ws, job_id, progress, cancel)
    if outcome.error is not None:
        raise outcome.error
    assert outcome.value is not None  # done: the stage returned its result
    return outcome.value


def run_queue(
    ws: Workspace, progress: Callable[[JobRecord, int, int, str], None] | None = None, cancel: Cancel | None = None
) -> list[JobRecord]:
    """Run queued jobs one after another until the queue is empty (``diffgen jobs run``)."""
    store = JobStore(ws)
    finished: list[JobRecord] = []
    while (job := store.claim_next()) is not None:
        cb = (lambda d, t, m, j=job: progress(j, d, t, m)) if progress else None
        finished.append(run_job(ws, job.id, cb, cancel))
        if cancel and cancel():
            break
    return finished
