"""Clustering of the training pairs (paper section 2.2, Figure 2).

Inception-v3 features of image + mask (each half scaled to unit length, or raw as the author's
notebook), KMeans (scikit-learn, fixed seed), one row per run
in ``clusterings`` with its assignments; the newest run is marked current and is what
``Workspace.cluster_of`` (training, inpainting) uses. A cluster sheet (a row of thumbnails
per cluster) is written into the workspace so the user can judge the grouping at a glance.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from backend.clustering.config import FEATURES, ClusterConfig
from backend.clustering.params import ClusterParams
from backend.config.presets import check_choice
from backend.errors import BadInputError
from backend.features import FidClusterFeatures, InceptionFeatures, pair_features
from backend.jobs.context import JobContext
from backend.jobs.params import JobResult
from backend.words import counted
from backend.workspace import Workspace, inserted_id, now
from backend.workspace.selection import generation_images


def balance_halves(features: np.ndarray) -> np.ndarray:
    """L2-normalise the image half and the mask half of each row separately.

    The two 2048-d pool vectors come from different kinds of input and can differ in scale
    by orders of magnitude; unit length each lets image look and mask shape weigh equally.
    """
    halves = np.split(np.asarray(features, dtype=np.float64), 2, axis=1)
    return np.concatenate([h / np.maximum(np.linalg.norm(h, axis=1, keepdims=True), 1e-12) for h in halves], axis=1)


def combine_features(features: np.ndarray, mode: str) -> np.ndarray:
    """The rows KMeans sees: :func:`balance_halves` or the concatenation as it is."""
    check_choice("cluster.features", mode, FEATURES)
    return balance_halves(features) if mode == "balanced" else np.asarray(features, dtype=np.float64)


def kmeans_labels(features: np.ndarray, k: int, seed: int) -> np.ndarray:
    """KMeans labels (scikit-learn, n_init=10) renumbered so cluster 0 is the largest.

    Stable numbering by size makes sheets and reports of reruns easy to compare.
    """
    from sklearn.cluster import KMeans

    n = len(features)
    if k < 1:
        raise BadInputError(f"k must be at least 1 (got {k})")
    if k > n:
        raise BadInputError(f"cannot make {counted(k, 'cluster')} from {counted(n, 'image')}: choose k <= {n}")
    raw = KMeans(n_clusters=k, random_state=seed, n_init=10).fit_predict(features.astype(np.float64))
    sizes = np.bincount(raw, minlength=k)
    order = sorted(range(k), key=lambda c: (-sizes[c], int(np.argmax(raw == c))))
    remap = np.empty(k, dtype=np.int64)
    remap[order] = np.arange(k)
    return remap[raw]


def _label(img: np.ndarray, text: str) -> np.ndarray:
    cv2.putText(img, text, (6, img.shape[0] // 2 + 6), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (235, 235, 235), 1, cv2.LINE_AA)
    return img


def cluster_sheet(thumbs_by_cluster: list[list[np.ndarray]], sizes: list[int], thumb: int, per_row: int) -> np.ndarray:
    """One row per cluster: a label cell ('c3  n=12') then up to ``per_row`` thumbnails."""
    pad, label_w = 4, 96
    width = label_w + per_row * (thumb + pad) + pad
    rows = []
    for c, thumbs in enumerate(thumbs_by_cluster):
        row = np.full((thumb + 2 * pad, width, 3), 32, np.uint8)
        _label(row[:, :label_w], f"c{c}  n={sizes[c]}")
        for j, t in enumerate(thumbs[:per_row]):
            x = label_w + pad + j * (thumb + pad)
            row[pad : pad + thumb, x : x + thumb] = t
        rows.append(row)
    return np.concatenate(rows, axis=0)


def _thumb(image: np.ndarray, mask: np.ndarray, size: int) -> np.ndarray:
    """Image thumbnail with the mask outline in green (the pair is what was clustered)."""
    t = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    m = cv2.resize(mask, (size, size), interpolation=cv2.INTER_NEAREST)
    contours, _ = cv2.findContours((m > 0).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(t, contours, -1, (60, 230, 60), 1)
    return t


@dataclass(frozen=True)
class ClusterResult(JobResult):
    clustering_id: int
    k: int
    seed: int
    images: int
    sizes: tuple[int, ...]  # images per cluster, largest first
    small_clusters: tuple[int, ...]  # clusters below min_cluster_size
    min_cluster_size: int
    sheet: str  # the cluster sheet, workspace-relative
    extractor: str


def run_cluster(
    ws: Workspace, params: ClusterParams, ctx: JobContext, extractor: InceptionFeatures | FidClusterFeatures | None = None
) -> ClusterResult:
    """Cluster every image with a mask; store the run as current and write its sheet.

    ``extractor`` lets a caller reuse a loaded network (the GUI, tests); by default the
    Inception weights are resolved from the settings. Nothing is written to the clustering
    tables until the whole run succeeded.
    """
    cfg = ClusterConfig.from_params(params)
    image_ids = [r.id for r in generation_images(ws, "current_mask_id IS NOT NULL")]  # never test images
    if cfg.k > len(image_ids):
        raise BadInputError(
            f"cannot make {counted(cfg.k, 'cluster')} from {counted(len(image_ids), 'image')} with masks: "
            f"choose k <= {len(image_ids)}"
        )
    if extractor is None:
        extractor = (
            FidClusterFeatures.from_settings(None, cfg.device, cfg.batch_size)
            if cfg.network == "fid-inception"
            else InceptionFeatures.from_settings(cfg.inception_weights, cfg.device, cfg.batch_size)
        )
    feats = pair_features(ws, image_ids, extractor, ctx.progress, ctx.cancel)
    ctx.check_cancel("clustering cancelled")
    labels = kmeans_labels(combine_features(feats, cfg.features), cfg.k, cfg.seed)
    sizes = np.bincount(labels, minlength=cfg.k).tolist()
    small = [c for c in range(cfg.k) if sizes[c] < cfg.min_cluster_size]

    thumbs: list[list[np.ndarray]] = [[] for _ in range(cfg.k)]
    for image_id, c in zip(image_ids, labels):
        if len(thumbs[c]) < cfg.thumbs_per_row:
            thumbs[c].append(_thumb(ws.read_image(image_id), ws.read_mask(ws.current_mask(image_id)), cfg.thumb_size))
    sheet = cluster_sheet(thumbs, sizes, cfg.thumb_size, cfg.thumbs_per_row)
    tag = hashlib.sha256(json.dumps([image_ids, labels.tolist(), cfg.k, cfg.seed]).encode()).hexdigest()[:10]
    sheet_rel = ws.write_png(f"clusters/sheet_k{cfg.k}_s{cfg.seed}_{tag}.png", sheet)

    stored = {k: v for k, v in asdict(cfg).items() if k not in ("device",)}
    with ws.transaction() as c:
        c.execute("UPDATE clusterings SET is_current = 0 WHERE is_current = 1")
        cid = inserted_id(
            c.execute(
                "INSERT INTO clusterings (k, seed, extractor, params_json, is_current, sheet_path, created_at)"
                " VALUES (?,?,?,?,1,?,?)",
                (cfg.k, cfg.seed, extractor.extractor_id, json.dumps(stored), sheet_rel, now()),
            )
        )
        c.executemany(
            "INSERT INTO cluster_assignments (clustering_id, image_id, cluster) VALUES (?,?,?)",
            [(cid, i, int(lab)) for i, lab in zip(image_ids, labels)],
        )
    return ClusterResult(
        summary=f"{counted(len(image_ids), 'image')} in {counted(cfg.k, 'cluster')} (clustering {cid})"
        + (f"; {len(small)} below {counted(cfg.min_cluster_size, 'image')}" if small else ""),
        clustering_id=cid,
        k=cfg.k,
        seed=cfg.seed,
        images=len(image_ids),
        sizes=tuple(sizes),
        small_clusters=tuple(small),
        min_cluster_size=cfg.min_cluster_size,
        sheet=sheet_rel,
        extractor=extractor.extractor_id,
    )
