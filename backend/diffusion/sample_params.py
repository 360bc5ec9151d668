"""The parameters of an unconditional sampling job (the stage is
:mod:`backend.diffusion.sampling`; this module is light, so the queue and the CLI's parser
can build them without loading torch)."""

from __future__ import annotations

from dataclasses import dataclass

from backend.jobs.params import JobParams


@dataclass(frozen=True)
class SampleParams(JobParams):
    model: str = "full"  # full | cluster:K | a model folder
    count: int = 8
    seed: int = 0
    respacing: str | None = None  # sampling steps, e.g. "50" or "ddim25"; None: the model's
    sheet: str | None = None  # also write a contact sheet PNG here
    device: str | None = None  # auto | cpu | cuda[:N]; None: auto
