"""Job records (the ``jobs`` table); the runner that executes one is :mod:`backend.jobs.runner`.

Jobs persist in the workspace database, so the queue survives restarting the app or the
CLI. A job is a stage name (``kind``) plus its parameters, stored as JSON. :data:`REGISTRY`
names, per kind, the stage function ``run_x(ws, params: XParams, ctx: JobContext) -> XResult``
and its parameters dataclass, as "module:name" strings imported lazily: queueing builds the
parameters (a bad job never enters the queue) from a light module, and a stage whose heavy
module is not installed fails its own job with a clear message while the rest of the queue goes on.
"""

from __future__ import annotations

import builtins
import importlib
import json
import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend.errors import DiffGenError, WorkspaceError
from backend.io.files import pid_alive
from backend.jobs.context import JobContext
from backend.jobs.kinds import CHANGES as CHANGES  # re-exported: the views name it here
from backend.jobs.kinds import REGISTRY
from backend.jobs.mask_params import MaskParams as MaskParams  # re-exported: its stage is below
from backend.jobs.params import JobParams, JobResult
from backend.masks.ops import apply_operation
from backend.words import counted
from backend.workspace import Workspace, inserted_id, now
from backend.workspace.integrity import stored_json

JOB_KINDS = REGISTRY  # the one table of kinds (backend.jobs.kinds): forms and the worker read it here too


@dataclass(frozen=True)
class JobRecord:
    id: int
    kind: str
    status: str
    params: dict
    position: float
    progress_done: int
    progress_total: int
    message: str
    result: dict | None
    pid: int | None
    created_at: str
    started_at: str | None
    finished_at: str | None

    def describe(self) -> str:
        """One line for lists: kind, target (the images of a kind that selects some; what a
        training trains), preset and the model it makes or uses."""
        p = self.params
        target = (
            counted(len(p["images"]), "image")
            if p.get("images")
            else f"cluster {p['cluster']}"
            if p.get("cluster") is not None
            else "all images"
            if "all" in p
            else str(p.get("target") or "")
        )
        extra = p.get("operation") or p.get("preset") or ""
        models = ", ".join(pin_label(str(pin)) for pin in p.get("pinned_models") or ()) or (
            p.get("name") if self.kind == "train" else ""
        )
        return " · ".join(filter(None, [self.kind, target, extra])) + (f" · model {models}" if models else "")


def pin_label(pin: str) -> str:
    """``full-demo@step-20`` -> ``full-demo (step 20)``; ``full-demo@job-3`` -> ``full-demo (from job 3)``
    (the form of :class:`backend.diffusion.model_pin.Pin`, a layer above this one)."""
    name, _, where = pin.rpartition("@")
    kind, _, number = where.partition("-")
    return f"{name} (from job {number})" if kind == "job" else f"{name} (step {number})"


def _job(root: Path, row) -> JobRecord:
    def value(column: str) -> Any:
        return stored_json(root, row[column], "jobs", row["id"], column)

    return JobRecord(
        row["id"],
        row["kind"],
        row["status"],
        value("params_json"),
        row["position"],
        row["progress_done"],
        row["progress_total"],
        row["message"],
        value("result_json") if row["result_json"] else None,
        row["pid"],
        row["created_at"],
        row["started_at"],
        row["finished_at"],
    )


class JobStore:
    """The persistent queue. Opening it marks jobs whose process died as interrupted."""

    def __init__(self, ws: Workspace):
        self.ws = ws
        self.mark_interrupted()

    # -- reading ---------------------------------------------------------------------
    def get(self, job_id: int) -> JobRecord:
        rows = self.ws.query("SELECT * FROM jobs WHERE id = ?", (job_id,))
        if not rows:
            raise WorkspaceError(f"no job with id {job_id}")
        return _job(self.ws.root, rows[0])

    def list(self, status: str | None = None) -> list[JobRecord]:
        """Running first, then queued in queue order, then finished jobs newest first."""
        where = "WHERE status = ?" if status else ""
        rows = self.ws.query(
            f"SELECT * FROM jobs {where} ORDER BY CASE status WHEN 'running' THEN 0 WHEN 'queued' THEN 1"
            " ELSE 2 END, CASE WHEN status IN ('running','queued') THEN position ELSE -id END",
            (status,) if status else (),
        )
        return [_job(self.ws.root, r) for r in rows]

    def queued_ids(self) -> builtins.list[int]:  # plain 'list' here is the method above
        return [r[0] for r in self.ws.query("SELECT id FROM jobs WHERE status = 'queued' ORDER BY position, id")]

    # -- changing --------------------------------------------------------------------
    def enqueue(self, kind: str, params: JobParams | dict[str, Any] | None = None) -> int:
        """Queue a job; its parameters are checked here (a bad job never enters the queue)."""
        cls = params_class(kind)
        if isinstance(params, JobParams) and not isinstance(params, cls):
            raise DiffGenError(f"a {kind} job takes {cls.__name__}, not {type(params).__name__}")
        typed = params if isinstance(params, JobParams) else cls.from_dict(params)
        typed.check(self.ws)
        typed = typed.queued(self.ws)
        body = json.dumps(typed.to_dict())
        with self.ws.transaction() as c:
            pos = c.execute("SELECT COALESCE(MAX(position), 0) + 1 FROM jobs").fetchone()[0]
            return inserted_id(
                c.execute(
                    "INSERT INTO jobs (kind, status, params_json, position, created_at) VALUES (?, 'queued', ?, ?, ?)",
                    (kind, body, pos, now()),
                )
            )

    def start(self, kind: str, params: JobParams) -> int:
        """Record a run that starts now in this process (a CLI command), as running from the
        start: a queued row could be claimed by the app's worker. Its parameters are stored as
        given; the stage checks them as it runs, so a refused run is a failed job with its log."""
        cls = params_class(kind)
        if not isinstance(params, cls):
            raise DiffGenError(f"a {kind} job takes {cls.__name__}, not {type(params).__name__}")
        with self.ws.transaction() as c:
            pos = c.execute("SELECT COALESCE(MAX(position), 0) + 1 FROM jobs").fetchone()[0]
            return inserted_id(
                c.execute(
                    "INSERT INTO jobs (kind, status, params_json, position, pid, created_at, started_at)"
                    " VALUES (?, 'running', ?, ?, ?, ?, ?)",
                    (kind, json.dumps(params.to_dict()), pos, os.getpid(), now(), now()),
                )
            )

    def move(self, job_id: int, offset: int) -> None:
        """Move a queued job ``offset`` places (negative = earlier) within the queue."""
        with self.ws.transaction() as c:
            ids = [r[0] for r in c.execute("SELECT id FROM jobs WHERE status = 'queued' ORDER BY position, id")]
            if job_id not in ids:
                raise WorkspaceError(f"job {job_id} is not queued; only queued jobs can be reordered")
            i = ids.index(job_id)
            j = min(max(i + offset, 0), len(ids) - 1)
            ids.insert(j, ids.pop(i))
            base = c.execute("SELECT COALESCE(MIN(position), 1) FROM jobs WHERE status = 'queued'").fetchone()[0]
            c.executemany("UPDATE jobs SET position = ? WHERE id = ?", [(base + k, jid) for k, jid in enumerate(ids)])

    def remove(self, job_id: int) -> None:
        """Delete a job that is not running (a job whose samples exist is kept: provenance)."""
        job = self.get(job_id)
        if job.status == "running":
            raise WorkspaceError(f"job {job_id} is running: cancel it first")
        with self.ws.transaction() as c:
            if c.execute("SELECT 1 FROM samples WHERE job_id = ? LIMIT 1", (job_id,)).fetchone():
                raise WorkspaceError(f"job {job_id} made samples; it stays as their provenance")
            c.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    def requeue(self, job_id: int) -> None:
        """Queue a finished job again; one that did not finish continues where it stopped
        (:meth:`JobParams.resumed`: training from its checkpoint)."""
        job = self.get(job_id)
        if job.status in ("queued", "running"):
            raise WorkspaceError(f"job {job_id} is already {job.status}")
        params = params_class(job.kind).from_dict(job.params)
        if job.status != "done":
            params = params.resumed()
        with self.ws.transaction() as c:
            pos = c.execute("SELECT COALESCE(MAX(position), 0) + 1 FROM jobs").fetchone()[0]
            c.execute(
                "UPDATE jobs SET status = 'queued', params_json = ?, position = ?, progress_done = 0, progress_total = 0,"
                " message = '', result_json = NULL, pid = NULL, started_at = NULL, finished_at = NULL"
                " WHERE id = ?",
                (json.dumps(params.to_dict()), pos, job_id),
            )

    def resume_later(self, job_id: int, where: str) -> JobRecord:
        """A job the app stopped as it quit goes back to the front of the queue, its parameters
        made to resume (:meth:`JobParams.resumed`), so the next start continues it."""
        job = self.get(job_id)
        params = params_class(job.kind).from_dict(job.params).resumed()
        message = "stopped when the app closed" + (f" ({where})" if where else "") + "; it resumes at the next start"
        with self.ws.transaction() as c:
            first = c.execute("SELECT COALESCE(MIN(position), 1) FROM jobs WHERE status = 'queued'").fetchone()[0]
            c.execute(
                "UPDATE jobs SET status = 'queued', params_json = ?, position = ?, message = ?, pid = NULL,"
                " finished_at = NULL WHERE id = ?",
                (json.dumps(params.to_dict()), first - 1, message[:4000], job_id),
            )
        return self.get(job_id)

    def mark_interrupted(self) -> builtins.list[int]:  # plain 'list' here is the method above
        """Jobs left 'running' by a process that no longer exists become 'interrupted'."""
        stale = [r for r in self.ws.query("SELECT id, pid FROM jobs WHERE status = 'running'") if not pid_alive(r["pid"])]
        with self.ws.transaction() as c:
            for r in stale:
                c.execute(
                    "UPDATE jobs SET status = 'interrupted', finished_at = ?, message = ? WHERE id = ?",
                    (
                        now(),
                        f"interrupted: the program stopped while this job ran (pid {r['pid']}); re-queue it to run again",
                        r["id"],
                    ),
                )
        return [r["id"] for r in stale]

    def running_elsewhere(self, kinds: Collection[str] | None = None) -> builtins.list[int]:
        """Jobs (of ``kinds``; None: any) another live process runs (one the app left to finish
        alone as it quit, or ``diffgen jobs run``): the app starts no GPU job of its own meanwhile."""
        rows = self.ws.query(f"SELECT id, pid FROM jobs WHERE status = 'running'{_of_kinds(kinds)}", tuple(kinds or ()))
        return [r["id"] for r in rows if r["pid"] != os.getpid() and pid_alive(r["pid"])]

    def claim_next(self, kinds: Collection[str] | None = None) -> JobRecord | None:
        """Atomically mark the first queued job (of ``kinds``; None: any) as running in this process."""
        with self.ws.transaction() as c:
            row = c.execute(
                f"SELECT id FROM jobs WHERE status = 'queued'{_of_kinds(kinds)} ORDER BY position, id LIMIT 1", tuple(kinds or ())
            ).fetchone()
            if row is None:
                return None
            c.execute(
                "UPDATE jobs SET status = 'running', pid = ?, started_at = ?, message = 'starting' WHERE id = ?",
                (os.getpid(), now(), row[0]),
            )
        return self.get(row[0])

    def cancel_queued(self, job_id: int) -> bool:
        """Cancel a job that has not started, in one guarded statement: False when it was no longer
        queued (the worker claimed it in the meantime; cancel the running job instead)."""
        with self.ws.transaction() as c:
            done = c.execute(
                "UPDATE jobs SET status = 'cancelled', message = 'cancelled before it started',"
                " finished_at = ? WHERE id = ? AND status = 'queued'",
                (now(), job_id),
            ).rowcount
        return done == 1

    def set_progress(self, job_id: int, done: int, total: int, message: str) -> None:
        with self.ws.transaction() as c:
            c.execute(
                "UPDATE jobs SET progress_done = ?, progress_total = ?, message = ? WHERE id = ?",
                (int(done), int(total), str(message)[:500], job_id),
            )

    def finish(self, job_id: int, status: str, message: str, result: dict | None = None) -> JobRecord:
        with self.ws.transaction() as c:
            c.execute(
                "UPDATE jobs SET status = ?, message = ?, result_json = ?, finished_at = ? WHERE id = ?",
                (status, message[:4000], json.dumps(result, default=str) if result is not None else None, now(), job_id),
            )
        return self.get(job_id)


def _of_kinds(kinds: Collection[str] | None) -> str:
    """The SQL condition "and of one of ``kinds``" (their values bound as parameters); '' for any."""
    return "" if kinds is None else f" AND kind IN ({', '.join('?' * len(kinds))})"


# -- the kinds' code ---------------------------------------------------------------------
def load_stage(kind: str, what: str) -> Any:
    """``REGISTRY[kind]``'s ``what`` ("run" or "params") imported; a missing stage raises a
    DiffGenError saying so."""
    if kind not in REGISTRY:
        raise DiffGenError(f"unknown job kind {kind!r}; known: {', '.join(sorted(REGISTRY))}")
    module_name, name = getattr(REGISTRY[kind], what).split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        missing = "is not installed" if e.name == module_name else f"needs the missing module {e.name}"
        raise DiffGenError(f"the '{kind}' stage is not available in this installation ({module_name} {missing})") from None
    found = getattr(module, name, None)
    if found is None:
        raise DiffGenError(f"the '{kind}' stage is not available: {module_name} has no {name}")
    return found


def params_class(kind: str) -> type[JobParams]:
    """The parameters dataclass of ``kind``."""
    return load_stage(kind, "params")


# -- the built-in "masks" stage ---------------------------------------------------------
@dataclass(frozen=True)
class MaskResult(JobResult):
    mask_versions: tuple[int, ...]
    skipped: tuple[str, ...]


def run_masks(ws: Workspace, params: MaskParams, ctx: JobContext) -> MaskResult:
    """Apply one mask operation to the target images, each result a new mask version. All new
    masks are computed first and written in one transaction, so a cancel leaves nothing behind."""
    op, op_params = params.operation, params.op_params
    ids = params.image_ids(ws)
    pending: list[tuple[int, int, Any]] = []
    skipped: list[str] = []
    for i, image_id in enumerate(ids):
        ctx.check_cancel(f"after {i} of {len(ids)} images; no mask was changed")
        rec = ws.image(image_id)
        if rec.current_mask_id is None:
            skipped.append(f"{rec.name}: no mask")
        else:
            try:
                new = apply_operation(ws.read_mask(rec.current_mask_id), op, op_params)
            except ValueError as e:
                raise DiffGenError(str(e)) from None
            pending.append((image_id, rec.current_mask_id, new))
        ctx.report(i + 1, len(ids), rec.name)
    ctx.check_cancel("before saving; no mask was changed")
    with ws.transaction():
        versions = [
            ws.add_mask_version(image_id, mask, op, {**op_params, "job_id": ctx.job_id}, parent_id=parent).id
            for image_id, parent, mask in pending
        ]
    return MaskResult(
        summary=f"{op} {op_params}: {len(versions)} new mask versions" + (f", {len(skipped)} skipped" if skipped else ""),
        mask_versions=tuple(versions),
        skipped=tuple(skipped),
    )
