"""The parameters of the "import-samples" job, which merges the bundles of sharded runs (the
stage is :func:`backend.jobs.bundles.run_import_samples`; this module is light)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from backend.config.fields import REQUIRED, param
from backend.jobs.params import JobParams, absolute


@dataclass(frozen=True)
class ImportSamplesParams(JobParams):
    """The bundle folders to merge, in order."""

    bundles: tuple[str, ...] = param(REQUIRED, label="Bundles", help="bundle folders (e.g. WS/bundles/RUN-*-of-8)")

    def queued(self, ws: Any) -> ImportSamplesParams:
        """The folders made absolute: the job's row names them, whatever folder the app ran in."""
        return replace(self, bundles=tuple(absolute(b) for b in self.bundles))
