"""How the adherence judge is trained, and the parameters of its job (light: queueing
``diffgen jobs add judge`` loads no network; the stage is :func:`backend.synthesis.judge.run_judge`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from backend.config.fields import param
from backend.jobs.params import JobParams


@dataclass(frozen=True)
class JudgeSettings:
    """How the judge is trained (the network is fixed: resnet18, 3 stages, like the tiny
    preset); part of its fingerprint. Values from outside arrive through :class:`JobParams`,
    whose fields declare their ranges."""

    image_size: int = 64  # the judge sees samples at this size
    steps: int = 1000  # optimiser steps (batches of 8); judge.py's docstring has the measurements
    seed: int = 0


@dataclass(frozen=True)
class JudgeParams(JobParams):
    """``diffgen judge train``'s flags. None: :class:`JudgeSettings`' default."""

    steps: int | None = param(None, 10, 100_000, help="optimiser steps (default 1000)")
    image_size: int | None = param(
        None, 32, 512, unit="px", flag=("--size",), cli={"metavar": "SIZE"}, help="input size in px (default 64)"
    )
    seed: int | None = param(None, 0, 2**32 - 1, help="seed of the train/validation split and the training (default 0)")
    device: str = param("cpu", help="cpu (default) | cuda | auto")

    def settings(self) -> JudgeSettings:
        given = {k: v for k, v in asdict(self).items() if k != "device" and v is not None}
        return JudgeSettings(**given)
