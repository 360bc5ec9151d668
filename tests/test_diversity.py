"""Mask diversity per set (backend/synthesis/diversity.py) against hand-computed values."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from backend.cli import main
from backend.errors import BadInputError
from backend.synthesis.diversity import SIDE, SetMask, diversity_section, mean_pairwise_iou, set_diversity


def _box(y0: int, y1: int, x0: int, x1: int, side: int = SIDE) -> np.ndarray:
    m = np.zeros((side, side), np.uint8)
    m[y0:y1, x0:x1] = 255
    return m


A, B, C = _box(0, 8, 0, 8), _box(0, 8, 0, 16), _box(32, 40, 32, 40)  # 64, 128 and 64 px of 4096


def test_statistics_of_three_masks_by_hand():
    d = set_diversity("hand", [SetMask(A), SetMask(B), SetMask(C)])
    assert (d.set_name, d.masks, d.polyps) == ("hand", 3, 3)
    areas = [64 / 4096, 128 / 4096, 64 / 4096]
    assert d.area_mean == pytest.approx(1 / 48) and d.area_sd == pytest.approx(np.std(areas))
    assert d.area_quartiles == pytest.approx((1 / 64, 1 / 64, (1 / 64 + 1 / 32) / 2))
    xs, ys = [3.5 / 64, 7.5 / 64, 35.5 / 64], [3.5 / 64, 3.5 / 64, 35.5 / 64]
    assert d.centroid_mean == pytest.approx((sum(xs) / 3, sum(ys) / 3))
    assert d.centroid_sd == pytest.approx((np.std(xs), np.std(ys)))
    assert d.mean_pairwise_iou == pytest.approx((0.5 + 0 + 0) / 3)  # A-B share 64 of 128; C touches neither
    assert math.isnan(d.source_iou) and math.isnan(d.same_source_iou)  # real masks: their own sources


def test_against_the_source_by_hand():
    """A and B made from image 1 (whose mask is A), C from image 2 (no polyp), D from image 3 (mask C)."""
    empty = np.zeros_like(A)
    d = set_diversity("samples", [SetMask(A, 1, A), SetMask(B, 1, A), SetMask(C, 2, empty), SetMask(np.maximum(A, C), 3, C)])
    assert d.source_iou == pytest.approx((1 + 0.5 + 0 + 0.5) / 4)  # A in B: 64 of 128; A+C vs C: 64 of 128
    assert d.same_source_iou == pytest.approx(0.5)  # image 1's pair only: A-B
    three = set_diversity("three", [SetMask(A, 1, A), SetMask(B, 1, A), SetMask(C, 1, A)])
    assert three.same_source_iou == pytest.approx((0.5 + 0 + 0) / 3)  # every pair of one source


def test_polyps_are_counted_per_component_and_sizes_do_not_matter():
    two = np.maximum(A, C)  # one mask, two polyps
    d = set_diversity("two", [SetMask(two), SetMask(two)])
    assert (d.masks, d.polyps) == (2, 4) and d.mean_pairwise_iou == pytest.approx(1.0)
    big = np.kron(B, np.ones((2, 2), np.uint8))  # B at twice the resolution: the same mask once resized
    assert mean_pairwise_iou([B, big]) == pytest.approx(1.0)
    assert math.isnan(mean_pairwise_iou([A]))
    with pytest.raises(BadInputError, match="set empty: none of its 1 masks holds a polyp"):
        set_diversity("empty", [SetMask(np.zeros((8, 8), np.uint8))])


def test_real_set_of_a_workspace_and_the_command(demo_ws, capsys):
    section = diversity_section(demo_ws)
    assert section.tables[0].rows[0][:2] == ["Real", "12"]
    assert main(["diversity", "-w", str(demo_ws.root)]) == 0
    assert "| Real | 12 |" in capsys.readouterr().out
    assert main(["diversity", "-w", str(demo_ws.root), "--set", "Mask-Diff"]) == 1
    assert "no sample set 'Mask-Diff'" in capsys.readouterr().err


def test_a_mask_guided_sets_new_polyps_are_its_wanted_masks_alone(demo_ws):
    """A Mask-Diff sample's mask holds its source's polyp and the new one; '(new polyps)' reads
    the wanted mask its provenance names, and refuses a set that has none."""
    from backend.synthesis.diversity import NEW_POLYPS, set_masks
    from backend.synthesis.wanted import store_wanted

    rec = demo_ws.image(1)
    mv = demo_ws.current_mask(1)
    own = demo_ws.read_mask(mv)
    new = np.zeros_like(own)
    new[:8, :8] = 255
    path = store_wanted(demo_ws, 1, new, "bank")
    params = {"wanted_mask": demo_ws.rel(path)}
    both = np.maximum(own, new)
    demo_ws.add_sample(
        "synthesized", "Mask-Diff", demo_ws.read_image(rec), both, source_image_id=1, mask_version_id=mv.id, params=params
    )
    (whole,) = set_masks(demo_ws, "Mask-Diff")
    (wanted,) = set_masks(demo_ws, "Mask-Diff" + NEW_POLYPS)
    assert (wanted.mask == new).all() and (whole.mask == both).all()
    assert wanted.source_image_id == whole.source_image_id == 1 and (wanted.source_mask == own).all()
    d = set_diversity("new", [wanted])
    small_own = cv2.resize(own, (SIDE, SIDE), interpolation=cv2.INTER_NEAREST) > 127
    small_new = cv2.resize(new, (SIDE, SIDE), interpolation=cv2.INTER_NEAREST) > 127
    assert d.source_iou == pytest.approx((small_own & small_new).sum() / (small_own | small_new).sum())
    demo_ws.add_sample("inpainted", "Diff", demo_ws.read_image(rec), own, source_image_id=1)
    with pytest.raises(BadInputError, match="its samples are not mask-guided"):
        set_masks(demo_ws, "Diff" + NEW_POLYPS)
