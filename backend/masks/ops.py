"""Binary mask operations: pure functions on HxW uint8 arrays (0 background, 255 foreground).

Used by the mask editor, the CLI and the inpainting stage. Every function returns a new
array and never changes its input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from backend.config.fields import check_value, setting

Point = tuple[float, float]  # (x, y) in pixel coordinates


@dataclass(frozen=True)
class Morphology:
    """The radius of a dilation, erosion or smoothing, bounded where it arrives (the CLI's
    ``dilate --pixels``, a recorded operation): a radius of a million would build a kernel of
    4e12 pixels before the first mask is touched. Negative erodes (``dilate --pixels``)."""

    pixels: int = setting(0, -1024, 1024, unit="px")


def binarize(mask: np.ndarray, threshold: int = 128) -> np.ndarray:
    return np.where(mask >= threshold, 255, 0).astype(np.uint8)


def disk(radius: int) -> np.ndarray:
    """Round structuring element of diameter 2*radius+1: offsets (dx, dy) with dx²+dy² <= r².

    A true Euclidean disk, so that "dilate by N pixels" grows the mask by N in every
    direction. (OpenCV's MORPH_ELLIPSE is not symmetric under transposition: it reaches
    further sideways than up and down.)
    """
    r = int(radius)
    y, x = np.mgrid[-r : r + 1, -r : r + 1]
    return (x * x + y * y <= r * r).astype(np.uint8)


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Grow the foreground by ``radius`` pixels with a round element (diameter 2r+1).

    Every pixel within Euclidean distance ``radius`` of the mask becomes foreground. The
    paper says the polyp mask was "dilated by 20 pixels"; we read that as this radius.
    Outside the image counts as background.
    """
    if radius <= 0:
        return binarize(mask)
    return cv2.dilate(binarize(mask), disk(radius), borderType=cv2.BORDER_CONSTANT, borderValue=0)


def ellipse_kernel(size: int) -> np.ndarray:
    """OpenCV's ``getStructuringElement(MORPH_ELLIPSE, (size, size))``, anchored at its centre
    pixel ``size // 2``: for an even size it reaches ``size/2 - 1`` pixels one way and ``size/2``
    the other (20 -> 9 and 10, "about 9.5 per side")."""
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (int(size), int(size)))


def dilate_ellipse_kernel(mask: np.ndarray, size: int) -> np.ndarray:
    """Dilation with :func:`ellipse_kernel` as the author's code does it (``cv2.dilate`` with
    a ``size`` x ``size`` elliptical kernel, one iteration); outside the image is background."""
    if size <= 1:
        return binarize(mask)
    return cv2.dilate(binarize(mask), ellipse_kernel(size), borderType=cv2.BORDER_CONSTANT, borderValue=0)


def open_ellipse_kernel(mask: np.ndarray, size: int) -> np.ndarray:
    """``cv2.morphologyEx(MORPH_OPEN)`` with :func:`ellipse_kernel`, as the author's code
    cleans generated masks: removes specks and spurs narrower than the kernel. OpenCV's
    default border lets the erosion ignore the outside (a polyp at the frame edge is kept).
    OpenCV dilates with the same, unreflected offsets it eroded with; for an even size those
    are not symmetric (-8..7 at 16), so edges can move by a pixel and a pixel next to the mask
    can be added: not a strict opening, kept so because it is what that code computes."""
    if size <= 1:
        return binarize(mask)
    return cv2.morphologyEx(binarize(mask), cv2.MORPH_OPEN, ellipse_kernel(size))


def erode(mask: np.ndarray, radius: int) -> np.ndarray:
    """Shrink the foreground by ``radius`` pixels (round element, diameter 2r+1).

    Outside the image counts as foreground, so a polyp cut by the frame edge is not eaten
    away from the edge (it continues beyond the picture).
    """
    if radius <= 0:
        return binarize(mask)
    return cv2.erode(binarize(mask), disk(radius), borderType=cv2.BORDER_CONSTANT, borderValue=255)


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill background regions not connected (4-connectivity) to the image border."""
    m = binarize(mask)
    h, w = m.shape
    padded = np.zeros((h + 2, w + 2), np.uint8)
    padded[1:-1, 1:-1] = m
    flood_mask = np.zeros((h + 4, w + 4), np.uint8)
    outside = padded.copy()
    cv2.floodFill(outside, flood_mask, (0, 0), 128, flags=4)
    return np.where(outside[1:-1, 1:-1] == 128, 0, 255).astype(np.uint8)


def remove_small_islands(mask: np.ndarray, min_size: int, connectivity: int = 8) -> np.ndarray:
    """Drop foreground components smaller than ``min_size`` pixels."""
    m = binarize(mask)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=connectivity)
    keep = np.zeros(n, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_size
    return np.where(keep[labels], 255, 0).astype(np.uint8)


def smooth(mask: np.ndarray, radius: int = 2) -> np.ndarray:
    """Opening then closing with a round element: removes spurs and notches.

    Uses :func:`erode` and :func:`dilate`, so the image frame is treated as they treat it.
    """
    if radius <= 0:
        return binarize(mask)
    opened = dilate(erode(mask, radius), radius)
    return erode(dilate(opened, radius), radius)


def stroke_region(
    shape: tuple[int, int], points: Sequence[Point], radius: float
) -> tuple[tuple[slice, slice], np.ndarray] | None:
    """Pixels within ``radius`` of the polyline through ``points``, as (bbox, boolean patch).

    Returned as a bounding box plus patch so that editors can store only the changed region
    for undo. None when the stroke misses the image.
    """
    if not points:
        return None
    h, w = shape
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    x0 = max(int(np.floor(pts[:, 0].min() - radius)), 0)
    x1 = min(int(np.ceil(pts[:, 0].max() + radius)) + 1, w)
    y0 = max(int(np.floor(pts[:, 1].min() - radius)), 0)
    y1 = min(int(np.ceil(pts[:, 1].max() + radius)) + 1, h)
    if x0 >= x1 or y0 >= y1:
        return None
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    best = np.full(yy.shape, np.inf)
    segs = zip(pts, pts[1:]) if len(pts) > 1 else [(pts[0], pts[0])]
    for a, b in segs:
        d = b - a
        L2 = float(d @ d)
        t = np.zeros_like(xx) if L2 == 0 else np.clip(((xx - a[0]) * d[0] + (yy - a[1]) * d[1]) / L2, 0, 1)
        dist2 = (xx - (a[0] + t * d[0])) ** 2 + (yy - (a[1] + t * d[1])) ** 2
        np.minimum(best, dist2, out=best)
    return (slice(y0, y1), slice(x0, x1)), best <= radius * radius


def brush(mask: np.ndarray, points: Sequence[Point], radius: float, paint: bool = True) -> np.ndarray:
    """Paint (or erase) a round brush of ``radius`` along the polyline ``points``."""
    out = binarize(mask)
    region = stroke_region(out.shape, points, radius)
    if region is not None:
        box, hit = region
        out[box][hit] = 255 if paint else 0
    return out


def fill_polygon(mask: np.ndarray, points: Sequence[Point], paint: bool = True) -> np.ndarray:
    """Fill the polygon with vertices ``points`` (pixel centres inside it, edges included)."""
    out = binarize(mask)
    if len(points) >= 3:
        poly = np.round(np.asarray(points, dtype=np.float64)).astype(np.int32).reshape(-1, 1, 2)
        cv2.fillPoly(out, [poly], 255 if paint else 0)
    return out


def flood_fill(mask: np.ndarray, seed: tuple[int, int], paint: bool = True) -> np.ndarray:
    """Set the 4-connected region of equal value containing ``seed`` (x, y) to fg or bg."""
    out = binarize(mask)
    x, y = int(seed[0]), int(seed[1])
    if not (0 <= y < out.shape[0] and 0 <= x < out.shape[1]):
        return out
    ff = np.zeros((out.shape[0] + 2, out.shape[1] + 2), np.uint8)
    cv2.floodFill(out, ff, (x, y), 255 if paint else 0, loDiff=0, upDiff=0, flags=4)
    return out


def apply_operation(mask: np.ndarray, operation: str, params: dict) -> np.ndarray:
    """Apply a named operation; the name and params are what a mask version records."""
    ops = {
        "dilate": lambda m, p: dilate(m, int(p["pixels"])),
        "erode": lambda m, p: erode(m, int(p["pixels"])),
        "fill_holes": lambda m, p: fill_holes(m),
        "remove_islands": lambda m, p: remove_small_islands(m, int(p["min_size"])),
        "smooth": lambda m, p: smooth(m, int(p.get("radius", 2))),
    }
    if operation not in ops:
        raise ValueError(f"unknown mask operation {operation!r}; known: {sorted(ops)}")
    for key in ("pixels", "radius"):
        if key in params:
            check_value(Morphology, "pixels", params[key], f"mask {operation}")
    return ops[operation](mask, params)
