"""Review's reading of a mask-guided sample's wanted mask (issue 34): who placed it, the mask over
the frame it is shown on, and what a bad stored path or file says instead."""

from __future__ import annotations

import numpy as np

from backend.io.files import write_png
from backend.synthesis.sample_wanted import sample_wanted


def _sample(ws, params):
    image_id = ws.image_ids()[0]
    rgb = ws.read_image(image_id)
    return ws.add_sample(
        "synthesized", "Mask-Diff", rgb, np.zeros(rgb.shape[:2], np.uint8), source_image_id=image_id, params=params
    )


def test_who_placed_it_and_the_mask_at_the_frame_size(demo_ws):
    small = np.zeros((32, 32), np.uint8)
    small[8:16, 4:12] = 200  # a bank mask written at half the frame's size, grey values
    write_png(demo_ws.path("wanted/bank/m1.png"), small)
    s = _sample(demo_ws, {"wanted_mask": "wanted/bank/m1.png", "wanted_how": "bank"})
    w = sample_wanted(demo_ws, s, (64, 64))
    assert w is not None and w.line == "Wanted mask (dashed): placed from the mask bank (a training mask, transformed)"
    expected = np.zeros((64, 64), np.uint8)
    expected[16:32, 8:24] = 255  # nearest-neighbour doubling, binarised
    np.testing.assert_array_equal(w.mask, expected)
    unknown = _sample(demo_ws, {"wanted_mask": "wanted/bank/m1.png", "wanted_how": "magic"})
    assert sample_wanted(demo_ws, unknown, (64, 64)).line == "Wanted mask (dashed)"  # not a drawn file, no claim
    assert sample_wanted(demo_ws, _sample(demo_ws, {}), (64, 64)) is None


def test_a_missing_or_escaping_file_is_said(demo_ws):
    gone = sample_wanted(demo_ws, _sample(demo_ws, {"wanted_mask": "wanted/image-1/drawn-00000000.png"}), (64, 64))
    assert gone.mask is None and gone.line.startswith("Wanted mask not shown (cannot read ")
    absolute = sample_wanted(demo_ws, _sample(demo_ws, {"wanted_mask": "/etc/passwd"}), (64, 64))
    assert absolute.mask is None and "is an absolute path" in absolute.line
