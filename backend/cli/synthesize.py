"""``diffgen synthesize``: new polyps where a wanted mask says (mask-guided synthesis, issue 34)."""

from __future__ import annotations

import argparse
import dataclasses
import json

from backend.cli.common import add_device, add_shard, add_workspace, open_workspace, run_as_job, shard_and_device
from backend.cli.flags import add_param_flags, given_params
from backend.synthesis.params import SynthesizeParams
from backend.workspace.selection import ImageSelection, add_selection_args


def register(sub) -> None:
    p = sub.add_parser(
        "synthesize",
        help="new polyps where wanted masks say (mask-guided RePaint with the joint model): set Mask-Diff",
        description="For each chosen image and wanted mask, the model is told the mask everywhere (the "
        "image's own mask united with the wanted one: existing polyps stay) and regenerates the image "
        "inside the wanted mask dilated by --dilate px; outside that region every pixel equals the "
        "resized source. The sample's mask is the united mask after the usual clean-up; its "
        "provenance names the wanted mask's file (under WS/wanted/) and how it was made. Sampler, "
        "clean-up and gate settings come from the preset's [inpaint] and [gates] sections.",
    )
    add_workspace(p)
    add_selection_args(p).add_argument(
        "--backgrounds", action="store_true", help="every unflagged background image (frames without polyps)"
    )
    add_param_flags(p, SynthesizeParams, skip=("device", "backgrounds"))  # --masks, --polyps, ... as declared
    add_device(p)
    add_shard(p, "images")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_synthesize)


def cmd_synthesize(a: argparse.Namespace) -> int:
    from pathlib import Path

    from backend.diffusion.model_files import check_folder_choice

    check_folder_choice(a.model, Path(a.workspace))  # a crafted model folder refused before torch loads

    ws = open_workspace(a)
    shard, device = shard_and_device(a)
    params = dataclasses.replace(  # every declared flag read from its declaration (--contrast was once dropped here)
        SynthesizeParams.from_dict(given_params(a, SynthesizeParams)),
        selection=ImageSelection.from_params(vars(a)),
        backgrounds=a.backgrounds,
        device=device,
        shard=shard,
        bundle=a.bundle,
    )
    result = run_as_job(ws, "synthesize", params, f"synthesize {shard}" if shard else "synthesize", "eval")
    if a.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print("\n".join([*(f"note: {m}" for m in result.messages), result.summary]))
    return 0 if result.samples or result.already_done else 1  # a finished re-run is a success
