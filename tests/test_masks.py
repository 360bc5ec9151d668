"""Mask operations against independent references (scipy.ndimage, matplotlib, brute force).

Random masks touch the image borders on purpose; empty and full masks are included because
the editor and the inpainting stage meet them (flagged images, whole-frame polyps).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from matplotlib.path import Path as MplPath
from scipy import ndimage as ndi

from backend.masks import ops as M

FOUR = ndi.generate_binary_structure(2, 1)
EIGHT = ndi.generate_binary_structure(2, 2)


def random_masks(seed: int = 0, n: int = 6, shape=(37, 53)) -> list[np.ndarray]:
    """Blobby random masks (smoothed noise) plus the empty and the full mask, as 0/255."""
    rng = np.random.default_rng(seed)
    out = [np.zeros(shape, np.uint8), np.full(shape, 255, np.uint8)]
    for i in range(n):
        noise = ndi.gaussian_filter(rng.standard_normal(shape), sigma=1.0 + i % 3)
        out.append(np.where(noise > 0.1 * (i - 2) * noise.std(), 255, 0).astype(np.uint8))
    return out


def as255(b: np.ndarray) -> np.ndarray:
    return np.where(b, 255, 0).astype(np.uint8)


def euclidean_disk(r: int) -> np.ndarray:
    """Reference element written independently of backend.masks.ops.disk."""
    return np.array([[dx * dx + dy * dy <= r * r for dx in range(-r, r + 1)] for dy in range(-r, r + 1)])


@pytest.mark.parametrize("r", [0, 1, 2, 3, 7, 20])
def test_disk_is_round_with_diameter_2r_plus_1(r):
    k = M.disk(r).astype(bool)
    assert k.shape == (2 * r + 1, 2 * r + 1)
    np.testing.assert_array_equal(k, euclidean_disk(r))
    assert (k == k.T).all() and (k == k[::-1]).all()  # isotropic: same reach in x and y
    assert k[r].all() and k[:, r].all()  # spans the full diameter through the centre


@pytest.mark.parametrize("r", [1, 2, 4, 9])
def test_dilate_matches_scipy_and_distance_transform(r):
    for m in random_masks(r):
        got = M.dilate(m, r)
        ref = ndi.binary_dilation(m > 0, structure=euclidean_disk(r), border_value=0)
        np.testing.assert_array_equal(got, as255(ref))
        # Independent meaning: every pixel within Euclidean distance r of the mask.
        if m.any():
            dist = ndi.distance_transform_edt(m == 0)
            np.testing.assert_array_equal(got, as255(dist <= r))


@pytest.mark.parametrize("r", [1, 2, 4, 9])
def test_erode_matches_scipy_with_outside_as_foreground(r):
    for m in random_masks(10 + r):
        got = M.erode(m, r)
        ref = ndi.binary_erosion(m > 0, structure=euclidean_disk(r), border_value=1)
        np.testing.assert_array_equal(got, as255(ref))
    full = np.full((20, 30), 255, np.uint8)
    np.testing.assert_array_equal(M.erode(full, 5), full)  # a frame-filling polyp is not eaten from the edge


def test_zero_radius_and_inputs_untouched():
    for m in random_masks(3):
        before = m.copy()
        np.testing.assert_array_equal(M.dilate(m, 0), m)
        np.testing.assert_array_equal(M.erode(m, 0), m)
        for op in (
            lambda x: M.dilate(x, 3),
            lambda x: M.erode(x, 3),
            M.fill_holes,
            lambda x: M.smooth(x, 2),
            lambda x: M.remove_small_islands(x, 5),
            lambda x: M.brush(x, [(3, 3), (20, 9)], 2.5),
            lambda x: M.fill_polygon(x, [(1, 1), (30, 4), (12, 25)]),
            lambda x: M.flood_fill(x, (5, 5)),
        ):
            op(m)
            np.testing.assert_array_equal(m, before)


def test_binarize_threshold_128():
    grey = np.arange(256, dtype=np.uint8).reshape(16, 16)
    np.testing.assert_array_equal(M.binarize(grey), as255(grey >= 128))


def test_fill_holes_matches_scipy():
    masks = random_masks(5)
    ring = np.zeros((15, 15), np.uint8)
    ring[2:13, 2:13] = 255
    ring[5:10, 5:10] = 0  # a real hole
    ring[0:4, 7] = 0  # a notch open to the border is not a hole
    edge_hole = np.zeros((10, 10), np.uint8)
    edge_hole[0:5, 0:5] = 255
    edge_hole[0:2, 0:2] = 0  # touches the border: background, stays
    for m in masks + [ring, edge_hole, 255 - masks[3]]:
        np.testing.assert_array_equal(M.fill_holes(m), as255(ndi.binary_fill_holes(m > 0)))


@pytest.mark.parametrize("k", [1, 2, 6, 25])
@pytest.mark.parametrize("connectivity", [4, 8])
def test_remove_small_islands_matches_scipy_label(k, connectivity):
    for m in random_masks(k + connectivity, n=5):
        labels, n = ndi.label(m > 0, structure=FOUR if connectivity == 4 else EIGHT)
        sizes = np.bincount(labels.ravel(), minlength=n + 1)
        keep = sizes >= k
        keep[0] = False
        ref = keep[labels]
        np.testing.assert_array_equal(M.remove_small_islands(m, k, connectivity), as255(ref))


@pytest.mark.parametrize("r", [1, 2, 3])
def test_smooth_is_opening_then_closing(r):
    se = euclidean_disk(r)
    for m in random_masks(20 + r):
        b = m > 0
        opened = ndi.binary_dilation(ndi.binary_erosion(b, se, border_value=1), se, border_value=0)
        closed = ndi.binary_erosion(ndi.binary_dilation(opened, se, border_value=0), se, border_value=1)
        np.testing.assert_array_equal(M.smooth(m, r), as255(closed))


def test_smooth_removes_a_spur_a_pinhole_and_a_crack():
    m = np.zeros((40, 40), np.uint8)
    m[10:30, 10:30] = 255
    m[19:21, 30:36] = 255  # 2-px spur
    m[24, 24] = 0  # pinhole
    m[10:18, 20] = 0  # 1-px crack from the top edge
    out = M.smooth(m, 2)
    assert not out[19:21, 31:36].any()
    assert out[24, 24] == 255
    assert out[13:18, 20].all()


# -- brush: reference is a scalar, per-pixel distance to each segment ------------------
def dist_point_segment(px: float, py: float, ax: float, ay: float, bx: float, by: float) -> float:
    """Distance from P to segment AB, by cases (beyond A, beyond B, or perpendicular)."""
    abx, aby, apx, apy = bx - ax, by - ay, px - ax, py - ay
    if abx * apx + aby * apy <= 0 or (abx == 0 and aby == 0):
        return math.hypot(apx, apy)
    if (px - bx) * abx + (py - by) * aby >= 0:
        return math.hypot(px - bx, py - by)
    return abs(abx * apy - aby * apx) / math.hypot(abx, aby)


def brute_force_stroke(shape, points, radius):
    """Boolean pixels within radius of the polyline, and those too close to the edge to call."""
    h, w = shape
    inside = np.zeros(shape, bool)
    ambiguous = np.zeros(shape, bool)
    segs = list(zip(points, points[1:])) or [(points[0], points[0])]
    for y in range(h):
        for x in range(w):
            d = min(dist_point_segment(x, y, *a, *b) for a, b in segs)
            inside[y, x] = d <= radius
            ambiguous[y, x] = abs(d - radius) < 1e-9
    return inside, ambiguous


STROKES = [
    ([(10.0, 10.0)], 3.0),  # a single dab
    ([(2.0, 5.0), (40.0, 20.0)], 2.5),  # diagonal line
    ([(-5.0, 3.0), (20.0, 3.0), (20.0, 40.0)], 4.0),  # leaves the image at the top-left and bottom
    ([(44.3, 1.2), (30.7, 17.9), (47.5, 29.0), (33.1, 30.2)], 1.6),  # sub-pixel points near the right edge
    ([(100.0, 100.0), (120.0, 90.0)], 3.0),  # entirely off the image
]


@pytest.mark.parametrize("points,radius", STROKES)
def test_brush_paint_and_erase_match_brute_force(points, radius):
    shape = (33, 47)
    ref, ambiguous = brute_force_stroke(shape, points, radius)
    base = random_masks(7, n=1, shape=shape)[2]
    painted = M.brush(base, points, radius, paint=True)
    erased = M.brush(base, points, radius, paint=False)
    want_paint = np.where(ref, 255, base)
    want_erase = np.where(ref, 0, base)
    ok = ~ambiguous
    np.testing.assert_array_equal(painted[ok], want_paint[ok])
    np.testing.assert_array_equal(erased[ok], want_erase[ok])
    assert (painted >= base).all() and (erased <= base).all()


# -- polygon fill: reference is matplotlib's point-in-polygon on pixel centres ----------
def test_fill_polygon_rectangle_exact():
    h, w = 30, 40
    x0, y0, x1, y1 = 5, 7, 33, 21
    # Pixel centres are at integers; the rectangle includes its edges, so grow it by half a
    # pixel for matplotlib, leaving no centre on the boundary.
    rect = MplPath([(x0 - 0.5, y0 - 0.5), (x1 + 0.5, y0 - 0.5), (x1 + 0.5, y1 + 0.5), (x0 - 0.5, y1 + 0.5)])
    yy, xx = np.mgrid[0:h, 0:w]
    ref = rect.contains_points(np.c_[xx.ravel(), yy.ravel()]).reshape(h, w)
    got = M.fill_polygon(np.zeros((h, w), np.uint8), [(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
    np.testing.assert_array_equal(got, as255(ref))
    erased = M.fill_polygon(np.full((h, w), 255, np.uint8), [(x0, y0), (x1, y0), (x1, y1), (x0, y1)], paint=False)
    np.testing.assert_array_equal(erased, as255(~ref))


@pytest.mark.parametrize(
    "poly",
    [
        [(3.2, 4.9), (40.6, 8.1), (25.3, 30.7)],
        [(5, 5), (35, 2), (44, 20), (22, 12), (10, 31)],  # concave
        [(-10.0, -4.0), (30.0, 10.5), (60.0, -8.0), (20.0, 45.0)],  # crosses every border
    ],
)
def test_fill_polygon_matches_matplotlib_except_on_the_boundary(poly):
    h, w = 34, 48
    yy, xx = np.mgrid[0:h, 0:w]
    centres = np.c_[xx.ravel(), yy.ravel()].astype(float)
    ref = MplPath(poly).contains_points(centres).reshape(h, w)
    segs = list(zip(poly, poly[1:] + poly[:1]))
    near_edge = np.array([min(dist_point_segment(x, y, *a, *b) for a, b in segs) <= 1.0 for x, y in centres]).reshape(h, w)
    got = M.fill_polygon(np.zeros((h, w), np.uint8), poly) > 0
    np.testing.assert_array_equal(got[~near_edge], ref[~near_edge])
    assert ref.sum() > 20  # the case really fills something


def test_fill_polygon_needs_three_points():
    m = random_masks(1)[3]
    np.testing.assert_array_equal(M.fill_polygon(m, [(0, 0), (10, 10)]), m)


# -- flood fill: reference is the scipy.ndimage.label component of the seed -------------
@pytest.mark.parametrize("seed_xy", [(0, 0), (52, 36), (17, 11), (30, 20)])
def test_flood_fill_matches_label_component(seed_xy):
    for m in random_masks(42, n=4):
        x, y = seed_xy
        value = m[y, x] > 0
        labels, _ = ndi.label((m > 0) == value, structure=FOUR)
        comp = labels == labels[y, x]
        for paint in (True, False):
            got = M.flood_fill(m, seed_xy, paint=paint)
            np.testing.assert_array_equal(got, np.where(comp, 255 if paint else 0, m))


def test_flood_fill_is_four_connected_and_ignores_outside_seeds():
    m = np.zeros((5, 5), np.uint8)
    m[1, 1] = m[2, 2] = 255  # diagonal neighbours: separate under 4-connectivity
    out = M.flood_fill(m, (1, 1), paint=False)
    assert out[1, 1] == 0 and out[2, 2] == 255
    np.testing.assert_array_equal(M.flood_fill(m, (-1, 2)), m)
    np.testing.assert_array_equal(M.flood_fill(m, (5, 0)), m)


def test_apply_operation_names_and_unknown():
    m = random_masks(9)[4]
    np.testing.assert_array_equal(M.apply_operation(m, "dilate", {"pixels": 3}), M.dilate(m, 3))
    np.testing.assert_array_equal(M.apply_operation(m, "remove_islands", {"min_size": 4}), M.remove_small_islands(m, 4))
    with pytest.raises(ValueError, match="unknown mask operation"):
        M.apply_operation(m, "explode", {})
