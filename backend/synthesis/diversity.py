"""How varied a set's masks are (issue 34's measured goal 2): are mask-guided samples' polyps
more diverse than the paper's inpainted ones, which keep each source's polyp place and size?

Per set (Real: the unflagged training images' current masks; any sample set by name, e.g.
Diff, Mask-Diff; "Mask-Diff (new polyps)": that set's wanted masks alone, since a mask-guided
sample's mask also holds its source's own polyps, which it keeps): the distribution of polyp
area (fraction of the frame) and centroid position (fractions of width and height), per polyp
(connected component), and the mean IoU between
every two masks of the set, each resized to one size (``SIDE``), so sets of other resolutions
compare. Lower mean pairwise IoU: polyps at more varied places and in more varied shapes.

The pairwise IoU over a whole set grows with polyp area (big masks overlap by chance), and the
paper's inpainting shrinks polyps, so it alone cannot say whether a set found new places. Two
columns say that directly, per sample against where it came from: the IoU of each mask with its
source image's mask (the paper's samples keep their source's polyp place and size: high; polyps
placed elsewhere: near 0), and the mean IoU between two samples of the same source (how much a
source's samples differ from each other).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from backend.errors import BadInputError
from backend.io.images import read_png_fast
from backend.reports.document import Section, Table
from backend.workspace.selection import generation_images

if TYPE_CHECKING:
    from backend.workspace import Workspace
    from backend.workspace.records import SampleRecord

REAL = "Real"
NEW_POLYPS = " (new polyps)"  # suffix of a mask-guided set's name: its wanted masks, without the sources' polyps
SIDE = 64  # masks are compared at SIDE x SIDE
MAX_PAIRWISE = 1000  # masks in the pairwise IoU (evenly spaced beyond that: ~500k pairs)
MIN_POLYP_PX = 4  # components smaller than this (at the mask's resolution) are specks, not polyps


@dataclass(frozen=True, eq=False)
class SetMask:
    """One mask of a set and, for a sample, what it was made from: its source image's id and mask
    (a frame without polyps: an empty mask); None for a real mask, its own source."""

    mask: np.ndarray
    source_image_id: int | None = None
    source_mask: np.ndarray | None = None


@dataclass(frozen=True)
class SetDiversity:
    set_name: str
    masks: int
    polyps: int
    area_mean: float  # polyp area / frame area
    area_sd: float
    area_quartiles: tuple[float, float, float]
    centroid_mean: tuple[float, float]  # (x, y) / (width, height)
    centroid_sd: tuple[float, float]
    mean_pairwise_iou: float  # nan with fewer than two masks
    source_iou: float  # mean IoU of a mask with its source's mask; nan for real masks
    same_source_iou: float  # mean IoU of two masks of one source; nan when no source has two


def polyps_of(mask: np.ndarray) -> list[tuple[float, float, float]]:
    """(area fraction, centroid x, centroid y as fractions) of each polyp of ``mask``."""
    h, w = mask.shape
    n, _, stats, centroids = cv2.connectedComponentsWithStats((mask > 127).astype(np.uint8), connectivity=8)
    return [
        (float(stats[k, cv2.CC_STAT_AREA]) / (h * w), float(centroids[k][0]) / w, float(centroids[k][1]) / h)
        for k in range(1, n)
        if stats[k, cv2.CC_STAT_AREA] >= MIN_POLYP_PX
    ]


def _flat(masks: Sequence[np.ndarray]) -> np.ndarray:
    """(N, SIDE * SIDE) float64 0/1: each mask resized to SIDE x SIDE."""
    return np.stack([(cv2.resize(m, (SIDE, SIDE), interpolation=cv2.INTER_NEAREST) > 127).ravel() for m in masks]).astype(
        np.float64
    )


def mean_pairwise_iou(masks: Sequence[np.ndarray]) -> float:
    """The mean IoU over every two of ``masks`` (each resized to SIDE x SIDE; two empty masks
    are left out); nan with fewer than two."""
    if len(masks) > MAX_PAIRWISE:
        masks = [masks[int(i)] for i in np.linspace(0, len(masks) - 1, MAX_PAIRWISE)]
    if len(masks) < 2:
        return float("nan")
    flat = _flat(masks)
    inter = flat @ flat.T
    area = flat.sum(axis=1)
    union = area[:, None] + area[None, :] - inter
    upper = np.triu_indices(len(masks), k=1)
    pairs = union[upper] > 0
    return float((inter[upper][pairs] / union[upper][pairs]).mean()) if pairs.any() else float("nan")


def source_iou(items: Sequence[SetMask]) -> float:
    """The mean IoU of each sample's mask with its source's mask (two empty masks are left out);
    nan when no item has a source."""
    pairs = [(i.mask, i.source_mask) for i in items if i.source_mask is not None]
    if not pairs:
        return float("nan")
    a, b = _flat([p[0] for p in pairs]), _flat([p[1] for p in pairs])
    inter, union = (a * b).sum(axis=1), np.maximum(a, b).sum(axis=1)
    return float((inter[union > 0] / union[union > 0]).mean()) if (union > 0).any() else float("nan")


def same_source_iou(items: Sequence[SetMask]) -> float:
    """The mean IoU over every two masks made from one source image, all sources' pairs pooled;
    nan when no source has two."""
    groups: dict[int, list[np.ndarray]] = {}
    for i in items:
        if i.source_image_id is not None:
            groups.setdefault(i.source_image_id, []).append(i.mask)
    means = [(mean_pairwise_iou(g), len(g) * (len(g) - 1) // 2) for g in groups.values() if len(g) >= 2]
    means = [(m, n) for m, n in means if not np.isnan(m)]
    return float(sum(m * n for m, n in means) / sum(n for _, n in means)) if means else float("nan")


def set_diversity(set_name: str, items: Iterable[SetMask]) -> SetDiversity:
    """The statistics of one set's masks (0/255 or binary, any sizes)."""
    listed = list(items)
    kept = [i.mask for i in listed]
    polyps = np.array([p for m in kept for p in polyps_of(m)], np.float64).reshape(-1, 3)
    if not len(polyps):
        raise BadInputError(f"set {set_name}: none of its {len(kept)} masks holds a polyp; nothing to measure")
    area, cx, cy = polyps[:, 0], polyps[:, 1], polyps[:, 2]
    q = np.percentile(area, [25, 50, 75])
    return SetDiversity(
        set_name,
        len(kept),
        len(polyps),
        float(area.mean()),
        float(area.std()),
        (float(q[0]), float(q[1]), float(q[2])),
        (float(cx.mean()), float(cy.mean())),
        (float(cx.std()), float(cy.std())),
        mean_pairwise_iou(kept),
        source_iou(listed),
        same_source_iou(listed),
    )


def set_masks(ws: Workspace, set_name: str) -> list[SetMask]:
    """The masks of ``set_name``: Real = the unflagged training images' current masks, NAME +
    :data:`NEW_POLYPS` = the wanted masks of set NAME's samples, else the samples of that set;
    a sample's with its source's mask (the version it was made from)."""
    if set_name == REAL:
        recs = [r for r in generation_images(ws, "flagged = 0") if r.current_mask_id is not None]
        return [SetMask(ws.read_mask(int(r.current_mask_id or 0))) for r in recs]
    base = set_name.removesuffix(NEW_POLYPS)
    samples = ws.samples(set_name=base)
    if not samples:
        names = sorted({s.set_name for s in ws.samples()})
        raise BadInputError(f"no sample set {base!r} in {ws.root}; sets: {', '.join([REAL, *names])}")
    sources: dict[int, np.ndarray] = {}  # mask version -> its mask: read once for all of its samples
    if base == set_name:
        return [_with_source(ws, s, s.mask_path, "mask_path", sources) for s in samples]
    guided = [s for s in samples if "wanted_mask" in s.params]
    if not guided:
        raise BadInputError(f"set {base!r} has no wanted masks: its samples are not mask-guided ('{set_name}' names none)")
    return [_with_source(ws, s, s.params["wanted_mask"], "params_json", sources) for s in guided]


def _with_source(ws: Workspace, sample: SampleRecord, rel: str, column: str, sources: dict[int, np.ndarray]) -> SetMask:
    """The mask file ``rel`` of ``sample`` (named by its ``column``, checked under the workspace)
    with its source's mask (none: empty; no source image: no source), read into ``sources`` once."""
    mask = read_png_fast(ws.stored(rel, "samples", sample.id, column), grey=True)
    if sample.source_image_id is None:
        return SetMask(mask)
    if sample.mask_version_id is None:
        return SetMask(mask, sample.source_image_id, np.zeros_like(mask))
    if sample.mask_version_id not in sources:
        sources[sample.mask_version_id] = ws.read_mask(sample.mask_version_id)
    return SetMask(mask, sample.source_image_id, sources[sample.mask_version_id])


def diversity_table(ws: Workspace, set_names: Sequence[str] | None = None) -> list[SetDiversity]:
    """One row per set (default: Real and every sample set of the workspace)."""
    names = list(set_names) if set_names else [REAL, *sorted({s.set_name for s in ws.samples()})]
    return [set_diversity(name, set_masks(ws, name)) for name in names]


COLUMNS = (
    "set",
    "masks",
    "polyps",
    "area mean ± sd",
    "area quartiles",
    "centroid x ± sd",
    "centroid y ± sd",
    "mean pairwise IoU",
    "IoU with its source",
    "IoU within a source",
)


def table_rows(rows: Sequence[SetDiversity]) -> list[list[str]]:
    """The table as text cells, under ``COLUMNS`` (areas in % of the frame)."""
    return [
        [
            r.set_name,
            str(r.masks),
            str(r.polyps),
            f"{100 * r.area_mean:.1f}% ± {100 * r.area_sd:.1f}",
            " / ".join(f"{100 * v:.1f}%" for v in r.area_quartiles),
            f"{r.centroid_mean[0]:.2f} ± {r.centroid_sd[0]:.2f}",
            f"{r.centroid_mean[1]:.2f} ± {r.centroid_sd[1]:.2f}",
            *("n/a" if np.isnan(v) else f"{v:.3f}" for v in (r.mean_pairwise_iou, r.source_iou, r.same_source_iou)),
        ]
        for r in rows
    ]


def diversity_section(ws: Workspace, set_names: Sequence[str] | None = None) -> Section:
    """The table as a report section (the demo report's, or any report's)."""
    return Section(
        "Mask diversity",
        "Per set: polyp area (% of the frame) and centroid (fractions of width and height) over its "
        f"polyps, and the mean IoU between every two of its masks (resized to {SIDE} x {SIDE}). A lower "
        "mean pairwise IoU means polyps at more varied places and in more varied shapes, but it also falls "
        "with polyp area (small polyps overlap less by chance). 'IoU with its source': each sample's mask "
        "against the mask of the image it was made from (high: the source's polyp kept in place and size); "
        "'IoU within a source': between two samples of one source image (high: a source's samples repeat "
        "each other). A mask-guided sample's mask keeps its source's polyps beside the new ones; "
        f"'NAME{NEW_POLYPS}' counts the new ones alone.",
        tables=[Table("Mask diversity per set", list(COLUMNS), [list(r) for r in table_rows(diversity_table(ws, set_names))])],
    )
