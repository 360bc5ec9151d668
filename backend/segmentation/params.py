"""The parameters of a segmentation experiments job (the stage is
:mod:`backend.segmentation.experiments`; this module is light)."""

from __future__ import annotations

from dataclasses import dataclass

from backend.jobs.params import JobParams


@dataclass(frozen=True)
class SegmentParams(JobParams):
    preset: str = "tiny"
    overrides: tuple[str, ...] = ()  # "segment.field=value"
    experiments: tuple[str, ...] = ("all",)
    seeds: tuple[int, ...] | None = None  # None: the preset's
    encoder_weights: str | None = None  # a path; used when the preset says pretrained = true
    device: str | None = None
    only_passed: bool = False  # synthetic sets without the samples that failed a quality gate
