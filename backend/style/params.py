"""The parameters of a style job (the stage is :mod:`backend.style.job`; this module is light,
so the queue can check a job without loading torch)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from backend.jobs.params import JobParams
from backend.jobs.shards import ShardedParams
from backend.workspace.selection import ImageSelection


@dataclass(frozen=True)
class StyleParams(JobParams, ShardedParams):
    """Which samples: ``samples`` by id, else the unstyled inpainted samples of the selected
    images, else every unstyled inpainted sample."""

    samples: tuple[int, ...] = ()
    selection: ImageSelection = ImageSelection()
    preset: str | None = None  # None: the preset the sample's model was trained with
    overrides: tuple[str, ...] = ()  # "style.field=value"
    lambdas: dict[str, float | None] = field(default_factory=dict)  # {"zecon": 0, ...}
    target: str = "original"  # the source's real image, or one image file for all
    seed: int = 0  # base seed (each sample uses seed + its id)
    color_match: str | None = None  # none | mkl | histogram; None: the preset's
    vgg_weights: str | None = None  # paths; None: env var / settings file
    dino_weights: str | None = None
    device: str | None = None
    note: str | None = None  # recorded in each styled sample's provenance (e.g. why terms are off)
    shard: str | None = None  # "K/N": this share of the sorted source samples, into a bundle
    bundle: str | None = None  # the shard's bundle folder; None: WS/bundles/RUN-K-of-N
    # restyle_mask: replaced by the preset's style.mask_from (jobs queued before still load)
    LEGACY_KEYS: ClassVar[frozenset[str]] = frozenset({"restyle_mask"})
