"""The audit's batched distances against brute-force references (scipy's cdist, plain loops)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from backend.audit import distances
from backend.errors import BadInputError

SIDE = 8


def _frames(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.random((n, SIDE * SIDE * 3))


def test_mean_squared_matches_cdist_over_chunks(monkeypatch):
    rng = np.random.default_rng(0)
    q, r = _frames(rng, 37), _frames(rng, 23)
    monkeypatch.setattr(distances, "CHUNK", 10)  # several chunks, the last one short
    want = cdist(q, r, "sqeuclidean") / q.shape[1]
    np.testing.assert_allclose(distances.mean_squared(q, r), want, rtol=1e-9, atol=1e-12)


def test_weighted_distance_is_the_mean_over_the_region_only():
    rng = np.random.default_rng(1)
    q, r = _frames(rng, 5), _frames(rng, 7)
    w = (rng.random(q.shape) < 0.3).astype(float)
    w[2] = 0  # no region: the whole frame
    got = distances.mean_squared(q, r, w)
    for i in range(5):
        keep = w[i] > 0 if w[i].any() else np.ones(q.shape[1], bool)
        want = cdist(q[i : i + 1, keep], r[:, keep], "sqeuclidean")[0] / keep.sum()
        np.testing.assert_allclose(got[i], want, rtol=1e-9, atol=1e-12)


def test_flips_mirror_the_frames_like_numpy():
    rng = np.random.default_rng(2)
    imgs = rng.random((3, SIDE, SIDE, 3))
    flat = imgs.reshape(3, -1)
    out = distances.with_flips(flat, SIDE)
    np.testing.assert_array_equal(out[3:6], np.flip(imgs, axis=2).reshape(3, -1))  # left-right
    np.testing.assert_array_equal(out[6:9], np.flip(imgs, axis=1).reshape(3, -1))  # top-bottom


def test_nearest_and_calibrated_score_match_a_plain_loop():
    rng = np.random.default_rng(3)
    q, train = _frames(rng, 6), _frames(rng, 9)
    q[0] = np.flip(train[4].reshape(SIDE, SIDE, 3), axis=1).reshape(-1)  # a mirrored copy
    k = 3
    got = distances.nearest_training(q, train, SIDE, k)
    for i in range(len(q)):
        per_image = []
        for t in train:
            img = t.reshape(SIDE, SIDE, 3)
            versions = [img, img[:, ::-1], img[::-1]]
            per_image.append(min(float(np.sqrt(np.mean((q[i] - v.reshape(-1)) ** 2))) for v in versions))
        order = np.argsort(per_image)
        assert got.index[i] == order[0]
        assert got.distance[i] == pytest.approx(per_image[order[0]], abs=1e-7)
        assert got.ratio[i] == pytest.approx(per_image[order[0]] / np.mean([per_image[j] for j in order[1 : k + 1]]), abs=1e-6)
    assert got.index[0] == 4 and distances.FLIPS[got.flip[0]] == "horizontal" and got.ratio[0] < 1e-6


def test_leave_one_out_skips_the_image_itself():
    rng = np.random.default_rng(4)
    train = _frames(rng, 5)
    got = distances.nearest_training(train, train, SIDE, 2, leave_one_out=True)
    assert all(got.index[i] != i for i in range(5)) and (got.ratio > 0.3).all()


def test_one_training_image_is_refused_with_a_message():
    rng = np.random.default_rng(5)
    with pytest.raises(BadInputError, match="at least 2 training images"):
        distances.nearest_training(_frames(rng, 2), _frames(rng, 1), SIDE, 3)


def _shifted_rms(a: np.ndarray, b: np.ndarray, shift: int) -> float:
    """Least RMS difference of two (side, side, 3) images over shifts, on their overlap (a loop)."""
    best = np.inf
    for dy in range(-shift, shift + 1):
        for dx in range(-shift, shift + 1):
            diffs = [
                (a[y, x] - b[y + dy, x + dx]) ** 2
                for y in range(SIDE)
                for x in range(SIDE)
                if 0 <= y + dy < SIDE and 0 <= x + dx < SIDE
            ]
            best = min(best, float(np.sqrt(np.mean(diffs))))
    return best


def test_shift_tolerant_nearest_matches_a_plain_loop_and_catches_a_moved_copy():
    rng = np.random.default_rng(6)
    train = _frames(rng, 6)
    q = _frames(rng, 3)
    img = train[2].reshape(SIDE, SIDE, 3)
    q[0] = np.roll(img, (1, -1), axis=(0, 1)).reshape(-1)  # moved one pixel down and left
    k = 2
    got = distances.nearest_training(q, train, SIDE, k, shift=1)
    for i in range(len(q)):
        qi = q[i].reshape(SIDE, SIDE, 3)
        per_image = []
        for t in train:
            t = t.reshape(SIDE, SIDE, 3)
            per_image.append(min(_shifted_rms(qi, v, 1) for v in (t, t[:, ::-1], t[::-1])))
        order = np.argsort(per_image)
        assert got.index[i] == order[0]
        assert got.distance[i] == pytest.approx(per_image[order[0]], abs=1e-7)
        assert got.ratio[i] == pytest.approx(per_image[order[0]] / np.mean([per_image[j] for j in order[1 : k + 1]]), abs=1e-6)
    assert got.index[0] == 2 and got.ratio[0] < 1e-6
    assert distances.nearest_training(q, train, SIDE, k, shift=0).ratio[0] > 0.5  # unshifted, it is no copy
