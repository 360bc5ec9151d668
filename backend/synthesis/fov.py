"""The endoscope's field of view: the part of a frame that shows tissue, not the black border.

A new polyp must lie on tissue: a wanted mask on the black border (or the dark corners of the
procedural demo frames, ``backend/data/demo.py``) asks the model for a polyp where the source
has no picture. The field of view is the convex hull of the largest bright region of the frame:
bright because the border is black (JPEG noise and vignetting lift it a little, hence a
threshold on a median-filtered brightness, not ``> 0``; a median keeps the edge in place),
convex because a scope's opening is (a circle, an octagon), so the dark lumen and dark folds
inside the frame stay in view.
"""

from __future__ import annotations

import cv2
import numpy as np

from backend.errors import BadInputError

DARK = 24  # brightness (max of R, G, B after a blur) at or below which a pixel is border
BLUR_FRACTION = 0.02  # median blur side as a fraction of the frame's shorter side (sensor/JPEG noise)
MARGIN_FRACTION = 0.04  # a new polyp keeps this fraction of the shorter side from the border
MAX_OUTSIDE = 0.02  # a wanted mask may have this fraction of its pixels outside the view (a drawn edge)


def field_of_view(image: np.ndarray) -> np.ndarray:
    """(H, W) bool: True where ``image`` (H, W, 3 uint8 RGB) shows the scene. A frame with no
    bright pixel at all has no field of view (all False)."""
    h, w = image.shape[:2]
    side = max(3, int(round(min(h, w) * BLUR_FRACTION)) | 1)
    bright = cv2.medianBlur(np.ascontiguousarray(image.max(axis=2)), side) > DARK
    n, labels, stats, _ = cv2.connectedComponentsWithStats(bright.astype(np.uint8), connectivity=8)
    if n < 2:
        return np.zeros((h, w), bool)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    points = cv2.findNonZero((labels == largest).astype(np.uint8))
    view = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(view, cv2.convexHull(points), 1)
    return view.astype(bool)


def margin_px(shape: tuple[int, ...]) -> int:
    """How far (px) a new polyp keeps from the border of a frame of ``shape``."""
    return max(2, int(round(min(shape[:2]) * MARGIN_FRACTION)))


def inner_view(view: np.ndarray, margin: int) -> np.ndarray:
    """``view`` shrunk by ``margin`` px, the frame's edge counting as border (beyond it there is
    no tissue either)."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))
    shrunk = cv2.erode(view.astype(np.uint8), kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return shrunk.astype(bool)


def check_in_view(mask: np.ndarray, image: np.ndarray, what: str) -> None:
    """Refuse a wanted ``mask`` (0/255, the image's size) whose polyp lies outside the field of
    view of ``image`` (more than ``MAX_OUTSIDE`` of it on the black border), naming ``what``."""
    polyp = mask > 127
    area = int(polyp.sum())
    if not area:
        return
    outside = int((polyp & ~field_of_view(image)).sum())
    if outside > MAX_OUTSIDE * area:
        raise BadInputError(
            f"{what}: the wanted mask lies outside the field of view ({100 * outside / area:.0f}% of it on the "
            "black border, where the frame shows no tissue); draw the polyp on the tissue"
        )
