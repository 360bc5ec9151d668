"""``diffgen judge train``: the adherence judge of mask-guided synthesis (backend/synthesis/judge.py)."""

from __future__ import annotations

import argparse

from backend.cli.common import add_workspace, open_workspace, run_as_job
from backend.cli.flags import add_param_flags, given_params
from backend.synthesis.judge_params import JudgeParams


def register(sub) -> None:
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
    add_param_flags(p, JudgeParams)
    p.set_defaults(func=cmd_judge)


def cmd_judge(a: argparse.Namespace) -> int:
    params = JudgeParams.from_dict(given_params(a, JudgeParams))
    print(run_as_job(open_workspace(a), "judge", params, "judge", "step").summary)
    return 0
