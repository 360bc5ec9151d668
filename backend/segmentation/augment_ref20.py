"""The training augmentation of the paper's ref [20] (DivergentNets), ``segment.augment = "ref20"``.

vlbthambawita/divergent-nets ``data/prepare_data.py`` ``get_training_augmentation`` (commit
656aac5), in its order, with the Albumentations 0.x / imgaug defaults of the steps it leaves
unset (Albumentations is not a dependency; the steps are written with OpenCV here):

1. HorizontalFlip(p=0.5)
2. ShiftScaleRotate(shift_limit=0.1, scale_limit=0.5, rotate_limit=0, p=1, border_mode=0):
   every image shifted by up to 10 % and scaled by 0.5..1.5, never rotated, black borders
3. PadIfNeeded / Resize to 256: the store already holds ``image_size`` squares
4. IAAAdditiveGaussianNoise(p=0.2): imgaug's scale 0.01..0.05 x 255, one draw for all channels
5. IAAPerspective(p=0.5): imgaug's corner jitter N(0, s), s in 0.05..0.1 of the side, the
   jittered quadrilateral stretched back to the full frame (keep_size)
6. OneOf(CLAHE, RandomBrightness, RandomGamma, p=0.9): the Control photometric steps
7. OneOf(IAASharpen (alpha 0.2..0.5, lightness 0.5..1), Blur(3), MotionBlur(3), p=0.9)
8. OneOf(RandomContrast (x 0.8..1.2), HueSaturationValue (20, 30, 20), p=0.9)

The paper's text names only "ShiftScaleRotate, HorizontalFlip, and one of CLAHE,
RandomBrightness, RandomGamma" (Section 3.5): steps 4, 5, 7 and 8 are the code's.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from backend.segmentation.augment import CONTROL, brightness, clahe, gamma


@dataclass(frozen=True)
class Ref20Params:
    shift_limit: float = 0.1
    scale_limit: float = 0.5
    p_noise: float = 0.2
    noise_scale: tuple[float, float] = (0.01 * 255, 0.05 * 255)
    p_perspective: float = 0.5
    perspective_scale: tuple[float, float] = (0.05, 0.1)
    p_photometric: float = 0.9
    p_sharpen_blur: float = 0.9
    sharpen_alpha: tuple[float, float] = (0.2, 0.5)
    sharpen_lightness: tuple[float, float] = (0.5, 1.0)
    blur_size: int = 3
    p_contrast_hsv: float = 0.9
    contrast_limit: float = 0.2
    hsv_shift: tuple[float, float, float] = (20, 30, 20)  # hue, saturation, value


REF20 = Ref20Params()


def shift_scale(
    image: np.ndarray, mask: np.ndarray, rng: np.random.Generator, p: Ref20Params = REF20
) -> tuple[np.ndarray, np.ndarray]:
    """Step 2: scale about the centre and shift, no rotation, zero (black) border."""
    h, w = mask.shape[:2]
    scale = rng.uniform(1 - p.scale_limit, 1 + p.scale_limit)
    dx, dy = rng.uniform(-p.shift_limit, p.shift_limit, 2)
    m = cv2.getRotationMatrix2D((w / 2 - 0.5, h / 2 - 0.5), 0.0, scale)
    m[0, 2] += dx * w
    m[1, 2] += dy * h
    image = cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    mask = cv2.warpAffine(mask, m, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return image, mask


def gaussian_noise(image: np.ndarray, rng: np.random.Generator, p: Ref20Params = REF20) -> np.ndarray:
    """Step 4: one noise field (per pixel, shared by the channels) of a random scale."""
    noise = rng.normal(0.0, rng.uniform(*p.noise_scale), image.shape[:2])[..., None]
    return np.clip(image.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def perspective(
    image: np.ndarray, mask: np.ndarray, rng: np.random.Generator, p: Ref20Params = REF20
) -> tuple[np.ndarray, np.ndarray]:
    """Step 5: each corner pulled inwards by |N(0, s)| of the side; that quadrilateral fills the frame."""
    h, w = mask.shape[:2]
    jitter = np.mod(np.abs(rng.normal(0.0, rng.uniform(*p.perspective_scale), (4, 2))), 1)
    quad = np.array(
        [
            [jitter[0, 0] * w, jitter[0, 1] * h],
            [(1 - jitter[1, 0]) * w, jitter[1, 1] * h],
            [(1 - jitter[2, 0]) * w, (1 - jitter[2, 1]) * h],
            [jitter[3, 0] * w, (1 - jitter[3, 1]) * h],
        ],
        np.float32,
    )
    frame = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    m = cv2.getPerspectiveTransform(quad, frame)
    image = cv2.warpPerspective(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    mask = cv2.warpPerspective(mask, m, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return image, mask


def sharpen(image: np.ndarray, rng: np.random.Generator, p: Ref20Params = REF20) -> np.ndarray:
    """imgaug Sharpen: a 3x3 kernel of centre 8 + lightness, blended with identity by alpha."""
    alpha, lightness = rng.uniform(*p.sharpen_alpha), rng.uniform(*p.sharpen_lightness)
    identity = np.zeros((3, 3), np.float32)
    identity[1, 1] = 1
    edge = np.full((3, 3), -1, np.float32)
    edge[1, 1] = 8 + lightness
    kernel = (1 - alpha) * identity + alpha * edge
    return np.clip(cv2.filter2D(image.astype(np.float32), -1, kernel), 0, 255).astype(np.uint8)


def box_blur(image: np.ndarray, rng: np.random.Generator, p: Ref20Params = REF20) -> np.ndarray:
    return cv2.blur(image, (p.blur_size, p.blur_size))


def motion_blur(image: np.ndarray, rng: np.random.Generator, p: Ref20Params = REF20) -> np.ndarray:
    """A random line through a ``blur_size`` square kernel, normalised."""
    k = p.blur_size
    kernel = np.zeros((k, k), np.uint8)
    x1, x2 = rng.integers(0, k, 2)
    y1, y2 = (0, k - 1) if x1 == x2 else tuple(rng.integers(0, k, 2))
    cv2.line(kernel, (int(x1), int(y1)), (int(x2), int(y2)), 1, thickness=1)
    return cv2.filter2D(image, -1, kernel.astype(np.float32) / kernel.sum())


def contrast(image: np.ndarray, rng: np.random.Generator, p: Ref20Params = REF20) -> np.ndarray:
    """Albumentations 0.x RandomContrast: every value times alpha in 1 +- limit."""
    alpha = 1 + rng.uniform(-p.contrast_limit, p.contrast_limit)
    return np.clip(image.astype(np.float32) * alpha, 0, 255).astype(np.uint8)


def hue_saturation_value(image: np.ndarray, rng: np.random.Generator, p: Ref20Params = REF20) -> np.ndarray:
    """Shifts in OpenCV's 8-bit HSV (hue wraps at 180, the others clip)."""
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV).astype(np.int32)
    dh, ds, dv = (rng.uniform(-lim, lim) for lim in p.hsv_shift)
    hsv[..., 0] = (hsv[..., 0] + int(round(dh))) % 180
    hsv[..., 1] = np.clip(hsv[..., 1] + int(round(ds)), 0, 255)
    hsv[..., 2] = np.clip(hsv[..., 2] + int(round(dv)), 0, 255)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)


def ref20_augment(
    image: np.ndarray, mask: np.ndarray, rng: np.random.Generator, p: Ref20Params = REF20
) -> tuple[np.ndarray, np.ndarray]:
    """The eight steps above on an RGB uint8 image and its HxW uint8 mask (copies returned)."""
    if rng.random() < 0.5:
        image, mask = image[:, ::-1], mask[:, ::-1]
    image, mask = shift_scale(np.ascontiguousarray(image), np.ascontiguousarray(mask), rng, p)
    if rng.random() < p.p_noise:
        image = gaussian_noise(image, rng, p)
    if rng.random() < p.p_perspective:
        image, mask = perspective(image, mask, rng, p)
    if rng.random() < p.p_photometric:
        op = (clahe, brightness, gamma)[int(rng.integers(3))]
        image = op(image, rng, CONTROL)
    if rng.random() < p.p_sharpen_blur:
        image = (sharpen, box_blur, motion_blur)[int(rng.integers(3))](image, rng, p)
    if rng.random() < p.p_contrast_hsv:
        image = (contrast, hue_saturation_value)[int(rng.integers(2))](image, rng, p)
    return np.ascontiguousarray(image), np.ascontiguousarray(mask)
