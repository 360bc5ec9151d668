"""The memorisation audit: every sample against every training image, and the ``memorised`` gate.

For each sample (inpainted, styled, or imported) the nearest train-role image by the
calibrated pixel distance of :mod:`backend.audit.distances`, on the whole frame and, for a
sample with a generated region (its inpainted ancestor's dilated mask), on that region. An
inpainted sample equals its source outside the region, so its whole frame is always close to
one training image: the gate judges the region when there is one, the frame otherwise.

The threshold comes from real images: held-out (test-role) images against the training
images, or, without any, each training image against the others (leave-one-out), scored
the same way (the region of a real image is its own mask, grown by ``grow`` pixels). A
sample whose score is below the ``percentile``-th percentile of the real scores is no
farther from a training image than almost any real image is: it fails ``memorised``. The
result names which reference was used. With FID Inception weights the same is done on
features (:mod:`backend.audit.embedding`), reported beside the pixel scores; the gate stays
with the pixel path, which needs no weights.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from backend.audit import distances
from backend.audit.embedding import audit_embedding
from backend.audit.params import AuditConfig
from backend.audit.store import AuditRow, load_rows, save_rows, training_fingerprint
from backend.errors import BadInputError
from backend.gates import GateScore
from backend.inpaint.quality import source_context
from backend.metrics.fid import FidExtractor
from backend.workspace import TEST, TRAIN, ImageRecord, SampleRecord, Workspace

Progress = Callable[[int, int, str], None]
RESULT_KIND = "audit"  # results table: the newest audit's summary, under key "latest"
LEAVE_ONE_OUT = "leave-one-out among the training images (no test-role images)"
HELD_OUT = "held-out test-role images against the training images"


@dataclass(frozen=True)
class Reference:
    """Real images scored against the training set: the distribution a threshold comes from."""

    source: str  # HELD_OUT or LEAVE_ONE_OUT
    scores: dict[str, list[float]]  # method -> each real image's calibrated score
    thresholds: dict[str, float]  # method -> the percentile of those scores


@dataclass(frozen=True)
class SampleVerdict:
    sample_id: int
    set_name: str
    method: str  # the method the gate judged by
    nearest_image_id: int
    flip: str
    ratio: float
    threshold: float

    @property
    def memorised(self) -> bool:
        return self.ratio < self.threshold


@dataclass(frozen=True)
class AuditResult:
    fingerprint: str
    config: AuditConfig
    train_images: int
    reference: Reference
    verdicts: list[SampleVerdict]
    computed_now: int  # samples whose distances were computed by this run (the rest were stored)
    embedding: str | None = None  # the embedding method, when weights were given
    embedding_flagged: list[int] = field(default_factory=list)  # samples below its own threshold

    @property
    def flagged(self) -> list[SampleVerdict]:
        return [v for v in self.verdicts if v.memorised]

    @property
    def real_images(self) -> int:
        """How many real images the threshold was taken from."""
        return max((len(v) for v in self.reference.scores.values()), default=0)

    @property
    def closer_than(self) -> str:
        """What a memorised sample is closer than, as far as the reference's size supports it: the
        demo's "all but 1% of real images" stood on 6 real images, whose 1st percentile is
        about their lowest score."""
        p, n_real = self.config.percentile, self.real_images
        if n_real < 100 / p:
            return f"about the closest of the {n_real} held-out real images (too few for a {p:g}% percentile)"
        return f"all but {p:g}% of real images"

    @property
    def summary(self) -> str:
        n, f = len(self.verdicts), len(self.flagged)
        share = f"{100 * f / n:.1f}%" if n else "-"
        return (
            f"{f} of {n} samples memorised ({share}): closer to a training image than {self.closer_than} "
            f"({self.reference.source}); "
            f"{self.computed_now} computed now, {n - self.computed_now} stored under this training set"
        )


@dataclass(frozen=True)
class _Frames:
    vectors: np.ndarray  # (n, D)
    weights: np.ndarray | None  # (n, D) region weights; rows of 0 where there is no region
    has_region: np.ndarray  # (n,) bool


def _image_frames(ws: Workspace, images: Sequence[ImageRecord], cfg: AuditConfig) -> _Frames:
    vecs, weights, has = [], [], []
    for rec in images:
        rgb = ws.read_image(rec)
        vecs.append(distances.frame_vector(rgb, cfg.side))
        if rec.current_mask_id is not None:
            w = distances.region_weights(ws.read_mask(rec.current_mask_id), cfg.side, cfg.grow)
        else:
            w = np.zeros(cfg.side * cfg.side * 3)
        weights.append(w)
        has.append(bool(w.any()))
    return _Frames(np.stack(vecs), np.stack(weights), np.asarray(has, bool))


def _percentile(scores: np.ndarray, q: float) -> float:
    return float(np.percentile(scores, q)) if len(scores) else 0.0


def calibrate(ws: Workspace, train: _Frames, cfg: AuditConfig, test_images: Sequence[ImageRecord]) -> Reference:
    """The real images' calibrated scores on frames and regions, and their percentile thresholds."""
    loo = not test_images
    real = train if loo else _image_frames(ws, test_images, cfg)
    near = partial(distances.nearest_training, real.vectors, train.vectors, cfg.side, cfg.k, leave_one_out=loo, shift=cfg.shift)
    frame, region = near().ratio, near(real.weights)
    region_scores = region.ratio[real.has_region]
    scores = {cfg.frame_method: frame.tolist(), cfg.region_method: region_scores.tolist()}
    thresholds = {cfg.frame_method: _percentile(frame, cfg.percentile)}
    if len(region_scores):
        thresholds[cfg.region_method] = _percentile(region_scores, cfg.percentile)
    return Reference(LEAVE_ONE_OUT if loo else HELD_OUT, scores, thresholds)


def _sample_region(ws: Workspace, s: SampleRecord, rgb: np.ndarray, side: int) -> np.ndarray:
    context = source_context(ws, s)
    if context is None or context[2].shape[:2] != rgb.shape[:2]:
        return np.zeros(side * side * 3)
    return distances.region_weights(context[2], side)


def _compute(
    ws: Workspace,
    samples: Sequence[SampleRecord],
    train_ids: list[int],
    train: _Frames,
    cfg: AuditConfig,
    progress: Progress | None,
) -> list[AuditRow]:
    rows: list[AuditRow] = []
    chunk = distances.CHUNK
    for start in range(0, len(samples), chunk):
        part = samples[start : start + chunk]
        vecs, weights = [], []
        for s in part:
            rgb, _ = ws.read_sample(s)
            vecs.append(distances.frame_vector(rgb, cfg.side))
            weights.append(_sample_region(ws, s, rgb, cfg.side))
        q, w = np.stack(vecs), np.stack(weights)
        frame = distances.nearest_training(q, train.vectors, cfg.side, cfg.k, shift=cfg.shift)
        region = distances.nearest_training(q, train.vectors, cfg.side, cfg.k, w, shift=cfg.shift)
        for i, s in enumerate(part):
            for method, near in ((cfg.frame_method, frame), (cfg.region_method, region)):
                if method == cfg.region_method and not w[i].any():
                    continue
                rows.append(
                    AuditRow(
                        s.id,
                        method,
                        train_ids[int(near.index[i])],
                        distances.FLIPS[int(near.flip[i])],
                        float(near.distance[i]),
                        float(near.ratio[i]),
                    )
                )
        if progress:
            progress(start + len(part), len(samples), "samples compared with the training set")
    return rows


def audit_samples(
    ws: Workspace,
    set_name: str | None = None,
    cfg: AuditConfig = AuditConfig(),
    extractor: FidExtractor | None = None,
    progress: Progress | None = None,
) -> AuditResult:
    """Audit the samples (of ``set_name``, or all), store their rows and ``memorised`` gates."""
    ws.require_writable("the audit stores each sample's nearest training image and its gate")
    samples = ws.samples(set_name=set_name)
    if set_name is not None and not samples:
        names = [r[0] for r in ws.query("SELECT DISTINCT set_name FROM samples ORDER BY set_name")]
        raise BadInputError(f"no samples in set {set_name!r}; sets in this workspace: {', '.join(names) or 'none'}")
    train_images = ws.images("role = ?", (TRAIN,))
    if len(train_images) < 2:
        raise BadInputError("the audit needs at least 2 train-role images to compare samples with (see 'diffgen roles')")
    test_images = ws.images("role = ?", (TEST,))
    fingerprint = training_fingerprint(ws, cfg.settings())
    train = _image_frames(ws, train_images, cfg)
    reference = calibrate(ws, train, cfg, test_images)
    stored = load_rows(ws, fingerprint, [s.id for s in samples])
    todo = [s for s in samples if (s.id, cfg.frame_method) not in stored]
    if todo:
        new = _compute(ws, todo, [r.id for r in train_images], train, cfg, progress)
        save_rows(ws, fingerprint, new)
        stored.update({(r.sample_id, r.method): r for r in new})
    verdicts = [_verdict(s, stored, reference, cfg) for s in samples]
    for v in verdicts:
        ws.set_gates(v.sample_id, [GateScore("memorised", v.ratio, v.threshold, not v.memorised)])
    embedding: str | None = None
    embedding_flagged: list[int] = []
    if extractor is not None:
        embedding, embedding_flagged = audit_embedding(
            ws, samples, train_images, test_images, fingerprint, cfg.k, cfg.percentile, extractor
        )
    result = AuditResult(fingerprint, cfg, len(train_images), reference, verdicts, len(todo), embedding, embedding_flagged)
    ws.add_result(RESULT_KIND, "latest", summary_record(result))
    return result


def _verdict(s: SampleRecord, stored: dict[tuple[int, str], AuditRow], ref: Reference, cfg: AuditConfig) -> SampleVerdict:
    region = stored.get((s.id, cfg.region_method))
    method = cfg.region_method if region is not None and cfg.region_method in ref.thresholds else cfg.frame_method
    row = stored[(s.id, method)]
    return SampleVerdict(s.id, s.set_name, method, row.nearest_image_id, row.flip, row.ratio, ref.thresholds[method])


def summary_record(r: AuditResult) -> dict:
    """What the results table keeps of an audit (the export's data card can quote it)."""
    return {
        "fingerprint": r.fingerprint,
        "method": f"calibrated pixel L2 ({r.config.side}x{r.config.side} RGB; mirrored training images too; "
        f"distance to the nearest over the mean of the next {r.config.k}), on the generated region when there is one",
        "embedding": r.embedding,
        "reference": r.reference.source,
        "percentile": r.config.percentile,
        "thresholds": r.reference.thresholds,
        "train_images": r.train_images,
        "samples": len(r.verdicts),
        "memorised": len(r.flagged),
        "embedding_flagged": len(r.embedding_flagged),
        "summary": r.summary,
    }
