"""The parameters of the "export" job (the stage is :func:`backend.exporters.job.run_export`;
this module is light: queueing an export loads no image library)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from backend.config.fields import REQUIRED, param
from backend.jobs.params import JobParams, absolute


@dataclass(frozen=True)
class ExportParams(JobParams):
    """What :func:`backend.exporters.job.export_kept` takes: the folder, the format and the filters."""

    out: str = param(REQUIRED, label="Folder", help="output folder: new or empty (nothing is ever overwritten)")
    fmt: str = param("kvasir", label="Format", help="the dataset layout", choices="backend.exporters:FORMATS")
    with_real: bool = param(False, label="With real", help="also export the real image/mask pairs")
    only_passed: bool = param(False, label="Only passed", help="leave out kept samples that failed a quality gate")
    include_empty: bool = param(False, label="Include empty", help="also export kept samples whose mask is empty")
    licence: str = param("", label="Licence", help="the source dataset's licence terms, for the data card")

    def queued(self, ws: Any) -> ExportParams:
        """The folder made absolute: the job's row names it, whatever folder the app ran in."""
        return replace(self, out=absolute(self.out))
