"""The parameters of an inpainting job (the stage is :mod:`backend.inpaint.job`; this module is
light, so the queue can check a job without loading torch)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from backend.jobs.params import JobParams
from backend.jobs.shards import ShardedParams
from backend.workspace.selection import ImageSelection

if TYPE_CHECKING:
    from backend.workspace import Workspace


@dataclass(frozen=True)
class InpaintParams(JobParams, ShardedParams):
    """None: the value of the preset's ``[inpaint]`` section (the model's own preset when
    ``preset`` is None), after ``overrides`` (``inpaint.field=value``)."""

    selection: ImageSelection = ImageSelection()
    model: str = "cluster"  # "cluster" (falls back to full) | "full" | a model folder
    preset: str | None = None
    overrides: tuple[str, ...] = ()
    samples: int | None = None  # per image
    dilate: int | None = None  # px at the model's resolution
    sampler: str | None = None  # repaint | ddim-repaint | ddnm | diffpir (backend.diffusion.samplers.SAMPLERS)
    respacing: int | None = None
    jump_length: int | None = None
    jump_n_sample: int | None = None
    min_island: int | None = None
    fill_holes: bool | None = None
    retries: int | None = None  # redraws of a sample failing a retry gate
    batch: int | None = None  # rows per model call (InpaintConfig.batch_size)
    seed: int | None = None  # run seed; None: a random one, recorded
    device: str | None = None
    weights: str | None = None  # "ema" | "raw"; None: the preset's inpaint.weights
    set_name: str | None = None  # default: Diff / Full-Diff / Custom-Diff by the model's target
    sheet: bool = False  # also write a contact sheet into reports/ (not by a shard)
    shard: str | None = None  # "K/N": this share of the sorted images, into a bundle (backend.jobs.bundles)
    bundle: str | None = None  # the shard's bundle folder; None: WS/bundles/RUN-K-of-N
    pinned_models: tuple[str, ...] = ()  # NAME@step-N | NAME@job-N, fixed when queued (backend.diffusion.model_pin)

    def image_ids(self, ws: Workspace) -> list[int]:
        return self.selection.require(ws, "inpainting")

    def check(self, ws: Workspace) -> None:
        self.image_ids(ws)

    def queued(self, ws: Workspace) -> InpaintParams:
        """The run's seed and models fixed when it is queued: the job shows the models it will use
        and refuses others when it starts; a run the app stopped resumes with the same seed, so the
        images it finished are skipped."""
        from backend.diffusion.model_pin import pin_models  # the workspace's modules: not for `diffgen --help`

        pins = self.pinned_models or pin_models(ws, self.image_ids(ws), self.model)
        return replace(self, seed=secrets.randbits(31) if self.seed is None else self.seed, pinned_models=pins)
