"""Adherence: does a mask-guided sample show its polyp where the wanted mask says?

The judge (backend/synthesis/judge.py) marks where it sees a polyp; the score is the IoU of
that with the wanted mask, counted near the wanted polyps only (the wanted mask dilated by its
own equivalent radius): a sample keeps its source outside the regenerated region, existing
polyps included, and those are not the new polyp's business. The gate is
``backend.gates.adherence_gate`` (pass at IoU >= ``GateConfig.min_adherence``).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from backend.gates import GateConfig, GateScore, adherence_gate
from backend.synthesis.judge import Judge, polyp_probability


def near_wanted(wanted: np.ndarray) -> np.ndarray:
    """(H, W) bool: the wanted polyps and a ring as wide as their equivalent radius."""
    polyp = (wanted > 127).astype(np.uint8)
    radius = max(2, int(round(math.sqrt(polyp.sum() / math.pi))))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(polyp, kernel).astype(bool)


def mask_iou(predicted: np.ndarray, wanted: np.ndarray, within: np.ndarray | None = None) -> float:
    """IoU of two boolean masks, counted inside ``within`` (everywhere when None); 0 when both are empty."""
    if within is not None:
        predicted, wanted = predicted & within, wanted & within
    union = int((predicted | wanted).sum())
    return float((predicted & wanted).sum()) / union if union else 0.0


def adherence_iou(judge: Judge, image: np.ndarray, wanted_mask: np.ndarray) -> float:
    """IoU between the judge's polyp in ``image`` (H, W, 3 uint8) and ``wanted_mask`` (H, W,
    0/255), near the wanted polyps."""
    wanted = wanted_mask > 127
    predicted = polyp_probability(judge, image) >= 0.5
    return mask_iou(predicted, wanted, near_wanted(wanted_mask))


def score_adherence(judge: Judge, image: np.ndarray, wanted_mask: np.ndarray, cfg: GateConfig) -> GateScore:
    """The ``adherence`` gate of one mask-guided sample."""
    return adherence_gate(adherence_iou(judge, image, wanted_mask), cfg)
