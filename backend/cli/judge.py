"""``diffgen judge train``: the adherence judge of mask-guided synthesis (backend/synthesis/judge.py)."""

from __future__ import annotations

import argparse

from backend.cli.common import add_workspace, open_workspace, tqdm_progress

SETTINGS = "backend.synthesis.judge:JudgeSettings"


def register(sub) -> None:
    from backend.config.fields import arg_type

    p = sub.add_parser(
        "judge",
        help="train the adherence judge: the segmentation model that scores mask-guided samples",
        description="The 'adherence' gate of mask-guided samples (diffgen synthesize) asks a small UNet++, "
        "trained on the training images and their masks, where it sees a polyp, and compares that with the "
        "wanted mask (IoU). synthesize scores the gate once a judge is trained (without one it says so and "
        "scores the other gates); this command trains it (a few CPU-minutes for the demo data). It is stored "
        "in the workspace (judge/) and reused until "
        "the training images or their masks change.",
    )
    p.add_argument("action", choices=["train"])
    add_workspace(p)
    p.add_argument("--steps", type=arg_type(SETTINGS, "steps", "judge"), help="optimiser steps (default 200)")
    p.add_argument("--size", type=arg_type(SETTINGS, "image_size", "judge"), help="input size in px (default 64)")
    p.add_argument("--device", default="cpu", help="cpu (default) | cuda | auto")
    p.set_defaults(func=cmd_judge)


def cmd_judge(a: argparse.Namespace) -> int:
    from dataclasses import replace

    from backend.config.device import pick_device
    from backend.synthesis.judge import JudgeSettings, current_judge, ensure_judge

    ws = open_workspace(a)
    settings = JudgeSettings()
    if a.steps is not None:
        settings = replace(settings, steps=a.steps)
    if a.size is not None:
        settings = replace(settings, image_size=a.size)
    device = str(pick_device(a.device))
    if current_judge(ws, settings, device) is None:
        with tqdm_progress("judge", "step") as prog:
            judge = ensure_judge(ws, settings, device, prog)
        what = "Trained"
    else:  # reused, and recorded as the judge synthesize scores with
        judge = ensure_judge(ws, settings, device)
        what = "Up to date (training images and masks unchanged):"
    iou = judge.info.get("validation_iou")
    print(
        f"{what} {judge.path.relative_to(ws.root)}: {judge.info.get('images')} training images, "
        f"validation IoU {iou:.3f}" + ("" if iou is None or iou >= 0.5 else " (low: the adherence gate will be unreliable)")
    )
    return 0
