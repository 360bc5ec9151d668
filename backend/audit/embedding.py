"""The embedding path of the audit: FID Inception features instead of pixels.

A pixel distance misses a copy that moved or changed colour; the pool features of the FID
Inception (loaded by :func:`backend.metrics.fid.load_fid_inception`, from the user's weight
file only) see content. Features are L2-normalised, so the distance is the chordal form of
the cosine distance; calibration is the same as the pixel path's (:mod:`backend.audit.distances`).
Training images are embedded as they are and mirrored both ways, like the pixel path's frames,
and cached in the workspace ``features`` table by extractor, image content and mirroring.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np
import torch

from backend.audit import distances
from backend.audit.store import AuditRow, load_rows, save_rows
from backend.features import load_cached, store_features
from backend.metrics.fid import FidExtractor
from backend.workspace import ImageRecord, SampleRecord, Workspace

INPUT = 299  # the FID Inception's input side

Progress = Callable[[int, int, str], None]


def method_name(ex: FidExtractor) -> str:
    return f"{ex.extractor_id} cosine"


def embed(images: Sequence[np.ndarray], ex: FidExtractor) -> np.ndarray:
    """(n, dim) L2-normalised features of uint8 RGB images (bicubic resize to 299, as clean-fid)."""
    out = []
    for s in range(0, len(images), ex.batch_size):
        batch = np.stack(
            [
                cv2.resize(im[..., :3].astype(np.float32), (INPUT, INPUT), interpolation=cv2.INTER_CUBIC)
                for im in images[s : s + ex.batch_size]
            ]
        )
        x = torch.from_numpy(np.clip(batch, 0, 255).transpose(0, 3, 1, 2).copy()).to(ex.device)
        with torch.no_grad():
            out.append(ex.model(x).reshape(len(batch), -1).double().cpu().numpy())
    feats = np.concatenate(out) if out else np.zeros((0, 1))
    return feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)


def embed_cached(ws: Workspace, ex: FidExtractor, keys: Sequence[str], load: Callable[[int], np.ndarray]) -> np.ndarray:
    """:func:`embed` of the images ``load(i)`` gives, each cached under ``audit|keys[i]``."""
    full = [f"{ex.extractor_id}|audit|{k}" for k in keys]
    cached = load_cached(ws, full)
    todo = [i for i, k in enumerate(full) if k not in cached]
    if todo:
        new = dict(zip((full[i] for i in todo), embed([load(i) for i in todo], ex)))
        store_features(ws, ex.extractor_id, new)
        cached.update(new)
    return np.stack([cached[k].astype(np.float64) for k in full])


def _train_features(ws: Workspace, ex: FidExtractor, images: Sequence[ImageRecord]) -> np.ndarray:
    """(3N, dim): every training image as it is, then all mirrored left-right, then top-bottom."""
    keys = [f"{rec.sha256}|{flip}" for flip in distances.FLIPS for rec in images]
    n = len(images)
    return embed_cached(ws, ex, keys, lambda i: distances.mirrored(ws.read_image(images[i % n]), distances.FLIPS[i // n]))


def audit_embedding(
    ws: Workspace,
    samples: Sequence[SampleRecord],
    train_images: Sequence[ImageRecord],
    test_images: Sequence[ImageRecord],
    fingerprint: str,
    k: int,
    percentile: float,
    ex: FidExtractor,
) -> tuple[str, list[int]]:
    """The embedding path of an audit: stores each sample's nearest training image by
    features; returns the method's name and the samples below its own real-image threshold."""
    method = method_name(ex)
    refs = _train_features(ws, ex, train_images)
    if test_images:
        real = embed_cached(ws, ex, [f"{r.sha256}|none" for r in test_images], lambda i: ws.read_image(test_images[i]))
        exclude = None
    else:
        real, exclude = refs[: len(train_images)], np.eye(len(train_images), dtype=bool)
    real_scores = distances.nearest(distances.mean_squared(real, refs), k, exclude).ratio
    threshold = float(np.percentile(real_scores, percentile))
    stored = load_rows(ws, fingerprint, [s.id for s in samples])
    todo = [s for s in samples if (s.id, method) not in stored]
    if todo:
        feats = embed_cached(ws, ex, [f"sample:{s.image_path}" for s in todo], lambda i: ws.read_sample(todo[i])[0])
        near = distances.nearest(distances.mean_squared(feats, refs), k)
        new = [
            AuditRow(
                s.id,
                method,
                train_images[int(near.index[i])].id,
                distances.FLIPS[int(near.flip[i])],
                float(near.distance[i]),
                float(near.ratio[i]),
            )
            for i, s in enumerate(todo)
        ]
        save_rows(ws, fingerprint, new)
        stored.update({(r.sample_id, r.method): r for r in new})
    return method, [s.id for s in samples if stored[(s.id, method)].ratio < threshold]
