"""The parameters of a clustering job (the stage is :mod:`backend.clustering.job`; this module is
light, so the queue can check a job without loading the feature network)."""

from __future__ import annotations

from dataclasses import dataclass

from backend.config.fields import param
from backend.jobs import shared_params as shared
from backend.jobs.params import JobParams


@dataclass(frozen=True)
class ClusterParams(JobParams):
    """None: the value of the preset's ``[cluster]`` section after ``overrides`` (without a
    preset, :class:`backend.clustering.job.ClusterConfig`'s defaults)."""

    preset: str | None = shared.preset("preset whose [cluster] section gives the defaults", flag_default="paper")
    overrides: tuple[str, ...] = shared.overrides("preset overrides, e.g. cluster.k=8", flag=())
    k: int | None = param(None, 1, None, help="number of clusters (preset: paper 20, tiny 4)")
    seed: int | None = param(help="the KMeans seed")
    min_cluster_size: int | None = param(None, 0, None, help="report clusters smaller than this")
    features: str | None = param(
        help="image and mask features each L2-normalised, or concatenated raw as the author's code "
        "(default: the preset's cluster.features, paper balanced, diffuse-gen raw)",
        choices=("balanced", "raw"),
    )
    inception_weights: str | None = param(
        help="torchvision inception_v3 state dict", cli={"metavar": "PTH"}
    )  # None: env var / settings file
    batch_size: int | None = None
    device: str | None = shared.device("cuda / cpu (default: cuda when present)")
    thumbs_per_row: int | None = None
    thumb_size: int | None = None
