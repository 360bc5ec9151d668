"""The audit's report section: how close the samples come to training images, against how
close real held-out images come, and the closest pairs to look at.

Written as its own report (Markdown + HTML, ``reports/audit-<time>/``) by ``diffgen audit``;
:func:`audit_section` is the section other reports can include.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import cv2
import numpy as np

from backend.audit.distances import MIRROR_TAGS, mirrored
from backend.audit.run import AuditResult, SampleVerdict
from backend.io.files import atomic_write_bytes, encode_png
from backend.reports.document import Figure, Report, Section, Table
from backend.reports.figures import new_figure, png_bytes
from backend.reports.tiles import captioned, tile
from backend.words import counted
from backend.workspace import Workspace

PAIRS = 12  # closest pairs shown
TILE = 112  # px of each picture in the pairs figure
PAIRS_PER_ROW = 3
DIFF_GAIN = 3  # the difference picture is |sample - training| times this, so small differences show


def histogram_png(result: AuditResult) -> bytes:
    """One panel per method the gate judged by: samples' scores against real images' scores."""
    methods = sorted({v.method for v in result.verdicts})
    fig = new_figure((5.2 * max(1, len(methods)), 3.2), dpi=110)
    for i, method in enumerate(methods):
        ax = fig.add_subplot(1, len(methods), i + 1)
        synth = [v.ratio for v in result.verdicts if v.method == method]
        real = result.reference.scores.get(method, [])
        top = max([1.0, *synth, *real])
        bins = np.linspace(0, top, 31)
        ax.hist(real, bins=bins, alpha=0.6, color="tab:blue", density=True, label=f"real to train (n={len(real)})")
        ax.hist(synth, bins=bins, alpha=0.6, color="tab:orange", density=True, label=f"samples to train (n={len(synth)})")
        threshold = result.reference.thresholds[method]
        ax.axvline(threshold, color="tab:red", ls="--", label=f"threshold {threshold:.3f}")
        ax.set_xlabel("nearest distance / mean of next k (calibrated)")
        ax.set_ylabel("density")
        ax.set_title(method, fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return png_bytes(fig)


def _pair(ws: Workspace, v: SampleVerdict) -> np.ndarray:
    """sample | nearest training image (mirrored as it matched) | amplified difference."""
    rgb, mask = ws.read_sample(v.sample_id)
    train = mirrored(ws.read_image(v.nearest_image_id), v.flip)
    train = cv2.resize(train, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_AREA)
    diff = np.clip(np.abs(rgb.astype(np.int16) - train.astype(np.int16)) * DIFF_GAIN, 0, 255).astype(np.uint8)
    flip = MIRROR_TAGS[v.flip]
    colour = (200, 0, 0) if v.memorised else (0, 0, 0)
    cells = [
        captioned(tile(rgb, TILE), f"sample {v.sample_id} {v.ratio:.2f}", colour),
        captioned(tile(train, TILE), f"{ws.image(v.nearest_image_id).name[: 18 - len(flip)]}{flip}"),
        captioned(tile(diff, TILE), f"|difference| x{DIFF_GAIN}"),
    ]
    return np.concatenate(cells, axis=1)


def pairs_png(ws: Workspace, result: AuditResult) -> bytes | None:
    """The closest pairs, by calibrated score, in rows of ``PAIRS_PER_ROW`` triplets."""
    closest = sorted(result.verdicts, key=lambda v: v.ratio)[:PAIRS]
    if not closest:
        return None
    triplets = [_pair(ws, v) for v in closest]
    gap = np.full((triplets[0].shape[0], 12, 3), 255, np.uint8)
    blank = np.full_like(triplets[0], 255)
    rows = []
    for s in range(0, len(triplets), PAIRS_PER_ROW):
        row = triplets[s : s + PAIRS_PER_ROW] + [blank] * (PAIRS_PER_ROW - len(triplets[s : s + PAIRS_PER_ROW]))
        parts = [p for t in row for p in (t, gap)][:-1]
        rows += [np.concatenate(parts, axis=1), np.full((8, sum(p.shape[1] for p in parts), 3), 255, np.uint8)]
    return encode_png(np.concatenate(rows[:-1], axis=0))


def audit_section(ws: Workspace, result: AuditResult, folder: Path) -> Section:
    """The section, its figures written into ``folder``."""
    hist = atomic_write_bytes(folder / "audit_histogram.png", histogram_png(result))
    pairs = pairs_png(ws, result)
    figures = [Figure(hist, "Calibrated distance of each sample to its nearest training image, against real held-out images")]
    if pairs is not None:
        figures.append(
            Figure(
                atomic_write_bytes(folder / "audit_closest_pairs.png", pairs),
                f"The {min(PAIRS, len(result.verdicts))} closest pairs: sample (score; red: memorised) | nearest "
                f"training image, mirrored as it matched | difference x{DIFF_GAIN}",
            )
        )
    cfg, ref = result.config, result.reference
    n, f = len(result.verdicts), len(result.flagged)
    text = (
        f"**{f} of {n} samples ({100 * f / n if n else 0:.1f}%) are closer to a training image than "
        f"{result.closer_than}.**\n\n"
        f"Method: each frame downsampled to {cfg.side}x{cfg.side} RGB; L2 distance to every one of the "
        f"{result.train_images} training images as they are and mirrored left-right and top-bottom, the nearest "
        f"compared again over shifts of up to {cfg.shift} px; the score is the distance to the nearest over the "
        f"mean distance to the next {cfg.k} (Carlini et al. 2023), so a near-copy scores near 0 and an ordinary "
        "image near 1. An inpainted sample is scored on its generated region (it equals its source outside it), "
        "other samples on the whole frame.\n\n"
        f"Reference: {ref.source} ({counted(result.real_images, 'image')}); a sample "
        "below the threshold fails the `memorised` gate."
    )
    n_real = result.real_images
    if n_real < 100 / cfg.percentile:
        text += f" With {n_real} real images the {cfg.percentile:g}% threshold is about the lowest real score."
    if result.embedding:
        flagged = counted(len(result.embedding_flagged), "sample")
        text += f"\n\nEmbedding check ({result.embedding}): {flagged} below its own threshold."
    per_set: dict[str, list[SampleVerdict]] = {}
    for v in result.verdicts:
        per_set.setdefault(v.set_name, []).append(v)
    rows: list[list[object]] = [
        [
            name,
            len(vs),
            sum(v.memorised for v in vs),
            f"{100 * sum(v.memorised for v in vs) / len(vs):.1f}%",
            f"{min(v.ratio for v in vs):.3f}",
        ]
        for name, vs in sorted(per_set.items())
    ]
    thresholds = [[m, t, len(ref.scores.get(m, []))] for m, t in sorted(ref.thresholds.items())]
    tables = [
        Table("Samples per set", ["set", "samples", "memorised", "share", "lowest score"], rows),
        Table("Thresholds (the percentile of real images' scores)", ["method", "threshold", "real images"], thresholds),
    ]
    return Section("Samples against the training set", text, tables, figures)


def write_audit_report(ws: Workspace, result: AuditResult) -> tuple[Path, Path]:
    """``reports/audit-<time>/audit.md`` and ``.html`` (a new folder each run: nothing is overwritten)."""
    folder = ws.root / "reports" / f"audit-{datetime.now().strftime('%Y%m%d-%H%M%S-%f')}"
    report = Report("Memorisation audit", f"Workspace {ws.root.name}; training set {result.fingerprint}")
    report.add(audit_section(ws, result, folder))
    return report.write(folder, "audit")
