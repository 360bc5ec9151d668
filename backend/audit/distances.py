"""Nearest training images by pixel distance, in batched matrix products.

Every frame is downsampled to ``side`` x ``side`` RGB in [0, 1] and flattened, so a distance is
the root mean square difference of those values (Carlini et al. 2023 compare downsampled
frames the same way). Squared distances of all pairs come from
``||a - b||^2 = a.a + b.b - 2 a.b``: one matrix product per chunk of queries instead of a
Python loop over pairs. A *weighted* distance restricts the mean to a query's own pixels
(its generated region): with weights w, ``sum w (a - b)^2 = w.a^2 - 2 (w a).b + w.b^2``,
still matrix products.

Training frames are compared as they are and mirrored left-right and top-bottom: a mirrored
copy is still a copy. A training image's distance is the least of its three versions, and
the version that matched is kept (``FLIPS``). A copy shifted by a pixel or two differs from its
original at every edge (the dark frame corners of an endoscope most of all), so the nearest
images are compared again over small shifts, the least distance kept.

The calibrated score of a query (Carlini's) is its distance to the nearest training image
over its mean distance to the ``k`` next nearest ones: a near-duplicate scores near 0, an
image no closer to one training image than to the others near 1, whatever the scale of
distances in that data set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from backend.errors import BadInputError

FLIPS = ("none", "horizontal", "vertical")
MIRROR_TAGS = {"none": "", "horizontal": " h-flip", "vertical": " v-flip"}  # after an image's name in captions
CHUNK = 256  # queries per matrix product: bounds memory at CHUNK x (3 x training images)
CANDIDATES = 8  # images beyond the k + 1 nearest that the shift-tolerant comparison looks at again


def frame_vector(rgb: np.ndarray, side: int) -> np.ndarray:
    """An RGB image downsampled (area average) to ``side`` squared, flattened, in [0, 1]."""
    small = cv2.resize(np.ascontiguousarray(rgb[..., :3]), (side, side), interpolation=cv2.INTER_AREA)
    return small.astype(np.float64).reshape(-1) / 255.0


def region_weights(region: np.ndarray, side: int, grow: int = 0) -> np.ndarray:
    """A region mask as per-value weights of :func:`frame_vector`: 1 where the downsampled
    region covers the pixel at all (grown by ``grow`` pixels at ``side``), else 0."""
    small = cv2.resize((np.asarray(region) > 0).astype(np.float32), (side, side), interpolation=cv2.INTER_AREA) > 0
    if grow > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
        small = cv2.dilate(small.astype(np.uint8), kernel) > 0
    return np.repeat(small.reshape(-1).astype(np.float64), 3)


def mirrored(rgb: np.ndarray, flip: str) -> np.ndarray:
    """``rgb`` as version ``flip`` of ``FLIPS``: as it is, mirrored left-right or top-bottom (the
    training image the way a sample matched it, for showing the pair side by side)."""
    if flip not in FLIPS:
        raise BadInputError(f"unknown mirror {flip!r}: one of {', '.join(FLIPS)}")
    return {"none": rgb, "horizontal": rgb[:, ::-1], "vertical": rgb[::-1]}[flip]


def with_flips(frames: np.ndarray, side: int) -> np.ndarray:
    """(n, D) frames -> (3n, D): as they are, mirrored left-right, mirrored top-bottom (``FLIPS``)."""
    img = frames.reshape(-1, side, side, 3)
    return np.concatenate([frames, img[:, :, ::-1].reshape(len(frames), -1), img[:, ::-1].reshape(len(frames), -1)])


def mean_squared(queries: np.ndarray, refs: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """(Q, R) mean squared differences of every query to every reference; with ``weights``
    (Q, D), each query's mean is over its weighted values only (a query with no weight gets
    the whole frame)."""
    q = np.asarray(queries, np.float64)
    r = np.asarray(refs, np.float64)
    r2 = (r * r).T
    out = np.empty((len(q), len(r)))
    for s in range(0, len(q), CHUNK):
        qc = q[s : s + CHUNK]
        if weights is None:
            w = np.ones_like(qc)
        else:
            w = np.asarray(weights[s : s + CHUNK], np.float64)
            w = np.where(w.sum(axis=1, keepdims=True) > 0, w, 1.0)
        sq = (w * qc * qc).sum(axis=1, keepdims=True) - 2 * (w * qc) @ r.T + w @ r2
        out[s : s + CHUNK] = np.maximum(sq, 0.0) / w.sum(axis=1, keepdims=True)
    return out


@dataclass(frozen=True)
class Nearest:
    """Each query's nearest training image: its index, the version that matched, the
    distance (RMS, 0..1) and the calibrated score (that distance over the mean of the next
    ``k``)."""

    index: np.ndarray  # (Q,) int
    flip: np.ndarray  # (Q,) int into FLIPS
    distance: np.ndarray  # (Q,)
    ratio: np.ndarray  # (Q,)


def _per_image(per_version: np.ndarray, exclude: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, int]:
    """(Q, 3N) squared distances to the versions of :func:`with_flips` -> each training
    image's least one (Q, N), the version that gave it, and how many images every query may use."""
    q, three_n = per_version.shape
    stacked = per_version.reshape(q, len(FLIPS), three_n // len(FLIPS))
    sq, flip = stacked.min(axis=1), stacked.argmin(axis=1)
    if exclude is not None:
        sq = np.where(exclude, np.inf, sq)
    usable = sq.shape[1] - (0 if exclude is None else int(exclude.sum(axis=1).max(initial=0)))
    if usable < 2:
        raise BadInputError("the audit needs at least 2 training images to compare a sample with (see 'diffgen roles')")
    return sq, flip, usable


def _ranked(index: np.ndarray, flip: np.ndarray, sq: np.ndarray, k: int) -> Nearest:
    """The nearest of each row's candidates (Q, m) and its calibrated score over the next ``k``."""
    order = np.argsort(sq, axis=1)
    d = np.sqrt(np.take_along_axis(sq, order, axis=1))
    first = order[:, 0]
    rows = np.arange(len(sq))
    others = d[:, 1 : k + 1].mean(axis=1)
    ratio = np.where(others > 0, d[:, 0] / np.where(others > 0, others, 1.0), 0.0)
    return Nearest(index[rows, first], flip[rows, first], d[:, 0], ratio)


def nearest(per_version: np.ndarray, k: int, exclude: np.ndarray | None = None) -> Nearest:
    """From (Q, 3N) squared distances to the training versions of :func:`with_flips` (or
    their features): each query's nearest training image and calibrated score. ``exclude``
    (Q, N) bool leaves training images out (the query itself, for leave-one-out calibration)."""
    sq, flip, usable = _per_image(per_version, exclude)
    k = max(1, min(k, usable - 1))
    index = np.broadcast_to(np.arange(sq.shape[1]), sq.shape)
    return _ranked(index, flip, sq, k)


def _shifted(
    queries: np.ndarray, weights: np.ndarray | None, train: np.ndarray, cand: np.ndarray, side: int, shift: int
) -> np.ndarray:
    """(Q, len(FLIPS), m): the least mean squared difference of each query to each version of
    its candidate training frames (indices into ``train``) over shifts of up to ``shift``
    pixels each way, the mean taken where the shifted frames overlap (and over the query's
    region when weighted).

    A query against a mirrored frame is the mirrored query against the frame, so only the
    candidates themselves are gathered. Per shift s, ``sum w (q - t_s)^2 = sum w q^2 -
    2 (w q)_s . t + w_s . t^2`` where ``(w q)_s`` is the weighted query moved into the
    candidate's coordinates: two batched matrix products over every flip and shift at once."""
    n_q = len(queries)
    q = queries.reshape(n_q, side, side, 3)
    w = np.ones_like(q) if weights is None else weights.reshape(n_q, side, side, 3)
    w = np.where(w.reshape(n_q, -1).sum(axis=1)[:, None, None, None] > 0, w, 1.0)
    moves = [(dy, dx) for dy in range(-shift, shift + 1) for dx in range(-shift, shift + 1)]
    cols = len(FLIPS) * len(moves)
    moved_wq = np.zeros((n_q, cols, side, side, 3))
    moved_w = np.zeros_like(moved_wq)
    own = np.empty((n_q, cols))  # sum w q^2 over the overlap
    count = np.empty((n_q, cols))  # sum w over the overlap
    for f, (qf, wf) in enumerate(((q, w), (q[:, :, ::-1], w[:, :, ::-1]), (q[:, ::-1], w[:, ::-1]))):
        wq, wq2 = wf * qf, wf * qf * qf
        for j, (dy, dx) in enumerate(moves):
            c = f * len(moves) + j
            ys, yt = slice(max(0, -dy), side - max(0, dy)), slice(max(0, dy), side - max(0, -dy))
            xs, xt = slice(max(0, -dx), side - max(0, dx)), slice(max(0, dx), side - max(0, -dx))
            moved_wq[:, c, yt, xt] = wq[:, ys, xs]
            moved_w[:, c, yt, xt] = wf[:, ys, xs]
            own[:, c] = wq2[:, ys, xs].sum(axis=(1, 2, 3))
            count[:, c] = wf[:, ys, xs].sum(axis=(1, 2, 3))
    t = train[cand]  # (Q, m, D)
    cross = np.matmul(t, moved_wq.reshape(n_q, cols, -1).transpose(0, 2, 1))  # (Q, m, cols)
    theirs = np.matmul(t * t, moved_w.reshape(n_q, cols, -1).transpose(0, 2, 1))
    sq = np.maximum((own[:, None, :] - 2 * cross + theirs) / np.maximum(count, 1e-12)[:, None, :], 0.0)
    return sq.reshape(n_q, cand.shape[1], len(FLIPS), len(moves)).min(axis=3).transpose(0, 2, 1)


def nearest_training(
    queries: np.ndarray,
    train: np.ndarray,
    side: int,
    k: int,
    weights: np.ndarray | None = None,
    leave_one_out: bool = False,
    shift: int = 0,
) -> Nearest:
    """:func:`nearest` of frame vectors against training frame vectors (mirrored versions
    added here); ``leave_one_out``: the queries are the training frames themselves. With
    ``shift`` the ``k + CANDIDATES`` nearest images of each query are compared again over
    shifts of up to ``shift`` pixels, so a copy moved by a pixel or two stays a copy."""
    versions = with_flips(train, side)
    exclude = np.eye(len(queries), len(train), dtype=bool) if leave_one_out else None
    sq, flip, usable = _per_image(mean_squared(queries, versions, weights), exclude)
    k = max(1, min(k, usable - 1))
    m = min(usable, k + 1 + CANDIDATES)
    cand = np.argsort(sq, axis=1)[:, :m]
    if shift <= 0:
        return _ranked(cand, np.take_along_axis(flip, cand, axis=1), np.take_along_axis(sq, cand, axis=1), k)
    # every version of each candidate again: the best unshifted one need not stay best shifted
    per_flip = np.empty((len(queries), len(FLIPS), m))
    for s in range(0, len(queries), CHUNK // 4):  # (chunk, m, D) candidate frames at a time
        rows = slice(s, s + CHUNK // 4)
        per_flip[rows] = _shifted(queries[rows], None if weights is None else weights[rows], train, cand[rows], side, shift)
    return _ranked(cand, per_flip.argmin(axis=1), per_flip.min(axis=1), k)


def frames(images: Sequence[np.ndarray], side: int) -> np.ndarray:
    """(n, side*side*3) frame vectors of RGB images."""
    return np.stack([frame_vector(im, side) for im in images]) if images else np.zeros((0, side * side * 3))
