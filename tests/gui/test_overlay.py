"""The large view's pictures, pixel by pixel, against references computed here with numpy and
scipy (not with the cv2 calls the app uses)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from diffgen_gui.overlay import MODES, SAMPLE_OUTLINE, SOURCE_OUTLINE, OverlayStyle, composite, fit_to_frame, render
from diffgen_gui.render import MASK_COLOUR


def _picture(seed: int = 0):
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (40, 52, 3), dtype=np.uint8)
    source = np.zeros((40, 52), np.uint8)
    source[8:30, 10:34] = 255
    source[15:20, 18:22] = 0  # a hole: its border is outlined too
    sample = np.zeros_like(source)
    sample[12:36, 20:50] = 1  # overlaps the source's and touches nothing; any non-zero value is inside
    sample[39, 0:5] = 7  # on the image border: the border counts as outside
    return rgb, source, sample


def test_overlay_is_the_opacity_mix_of_image_and_colour_inside_the_mask():
    rgb, source, _ = _picture()
    for a in (0.0, 0.25, 0.4, 1.0):
        inside = (source > 0)[..., None]
        expected = np.where(inside, np.rint((1 - a) * rgb.astype(np.float64) + a * np.array(MASK_COLOUR, np.float64)), rgb)
        shown = render(rgb, source, OverlayStyle(mode="overlay", opacity=a), None, None)
        assert shown.dtype == np.uint8 and shown.shape == rgb.shape
        assert np.abs(shown.astype(int) - expected.astype(int)).max() <= 1, a  # float32 vs float64 rounding
        assert np.array_equal(shown[~inside[..., 0]], rgb[~inside[..., 0]])  # untouched outside the mask
    assert np.array_equal(composite(rgb, source, 0.4), render(rgb, source, OverlayStyle(opacity=0.4), None, None))


def test_mask_and_image_modes_and_the_flip_order():
    rgb, source, _ = _picture()
    assert [OverlayStyle(mode=m).flipped().mode for m in MODES] == ["overlay", "mask", "image"]
    shown_mask = render(rgb, source, OverlayStyle(mode="mask"), None, None)
    assert np.array_equal(shown_mask, np.repeat(((source > 0) * 255).astype(np.uint8)[..., None], 3, 2))
    assert np.array_equal(render(rgb, source, OverlayStyle(mode="image"), None, None), rgb)
    assert OverlayStyle().with_opacity(1.7).opacity == 1.0 and OverlayStyle().with_opacity(-1).opacity == 0.0


def test_outlines_in_two_colours_at_the_mask_borders():
    rgb, source, sample = _picture()
    black = np.zeros_like(rgb)
    shown = render(black, None, OverlayStyle(mode="image", outlines=True), source, sample)
    s, m = source > 0, sample > 0
    sample_line = m & ~ndimage.binary_erosion(m, border_value=0)  # inside the sample's mask
    source_line = ndimage.binary_dilation(s) & ~s & ~sample_line  # outside the source's; the sample's is on top
    assert np.array_equal(np.all(shown == SAMPLE_OUTLINE, axis=2), sample_line)
    assert np.array_equal(np.all(shown == SOURCE_OUTLINE, axis=2), source_line)
    assert not shown[~(sample_line | source_line)].any()
    assert sample_line[39, 0:5].all()  # the strip on the image border is all border
    # identical masks still show both: two adjacent lines
    same = render(black, None, OverlayStyle(mode="image", outlines=True), source, source)
    assert np.all(same == SOURCE_OUTLINE, axis=2).any() and np.all(same == SAMPLE_OUTLINE, axis=2).any()
    # off: no line at all
    assert np.array_equal(render(rgb, None, OverlayStyle(mode="image"), source, sample), rgb)


def test_a_sample_is_shown_over_its_source_frame_without_new_pixel_values():
    rng = np.random.default_rng(1)
    small = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    mask = (rng.random((16, 16)) > 0.5).astype(np.uint8) * 255
    rgb, m = fit_to_frame(small, mask, (48, 32))
    assert rgb.shape == (32, 48, 3) and m.shape == (32, 48)
    assert np.array_equal(rgb[::2, ::3], small) and set(np.unique(m)) <= {0, 255}
    assert fit_to_frame(small, mask, (16, 16))[0] is small


def test_outlines_stay_visible_on_a_large_image_shown_small():
    from diffgen_gui.overlay import line_width

    assert [line_width(s) for s in (8.0, 2.0, 1.0, 0.6, 0.25)] == [1, 1, 2, 3, 8]
    rgb, source, sample = _picture(2)
    shown = render(np.zeros_like(rgb), None, OverlayStyle(mode="image", outlines=True), source, sample, width=3)
    s, m = source > 0, sample > 0
    sample_band = m & ~ndimage.binary_erosion(m, iterations=3, border_value=0)
    source_band = ndimage.binary_dilation(s, iterations=3) & ~s & ~sample_band
    assert np.array_equal(np.all(shown == SAMPLE_OUTLINE, axis=2), sample_band)
    assert np.array_equal(np.all(shown == SOURCE_OUTLINE, axis=2), source_band)
