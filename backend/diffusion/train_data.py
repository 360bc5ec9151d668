"""Training data for the 4-channel model: image + current mask, resized, cached, and a
data order / noise stream that depends only on (seed, step).

Why step-derived randomness: the batch indices, flips, timesteps and noise of step ``s``
are functions of ``(seed, s)`` alone, drawn for the *global* batch (all ranks together),
and each rank takes its slice. So ``--resume`` continues exactly without replaying
anything, and two DDP processes with batch B see the same samples, noise and timesteps as
one process with batch 2B.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

from backend.config.presets import check_choice
from backend.diffusion.train_config import RESIZES
from backend.errors import DiffGenError
from backend.workspace import Workspace


@dataclass
class PairCache:
    """Resized image + mask pairs as uint8 ``[N, 4, S, S]`` (RGB, mask 0/255) in memory."""

    image_ids: list[int]
    pixels: torch.Tensor
    skipped: list[str] = field(default_factory=list)  # messages naming the files left out

    def __len__(self) -> int:
        return len(self.image_ids)


def center_crop_geometry(width: int, height: int, size: int) -> tuple[tuple[int, int], int, int]:
    """((resized width, height), crop x, crop y) of guided-diffusion's ``center_crop_arr``
    (diffuse-gen's dataset loaders): halve both sides (rounding down) while the short one is
    at least ``2 * size``, scale the short side to ``size`` and the long one alike (Python's
    ``round``), then take the middle ``size`` x ``size`` (offsets rounded down). The pixels
    are resampled once, from the original, to that size."""
    while min(width, height) >= 2 * size:
        width, height = width // 2, height // 2
    scale = size / min(width, height)
    w, h = round(width * scale), round(height * scale)
    return (w, h), (w - size) // 2, (h - size) // 2


def resize_pair(image: np.ndarray, mask: np.ndarray, size: int, mode: str = "squash") -> np.ndarray:
    """``[4, S, S]`` uint8: INTER_AREA for the image (no aliasing), nearest for the mask
    (stays binary). ``squash`` resizes the whole frame to S x S (ours: nothing is cut off, the
    aspect ratio is not kept); ``center_crop`` keeps the aspect ratio and cuts the long side's
    ends (the author's training data, :func:`center_crop_geometry`)."""
    check_choice("train.resize", mode, RESIZES)
    out, x, y = ((size, size), 0, 0) if mode == "squash" else center_crop_geometry(image.shape[1], image.shape[0], size)
    img = cv2.resize(image, out, interpolation=cv2.INTER_AREA)[y : y + size, x : x + size]
    msk = cv2.resize(mask, out, interpolation=cv2.INTER_NEAREST)[y : y + size, x : x + size]
    msk = np.where(msk > 127, 255, 0).astype(np.uint8)
    return np.concatenate([img.transpose(2, 0, 1), msk[None]], axis=0)


def load_pairs(ws: Workspace, image_ids: list[int], size: int, progress=None, resize: str = "squash") -> PairCache:
    """Read and resize (``resize``: see :func:`resize_pair`) every image with its current
    mask; unreadable ones are skipped with a message naming the file, the rest go on."""
    kept, arrays, skipped = [], [], []
    for i, image_id in enumerate(image_ids):
        rec = ws.image(image_id)
        try:
            mask = ws.read_mask(ws.current_mask(image_id))
            arrays.append(resize_pair(ws.read_image(rec), mask, size, resize))
            kept.append(image_id)
        except (DiffGenError, OSError, ValueError, cv2.error) as e:
            skipped.append(f"{rec.source_path}: skipped ({e})")
        if progress:
            progress(i + 1, len(image_ids), f"loading {rec.name}")
    if not kept:
        raise DiffGenError("no usable image/mask pairs to train on" + (": " + "; ".join(skipped[:5]) if skipped else ""))
    return PairCache(kept, torch.from_numpy(np.stack(arrays)), skipped)


def to_model_range(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1] (the mask becomes -1 / +1)."""
    return pixels.float() / 127.5 - 1.0


def from_model_range(x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """A ``[B, 4, S, S]`` model-range batch -> (RGB uint8 ``[B,S,S,3]``, mask uint8 ``[B,S,S]``)."""
    x = x.detach().float().cpu().clamp(-1, 1)
    rgb = ((x[:, :3] + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    mask = np.where(x[:, 3].numpy() > 0, 255, 0).astype(np.uint8)
    return rgb, mask


def _seed_int(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1, dtype=np.uint64)[0] >> 1)


def global_batch_indices(seed: int, step: int, global_batch: int, n: int) -> np.ndarray:
    """Dataset indices of step ``step``: a stream of per-epoch permutations, read in order
    (every image once per epoch, as a shuffled sampler without replacement)."""
    start = step * global_batch
    out = np.empty(global_batch, dtype=np.int64)
    for j in range(global_batch):
        epoch, offset = divmod(start + j, n)
        if j == 0 or offset == 0:
            perm = np.random.default_rng([seed, epoch]).permutation(n)
        out[j] = perm[offset]
    return out


@dataclass
class StepDraw:
    """Everything random in one step, for the whole global batch."""

    indices: np.ndarray  # [G] dataset indices
    flips: torch.Tensor  # [G] bool
    t: torch.Tensor  # [G] long, uniform over the training diffusion's steps
    noise: torch.Tensor  # [G, 4, S, S]

    def rank_slice(self, rank: int, batch: int) -> "StepDraw":
        s = slice(rank * batch, (rank + 1) * batch)
        return StepDraw(self.indices[s], self.flips[s], self.t[s], self.noise[s])


def draw_step(seed: int, step: int, global_batch: int, n: int, num_timesteps: int, size: int, hflip: bool) -> StepDraw:
    """The step's batch, flips, timesteps (uniform schedule sampler) and noise."""
    g = torch.Generator().manual_seed(_seed_int(seed, step, 1))
    flips = torch.rand(global_batch, generator=g) < 0.5 if hflip else torch.zeros(global_batch, dtype=torch.bool)
    t = torch.randint(0, num_timesteps, (global_batch,), generator=g)
    noise = torch.randn(global_batch, 4, size, size, generator=g)
    return StepDraw(global_batch_indices(seed, step, global_batch, n), flips, t, noise)


def make_batch(cache: PairCache, draw: StepDraw) -> torch.Tensor:
    """Float ``[B, 4, S, S]`` in [-1, 1] with the drawn horizontal flips applied."""
    x = to_model_range(cache.pixels[torch.as_tensor(draw.indices)])
    return torch.where(draw.flips[:, None, None, None], x.flip(-1), x)
