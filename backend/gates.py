"""Quality gates: numbers that say whether a generated sample is worth keeping.

Every inpainted and styled sample is scored the moment it is made, against its source at
the model's resolution and the region that was regenerated. Each gate is one number with
the threshold it was judged by, so a user can re-judge with another threshold later
without recomputing anything:

- ``no_polyp``: generated mask area / source polyp area. Below ``min_area_ratio`` (or an
  empty mask) the sample has lost its label: RePaint filled the region with tissue only.
- ``cut_off``: the fraction of the region's inner boundary (where it meets kept tissue, not
  the frame) covered by the generated mask. Above ``max_boundary_touch`` the polyp runs into
  kept tissue that has none, so image and mask disagree there.
- ``copy``: mean absolute RGB difference to the source inside the region, 0..1. Below
  ``min_region_change`` the model returned the training image it memorised (the failure
  the paper names in 2.2), so the sample adds nothing.
- ``seam``: the colour step across the region boundary beyond the one the real image has
  there (0..1 units of RGB distance). Above ``max_seam`` the region shows as a patch;
  style transfer should lower it (paper Figure 4).
- ``colour``: the fraction of the region's pixels in a colour that no training image has, nor
  the source (a coarse colour histogram of the train-role images at the model's resolution,
  widened by one bin each way: :func:`colour_palette`, :func:`off_colour`). Above
  ``max_off_colour`` the region holds speckles or blobs of a foreign colour (cyan in red
  tissue): a broken sample that the geometric gates pass. The palette is the whole training
  set's, not the source's alone: a generated polyp may take the tint of another training
  image's polyp (the model learned it there), and the source's own palette failed such
  plausible samples while passing a broken one (issue 33 item 12). Test images never feed it.
  Against the training palette the demo's plausible samples score 0 and the broken one 0.024,
  hence the threshold 0.01 (1% of the region: a blob, not a stray pixel).
- ``adherence``: for a mask-guided sample (backend/synthesis), the IoU between the wanted mask
  and where a segmentation model trained on the training images (the judge) sees a polyp in
  the sample. Below ``min_adherence`` the model did not draw the polyp where it was asked. It
  needs the workspace's judge, so :func:`score` does not compute it (the synthesis generator
  does, :func:`adherence_gate`), and a bundle may not claim it: import scores it with the
  importing workspace's own judge.
- ``memorised``: the sample's distance to its nearest training image (any, not only its
  source; mirrored ones too) over its mean distance to the next nearest ones, on the
  generated region (backend/audit). Below the 1st percentile of the same number for held-out
  real images the sample is a near-copy of a training image. Only ``diffgen audit`` scores
  it: it needs the whole training set, which the scoring at generation time does not hold.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields

import cv2
import numpy as np

from backend.config.fields import check_section, setting

SCORED_WHEN_MADE = ("no_polyp", "cut_off", "copy", "seam", "colour")  # by :func:`score`: retries can use these
ADHERENCE = "adherence"  # mask-guided samples only, with the workspace's judge
SCORED_FOR_SYNTHESIS = (*SCORED_WHEN_MADE, ADHERENCE)  # what a mask-guided sample's retries can use
GATES = (*SCORED_WHEN_MADE, ADHERENCE, "memorised")  # the audit (backend/audit) adds the last
SEAM_RING_PX = 3  # ring width each side of the boundary that the seam score compares
COLOUR_BINS = 8  # levels per channel of the colour gate's histogram: 32 grey levels a bin
COLOURS = COLOUR_BINS**3  # length of a palette (:func:`colour_palette`)


@dataclass(frozen=True)
class GateConfig:
    """The ``[gates]`` preset section: one threshold per gate."""

    min_area_ratio: float = setting(0.15, 0.0, 1e6)  # no_polyp fails below this generated/source mask area ratio
    max_boundary_touch: float = setting(0.25, 0.0, 1.0)  # cut_off fails above this fraction of the region boundary
    min_region_change: float = setting(0.02, 0.0, 1.0)  # copy fails below this mean |sample - source| in the region
    max_seam: float = setting(0.08, 0.0, 1.0)  # seam fails above this excess colour step at the boundary
    max_off_colour: float = setting(0.01, 0.0, 1.0)  # colour fails above this region fraction in colours the training set lacks
    min_adherence: float = setting(0.5, 0.0, 1.0)  # adherence fails below this IoU of the judge's polyp with the wanted mask

    @classmethod
    def from_section(cls, section: dict | None) -> "GateConfig":
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in (section or {}).items() if k in known}
        check_section(cls, values, "gates")
        return cls(**{k: float(v) for k, v in values.items()})


@dataclass(frozen=True)
class GateScore:
    gate: str
    value: float
    threshold: float
    passed: bool


def _binary(a: np.ndarray) -> np.ndarray:
    return (np.asarray(a) > 0).astype(np.uint8)


def area_ratio(sample_mask: np.ndarray, source_mask: np.ndarray) -> float:
    """Generated mask area over the source's (0 when the sample's mask is empty)."""
    source = int(_binary(source_mask).sum())
    return float(_binary(sample_mask).sum()) / source if source else 0.0


def inner_boundary(region: np.ndarray) -> np.ndarray:
    """Region pixels with a 4-neighbour outside the region, the frame edge not counting
    (beyond the frame there is no kept tissue for a polyp to run into)."""
    r = _binary(region)
    eroded = cv2.erode(r, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=1)
    return (r > 0) & (eroded == 0)


def boundary_touch(sample_mask: np.ndarray, region: np.ndarray) -> float:
    """Fraction of the region's inner boundary that the generated mask covers."""
    edge = inner_boundary(region)
    n = int(edge.sum())
    return float((_binary(sample_mask)[edge] > 0).sum()) / n if n else 0.0


def region_change(sample_rgb: np.ndarray, source_rgb: np.ndarray, region: np.ndarray) -> float:
    """Mean absolute RGB difference inside the region, in 0..1."""
    inside = _binary(region) > 0
    if not inside.any():
        return 0.0
    diff = np.abs(sample_rgb.astype(np.float32) - source_rgb.astype(np.float32)) / 255.0
    return float(diff[inside].mean())


def boundary_step(rgb: np.ndarray, region: np.ndarray, ring: int = SEAM_RING_PX) -> float:
    """Mean colour step across the region boundary: at each boundary pixel, the distance
    between the local mean colour of a thin ring just inside and one just outside."""
    r = _binary(region)
    kernel = np.ones((2 * ring + 1, 2 * ring + 1), np.uint8)
    inside = r & (1 - cv2.erode(r, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=1))
    outside = cv2.dilate(r, kernel) & (1 - r)
    edge = inner_boundary(region)
    if not edge.any() or not outside.any():
        return 0.0
    img = rgb.astype(np.float32) / 255.0
    size = (2 * ring + 3, 2 * ring + 3)

    def local_mean(ring_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w = cv2.boxFilter(ring_mask.astype(np.float32), -1, size, normalize=False)
        s = cv2.boxFilter(img * ring_mask[..., None], -1, size, normalize=False)
        return s / np.maximum(w, 1e-6)[..., None], w

    mean_in, w_in = local_mean(inside)
    mean_out, w_out = local_mean(outside)
    both = edge & (w_in > 0) & (w_out > 0)
    if not both.any():
        return 0.0
    return float(np.linalg.norm(mean_in[both] - mean_out[both], axis=1).mean() / np.sqrt(3.0))


def seam_excess(sample_rgb: np.ndarray, source_rgb: np.ndarray, region: np.ndarray) -> float:
    """The sample's boundary step beyond the source's own at the same place (real tissue
    has edges too; only the step the generation added is a seam)."""
    return max(0.0, boundary_step(sample_rgb, region) - boundary_step(source_rgb, region))


def _colour_bins(rgb: np.ndarray) -> np.ndarray:
    idx = rgb.astype(np.int64) * COLOUR_BINS // 256
    return (idx[..., 0] * COLOUR_BINS + idx[..., 1]) * COLOUR_BINS + idx[..., 2]


def colour_palette(images: Iterable[np.ndarray]) -> np.ndarray:
    """The colour bins any of ``images`` (RGB) has, as a bool vector of :data:`COLOURS`: the
    colours the colour gate takes as in distribution. Coarse bins, so that a few hundred
    training images make a palette and not a list of every shade."""
    seen = np.zeros(COLOURS, bool)
    for rgb in images:
        seen[np.unique(_colour_bins(rgb))] = True
    return seen


def _widened(palette: np.ndarray) -> np.ndarray:
    """``palette`` with every bin next to one of its bins (26 neighbours): colour matching and
    the model's noise shift a colour a little, which a bin edge must not turn into "foreign"."""
    n = COLOUR_BINS
    padded = np.pad(palette.reshape(n, n, n), 1)
    out = np.zeros((n, n, n), bool)
    for dr in range(3):
        for dg in range(3):
            for db in range(3):
                out |= padded[dr : dr + n, dg : dg + n, db : db + n]
    return out.ravel()


def off_colour(sample_rgb: np.ndarray, source_rgb: np.ndarray, region: np.ndarray, training: np.ndarray) -> float:
    """Fraction of the region's pixels whose colour is in neither the training set's palette
    ``training`` (:func:`colour_palette`) nor the source's, widened (:func:`_widened`). The
    source counts too because it need not be a training image (a background frame of
    mask-guided synthesis): its own colours are never foreign to its sample."""
    inside = _binary(region) > 0
    if not inside.any():
        return 0.0
    allowed = _widened(training | colour_palette([source_rgb]))
    return float((~allowed[_colour_bins(sample_rgb)[inside]]).mean())


def score(
    source_rgb: np.ndarray,
    source_mask: np.ndarray,
    region: np.ndarray,
    sample_rgb: np.ndarray,
    sample_mask: np.ndarray,
    cfg: GateConfig = GateConfig(),
    *,
    training: np.ndarray,
) -> list[GateScore]:
    """Every gate for one sample (all arrays at the same resolution, masks binary or 0/255);
    ``training``: the training set's palette at that resolution (:func:`colour_palette`; every
    caller takes it from ``backend.generate.palette.training_colours``)."""
    ratio = area_ratio(sample_mask, source_mask)
    touch = boundary_touch(sample_mask, region)
    change = region_change(sample_rgb, source_rgb, region)
    seam = seam_excess(sample_rgb, source_rgb, region)
    odd = off_colour(sample_rgb, source_rgb, region, training)
    return [
        GateScore("no_polyp", ratio, cfg.min_area_ratio, ratio >= cfg.min_area_ratio and ratio > 0),
        GateScore("cut_off", touch, cfg.max_boundary_touch, touch <= cfg.max_boundary_touch),
        GateScore("copy", change, cfg.min_region_change, change >= cfg.min_region_change),
        GateScore("seam", seam, cfg.max_seam, seam <= cfg.max_seam),
        GateScore("colour", odd, cfg.max_off_colour, odd <= cfg.max_off_colour),
    ]


def adherence_gate(iou: float, cfg: GateConfig = GateConfig()) -> GateScore:
    """The ``adherence`` gate of a mask-guided sample whose judge IoU with its wanted mask is ``iou``."""
    return GateScore(ADHERENCE, iou, cfg.min_adherence, iou >= cfg.min_adherence)


def failed(scores: list[GateScore]) -> list[str]:
    return [s.gate for s in scores if not s.passed]


# badges, reports
LABELS = {
    "no_polyp": "no polyp",
    "cut_off": "cut off",
    "copy": "copy",
    "seam": "seam",
    "colour": "odd colour",
    "adherence": "off the mask",
    "memorised": "memorised",
}
_MEANING = {  # what each value measures, and which side of the threshold passes
    "no_polyp": ("mask area {:.2f} of the source's", ">="),
    "cut_off": ("mask covers {:.2f} of the region's border", "<="),
    "copy": ("differs from the source by {:.3f} in the region", ">="),
    "seam": ("colour step {:.3f} at the region's border beyond the source's", "<="),
    "colour": ("{:.3f} of the region in colours no training image has", "<="),
    "adherence": ("the judge's polyp overlaps the wanted mask by IoU {:.2f}", ">="),
    "memorised": ("{:.2f} of the usual distance to its nearest training image", ">="),
}


def explain(s: GateScore) -> str:
    """One gate's number and threshold in words, e.g. "no polyp: mask area 0.08 of the
    source's (needs >= 0.15)"."""
    if s.gate not in _MEANING:
        return f"{s.gate}: {s.value:.3g} (threshold {s.threshold:g})"
    what, side = _MEANING[s.gate]
    return f"{LABELS[s.gate]}: {what.format(s.value)} (needs {side} {s.threshold:g})"
