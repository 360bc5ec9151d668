"""The parameters of a training job (the stage is :mod:`backend.diffusion.training`; this module
is light, so the queue can check a job without loading torch)."""

from __future__ import annotations

from dataclasses import dataclass

from backend.jobs.params import JobParams


@dataclass(frozen=True)
class TrainParams(JobParams):
    preset: str = "tiny"  # tiny | paper | a .toml file
    target: str = "full"  # full | cluster:K | clusters
    steps: int | None = None  # total steps; None: the preset's
    resume: bool = False
    overrides: tuple[str, ...] = ()  # "section.field=value"
    device: str | None = None  # auto | cpu | cuda
    name: str | None = None  # model name; default from target and preset
    overwrite: bool = False  # replace a model of that name (kept as NAME.replaced-STAMP)
    tensorboard: str | None = None  # a folder for TensorBoard event files, one subfolder per model
