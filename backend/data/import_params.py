"""The parameters of the "import" job (the stage is :func:`backend.data.importer.run_import`;
this module is light: queueing an import reads no image)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from backend.config.fields import REQUIRED, param
from backend.io.limits import DEFAULT_MAX_PIXELS
from backend.jobs.params import JobParams, absolute
from backend.workspace.roles import ROLES, TRAIN


@dataclass(frozen=True)
class ImportParams(JobParams):
    """A dataset folder to import (the app's Import and drop, and ``diffgen import``, whose
    flags set the other fields)."""

    folder: str = param(REQUIRED, label="Folder", help="the dataset folder (images/ + masks/)")
    copy: bool = param(False, label="Copy", help="copy the images into the workspace")
    follow_symlinks: bool = param(False, label="Follow links", help="accept files linked from outside the dataset")
    max_pixels: int = param(DEFAULT_MAX_PIXELS, 1, 1 << 40, label="Largest image", help="pixels (width x height) at most")
    role: str = param(TRAIN, label="Role", help="role of the new images", choices=ROLES)

    def queued(self, ws: Any) -> ImportParams:
        """The folder made absolute: the job's row names it, whatever folder the app ran in."""
        return replace(self, folder=absolute(self.folder))


@dataclass(frozen=True)
class ImportSetParams(JobParams):
    """An external image set to store as samples for evaluation (``diffgen import-set``)."""

    folder: str = param(REQUIRED, label="Folder", help="a folder of images (masks in masks/ or NAME_mask files)")
    name: str = param(REQUIRED, label="Set name", help="set name shown in the tables, e.g. GAN")

    def queued(self, ws: Any) -> ImportSetParams:
        """The folder made absolute: the job's row names it, whatever folder the app ran in."""
        return replace(self, folder=absolute(self.folder))
