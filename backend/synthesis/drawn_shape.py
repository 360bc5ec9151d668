"""A polyp shape drawn with the editor's Place polyp tool, then moved, scaled and rotated.

The shape keeps what was drawn in its own coordinates around a centre, plus a pose (centre,
scale, angle), so that a turn or a resize is exact and undoable by its inverse: nothing is
resampled until the shape becomes a mask (:meth:`DrawnShape.raster`). A brush shape is strokes
of a round brush (a circle stays a circle under a turn, so it is exact too); a polygon is its
corners; an ellipse is the polygon of :data:`ELLIPSE_CORNERS` points on it.

Image coordinates: x right, y down, pixel centres at integers (the editor's). A positive angle
turns clockwise on the screen (y points down)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from backend.errors import BadInputError
from backend.masks import ops

Point = tuple[float, float]
KINDS = ("brush", "polygon", "ellipse")
ELLIPSE_CORNERS = 72
MIN_SCALE, MAX_SCALE = 0.05, 20.0  # of the shape as drawn: never vanishes, never a runaway


def _centre(points: np.ndarray) -> Point:
    """The middle of the points' bounding box (the shape turns and grows about it)."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    return float((lo[0] + hi[0]) / 2), float((lo[1] + hi[1]) / 2)


@dataclass(frozen=True)
class DrawnShape:
    """``strokes``: brush strokes (polylines) or one outline, in the shape's own coordinates
    (image pixels at scale 1, about (0, 0)); ``radius``: the brush's, at scale 1."""

    kind: str
    strokes: tuple[tuple[Point, ...], ...]
    centre: Point
    radius: float = 0.0
    scale: float = 1.0
    angle: float = 0.0  # degrees, clockwise on the screen

    # -- drawing ---------------------------------------------------------------------------
    @staticmethod
    def _about_centre(kind: str, strokes: Sequence[Sequence[Point]], radius: float = 0.0) -> DrawnShape:
        arrays = [np.asarray(s, np.float64).reshape(-1, 2) for s in strokes]
        cx, cy = _centre(np.concatenate(arrays))
        local = tuple(tuple((float(x - cx), float(y - cy)) for x, y in a) for a in arrays)
        return DrawnShape(kind, local, (cx, cy), float(radius))

    @staticmethod
    def brush(points: Sequence[Point], radius: float) -> DrawnShape:
        if not points:
            raise ValueError("a brush stroke needs a point")
        return DrawnShape._about_centre("brush", [points], radius)

    @staticmethod
    def polygon(corners: Sequence[Point]) -> DrawnShape:
        if len(corners) < 3:
            raise ValueError("a polygon needs three corners")
        return DrawnShape._about_centre("polygon", [corners])

    @staticmethod
    def ellipse(corner: Point, opposite: Point) -> DrawnShape:
        """The ellipse inscribed in the box from ``corner`` to ``opposite`` (a drag)."""
        (x0, y0), (x1, y1) = corner, opposite
        a, b = abs(x1 - x0) / 2, abs(y1 - y0) / 2
        t = np.linspace(0, 2 * math.pi, ELLIPSE_CORNERS, endpoint=False)
        return DrawnShape(
            "ellipse",
            (tuple((float(a * math.cos(v)), float(b * math.sin(v))) for v in t),),
            ((x0 + x1) / 2, (y0 + y1) / 2),
        )

    def with_stroke(self, points: Sequence[Point]) -> DrawnShape:
        """A brush shape with one more stroke (``points`` in image coordinates), its pose kept."""
        if self.kind != "brush":
            raise ValueError("only a brush shape takes more strokes")
        return replace(self, strokes=self.strokes + (tuple(self.to_local(p) for p in points),))

    # -- pose --------------------------------------------------------------------------------
    def moved(self, dx: float, dy: float) -> DrawnShape:
        return replace(self, centre=(self.centre[0] + dx, self.centre[1] + dy))

    def scaled(self, factor: float) -> DrawnShape:
        """``factor`` times as large about its centre (the scale kept within its bounds)."""
        return replace(self, scale=min(max(self.scale * factor, MIN_SCALE), MAX_SCALE))

    def rotated(self, degrees: float) -> DrawnShape:
        """Turned by ``degrees`` clockwise about its centre."""
        return replace(self, angle=(self.angle + degrees) % 360.0)

    def dragged_about_centre(self, start: Point, now: Point) -> DrawnShape:
        """A drag from ``start`` to ``now`` turns and scales the shape about its centre as it
        turns and stretches the line from the centre to the pointer (a handle's gesture);
        ``self`` is the shape when the drag began, so the drag never drifts."""
        cx, cy = self.centre
        v0, v1 = (start[0] - cx, start[1] - cy), (now[0] - cx, now[1] - cy)
        r0, r1 = math.hypot(*v0), math.hypot(*v1)
        if r0 < 1e-6 or r1 < 1e-6:
            return self
        turn = math.degrees(math.atan2(v1[1], v1[0]) - math.atan2(v0[1], v0[0]))
        return self.scaled(r1 / r0).rotated(turn)

    def to_image(self, p: Point) -> Point:
        """A point of the shape's own coordinates in the image: centre + scale * R(angle) p."""
        c, s = math.cos(math.radians(self.angle)), math.sin(math.radians(self.angle))
        x, y = p
        return self.centre[0] + self.scale * (c * x - s * y), self.centre[1] + self.scale * (s * x + c * y)

    def to_local(self, p: Point) -> Point:
        """The inverse of :meth:`to_image`."""
        c, s = math.cos(math.radians(self.angle)), math.sin(math.radians(self.angle))
        x, y = (p[0] - self.centre[0]) / self.scale, (p[1] - self.centre[1]) / self.scale
        return c * x + s * y, -s * x + c * y

    def image_strokes(self) -> list[list[Point]]:
        return [[self.to_image(p) for p in stroke] for stroke in self.strokes]

    @property
    def image_radius(self) -> float:
        return self.radius * self.scale

    def bounds(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) of everything the shape covers in the image (the brush's reach included)."""
        pts = np.asarray([p for s in self.image_strokes() for p in s], np.float64)
        r = self.image_radius
        return float(pts[:, 0].min() - r), float(pts[:, 1].min() - r), float(pts[:, 0].max() + r), float(pts[:, 1].max() + r)

    # -- the mask ------------------------------------------------------------------------------
    def raster(self, size: tuple[int, int]) -> np.ndarray:
        """The shape as a 0/255 mask of ``size`` (width, height); what lies outside is cut off."""
        mask = np.zeros((size[1], size[0]), np.uint8)
        for stroke in self.image_strokes():
            mask = ops.brush(mask, stroke, self.image_radius) if self.kind == "brush" else ops.fill_polygon(mask, stroke)
        return mask


def placed_mask(shape: DrawnShape | None, size: tuple[int, int]) -> np.ndarray:
    """The wanted mask of ``shape`` on an image of ``size`` (width, height); refused with a
    message when there is no shape, it covers no pixel, or part of it lies outside the image
    (a generated polyp cut by the frame would not be the one drawn)."""
    if shape is None:
        raise BadInputError("no polyp shape drawn yet: draw one with the brush, polygon or ellipse first")
    mask = shape.raster(size)
    if not mask.any():
        x0, y0, x1, y1 = shape.bounds()
        inside = x1 >= 0 and y1 >= 0 and x0 <= size[0] - 1 and y0 <= size[1] - 1
        raise BadInputError(
            "the drawn shape covers no pixel: draw a larger one"
            if inside
            else f"the drawn shape lies outside the image ({size[0]}×{size[1]} px): move it onto the image"
        )
    x0, y0, x1, y1 = shape.bounds()
    if x0 < -0.5 or y0 < -0.5 or x1 > size[0] - 0.5 or y1 > size[1] - 0.5:
        raise BadInputError(
            f"part of the drawn shape lies outside the image ({size[0]}×{size[1]} px): move or shrink it inside the frame"
        )
    return mask
