"""The Place polyp tool's shape (issue 34): drawing, moving, scaling and turning against
coordinates worked out by hand, its mask, and the refusals (no shape, outside the image)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from backend.errors import BadInputError
from backend.synthesis.drawn_shape import MAX_SCALE, DrawnShape, placed_mask


def close(points, expected, tol=1e-9):
    assert len(points) == len(expected)
    for (x, y), (ex, ey) in zip(points, expected):
        assert abs(x - ex) <= tol and abs(y - ey) <= tol, (points, expected)


SQUARE = [(40.0, 40.0), (60.0, 40.0), (60.0, 60.0), (40.0, 60.0)]  # centre (50, 50), half side 10


def test_a_polygon_is_kept_about_its_box_centre():
    s = DrawnShape.polygon(SQUARE)
    assert s.centre == (50.0, 50.0)
    assert s.strokes == (((-10.0, -10.0), (10.0, -10.0), (10.0, 10.0), (-10.0, 10.0)),)
    close(s.image_strokes()[0], SQUARE)


def test_move_scale_turn_by_hand():
    s = DrawnShape.polygon(SQUARE)
    close(s.moved(5, -3).image_strokes()[0], [(45, 37), (65, 37), (65, 57), (45, 57)])
    # twice as large about (50, 50): corners 20 px from the centre along each axis
    close(s.scaled(2).image_strokes()[0], [(30, 30), (70, 30), (70, 70), (30, 70)])
    # 90 degrees clockwise on the screen (y down): (-10,-10) -> (10,-10), i.e. each corner takes the next one's place
    close(s.rotated(90).image_strokes()[0], [(60, 40), (60, 60), (40, 60), (40, 40)])
    # 45 degrees: the top-left corner (-10,-10) goes straight up to (0, -10*sqrt2)
    top = s.rotated(45).image_strokes()[0][0]
    close([top], [(50.0, 50.0 - 10 * math.sqrt(2))])
    # all three: scale and turn about the centre, then the centre moves
    close([s.scaled(0.5).rotated(90).moved(10, 0).image_strokes()[0][0]], [(65.0, 45.0)])


def test_to_local_undoes_to_image():
    s = DrawnShape.polygon(SQUARE).scaled(1.7).rotated(33).moved(4, 9)
    for p in [(0.0, 0.0), (12.5, -3.0), (100.0, 70.0)]:
        close([s.to_image(s.to_local(p))], [p], 1e-9)


def test_a_drag_about_the_centre_turns_and_scales_as_the_pointer_does():
    s = DrawnShape.polygon(SQUARE)
    # from 10 px right of the centre to 20 px below it: twice the distance, a quarter turn clockwise
    t = s.dragged_about_centre((60, 50), (50, 70))
    assert t.scale == pytest.approx(2.0) and t.angle == pytest.approx(90.0)
    close(t.image_strokes()[0], [(70, 30), (70, 70), (30, 70), (30, 30)], 1e-9)
    assert s.dragged_about_centre((50, 50), (80, 80)) == s  # grabbed at the centre: no direction, no change


def test_scale_is_bounded():
    assert DrawnShape.polygon(SQUARE).scaled(1e9).scale == MAX_SCALE


def test_ellipse_from_a_drag_box():
    e = DrawnShape.ellipse((20, 30), (60, 50))  # a = 20, b = 10 about (40, 40)
    assert e.centre == (40.0, 40.0)
    xs = [p[0] for p in e.image_strokes()[0]]
    ys = [p[1] for p in e.image_strokes()[0]]
    assert min(xs) == pytest.approx(20) and max(xs) == pytest.approx(60)
    assert min(ys) == pytest.approx(30, abs=0.05) and max(ys) == pytest.approx(50, abs=0.05)
    m = e.raster((80, 80))
    # the area of an ellipse, pi*a*b, within the polygon's and the pixel grid's error
    assert abs(np.count_nonzero(m) - math.pi * 20 * 10) < 0.08 * math.pi * 20 * 10
    turned = e.rotated(90).raster((80, 80))  # now 20 tall and 40 wide... the other way round
    ys_on, xs_on = np.nonzero(turned)
    assert xs_on.min() >= 29 and xs_on.max() <= 51 and ys_on.min() <= 21 and ys_on.max() >= 59


def test_brush_strokes_keep_their_radius_through_a_turn_and_scale_it():
    b = DrawnShape.brush([(30, 40), (50, 40)], radius=5)
    assert b.centre == (40.0, 40.0)
    m = b.raster((80, 80))
    # independent reference: every pixel within 5 of the segment from (30,40) to (50,40)
    yy, xx = np.mgrid[0:80, 0:80]
    dx = np.clip(xx, 30, 50) - xx
    ref = (dx**2 + (yy - 40) ** 2) <= 25
    assert np.array_equal(m > 0, ref)
    turned = b.rotated(90).scaled(2).raster((80, 80))  # the segment from (40,20) to (40,60), radius 10
    dy = np.clip(yy, 20, 60) - yy
    assert np.array_equal(turned > 0, ((xx - 40) ** 2 + dy**2) <= 100)


def test_a_second_stroke_is_added_where_it_was_drawn_on_a_moved_shape():
    b = DrawnShape.brush([(10, 10)], radius=2).moved(5, 5).rotated(30).with_stroke([(40, 40)])
    pts = b.image_strokes()
    close([pts[0][0]], [(15.0, 15.0)], 1e-9)
    close([pts[1][0]], [(40.0, 40.0)], 1e-9)


def test_placed_mask_refuses_nothing_drawn_and_outside_the_image():
    with pytest.raises(BadInputError, match="no polyp shape drawn"):
        placed_mask(None, (64, 64))
    far = DrawnShape.polygon(SQUARE).moved(200, 0)
    with pytest.raises(BadInputError, match=r"lies outside the image \(64×64 px\): move it onto the image"):
        placed_mask(far, (64, 64))
    half_out = DrawnShape.polygon(SQUARE).moved(10, 0)  # x from 50 to 70 on a 64 px wide image
    with pytest.raises(BadInputError, match="part of the drawn shape lies outside the image"):
        placed_mask(half_out, (64, 64))
    inside = placed_mask(DrawnShape.polygon(SQUARE), (64, 64))
    assert inside.dtype == np.uint8 and set(np.unique(inside)) == {0, 255}
    assert inside[50, 50] == 255 and inside[30, 30] == 0 and np.count_nonzero(inside) == 21 * 21
