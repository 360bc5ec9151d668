"""Intra-set diversity: mean MS-SSIM over random pairs of images of one set (paper Table 2).

Lower means more diverse. Images are resized to a common square side (pairs must match in
size; 256 is what the diffusion models see). pytorch-msssim's 5 scales with an 11-px
window need a side above 160 px; below that the window shrinks to the largest odd size
that fits, and below 33 px the images are upsampled to 161 px. The method used is part
of the result, so a number is never shown without how it was measured.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import cv2
import numpy as np
import torch

from backend.config.device import pick_device
from backend.data.sets import ImageSet
from backend.errors import BadInputError, Cancelled
from backend.io.images import load_rgb

SCALES = 5
MIN_WINDOW = 3


@dataclass(frozen=True)
class MsssimConfig:
    pairs: int = 1000
    seed: int = 0
    size: int = 256  # common side every image is resized to
    win_size: int = 11
    batch_size: int = 16
    device: str | None = None  # default: CUDA when present


@dataclass(frozen=True)
class MsssimPlan:
    side: int  # side the images are compared at
    win_size: int
    note: str


def plan_for(size: int, win_size: int = 11) -> MsssimPlan:
    """Window and side that let 5-scale MS-SSIM run at ``size`` (its 4 downsamplings need
    side > (win - 1) * 16)."""
    if size > (win_size - 1) * 2 ** (SCALES - 1):
        return MsssimPlan(size, win_size, f"{SCALES} scales, window {win_size}, images resized to {size}x{size}")
    fit = (size - 1) // 2 ** (SCALES - 1) + 1  # largest window with (win - 1) * 16 < size
    fit = fit if fit % 2 else fit - 1
    if fit >= MIN_WINDOW:
        return MsssimPlan(
            size,
            fit,
            f"{SCALES} scales, window reduced to {fit} (images {size}x{size} are below "
            f"the {(win_size - 1) * 16 + 1} px that window {win_size} needs)",
        )
    side = (win_size - 1) * 2 ** (SCALES - 1) + 1
    return MsssimPlan(
        side,
        win_size,
        f"{SCALES} scales, window {win_size}, images of {size} px upsampled to {side}x{side} (too small for any window)",
    )


def pair_scores(x: torch.Tensor, y: torch.Tensor, win_size: int) -> torch.Tensor:
    """MS-SSIM of each pair of uint8-range (N, 3, H, W) batches, one value per pair."""
    from pytorch_msssim import ms_ssim

    return ms_ssim(x, y, data_range=255, size_average=False, win_size=win_size)


def random_pairs(n: int, pairs: int, seed: int) -> np.ndarray:
    """``pairs`` distinct unordered pairs (i != j), all of them when fewer exist."""
    if n < 2:
        raise BadInputError(f"MS-SSIM needs at least 2 images in the set (got {n})")
    total = n * (n - 1) // 2
    rng = np.random.default_rng(seed)
    if pairs >= total:
        i, j = np.triu_indices(n, 1)
        return np.stack([i, j], axis=1)
    chosen = rng.choice(total, size=pairs, replace=False)
    i, j = np.triu_indices(n, 1)
    return np.stack([i[chosen], j[chosen]], axis=1)


@dataclass
class MsssimResult:
    mean: float
    std: float
    pairs: int
    images: int
    method: str
    problems: list[str]

    def as_dict(self) -> dict:
        return asdict(self)


def mean_msssim(
    image_set: ImageSet,
    cfg: MsssimConfig = MsssimConfig(),
    progress: Callable[[int, int, str], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> MsssimResult:
    """Mean MS-SSIM over random pairs of the set; unreadable files are named and left out."""
    plan = plan_for(cfg.size, cfg.win_size)
    device = pick_device(cfg.device)
    pairs = random_pairs(len(image_set), cfg.pairs, cfg.seed)
    cache: dict[int, torch.Tensor | None] = {}
    problems: list[str] = []

    def load(i: int) -> torch.Tensor | None:
        if i not in cache:
            try:
                im = load_rgb(image_set.items[i].path)[0]
            except BadInputError as e:
                problems.append(f"{e}: left out of MS-SSIM")
                cache[i] = None
                return None
            interp = cv2.INTER_AREA if min(im.shape[:2]) > plan.side else cv2.INTER_CUBIC
            im = cv2.resize(im, (plan.side, plan.side), interpolation=interp)
            cache[i] = torch.from_numpy(im).permute(2, 0, 1).contiguous()  # uint8: 4x less memory
        return cache[i]

    scores: list[torch.Tensor] = []
    for start in range(0, len(pairs), cfg.batch_size):
        if cancel and cancel():
            raise Cancelled("MS-SSIM cancelled")
        loaded = [(load(i), load(j)) for i, j in pairs[start : start + cfg.batch_size]]
        batch = [(a, b) for a, b in loaded if a is not None and b is not None]
        if batch:
            x = torch.stack([a for a, _ in batch]).to(device).float()
            y = torch.stack([b for _, b in batch]).to(device).float()
            scores.append(pair_scores(x, y, plan.win_size).cpu())
        if progress:
            progress(min(start + cfg.batch_size, len(pairs)), len(pairs), f"MS-SSIM {image_set.name}")
    if not scores:
        raise BadInputError(f"image set {image_set.spec!r}: no readable image pairs for MS-SSIM")
    s = torch.cat(scores).double()
    return MsssimResult(float(s.mean()), float(s.std()) if len(s) > 1 else 0.0, len(s), len(image_set), plan.note, problems)
