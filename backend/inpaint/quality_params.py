"""The parameters of the "gates" job, which scores stored samples (the stage is
:func:`backend.inpaint.quality.run_gates`; this module is light: queueing it loads no image library)."""

from __future__ import annotations

from dataclasses import dataclass

from backend.config.fields import param
from backend.jobs.params import JobParams


@dataclass(frozen=True)
class GatesParams(JobParams):
    """Score the samples not scored yet, or every sample (``rescore``)."""

    rescore: bool = param(False, label="Rescore", help="score every sample again")
    preset: str | None = param(
        None, label="Preset", help="take the thresholds from this preset's [gates] (default: each sample's own)"
    )
