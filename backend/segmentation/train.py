"""Train one UNet++ on one run's data; keep the checkpoint with the best validation IoU.

Adam, Dice loss, the learning rate dropped from ``lr`` to ``lr_after`` after
``lr_drop_fraction`` of the epochs (paper: 50 of 150 epochs at 1e-4, then 1e-5). The test
set is scored only with the best checkpoint, as in the paper.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from backend.errors import Cancelled, DiffGenError
from backend.segmentation.augment import control_augment
from backend.segmentation.augment_ref20 import ref20_augment
from backend.segmentation.config import SegConfig
from backend.segmentation.data import (
    EpochDataset,
    EpochPlan,
    ItemRef,
    ItemStore,
    as_batch,
    effective_epochs,
    items_used,
)
from backend.segmentation.metrics import MetricAccumulator, batch_dice_loss, soft_dice_loss

StepCallback = Callable[[str], None]
# segment.augment -> the function that augments one (image, mask) pair
AUGMENTERS: dict[str, Callable[..., tuple[np.ndarray, np.ndarray]]] = {"control": control_augment, "ref20": ref20_augment}


def training_loss(prob: torch.Tensor, target: torch.Tensor, reduction: str) -> torch.Tensor:
    """The Dice loss of one batch: per-image mean (``image``) or over the whole batch (``batch``)."""
    return batch_dice_loss(prob, target) if reduction == "batch" else soft_dice_loss(prob, target).mean()


@dataclass
class TrainOutcome:
    state: dict[str, torch.Tensor]  # best checkpoint (CPU tensors)
    best_epoch: int
    best_val: dict
    test: dict
    history: list[dict]
    epochs: int


def lr_at(cfg: SegConfig, epoch: int, epochs: int) -> float:
    """Learning rate of ``epoch`` (0-based): ``lr`` for the first fraction, then ``lr_after``."""
    return cfg.lr if epoch < round(epochs * cfg.lr_drop_fraction) else cfg.lr_after


def _collate(batch: list[tuple[np.ndarray, np.ndarray]], input_scale: str) -> tuple[torch.Tensor, torch.Tensor]:
    return as_batch(np.stack([b[0] for b in batch]), np.stack([b[1] for b in batch]), input_scale)


@torch.no_grad()
def evaluate(
    model: torch.nn.Module, store: ItemStore, refs: Sequence[ItemRef], device: torch.device, batch_size: int, input_scale: str
) -> dict:
    """Mean per-image Dice loss, IoU and Dice of ``refs`` (threshold 0.5)."""
    model.eval()
    acc = MetricAccumulator.empty()
    for i in range(0, len(refs), batch_size):
        x, y = as_batch(*store.stack(refs[i : i + batch_size]), input_scale)
        prob = torch.sigmoid(model(x.to(device)).float())
        acc.add(prob.cpu(), y)
    return acc.summary()


def train_model(
    model: torch.nn.Module,
    cfg: SegConfig,
    plan: EpochPlan,
    store: ItemStore,
    val: Sequence[ItemRef],
    test: Sequence[ItemRef],
    *,
    seed: int,
    control: bool,
    device: torch.device,
    on_step: StepCallback | None = None,
    cancel: Callable[[], bool] | None = None,
) -> TrainOutcome:
    """Train for the effective number of epochs; checks ``cancel`` before every batch."""
    torch.manual_seed(seed)
    rng = np.random.default_rng([seed, 1])
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    epochs = effective_epochs(cfg, len(plan))
    best_iou, best_epoch, best_val = -1.0, -1, {}
    best_state: dict[str, torch.Tensor] | None = None
    history = []
    for epoch in range(epochs):
        lr = lr_at(cfg, epoch, epochs)
        for g in opt.param_groups:
            g["lr"] = lr
        items = plan.epoch(rng)
        items = items[: items_used(len(items), cfg.batch_size)]
        loader = torch.utils.data.DataLoader(
            EpochDataset(items, store.arrays, control, seed, epoch, AUGMENTERS[cfg.augment]),
            batch_size=cfg.batch_size,
            shuffle=False,
            num_workers=cfg.workers,
            collate_fn=functools.partial(_collate, input_scale=cfg.input_scale),
        )
        model.train()
        losses = []
        for x, y in loader:
            if cancel and cancel():
                raise Cancelled("segmentation training cancelled")
            prob = torch.sigmoid(model(x.to(device)))
            loss = training_loss(prob, y.to(device), cfg.dice_reduction)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            if on_step:
                on_step(f"epoch {epoch + 1}/{epochs} loss {losses[-1]:.3f}")
        v = evaluate(model, store, val, device, cfg.batch_size, cfg.input_scale)
        history.append(
            {
                "epoch": epoch + 1,
                "lr": lr,
                "train_dice_loss": float(np.mean(losses)),
                "val_dice_loss": v["dice_loss"],
                "val_iou": v["iou"],
                "synthetic_fraction": sum(r.kind == "sample" for r in items) / max(1, len(items)),
            }
        )
        if best_state is None or v["iou"] > best_iou:  # ties keep the earlier epoch
            best_iou, best_epoch, best_val = v["iou"], epoch + 1, v
            best_state = copy.deepcopy({k: t.detach().cpu() for k, t in model.state_dict().items()})
    if best_state is None:
        raise DiffGenError(f"segmentation training ran no epoch (epochs = {epochs}): set epochs to 1 or more")
    model.load_state_dict(best_state)
    test_scores = evaluate(model, store, list(test), device, cfg.batch_size, cfg.input_scale)
    return TrainOutcome(best_state, best_epoch, best_val, test_scores, history, epochs)
