"""The parameters of the "import" job (the stage is :func:`backend.data.importer.run_import`;
this module is light: queueing an import reads no image)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from backend.config.fields import REQUIRED, param
from backend.jobs.params import JobParams


@dataclass(frozen=True)
class ImportParams(JobParams):
    """The dataset folder (images/ + masks/) the app imports, with the importer's defaults (the
    CLI's ``diffgen import`` offers its other options)."""

    folder: str = param(REQUIRED, label="Folder", help="the dataset folder (images/ + masks/)")

    def queued(self, ws: Any) -> ImportParams:
        """The folder made absolute: the job's row names it, whatever folder the app ran in."""
        return replace(self, folder=str(Path(self.folder).expanduser().resolve()))
