"""The parameters of the evaluation jobs (``evaluate``: the paper's Tables 1-2; ``fid``;
``msssim``), light enough for the queue and the CLI's parser to import (no numpy, no torch):
the commands build them, and a job stores them, like every other kind's."""

from __future__ import annotations

from dataclasses import dataclass

from backend.errors import BadInputError
from backend.jobs.params import JobParams

SETS_BY = ("sample-index", "random")
REAL_RESIZE = ("model", "full")


def check_real_resize(resize: str, size: int | None) -> None:
    if resize not in REAL_RESIZE:
        raise BadInputError(f"real_resize must be one of {', '.join(REAL_RESIZE)} (got {resize!r})")
    if size is not None and size < 1:
        raise BadInputError(f"real_size must be a positive side in pixels (got {size})")


@dataclass(frozen=True)
class EvaluateParams(JobParams):
    sets: tuple[str, ...] = ()  # empty: Real + every sample set of the workspace
    subsets: int = 3  # Tables 1-2: Set 1, Set 2, Set 3
    # sample-index: set k = sample k of every image (section 3.2 makes 3 samples per image; the
    # author's experiments.ipynb load_samples(path, idx)); random: random subsets of subset_size
    sets_by: str = "sample-index"
    subset_size: int | None = None  # random sets only; None: as many images as Real (capped by each set)
    # model: Real resized as the synthetic samples are (inpaint.pixels.to_model_resolution) before
    # clean-fid; section 3.4 cites clean-fid [21] because resizing alone moves FID, and the
    # author's experiments.ipynb loads Real at 256x256 like its samples. full: the files as they are
    real_resize: str = "model"
    real_size: int | None = None  # side for real_resize = model; None: the generated samples' side
    seed: int = 0
    pairs: int = 1000  # MS-SSIM pairs per subset
    msssim_size: int = 256
    fid_inception: str | None = None
    device: str | None = None
    batch_size: int = 32

    def validate(self) -> None:
        """The choices among words, checked before any image is read."""
        if self.sets_by not in SETS_BY:
            raise BadInputError(f"sets_by must be one of {', '.join(SETS_BY)} (got {self.sets_by!r})")
        check_real_resize(self.real_resize, self.real_size)


@dataclass(frozen=True)
class FidParams(JobParams):
    """FID between two set specs (real, samples:KIND, a set name, a folder); Real is resized as
    in an evaluation (``real_resize``, ``real_size``)."""

    sets: tuple[str, ...] = ()
    fid_inception: str | None = None
    device: str | None = None
    batch_size: int = 32
    real_resize: str = "model"
    real_size: int | None = None

    def validate(self) -> None:
        if len(self.sets) != 2:
            raise BadInputError(f"FID compares exactly two image sets (got {len(self.sets)})")
        check_real_resize(self.real_resize, self.real_size)


@dataclass(frozen=True)
class MsssimParams(JobParams):
    """Mean MS-SSIM over ``pairs`` random pairs of one set (``set``: as for FID)."""

    set: str
    pairs: int = 1000
    seed: int = 0
    size: int = 256  # the common side every image is resized to
