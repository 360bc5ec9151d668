"""The parameters of a training job (the stage is :mod:`backend.diffusion.training`; this module
is light, so the queue can check a job without loading torch)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from backend.config.fields import param
from backend.errors import DiffGenError
from backend.jobs import shared_params as shared
from backend.jobs.params import JobParams

if TYPE_CHECKING:
    from backend.workspace import Workspace


class ModelNameTaken(DiffGenError):
    """A training job would train into a model folder that already holds a model (or that a
    training job queued before makes). Raised when the job is queued, so the app can ask
    (resume / new name / replace) before any work is done."""

    def __init__(self, names: list[str]):
        self.names = names
        super().__init__(
            f"a model named {', '.join(names)} already exists: resume its training (--resume), "
            "give the new model another name (--name) or replace it (--overwrite; the old one is "
            "kept as a backup)"
        )


def model_name(kind: str, preset: str, name: str | None, clustering: int | None = None, cluster: int | None = None) -> str:
    """The name of a trained model: ``name`` (a cluster's gets ``-kK``), else from the target and
    the preset (``full-tiny``, ``c3-tiny-k0``)."""
    if kind == "full":
        return name or f"full-{preset}"
    return f"{name or f'c{clustering}-{preset}'}-k{cluster}"


@dataclass(frozen=True)
class TrainParams(JobParams):
    preset: str = shared.preset("tiny | paper | diffuse-gen | path to a .toml preset (default tiny)", "tiny")
    target: str = param(
        "full", label="Train", help="full | cluster:K | clusters (default full)", form="train_target", widget="train_target"
    )
    steps: int | None = param(None, 1, 100_000_000, unit="steps", help="total training steps (default: the preset's)")
    resume: bool = param(False, help="continue from the run's last checkpoint")
    overrides: tuple[str, ...] = shared.overrides(
        "override a preset value, e.g. --set train.batch_size=8 (repeatable)", flag_default=[]
    )
    device: str | None = shared.device("auto | cpu | cuda (default auto)", flag_default="auto")
    name: str | None = param(help="model name (folder models/NAME; letters, digits, . _ -); default from target and preset")
    overwrite: bool = param(
        False, help="replace an existing model of that name (the old folder is kept as NAME.replaced-DATE)"
    )  # kept as NAME.replaced-STAMP
    tensorboard: str | None = param(
        help="also log loss, learning rate and sample sheets for TensorBoard to DIR/NAME (needs the 'tensorboard' extra)",
        cli={"metavar": "DIR"},
    )

    def model_names(self, ws: Workspace) -> list[str]:
        """The models this job would train, by name (the clusters of the current clustering)."""
        from backend.config.presets import load_preset

        preset = str(load_preset(self.preset).get("name", Path(self.preset).stem))
        if self.target == "full":
            return [model_name("full", preset, self.name)]
        clustering = ws.current_clustering_id()
        if clustering is None:
            return []  # the stage says what is missing
        if self.target.startswith("cluster:") and self.target[8:].isdigit():
            clusters = [int(self.target[8:])]
        else:
            rows = ws.query("SELECT DISTINCT cluster FROM cluster_assignments WHERE clustering_id = ?", (clustering,))
            clusters = sorted(r[0] for r in rows)
        return [model_name("cluster", preset, self.name, clustering, k) for k in clusters]

    def check(self, ws: Workspace) -> None:
        """A name clash is refused when the job is queued, not when it starts (minutes later):
        a model of that name, or a training job queued before that makes one."""
        from backend.diffusion.registry import is_taken, model_folder
        from backend.jobs.queue import JobStore

        if self.resume or self.overwrite:
            return
        queued = {
            n
            for job in JobStore(ws).list()
            if job.kind == "train" and job.status in ("queued", "running")
            for n in TrainParams.from_dict(job.params).model_names(ws)
        }
        taken = [n for n in self.model_names(ws) if n in queued or is_taken(ws, model_folder(ws, n))]
        if taken:
            raise ModelNameTaken(taken)

    def resumed(self) -> TrainParams:
        """Stopped by the app: continue the checkpoint this run saved (an old model it replaced
        is already backed up)."""
        return replace(self, resume=True, overwrite=False)
