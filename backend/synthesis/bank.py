"""The mask bank: new wanted masks made from the training images' own polyps.

Each polyp (a connected component of a training-role image's current mask) is a shape; a new
polyp is one of them, elastically deformed, flipped, rotated and stretched, scaled to an area
and moved to a centroid drawn from the training polyps' own area and centroid distributions (an
observed value with a little jitter), so the new set keeps the real set's sizes and places while
its shapes and their combinations are new. It is placed inside the endoscope's field of view,
away from the black border and, unless ``beside_polyps``, from the image's existing polyps and
from the other new ones. Every draw is seeded by (seed, image, index): the same request gives
the same masks on any machine, and a resumed run redraws nothing differently.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from backend.errors import BadInputError
from backend.synthesis.fov import field_of_view, inner_view, margin_px
from backend.synthesis.wanted import WantedMask
from backend.workspace.selection import generation_images

if TYPE_CHECKING:
    from backend.workspace import Workspace

MIN_POLYP_PX = 16  # a component smaller than this is a speck of the mask, not a polyp shape
TRIES = 200  # placements tried per polyp before the image is said to have no room
AREA_JITTER = 0.15  # log-normal sigma around the drawn area
CENTROID_JITTER = 0.04  # normal sigma (fraction of the side) around the drawn centroid
ASPECT = (0.75, 1.33)  # stretch of one axis against the other (area kept)
ELASTIC_ALPHA = (0.0, 0.08)  # elastic displacement, fraction of the shape's size
ELASTIC_SIGMA = 0.15  # smoothness of the displacement field, fraction of the shape's size
FLIPS = ("none", "horizontal", "vertical", "both")


@dataclass(frozen=True)
class BankShape:
    """One training polyp: its binary crop, its area and centroid as fractions of its image."""

    image_id: int
    mask_version_id: int
    component: int
    crop: np.ndarray  # (h, w) uint8 0/1
    area_fraction: float
    centroid: tuple[float, float]  # (x, y) / (width, height)


class NoRoomError(BadInputError):
    """No place for a new polyp inside the field of view and away from the existing ones."""


_cache: dict[tuple[str, tuple[tuple[int, int], ...]], list[BankShape]] = {}  # the last workspace's shapes


def _shapes_of(image_id: int, mask_version_id: int, mask: np.ndarray) -> list[BankShape]:
    h, w = mask.shape
    n, labels, stats, centroids = cv2.connectedComponentsWithStats((mask > 127).astype(np.uint8), connectivity=8)
    out = []
    for k in range(1, n):
        x, y, cw, ch, area = (int(v) for v in stats[k])
        if area < MIN_POLYP_PX:
            continue
        crop = (labels[y : y + ch, x : x + cw] == k).astype(np.uint8)
        cx, cy = centroids[k]
        out.append(BankShape(image_id, mask_version_id, k, crop, area / (h * w), (float(cx) / w, float(cy) / h)))
    return out


def bank_shapes(ws: Workspace) -> list[BankShape]:
    """Every polyp of the unflagged training images' current masks (cached until a training
    image or its mask changes)."""
    masks = [(r.id, r.current_mask_id) for r in generation_images(ws, "flagged = 0") if r.current_mask_id is not None]
    key = (str(ws.root), tuple(masks))
    if key not in _cache:
        _cache.clear()
        _cache[key] = [s for image_id, mask_id in masks for s in _shapes_of(image_id, mask_id, ws.read_mask(mask_id))]
    shapes = _cache[key]
    if not shapes:
        raise BadInputError(
            f"the mask bank of {ws.root} is empty: no unflagged training image has a polyp in its mask. "
            "Import training images with masks (diffgen import DIR), or draw the wanted masks (--masks drawn)"
        )
    return shapes


def _elastic(crop: np.ndarray, alpha: float, rng: np.random.Generator) -> np.ndarray:
    """``crop`` (0/1) padded and deformed by a smooth random displacement of up to ``alpha`` of
    its size; its largest piece (a deformation may pinch off a sliver)."""
    size = max(crop.shape)
    pad = int(math.ceil(alpha * size)) + 2
    shape = np.pad(crop, pad).astype(np.float32)
    h, w = shape.shape
    field = rng.uniform(-1, 1, (2, h, w)).astype(np.float32)
    sigma = max(1.0, ELASTIC_SIGMA * size)
    for i in range(2):
        smooth = cv2.GaussianBlur(field[i], (0, 0), sigmaX=sigma)
        field[i] = smooth / (np.abs(smooth).max() + 1e-6) * alpha * size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    warped = cv2.remap(shape, xx + field[0], yy + field[1], cv2.INTER_LINEAR, borderValue=0) > 0.5
    n, labels, stats, _ = cv2.connectedComponentsWithStats(warped.astype(np.uint8), connectivity=8)
    if n < 2:
        return np.pad(crop, pad)
    return (labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))).astype(np.uint8)


def _place(
    shape: np.ndarray, size: tuple[int, int], area_px: float, centre: tuple[float, float], angle: float, aspect: float, flip: str
) -> tuple[np.ndarray, float]:
    """``shape`` (0/1) flipped, stretched by ``aspect``, rotated by ``angle`` degrees and scaled
    to ``area_px``, its centroid at ``centre``, on a (W, H) = ``size`` frame; and the scale."""
    m = cv2.moments(shape, binaryImage=True)
    c0 = np.array([m["m10"] / m["m00"], m["m01"] / m["m00"]])
    scale = math.sqrt(area_px / m["m00"])
    fx = -1.0 if flip in ("horizontal", "both") else 1.0
    fy = -1.0 if flip in ("vertical", "both") else 1.0
    t = math.radians(angle)
    rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    linear = rot @ np.diag([scale * math.sqrt(aspect) * fx, scale / math.sqrt(aspect) * fy])
    matrix = np.hstack([linear, (np.array(centre) - linear @ c0)[:, None]])
    placed = cv2.warpAffine(shape.astype(np.float32), matrix, size, flags=cv2.INTER_LINEAR, borderValue=0)
    return placed > 0.5, scale


def centroid_density(shapes: list[BankShape], size: tuple[int, int]) -> np.ndarray:
    """(H, W) float: the training polyps' centroid distribution on a frame of (W, H) = ``size``,
    a kernel density estimate (each observed centroid spread by ``CENTROID_JITTER``)."""
    w, h = size
    hist = np.zeros((h, w), np.float32)
    for s in shapes:
        hist[min(h - 1, int(s.centroid[1] * h)), min(w - 1, int(s.centroid[0] * w))] += 1
    sigma = CENTROID_JITTER * min(w, h)
    return cv2.GaussianBlur(hist, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_CONSTANT)


def _draw_polyp(
    shapes: list[BankShape], density: np.ndarray, allowed: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, dict[str, Any]] | None:
    """One new polyp inside ``allowed`` (None: no try of ``TRIES`` fitted). Its area is an
    observed one, jittered; its centroid is drawn from ``density`` where a disc of that area
    fits in ``allowed`` (the training distribution, given that the polyp must fit)."""
    h, w = allowed.shape
    room = cv2.distanceTransform(allowed.astype(np.uint8), cv2.DIST_L2, 5)
    for _ in range(TRIES):
        source = shapes[int(rng.integers(len(shapes)))]
        area_fraction = shapes[int(rng.integers(len(shapes)))].area_fraction * math.exp(rng.normal(0, AREA_JITTER))
        weight = density * (room >= math.sqrt(area_fraction * w * h / math.pi))
        total = float(weight.sum())
        if total <= 0:
            continue
        flat = int(rng.choice(weight.size, p=(weight / total).ravel()))
        cx, cy = (flat % w + rng.uniform(0, 1)) / w, (flat // w + rng.uniform(0, 1)) / h
        angle = float(rng.uniform(0, 360))
        aspect = float(math.exp(rng.uniform(math.log(ASPECT[0]), math.log(ASPECT[1]))))
        flip = FLIPS[int(rng.integers(len(FLIPS)))]
        alpha = float(rng.uniform(*ELASTIC_ALPHA))
        deformed = _elastic(source.crop, alpha, rng)
        placed, scale = _place(deformed, (w, h), area_fraction * w * h, (cx * w, cy * h), angle, aspect, flip)
        if placed.any() and not (placed & ~allowed).any():
            return placed, {
                "source_image_id": source.image_id,
                "source_mask_version_id": source.mask_version_id,
                "source_component": source.component,
                "area_fraction": round(float(placed.sum()) / (w * h), 6),
                "centroid": [round(float(cx), 4), round(float(cy), 4)],
                "scale": round(scale, 4),
                "rotation_deg": round(angle, 2),
                "aspect": round(aspect, 4),
                "flip": flip,
                "elastic_alpha": round(alpha, 4),
            }
    return None


def _gap_kernel(margin: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))


def _no_room(name: str, image_id: int, low: int, has_polyps: bool, beside_polyps: bool) -> NoRoomError:
    away = "away from its polyps and the black border" if has_polyps and not beside_polyps else "away from the black border"
    hint = " or allow them beside the existing ones (--beside-polyps)" if has_polyps and not beside_polyps else ""
    return NoRoomError(
        f"image {image_id} ({name}): no room for {low} new polyp{'s' * (low > 1)} inside the field of view, {away}, "
        f"in {TRIES} tries per polyp; ask for fewer polyps{hint}"
    )


def bank_masks(
    ws: Workspace, image_id: int, count: int, polyps: tuple[int, int], beside_polyps: bool, seed: int
) -> list[WantedMask]:
    """``count`` wanted masks (0/255, the image's resolution) for image ``image_id``, each with
    ``polyps[0]..polyps[1]`` new polyps from the bank (their number drawn; fewer when the last
    ones find no place, never fewer than ``polyps[0]``: then :class:`NoRoomError`); mask ``i``
    depends only on (seed, image_id, i)."""
    low, high = polyps
    if not 1 <= low <= high:
        raise BadInputError(f"polyps {low}-{high}: give a range A-B with 1 <= A <= B")
    shapes = bank_shapes(ws)
    rec = ws.image(image_id)
    image = ws.read_image(rec)
    density = centroid_density(shapes, (image.shape[1], image.shape[0]))
    margin = margin_px(image.shape)
    inside = inner_view(field_of_view(image), margin)
    existing = np.zeros(image.shape[:2], bool)
    if rec.current_mask_id is not None and not beside_polyps:
        existing = ws.read_mask(ws.current_mask(image_id)) > 127
    out = []
    for index in range(count):
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(image_id), index]))
        n = int(rng.integers(low, high + 1))
        blocked = existing.copy()
        mask = np.zeros(image.shape[:2], bool)
        drawn = []
        for _ in range(n):
            allowed = inside & ~cv2.dilate(blocked.astype(np.uint8), _gap_kernel(margin)).astype(bool)
            found = _draw_polyp(shapes, density, allowed, rng)
            if found is None:
                break
            polyp, how = found
            mask |= polyp
            blocked |= polyp
            drawn.append(how)
        if len(drawn) < low:
            raise _no_room(rec.name, image_id, low, bool(existing.any()), beside_polyps)
        detail = {
            "seed": int(seed),
            "index": index,
            "polyps_drawn": n,  # more than placed when the image had no room for the last ones
            "beside_polyps": beside_polyps,
            "margin_px": margin,
            "polyps": drawn,
        }
        out.append(WantedMask(np.where(mask, 255, 0).astype(np.uint8), "bank", detail))
    return out
