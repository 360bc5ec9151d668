"""The parameters of a segmentation experiments job (the stage is
:mod:`backend.segmentation.experiments`; this module is light)."""

from __future__ import annotations

from dataclasses import dataclass

from backend.config.fields import param
from backend.jobs import shared_params as shared
from backend.jobs.params import JobParams
from backend.segmentation.config import EXPERIMENTS


@dataclass(frozen=True)
class SegmentParams(JobParams):
    preset: str = shared.preset("tiny (CPU, demo data) | paper | path to a .toml", "tiny")
    overrides: tuple[str, ...] = shared.overrides("override a preset field, e.g. segment.epochs=20", "segment.FIELD=VALUE")
    experiments: tuple[str, ...] = param(
        ("all",),
        help="which experiments (repeatable; default all)",
        choices=(*EXPERIMENTS, "all"),
        flag=("--experiment", "-e"),
        cli={"default": None, "dest": "experiment"},
    )
    seeds: tuple[int, ...] | None = param(
        help="training seeds (several give error bars)", cli={"nargs": "+"}
    )  # None: the preset's
    encoder_weights: str | None = param(
        help="ImageNet state dict of the encoder (used when the preset says pretrained)", cli={"metavar": "PATH"}
    )
    device: str | None = shared.device("auto (CUDA when present) | cpu | cuda", flag_default="auto")
    only_passed: bool = param(
        False,
        help="synthetic sets without the samples that failed a quality gate (samples not scored yet "
        "stay and are counted; 'diffgen gates' scores them)",
    )
