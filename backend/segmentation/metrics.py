"""Segmentation metrics, per image, then averaged over the test set.

* IoU and Dice are computed on the prediction thresholded at 0.5 (sigmoid probability).
* The Dice *loss* is the soft loss the network trains on, ``1 - (2*sum(p*t) + 1) /
  (sum(p) + sum(t) + 1)`` on probabilities: the formula of smp's classic ``DiceLoss``
  (eps = 1) used by the paper's DivergentNets code, taken per image.

Empty masks: when the prediction and the target are both empty the image is a perfect
answer, so IoU = Dice = 1 (scikit-learn's ``zero_division=1``) and the Dice loss is 0.
An empty target with any predicted pixel scores IoU = Dice = 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

THRESHOLD = 0.5
DICE_EPS = 1.0


def soft_dice_loss(prob: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image soft Dice loss of probabilities ``prob`` vs binary ``target`` (N,1,H,W) -> (N,)."""
    p = prob.flatten(1)
    t = target.flatten(1).to(p.dtype)
    inter = (p * t).sum(1)
    return 1 - (2 * inter + DICE_EPS) / (p.sum(1) + t.sum(1) + DICE_EPS)


def batch_dice_loss(prob: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """One soft Dice loss over every pixel of the batch (scalar): ref [20]'s training loss,
    smp.utils.losses.DiceLoss (eps 1), whose f_score sums tp, fp and fn over the whole batch."""
    t = target.to(prob.dtype)
    inter = (prob * t).sum()
    return 1 - (2 * inter + DICE_EPS) / (prob.sum() + t.sum() + DICE_EPS)


def hard_scores(prob: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image (IoU, Dice) of ``prob >= 0.5`` vs ``target``; empty/empty scores 1."""
    pred = (prob >= THRESHOLD).flatten(1)
    t = target.flatten(1) > 0.5
    tp = (pred & t).sum(1).double()
    fp = (pred & ~t).sum(1).double()
    fn = (~pred & t).sum(1).double()
    union = tp + fp + fn
    empty = union == 0
    iou = torch.where(empty, torch.ones_like(tp), tp / union.clamp(min=1))
    dice = torch.where(empty, torch.ones_like(tp), 2 * tp / (2 * tp + fp + fn).clamp(min=1))
    return iou, dice


@dataclass
class MetricAccumulator:
    """Collects per-image scores batch by batch; ``summary()`` gives the means and spreads."""

    dice_loss: list[float]
    iou: list[float]
    dice: list[float]

    @classmethod
    def empty(cls) -> "MetricAccumulator":
        return cls([], [], [])

    def add(self, prob: torch.Tensor, target: torch.Tensor) -> None:
        iou, dice = hard_scores(prob, target)
        self.dice_loss += soft_dice_loss(prob.double(), target).tolist()
        self.iou += iou.tolist()
        self.dice += dice.tolist()

    def summary(self) -> dict:
        def stats(values: list[float]) -> tuple[float, float]:
            a = np.asarray(values, dtype=np.float64)
            return (float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else 0.0) if a.size else (float("nan"), 0.0)

        out: dict = {"images": len(self.iou)}
        for name in ("dice_loss", "iou", "dice"):
            mean, sd = stats(getattr(self, name))
            out[name] = mean
            out[f"{name}_sd_images"] = sd
        return out
