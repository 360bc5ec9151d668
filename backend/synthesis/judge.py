"""The adherence judge: a small UNet++ trained on the training images, that says where a
mask-guided sample shows a polyp (backend/synthesis/adherence.py compares it with the wanted mask).

It is trained with the segmentation stage's own code (backend/segmentation: model, data, Dice
training, best-validation checkpoint) on a small fixed network (1000 steps of 8 images at 64 px:
about 95 s on 2 CPU cores for the demo's procedural training images, validation IoU 0.87-0.91
over three seeds; 200 steps, the default before, stopped at 0.67 and missed clear polyps, which
failed good samples on adherence), and stored in the workspace as
``judge/judge-<fingerprint>.safetensors``. The
fingerprint covers the training images, their current masks and the judge's settings: the
judge is reused until one of them changes, and a new one is a new file (nothing overwritten).
The settings of the judge made or reused last are recorded (result ``judge``/``settings``):
``diffgen synthesize`` scores with that judge, so one trained with ``--steps 50`` is the one used.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from backend.errors import BadInputError
from backend.jobs.context import JobContext
from backend.jobs.params import JobResult
from backend.segmentation.config import SegConfig
from backend.segmentation.data import FixedPlan, ItemRef, ItemStore, batches_per_epoch, effective_epochs, split_train_val
from backend.segmentation.model import build_model, load_checkpoint, save_checkpoint, to_input
from backend.segmentation.train import train_model
from backend.synthesis.judge_params import JudgeParams, JudgeSettings
from backend.workspace import Workspace, now
from backend.workspace.selection import GENERATION_ROLE

JUDGE_DIR = "judge"
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Judge:
    model: torch.nn.Module
    cfg: SegConfig
    fingerprint: str
    path: Path
    info: dict[str, Any]


RELIABLE_IOU = 0.8  # a judge below it missed clear polyps: at 0.67 it failed good samples on adherence


def judge_caveat(judge: Judge) -> str | None:
    """Why the judge's adherence verdicts are not to be trusted (a low validation IoU), with what
    to do; None when it saw its validation polyps well or was not measured (too few images)."""
    iou = judge.info.get("validation_iou")
    if iou is None or iou >= RELIABLE_IOU:
        return None
    default = JudgeSettings().steps
    steps = int(judge.info.get("settings", {}).get("steps") or default)
    longer = max(2 * steps, default)
    return (
        f"the adherence judge sees its validation polyps at IoU {iou:.2f} only (reliable from {RELIABLE_IOU}): "
        f"it fails good samples too; train it longer with 'diffgen judge train --steps {longer}'"
    )


def judge_config(settings: JudgeSettings) -> SegConfig:
    return SegConfig(
        encoder="resnet18",
        encoder_depth=3,
        decoder_channels=(32, 16, 8),
        image_size=settings.image_size,
        epochs=1,
        min_steps=settings.steps,
        lr_drop_fraction=0.6,
        lr=3e-3,
        lr_after=3e-4,
        batch_size=8,
        preset="judge",
    )


def _training_masks(ws: Workspace) -> list[tuple[int, str, str]]:
    """(image id, image sha256, current mask sha256) of the unflagged training images with a mask."""
    rows = ws.query(
        "SELECT i.id, i.sha256, m.sha256 FROM images i JOIN mask_versions m ON m.id = i.current_mask_id"
        f" WHERE i.{GENERATION_ROLE} AND i.flagged = 0 ORDER BY i.id"
    )
    return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]


def judge_fingerprint(ws: Workspace, settings: JudgeSettings = JudgeSettings()) -> str:
    """What the judge is trained from: the training images, their masks, the settings."""
    text = json.dumps({"images": _training_masks(ws), "settings": dataclasses.asdict(settings)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def judge_path(ws: Workspace, fingerprint: str) -> Path:
    return ws.path(f"{JUDGE_DIR}/judge-{fingerprint[:16]}.safetensors")


def latest_settings(ws: Workspace) -> JudgeSettings:
    """The settings of the judge trained or reused last (the defaults before any)."""
    stored = ws.results(JUDGE_DIR, "settings")
    return JudgeParams.from_dict(stored[0]).settings() if stored else JudgeSettings()  # checked: a database field


def _remember(ws: Workspace, settings: JudgeSettings) -> None:
    if latest_settings(ws) != settings and not ws.read_only:
        ws.add_result(JUDGE_DIR, "settings", dataclasses.asdict(settings))


def current_judge(ws: Workspace, settings: JudgeSettings | None = None, device: str = "cpu") -> Judge | None:
    """The stored judge of today's training images and masks with ``settings`` (None: those of
    the judge trained last); None when there is none: train one."""
    settings = latest_settings(ws) if settings is None else settings
    fingerprint = judge_fingerprint(ws, settings)
    path = judge_path(ws, fingerprint)
    if not path.is_file():
        return None
    model, cfg, info = load_checkpoint(path)
    if info.get("fingerprint") != fingerprint:
        raise BadInputError(f"{path} is not the judge of this workspace's training images; delete it and train again")
    return Judge(model.to(device).eval(), cfg, fingerprint, path, info)


def ensure_judge(
    ws: Workspace,
    settings: JudgeSettings = JudgeSettings(),
    device: str = "cpu",
    progress: Progress | None = None,
    cancel: Callable[[], bool] | None = None,
) -> Judge:
    """The stored judge when it is up to date; else train one on the unflagged training images
    with masks (80/20 train/validation, the best validation IoU kept) and store it."""
    stored = current_judge(ws, settings, device)
    if stored is not None:
        _remember(ws, settings)
        return stored
    ws.require_writable("training the adherence judge writes it into the workspace")
    masks = _training_masks(ws)
    if len(masks) < 2:
        raise BadInputError(
            f"the adherence judge learns from the training images' masks; {ws.root} has {len(masks)} unflagged "
            "training image(s) with a mask, at least 2 are needed (import some with diffgen import DIR)"
        )
    fingerprint = judge_fingerprint(ws, settings)
    cfg = judge_config(settings)
    store = ItemStore(ws, cfg.image_size)
    refs = store.load([ItemRef("image", image_id) for image_id, _, _ in masks])
    train, val = split_train_val(refs, cfg.val_fraction, np.random.default_rng([settings.seed, 0]))
    total = effective_epochs(cfg, len(train)) * batches_per_epoch(len(train), cfg.batch_size)
    done = [0]

    def on_step(message: str) -> None:
        done[0] += 1
        if progress:
            progress(done[0], total, message)

    model = build_model(cfg)
    outcome = train_model(  # leaves the best validation checkpoint in ``model``
        model,
        cfg,
        FixedPlan(train),
        store,
        val,
        val,
        seed=settings.seed,
        control=True,
        device=torch.device(device),
        on_step=on_step,
        cancel=cancel,
    )
    info = {
        "fingerprint": fingerprint,
        "trained_at": now(),
        "images": len(refs),
        "validation_iou": outcome.best_val.get("iou"),
        "settings": dataclasses.asdict(settings),
        "notes": store.notes,
    }
    path = judge_path(ws, fingerprint)
    save_checkpoint(path, outcome.state, cfg, info)
    _remember(ws, settings)
    return Judge(model.eval(), cfg, fingerprint, path, info)


@torch.no_grad()
def polyp_probability(judge: Judge, image: np.ndarray) -> np.ndarray:
    """(H, W) float32: the judge's polyp probability for ``image`` (H, W, 3 uint8 RGB), at the image's size."""
    h, w = image.shape[:2]
    s = judge.cfg.image_size
    small = cv2.resize(image, (s, s), interpolation=cv2.INTER_AREA if min(h, w) >= s else cv2.INTER_LINEAR)
    device = next(judge.model.parameters()).device
    logits = judge.model(to_input(small[None], judge.cfg.input_scale).to(device))
    prob = torch.sigmoid(logits.float())[0, 0].cpu().numpy()
    return cv2.resize(prob, (w, h), interpolation=cv2.INTER_LINEAR)


@dataclass(frozen=True, kw_only=True)
class JudgeResult(JobResult):
    """The judge a ``judge`` job trained or found up to date (``trained`` False), where it is
    (workspace-relative), what it learnt from and how well it saw its validation images."""

    path: str
    trained: bool
    images: int
    validation_iou: float | None
    settings: dict[str, int]


def run_judge(ws: Workspace, params: JudgeParams, ctx: JobContext) -> JudgeResult:
    """Train the judge unless the stored one is up to date; either way it becomes the judge
    ``diffgen synthesize`` scores with."""
    from backend.config.device import pick_device

    settings = params.settings()
    device = str(pick_device(params.device))
    trained = not judge_path(ws, judge_fingerprint(ws, settings)).is_file()  # ensure_judge loads a stored one
    judge = ensure_judge(ws, settings, device, ctx.progress, ctx.cancel)
    iou = judge.info.get("validation_iou")
    what = "Trained" if trained else "Up to date (training images and masks unchanged):"
    caveat = judge_caveat(judge)
    seen = "not measured" if iou is None else f"{iou:.3f}" + (f"; {caveat}" if caveat else "")
    return JudgeResult(
        summary=f"{what} {ws.rel(judge.path)}: {judge.info.get('images')} training images, validation IoU {seen}",
        path=ws.rel(judge.path),
        trained=trained,
        images=int(judge.info.get("images") or 0),
        validation_iou=iou,
        settings=dataclasses.asdict(settings),
    )
