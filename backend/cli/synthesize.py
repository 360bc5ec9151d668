"""``diffgen synthesize``: new polyps where a wanted mask says (mask-guided synthesis, issue 34)."""

from __future__ import annotations

import argparse
import json

from backend.cli.common import add_device, add_shard, add_workspace, open_workspace, shard_and_device, tqdm_progress
from backend.config.fields import arg_type
from backend.jobs.context import JobContext
from backend.synthesis.params import SynthesizeParams
from backend.workspace.selection import ImageSelection, add_selection_args

POLYPS = (1, 8)  # SynthesizeParams.polyps' range


def _bounded(field: str):
    """The flag's values checked against the preset field's declared range (InpaintConfig)."""
    return arg_type("backend.inpaint.config:InpaintConfig", field, "inpaint")


def polyps_range(text: str) -> tuple[int, int]:
    """``A-B`` or ``N`` -> (A, B), each within :data:`POLYPS`."""
    low, _, high = text.partition("-")
    try:
        span = (int(low), int(high or low))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--polyps: {text!r} is not A-B or N (e.g. 1-3)") from None
    if not POLYPS[0] <= span[0] <= span[1] <= POLYPS[1]:
        raise argparse.ArgumentTypeError(f"--polyps: {text!r} must be A-B with {POLYPS[0]} <= A <= B <= {POLYPS[1]}")
    return span


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
    p.add_argument(
        "--masks",
        nargs="+",
        default=["bank"],
        metavar="drawn|bank|FILE",
        help="drawn: each image's masks drawn with the editor's Place polyp tool (one sample series per "
        "mask); bank: training masks transformed and placed (one per sample); FILE...: PNG masks of the "
        "images' size, one for all images or one per image in order (default: bank)",
    )
    p.add_argument("--polyps", type=polyps_range, default=(1, 1), metavar="A-B", help="bank: polyps per sample, from A to B")
    p.add_argument("--beside-polyps", action="store_true", help="bank: new polyps may touch the image's existing ones")
    p.add_argument("--samples", type=_bounded("samples"), help="samples per wanted mask (bank: per image)")
    p.add_argument("--dilate", type=_bounded("dilate"), metavar="PX", help="px around the wanted mask whose image is generated")
    p.add_argument("--retries", type=_bounded("retries"), metavar="K", help="redraws of a sample failing a retry gate")
    p.add_argument("--seed", type=int, help="run seed (each sample's seed derives from it, the image and the mask)")
    p.add_argument("--preset", help="tiny | paper | diffuse-gen | a .toml file (default: the model's preset)")
    p.add_argument("--model", default="cluster", metavar="cluster|full|NAME|PATH", help="as for inpaint")
    p.add_argument("--set-name", help="the samples' set (default: Mask-Diff)")
    add_device(p)
    add_shard(p, "images")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_synthesize)


def cmd_synthesize(a: argparse.Namespace) -> int:
    from pathlib import Path

    from backend.diffusion.model_files import check_folder_choice

    check_folder_choice(a.model, Path(a.workspace))  # a crafted model folder refused before torch loads
    from backend.synthesis.generator import run_synthesize  # torch: only when a command computes

    ws = open_workspace(a)
    shard, device = shard_and_device(a)
    params = SynthesizeParams(
        ImageSelection.from_params(vars(a)),
        backgrounds=a.backgrounds,
        masks=tuple(a.masks),
        polyps=a.polyps,
        beside_polyps=a.beside_polyps,
        samples=a.samples,
        model=a.model,
        preset=a.preset,
        dilate=a.dilate,
        retries=a.retries,
        seed=a.seed,
        device=device,
        set_name=a.set_name,
        shard=shard,
        bundle=a.bundle,
    )
    with tqdm_progress(f"synthesize {shard}" if shard else "synthesize", "eval") as prog:
        result = run_synthesize(ws, params, JobContext(progress=prog))
    if a.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print("\n".join([*(f"note: {m}" for m in result.messages), result.summary]))
    return 0 if result.samples or result.already_done else 1  # a finished re-run is a success
