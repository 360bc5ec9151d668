"""The parameters of a clustering job (the stage is :mod:`backend.clustering.job`; this module is
light, so the queue can check a job without loading the feature network)."""

from __future__ import annotations

from dataclasses import dataclass

from backend.jobs.params import JobParams


@dataclass(frozen=True)
class ClusterParams(JobParams):
    """None: the value of the preset's ``[cluster]`` section after ``overrides`` (without a
    preset, :class:`backend.clustering.job.ClusterConfig`'s defaults)."""

    preset: str | None = None
    overrides: tuple[str, ...] = ()
    k: int | None = None
    seed: int | None = None
    min_cluster_size: int | None = None
    features: str | None = None  # balanced | raw (see ClusterConfig.features)
    inception_weights: str | None = None  # None: env var / settings file
    batch_size: int | None = None
    device: str | None = None
    thumbs_per_row: int | None = None
    thumb_size: int | None = None
