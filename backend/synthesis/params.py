"""The parameters of a mask-guided synthesis job (light: the queue checks a job without torch).

A wanted mask says where the new polyps go. It comes from ``masks``: ``drawn`` (the masks drawn on
each image with the editor's Place polyp tool, :mod:`backend.synthesis.wanted`), ``bank`` (the
training images' masks transformed and placed, ``polyps`` of them per sample) or mask files (PNG
paths, one per image in the order of the images, or one for all)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from backend.config.fields import setting
from backend.errors import BadInputError
from backend.jobs.params import JobParams
from backend.jobs.shards import ShardedParams
from backend.workspace.selection import ImageSelection, background_images

if TYPE_CHECKING:
    from backend.workspace import Workspace

MASK_SOURCES = ("drawn", "bank")  # or file paths


@dataclass(frozen=True)
class SynthesizeParams(JobParams, ShardedParams):
    """None: the value of the preset's ``[inpaint]`` section for the shared sampler settings."""

    selection: ImageSelection = ImageSelection()
    backgrounds: bool = False  # the background-role images (frames without polyps) instead of a selection
    masks: tuple[str, ...] = ("bank",)  # ("drawn",) | ("bank",) | PNG paths
    polyps: tuple[int, int] = setting((1, 1), 1, 8, max_len=2)  # bank: polyps per sample, drawn from A..B
    beside_polyps: bool = False  # bank: may a new polyp overlap or touch an existing one
    samples: int | None = None  # per image (drawn/files: per wanted mask)
    model: str = "cluster"
    preset: str | None = None
    overrides: tuple[str, ...] = ()
    dilate: int | None = None  # px around the wanted mask whose image is generated
    sampler: str | None = None
    retries: int | None = None
    seed: int | None = None
    device: str | None = None
    set_name: str | None = None  # default: Mask-Diff
    shard: str | None = None
    bundle: str | None = None
    pinned_models: tuple[str, ...] = ()

    def image_ids(self, ws: Workspace) -> list[int]:
        """The chosen images (training or background ones by id), or every unflagged background image."""
        if self.backgrounds:
            if self.selection != ImageSelection():
                raise BadInputError("--backgrounds chooses the images itself: leave out --images, --cluster and --all")
            ids = [r.id for r in background_images(ws)]
            if not ids:
                raise BadInputError(
                    "no background images to synthesise onto: import frames without polyps with "
                    "'diffgen import DIR --role background'"
                )
            return ids
        return self.selection.require(ws, "synthesis", allow_background=True)

    def check(self, ws: Workspace) -> None:
        self.image_ids(ws)

    def queued(self, ws: Workspace) -> SynthesizeParams:
        """The run's seed fixed when it is queued (a stopped run resumes with the same seed)."""
        return replace(self, seed=secrets.randbits(31) if self.seed is None else self.seed)
