"""Pixels in and out of the model: a source at the model's resolution, the 4-channel tensor,
and a generated tensor back to an image and a cleaned binary mask."""

from __future__ import annotations

import numpy as np
import torch

from backend.diffusion.train_data import resize_pair
from backend.generate.config import GenerationConfig

# Whole frame, whatever train.resize was: the author's sampler squashes too (image_editor.py,
# PIL resize to (256, 256)), and a crop would lose the sides a sample must keep.
RESIZE_NOTE = "whole frame to the model resolution: image INTER_AREA, mask nearest"


def to_model_resolution(image: np.ndarray, mask: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Whole-frame resize to ``size`` x ``size`` exactly as the training data is made
    (:func:`resize_pair`), so the model sees inputs from the distribution it learned."""
    arr = resize_pair(image, mask, size)
    return np.ascontiguousarray(arr[:3].transpose(1, 2, 0)), arr[3]


def with_wanted(image: np.ndarray, mask: np.ndarray, wanted: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A mask-guided source at ``size``: (image, the image's mask united with the wanted mask,
    the wanted mask), each resized as :func:`to_model_resolution` resizes."""
    small, small_mask = to_model_resolution(image, mask, size)
    _, small_wanted = to_model_resolution(image, wanted, size)
    return small, np.maximum(small_mask, small_wanted), small_wanted


def to_tensor(image: np.ndarray, mask: np.ndarray) -> torch.Tensor:
    """RGB HxWx3 + mask HxW uint8 -> (4,H,W) float in [-1, 1] (the models' 4 channels)."""
    x = np.concatenate([image, mask[..., None]], axis=2).astype(np.float32) / 127.5 - 1.0
    return torch.from_numpy(x).permute(2, 0, 1).contiguous()


def postprocess(
    x0: torch.Tensor, image: np.ndarray, mask: np.ndarray, region: np.ndarray, cfg: GenerationConfig
) -> tuple[np.ndarray, np.ndarray]:
    """A generated (4,H,W) tensor -> (RGB uint8, binary mask uint8).

    The mask channel is thresholded at 0 (mid-grey) and cleaned (:meth:`GenerationConfig.clean`)
    in the context of the whole mask (a polyp crossing the region edge stays one component);
    outside the region both the image and the mask are the source's, exactly.
    """
    arr = ((x0.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()
    inside = region > 0
    out_img = np.where(inside[..., None], arr[..., :3], image)
    out_mask = cfg.clean(np.where(inside, np.where(arr[..., 3] >= 128, 255, 0), mask).astype(np.uint8))
    return out_img.astype(np.uint8), np.where(inside, out_mask, mask).astype(np.uint8)
