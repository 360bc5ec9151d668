"""The parameters of a style job (the stage is :mod:`backend.style.job`; this module is light,
so the queue can check a job without loading torch)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from backend.config.fields import param
from backend.jobs import shared_params as shared
from backend.jobs.params import JobParams
from backend.jobs.shards import ShardedParams
from backend.workspace.selection import ImageSelection


@dataclass(frozen=True)
class StyleParams(JobParams, ShardedParams):
    """Which samples: ``samples`` by id, else the unstyled inpainted samples of the selected
    images, else every unstyled inpainted sample."""

    samples: tuple[int, ...] = ()
    selection: ImageSelection = shared.images("the unstyled inpainted samples of these images")
    preset: str | None = shared.preset("tiny | paper | TOML path (default: the preset the model was trained with)")
    overrides: tuple[str, ...] = shared.overrides(
        "preset override, e.g. --set style.skip_timesteps=100 or --set style.mask_from=parent (repeatable)",
        "style.FIELD=VALUE",
    )
    lambdas: dict[str, float | None] = field(default_factory=dict)  # {"zecon": 0, ...}
    target: str = param(
        "original",
        help="style target: the source's real image (default) or one image file for all",
        cli={"metavar": "original|IMAGE"},
    )
    seed: int = param(0, help="base seed (each sample uses seed + its id)")
    color_match: str | None = param(
        help="match the result's colours to the target afterwards (mkl when given alone; "
        "default: the preset's style.color_match)",
        choices="backend.style.terms:METHODS",
        cli={"nargs": "?", "const": "mkl"},
    )
    vgg_weights: str | None = param(
        help="torchvision vgg19 state dict (vgg19-dcbb9e9d.pth)", cli={"metavar": "FILE"}
    )  # None: env var / settings file
    dino_weights: str | None = param(help="DINO ViT-B/8 weights (.pth or timm .safetensors)", cli={"metavar": "FILE"})
    device: str | None = shared.device()
    note: str | None = None  # recorded in each styled sample's provenance (e.g. why terms are off)
    shard: str | None = None  # "K/N": this share of the sorted source samples, into a bundle
    bundle: str | None = None  # the shard's bundle folder; None: WS/bundles/RUN-K-of-N
    # restyle_mask: replaced by the preset's style.mask_from (jobs queued before still load)
    LEGACY_KEYS: ClassVar[frozenset[str]] = frozenset({"restyle_mask"})
