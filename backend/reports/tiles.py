"""Picture tiles for contact sheets: an image at a fixed size with its mask outlined, and a
caption band under it (the sheets of the style stage, the quality gates and the demo)."""

from __future__ import annotations

import cv2
import numpy as np

CAPTION = 16  # px of the caption band


def tile(rgb: np.ndarray, size: int, mask: np.ndarray | None = None) -> np.ndarray:
    """``rgb`` resized to ``size`` squared (nearest when enlarging: the pixels stay visible),
    the mask's outline drawn in yellow."""
    interp = cv2.INTER_NEAREST if rgb.shape[0] * 2 <= size else cv2.INTER_AREA
    out = cv2.resize(rgb, (size, size), interpolation=interp)
    if mask is not None:
        m = cv2.resize(mask, (size, size), interpolation=cv2.INTER_NEAREST)
        contours, _ = cv2.findContours((m > 127).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        out = cv2.drawContours(out.copy(), contours, -1, (255, 255, 0), 1)
    return out


def captioned(image: np.ndarray, text: str, colour: tuple[int, int, int] = (0, 0, 0)) -> np.ndarray:
    """``image`` over a white band holding ``text`` (clipped to the width)."""
    band = np.full((CAPTION, image.shape[1], 3), 255, np.uint8)
    cv2.putText(band, text, (3, CAPTION - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.36, colour, 1, cv2.LINE_AA)
    return np.concatenate([image, band], axis=0)
