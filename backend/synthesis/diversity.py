"""How varied a set's masks are (issue 34's measured goal 2): are mask-guided samples' polyps
more diverse than the paper's inpainted ones, which keep each source's polyp place and size?

Per set (Real: the unflagged training images' current masks; any sample set by name, e.g.
Diff, Mask-Diff; "Mask-Diff (new polyps)": that set's wanted masks alone, since a mask-guided
sample's mask also holds its source's own polyps, which it keeps): the distribution of polyp
area (fraction of the frame) and centroid position (fractions of width and height), per polyp
(connected component), and the mean IoU between
every two masks of the set, each resized to one size (``SIDE``), so sets of other resolutions
compare. Lower mean pairwise IoU: polyps at more varied places and in more varied shapes.
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

REAL = "Real"
NEW_POLYPS = " (new polyps)"  # suffix of a mask-guided set's name: its wanted masks, without the sources' polyps
SIDE = 64  # masks are compared at SIDE x SIDE
MAX_PAIRWISE = 1000  # masks in the pairwise IoU (evenly spaced beyond that: ~500k pairs)
MIN_POLYP_PX = 4  # components smaller than this (at the mask's resolution) are specks, not polyps


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


def polyps_of(mask: np.ndarray) -> list[tuple[float, float, float]]:
    """(area fraction, centroid x, centroid y as fractions) of each polyp of ``mask``."""
    h, w = mask.shape
    n, _, stats, centroids = cv2.connectedComponentsWithStats((mask > 127).astype(np.uint8), connectivity=8)
    return [
        (float(stats[k, cv2.CC_STAT_AREA]) / (h * w), float(centroids[k][0]) / w, float(centroids[k][1]) / h)
        for k in range(1, n)
        if stats[k, cv2.CC_STAT_AREA] >= MIN_POLYP_PX
    ]


def mean_pairwise_iou(masks: Sequence[np.ndarray]) -> float:
    """The mean IoU over every two of ``masks`` (each resized to SIDE x SIDE; two empty masks
    are left out); nan with fewer than two."""
    if len(masks) > MAX_PAIRWISE:
        masks = [masks[int(i)] for i in np.linspace(0, len(masks) - 1, MAX_PAIRWISE)]
    if len(masks) < 2:
        return float("nan")
    flat = np.stack([(cv2.resize(m, (SIDE, SIDE), interpolation=cv2.INTER_NEAREST) > 127).ravel() for m in masks]).astype(
        np.float64
    )
    inter = flat @ flat.T
    area = flat.sum(axis=1)
    union = area[:, None] + area[None, :] - inter
    upper = np.triu_indices(len(masks), k=1)
    pairs = union[upper] > 0
    return float((inter[upper][pairs] / union[upper][pairs]).mean()) if pairs.any() else float("nan")


def set_diversity(set_name: str, masks: Iterable[np.ndarray]) -> SetDiversity:
    """The statistics of one set's masks (0/255 or binary, any sizes)."""
    kept = list(masks)
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
    )


def set_masks(ws: Workspace, set_name: str) -> list[np.ndarray]:
    """The masks of ``set_name``: Real = the unflagged training images' current masks, NAME +
    :data:`NEW_POLYPS` = the wanted masks of set NAME's samples, else the samples of that set."""
    if set_name == REAL:
        recs = [r for r in generation_images(ws, "flagged = 0") if r.current_mask_id is not None]
        return [ws.read_mask(int(r.current_mask_id or 0)) for r in recs]
    base = set_name.removesuffix(NEW_POLYPS)
    samples = ws.samples(set_name=base)
    if not samples:
        names = sorted({s.set_name for s in ws.samples()})
        raise BadInputError(f"no sample set {base!r} in {ws.root}; sets: {', '.join([REAL, *names])}")
    if base == set_name:
        return [read_png_fast(ws.stored(s.mask_path, "samples", s.id, "mask_path"), grey=True) for s in samples]
    wanted = [ws.stored(s.params["wanted_mask"], "samples", s.id, "params_json") for s in samples if "wanted_mask" in s.params]
    if not wanted:
        raise BadInputError(f"set {base!r} has no wanted masks: its samples are not mask-guided ('{set_name}' names none)")
    return [read_png_fast(p, grey=True) for p in wanted]


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
            "n/a" if np.isnan(r.mean_pairwise_iou) else f"{r.mean_pairwise_iou:.3f}",
        ]
        for r in rows
    ]


def diversity_section(ws: Workspace, set_names: Sequence[str] | None = None) -> Section:
    """The table as a report section (the demo report's, or any report's)."""
    return Section(
        "Mask diversity",
        "Per set: polyp area (% of the frame) and centroid (fractions of width and height) over its "
        f"polyps, and the mean IoU between every two of its masks (resized to {SIDE} x {SIDE}). A lower "
        "mean pairwise IoU means polyps at more varied places and in more varied shapes. A mask-guided "
        f"sample's mask keeps its source's polyps beside the new ones; 'NAME{NEW_POLYPS}' counts the new ones alone.",
        tables=[Table("Mask diversity per set", list(COLUMNS), [list(r) for r in table_rows(diversity_table(ws, set_names))])],
    )
