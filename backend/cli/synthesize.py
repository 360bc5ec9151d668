"""``diffgen synthesize``: new polyps where a wanted mask says (mask-guided synthesis, issue 34)."""

from __future__ import annotations

import argparse
import json

from backend.cli.common import add_device, add_shard, add_workspace, generator_params, open_workspace, run_as_job
from backend.cli.flags import add_param_flags
from backend.synthesis.params import SynthesizeParams
from backend.workspace.selection import add_selection_args


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
    params = generator_params(a, SynthesizeParams, backgrounds=a.backgrounds)
    ws = open_workspace(a)
    result = run_as_job(ws, "synthesize", params, f"synthesize {params.shard}" if params.shard else "synthesize", "eval")
    if a.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print("\n".join([*(f"note: {m}" for m in result.messages), result.summary]))
    return 0 if result.samples or result.already_done else 1  # a finished re-run is a success
