"""Display helpers: numpy arrays to QImages, mask overlays and outlines. Display only, no analysis."""

from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtCore import QPointF
from PySide6.QtGui import QImage, QPainterPath, QPolygonF

MASK_COLOUR = (0, 220, 120)  # green fill / outline for the mask being edited
PREVIEW_COLOUR = (255, 200, 0)  # amber for a previewed operation


def to_qimage(rgb: np.ndarray) -> QImage:
    """A QImage that owns a copy of an RGB or grey uint8 array."""
    return wrap_qimage(np.ascontiguousarray(rgb)).copy()


def wrap_qimage(arr: np.ndarray) -> QImage:
    """A QImage sharing memory with ``arr`` (RGB, RGBA or grey); keep ``arr`` alive and in place."""
    h, w = arr.shape[:2]
    fmt = {2: QImage.Format.Format_Grayscale8}.get(arr.ndim) or {
        3: QImage.Format.Format_RGB888,
        4: QImage.Format.Format_RGBA8888,
    }[arr.shape[2]]
    return QImage(arr.data, w, h, arr.strides[0], fmt)


def paint_overlay(
    rgba: np.ndarray, mask: np.ndarray, box: tuple[slice, slice] | None = None, colour: tuple[int, int, int] = MASK_COLOUR
) -> None:
    """Write the coloured, transparent-elsewhere overlay of ``mask`` into ``rgba`` (in place)."""
    box = box or (slice(None), slice(None))
    fg = mask[box] > 0
    rgba[box + (slice(0, 3),)] = colour
    rgba[box + (3,)] = np.where(fg, 255, 0)


def outline_path(mask: np.ndarray) -> QPainterPath:
    """The mask's region outlines (outer and hole borders) in pixel-edge coordinates."""
    contours, _ = cv2.findContours((mask > 0).astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    path = QPainterPath()
    for c in contours:
        pts = c.reshape(-1, 2) + 0.5
        path.addPolygon(QPolygonF([QPointF(float(x), float(y)) for x, y in pts]))
        path.closeSubpath()
    return path


def thumbnail(rgb: np.ndarray, mask: np.ndarray | None, size: int) -> QImage:
    """A thumbnail at most ``size`` px on its long side with the mask outlined."""
    h, w = rgb.shape[:2]
    s = size / max(h, w)
    tw, th = max(1, round(w * s)), max(1, round(h * s))
    small = cv2.resize(rgb, (tw, th), interpolation=cv2.INTER_AREA)
    if mask is not None:
        m = cv2.resize(mask, (tw, th), interpolation=cv2.INTER_NEAREST)
        contours, _ = cv2.findContours((m > 0).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(small, contours, -1, MASK_COLOUR, 1)
    return to_qimage(small)
