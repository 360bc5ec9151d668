"""The mask bank (backend/synthesis/bank.py) and the field of view (backend/synthesis/fov.py):
new polyps inside the view, away from the border and the existing polyps, with the training
set's sizes and places, the same for the same seed."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from backend.data.demo import generate_item
from backend.data.importer import import_dataset
from backend.errors import BadInputError
from backend.synthesis.bank import NoRoomError, bank_masks, centroid_density
from backend.synthesis.fov import check_in_view, field_of_view, inner_view, margin_px
from backend.synthesis.wanted import check_wanted
from backend.workspace import Workspace

SIDE = 96
# (cx, cy, rx, ry) of each training image's one polyp, in pixels: known sizes and places
POLYPS = [(30, 40, 8, 6), (60, 50, 12, 10), (48, 30, 6, 6), (40, 62, 10, 7), (66, 36, 9, 9), (50, 55, 7, 11)]


def _scope_frame(rng: np.random.Generator, side: int = SIDE) -> np.ndarray:
    """Tissue in a round field of view on black, with a dark lumen inside it."""
    yy, xx = np.mgrid[0:side, 0:side]
    r = np.hypot(xx - side / 2, yy - side / 2)
    tissue = np.stack([180 + 0 * xx, 90 + 0 * xx, 80 + 0 * xx], -1) + rng.integers(-15, 15, (side, side, 3))
    tissue = tissue * np.where(r < side * 0.08, 0.05, 1.0)[..., None]  # the lumen: nearly black, in view
    frame = np.where((r < side * 0.45)[..., None], tissue, rng.integers(0, 8, (side, side, 3)))
    return np.clip(frame, 0, 255).astype(np.uint8)


def _ellipse(cx: int, cy: int, rx: int, ry: int, side: int = SIDE) -> np.ndarray:
    mask = np.zeros((side, side), np.uint8)
    cv2.ellipse(mask, (cx, cy), (rx, ry), 0, 0, 360, 255, -1)
    return mask


@pytest.fixture
def known_ws(tmp_path) -> Workspace:
    """Training images whose polyps have known areas and centroids; the frames are bright
    everywhere (the view is the whole frame) so placement does not bend the distributions."""
    data = tmp_path / "data"
    rng = np.random.default_rng(0)
    for i, polyp in enumerate(POLYPS):
        frame = np.clip(np.full((SIDE, SIDE, 3), (190, 100, 90)) + rng.integers(-10, 10, (SIDE, SIDE, 3)), 0, 255)
        (data / "images").mkdir(parents=True, exist_ok=True)
        (data / "masks").mkdir(parents=True, exist_ok=True)
        Image.fromarray(frame.astype(np.uint8)).save(data / "images" / f"f{i}.png")
        Image.fromarray(_ellipse(*polyp)).save(data / "masks" / f"f{i}.png")
    ws = Workspace.create(tmp_path / "ws")
    import_dataset(ws, data)
    return ws


def test_field_of_view_is_the_scope_opening_lumen_included():
    frame = _scope_frame(np.random.default_rng(1))
    view = field_of_view(frame)
    yy, xx = np.mgrid[0:SIDE, 0:SIDE]
    truth = np.hypot(xx - SIDE / 2, yy - SIDE / 2) < SIDE * 0.45
    iou = (view & truth).sum() / (view | truth).sum()
    assert iou > 0.95
    assert view[SIDE // 2, SIDE // 2]  # the dark lumen is tissue in view, not border
    assert not view[0, 0] and not view[-1, -1]


def test_field_of_view_of_a_demo_frame_leaves_out_its_dark_corners():
    item = generate_item(0, 3, 128)
    view = field_of_view(item.image)
    assert not view[:6, :6].any() and not view[-6:, -6:].any()  # the octagon's black corners
    assert view[40:88, 40:88].all()
    assert (item.mask > 0)[view].sum() >= 0.98 * (item.mask > 0).sum()  # the real polyps lie in view


def test_a_wanted_mask_on_the_black_border_is_refused_with_a_message():
    frame = _scope_frame(np.random.default_rng(2))
    corner = np.zeros((SIDE, SIDE), np.uint8)
    corner[:12, :12] = 255
    with pytest.raises(BadInputError, match="image 7: the wanted mask lies outside the field of view"):
        check_in_view(corner, frame, "image 7")
    check_in_view(_ellipse(48, 48, 10, 10), frame, "image 7")  # on the tissue: accepted


def test_bank_masks_lie_in_view_away_from_border_and_existing_polyps(demo_ws):
    for image_id in demo_ws.image_ids()[:4]:
        image = demo_ws.read_image(image_id)
        allowed = inner_view(field_of_view(image), margin_px(image.shape))
        existing = demo_ws.read_mask(demo_ws.current_mask(image_id)) > 127
        for wanted in bank_masks(demo_ws, image_id, 4, (1, 2), False, seed=5):
            new = check_wanted(wanted.mask, (image.shape[1], image.shape[0]), "bank") > 0
            assert wanted.how == "bank"
            assert not (new & ~allowed).any()
            assert not (new & existing).any()
            n = cv2.connectedComponents(new.astype(np.uint8))[0] - 1
            assert 1 <= len(wanted.detail["polyps"]) <= 2 and n == len(wanted.detail["polyps"])
            assert {p["source_image_id"] for p in wanted.detail["polyps"]} <= set(demo_ws.image_ids())


def test_bank_draws_the_training_sets_areas_and_centroids(known_ws):
    areas = np.array([(_ellipse(*p) > 0).mean() for p in POLYPS])
    centroids = np.array([(cx / SIDE, cy / SIDE) for cx, cy, _, _ in POLYPS])
    drawn = bank_masks(known_ws, known_ws.image_ids()[0], 240, (1, 1), True, seed=3)
    got_areas = np.array([(w.mask > 0).mean() for w in drawn])
    got_centroids = []
    for w in drawn:
        m = cv2.moments((w.mask > 0).astype(np.uint8), binaryImage=True)
        got_centroids.append((m["m10"] / m["m00"] / SIDE, m["m01"] / m["m00"] / SIDE))
    got = np.array(got_centroids)
    assert abs(got_areas.mean() / areas.mean() - 1) < 0.12
    assert got_areas.min() > 0.5 * areas.min() and got_areas.max() < 1.6 * areas.max()
    np.testing.assert_allclose(got.mean(0), centroids.mean(0), atol=0.03)
    np.testing.assert_allclose(got.std(0), np.hypot(centroids.std(0), 0.04), rtol=0.3)


def test_centroid_density_peaks_at_the_training_centroids(known_ws):
    from backend.synthesis.bank import bank_shapes

    density = centroid_density(bank_shapes(known_ws), (SIDE, SIDE))
    y, x = np.unravel_index(int(np.argmax(density)), density.shape)
    assert min(np.hypot(x - cx, y - cy) for cx, cy, _, _ in POLYPS) <= 3


def test_bank_masks_are_the_same_for_the_same_seed_and_index(demo_ws):
    image_id = demo_ws.image_ids()[1]
    first = bank_masks(demo_ws, image_id, 3, (1, 3), False, seed=11)
    again = bank_masks(demo_ws, image_id, 2, (1, 3), False, seed=11)  # a shorter request: the same first two
    for a, b in zip(first, again):
        assert np.array_equal(a.mask, b.mask) and a.detail == b.detail
    assert not np.array_equal(first[0].mask, first[1].mask)
    other = bank_masks(demo_ws, image_id, 1, (1, 3), False, seed=12)
    assert not np.array_equal(first[0].mask, other[0].mask)


def test_no_room_is_a_clear_error(demo_ws):
    image_id = demo_ws.image_ids()[0]
    with pytest.raises(NoRoomError, match=f"image {image_id} .*no room for 8 new polyps"):
        bank_masks(demo_ws, image_id, 1, (8, 8), False, seed=0)


def test_an_empty_bank_is_a_clear_error(tmp_path):
    data = tmp_path / "data"
    for sub in ("images", "masks"):
        (data / sub).mkdir(parents=True)
    Image.fromarray(_scope_frame(np.random.default_rng(0))).save(data / "images" / "a.png")
    Image.fromarray(np.zeros((SIDE, SIDE), np.uint8)).save(data / "masks" / "a.png")
    ws = Workspace.create(tmp_path / "ws")
    import_dataset(ws, data)  # an empty mask: imported and flagged
    with pytest.raises(BadInputError, match="the mask bank .* is empty"):
        bank_masks(ws, ws.image_ids()[0], 1, (1, 1), False, seed=0)


def test_a_drawn_mask_on_the_black_border_is_not_stored(demo_ws):
    from backend.synthesis.wanted import drawn_paths, save_drawn

    corner = np.zeros((64, 64), np.uint8)
    corner[:5, :5] = 255
    with pytest.raises(BadInputError, match="image 1: the wanted mask lies outside the field of view"):
        save_drawn(demo_ws, 1, corner, (64, 64))
    assert drawn_paths(demo_ws, 1) == []
    save_drawn(demo_ws, 1, _ellipse(32, 32, 6, 6, 64), (64, 64))
    assert len(drawn_paths(demo_ws, 1)) == 1
