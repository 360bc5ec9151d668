"""Which model, at which checkpoint, a generation job will use: fixed when it is queued.

Why: a job queued behind a training job used whatever model existed when it started, a
half-trained one after that training was cancelled, and said so nowhere. Now the job records
its models when queued: each model that serves its images now, with its latest checkpoint
(``NAME@step-N``), or, when a training job queued before it will make the model, that job
(``NAME@job-N``, the checkpoint resolved and recorded when the job starts). When it starts,
the job refuses to run if a model it would use is not one of these, changed since, or comes
from a training job that did not finish.
"""

from __future__ import annotations

from dataclasses import dataclass

from backend.diffusion.registry import ModelRef, resolve_model
from backend.diffusion.train_params import TrainParams
from backend.errors import DiffGenError
from backend.jobs.queue import JobStore, pin_label
from backend.workspace import Workspace


@dataclass(frozen=True)
class Pin:
    """One model a job is to use: by its latest checkpoint step, or by the training job that
    makes it."""

    name: str
    step: int | None = None
    job: int | None = None

    def text(self) -> str:
        return f"{self.name}@job-{self.job}" if self.job is not None else f"{self.name}@step-{self.step}"

    @staticmethod
    def parse(text: str) -> Pin:
        name, _, where = text.rpartition("@")
        kind, _, number = where.partition("-")
        if not name or kind not in ("step", "job") or not number.lstrip("-").isdigit():
            raise DiffGenError(f"a job's model {text!r} is not NAME@step-N or NAME@job-N: queue the job again")
        return Pin(name, int(number), None) if kind == "step" else Pin(name, None, int(number))


def _name_and_step(ws: Workspace, ref: ModelRef) -> tuple[str, int | None]:
    if ref.id is None:
        return ws.rel(ref.folder), None
    row = ws.query(
        "SELECT m.name, (SELECT MAX(step) FROM checkpoints WHERE model_id = m.id) AS step FROM models m WHERE m.id = ?",
        (ref.id,),
    )[0]
    return row["name"], row["step"]


def _pending(ws: Workspace, choice: str) -> list[tuple[Pin, str]]:
    """Models that training jobs queued or running now will make, which ``choice`` may pick,
    each with its target kind (full or cluster)."""
    pins = []
    for job in JobStore(ws).list():
        if job.kind != "train" or job.status not in ("queued", "running"):
            continue
        params = TrainParams.from_dict(job.params)
        kind = "full" if params.target == "full" else "cluster"
        if choice == "full" and kind != "full":
            continue
        pins += [(Pin(n, job=job.id), kind) for n in params.model_names(ws) if choice in ("cluster", "full", n)]
    return pins


def pin_models(ws: Workspace, image_ids: list[int], choice: str) -> tuple[str, ...]:
    """The models a job over ``image_ids`` with model ``choice`` will use (see the module's
    docstring): a model a training job queued before makes takes the place of a model of its
    kind that serves the images now (the newest model is picked). Refuses when there is no
    model and no training job makes one."""
    pending = _pending(ws, choice)
    pins = {pin.name: pin for pin, _ in pending}
    superseded = {kind for _, kind in pending}
    for image_id in image_ids:
        try:
            ref = resolve_model(ws, image_id, choice)
        except DiffGenError:
            if pins:
                continue  # a queued training job makes it
            raise
        if ("cluster" if ref.target == "cluster" else "full") in superseded:
            continue
        name, step = _name_and_step(ws, ref)
        pins.setdefault(name, Pin(name, step))
    return tuple(sorted(p.text() for p in pins.values()))


def check_pins(ws: Workspace, pins: tuple[str, ...], refs: list[ModelRef]) -> list[str]:
    """Refuse (a clear message) when a model the job now resolves is not one it was queued with,
    has changed since, or comes from a training job that did not finish; the exact model and
    checkpoint of each, for the job's report. No pins (a job queued before they existed, a run
    from the CLI): nothing to check."""
    if not pins:
        return []
    by_name = {p.name: p for p in map(Pin.parse, pins)}
    used = []
    queued_with = ", ".join(pin_label(p) for p in pins)
    for ref in refs:
        name, step = _name_and_step(ws, ref)
        pin = by_name.get(name)
        if pin is None:
            raise DiffGenError(
                f"this job was queued to use {queued_with}, but the model now chosen is {name}"
                f"{'' if step is None else f' (step {step})'}; it does not use another model than it showed: "
                "queue it again to use the models there are now"
            )
        if pin.job is not None:
            job = JobStore(ws).get(pin.job) if ws.query("SELECT 1 FROM jobs WHERE id = ?", (pin.job,)) else None
            if job is None or job.status != "done":
                ended = "was removed" if job is None else f"ended {job.status}"
                raise DiffGenError(
                    f"this job was to use {name} as trained by job {pin.job}, which {ended}: it does not use "
                    "a model whose training did not finish. Finish the training (re-queue it) or queue this job again"
                )
        elif pin.step != step:
            raise DiffGenError(
                f"the model {name} changed since this job was queued (it was at step {pin.step}, it is at "
                f"{'no checkpoint' if step is None else f'step {step}'} now): queue the job again to use it as it is"
            )
        used.append(f"{name} step {step}" if step is not None else name)
    return used
