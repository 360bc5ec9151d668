"""The paper's "Control" augmentations, applied to an image and its mask together.

ShiftScaleRotate, HorizontalFlip and one of CLAHE / RandomBrightness / RandomGamma, with
Albumentations' default ranges (the library the paper used; it is not a dependency here,
so the same operations are written with OpenCV). Geometric steps move the mask with the
image (nearest-neighbour, so it stays binary); photometric steps touch the image only.
All randomness comes from the ``rng`` passed in, so a run is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class ControlParams:
    shift_limit: float = 0.0625  # fraction of the side
    scale_limit: float = 0.1  # scale in [1 - l, 1 + l]
    rotate_limit: float = 45.0  # degrees
    p_shift_scale_rotate: float = 0.5
    p_hflip: float = 0.5
    p_photometric: float = 0.9  # OneOf(CLAHE, brightness, gamma), as in smp's polyp example
    clahe_clip: tuple[float, float] = (1.0, 4.0)
    brightness_limit: float = 0.2  # add beta * 255, beta in [-l, l]
    gamma_limit: tuple[float, float] = (0.8, 1.2)


CONTROL = ControlParams()


def shift_scale_rotate(
    image: np.ndarray, mask: np.ndarray, rng: np.random.Generator, p: ControlParams = CONTROL
) -> tuple[np.ndarray, np.ndarray]:
    """One random affine warp applied to both; borders reflect like Albumentations."""
    h, w = mask.shape[:2]
    angle = rng.uniform(-p.rotate_limit, p.rotate_limit)
    scale = rng.uniform(1 - p.scale_limit, 1 + p.scale_limit)
    dx, dy = rng.uniform(-p.shift_limit, p.shift_limit, 2)
    m = cv2.getRotationMatrix2D((w / 2 - 0.5, h / 2 - 0.5), angle, scale)
    m[0, 2] += dx * w
    m[1, 2] += dy * h
    image = cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    mask = cv2.warpAffine(mask, m, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT_101)
    return image, mask


def clahe(image: np.ndarray, rng: np.random.Generator, p: ControlParams = CONTROL) -> np.ndarray:
    """Contrast-limited histogram equalisation of the lightness channel (LAB)."""
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB)
    op = cv2.createCLAHE(clipLimit=float(rng.uniform(*p.clahe_clip)), tileGridSize=(8, 8))
    lab[..., 0] = op.apply(np.ascontiguousarray(lab[..., 0]))
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)


def brightness(image: np.ndarray, rng: np.random.Generator, p: ControlParams = CONTROL) -> np.ndarray:
    beta = rng.uniform(-p.brightness_limit, p.brightness_limit) * 255
    return np.clip(image.astype(np.float32) + beta, 0, 255).astype(np.uint8)


def gamma(image: np.ndarray, rng: np.random.Generator, p: ControlParams = CONTROL) -> np.ndarray:
    g = rng.uniform(*p.gamma_limit)
    lut = np.clip((np.arange(256) / 255.0) ** g * 255 + 0.5, 0, 255).astype(np.uint8)
    return lut[image]


PHOTOMETRIC = (clahe, brightness, gamma)


def control_augment(
    image: np.ndarray, mask: np.ndarray, rng: np.random.Generator, p: ControlParams = CONTROL
) -> tuple[np.ndarray, np.ndarray]:
    """The Control pipeline on an RGB uint8 image and its HxW uint8 mask (copies returned)."""
    if rng.random() < p.p_shift_scale_rotate:
        image, mask = shift_scale_rotate(image, mask, rng, p)
    if rng.random() < p.p_hflip:
        image, mask = image[:, ::-1], mask[:, ::-1]
    if rng.random() < p.p_photometric:
        op = PHOTOMETRIC[int(rng.integers(len(PHOTOMETRIC)))]
        image = op(np.ascontiguousarray(image), rng, p)
    return np.ascontiguousarray(image), np.ascontiguousarray(mask)
