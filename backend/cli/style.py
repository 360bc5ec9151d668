"""``diffgen style``: style inpainted samples (DiffuseIT style + ZeCon content guidance)."""

from __future__ import annotations

import argparse
import json

from backend.cli.common import add_device, add_shard, add_workspace, open_workspace, run_as_job, shard_and_device
from backend.cli.flags import add_param_flags
from backend.style.params import StyleParams
from backend.style.terms import LAMBDAS

LAMBDA_HELP = {
    "zecon": "ZeCon patch contrastive content loss (UNet encoder features)",
    "vgg": "VGG19 conv1_1/conv2_1 content loss",
    "mse": "pixel MSE content loss",
    "sty": "DINO ViT [CLS] style loss to the target",
    "l2": "pixel L2 style loss to the target",
    "sem": "DINO [CLS] semantic divergence between steps (early steps)",
    "rng": "range loss keeping x0 in [-1, 1]",
}


def _ids(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def register(sub) -> None:
    p = sub.add_parser(
        "style",
        help="style inpainted samples to remove colour seams (paper section 3.3)",
        description="Guided reverse diffusion from each inpainted sample: ZeCon content losses "
        "against the sample, DiffuseIT style losses against the target (default: the "
        "sample's original real image). Results are new 'styled' samples linked to "
        "their parents. A lambda of 0 switches its term (and its network) off.",
    )
    add_workspace(p)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--samples", type=_ids, metavar="IDS", help="comma-separated inpainted sample ids")
    which.add_argument("--all-unstyled", action="store_true", help="every inpainted sample without a styled child (the default)")
    for term in LAMBDAS:
        p.add_argument(f"--lambda-{term}", type=float, metavar="W", help=LAMBDA_HELP[term])
    add_param_flags(p, StyleParams, skip=("device",))  # --target, --preset, --set, --seed, ... as declared
    add_device(p)
    add_shard(p, "inpainted samples")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_style)

    p = sub.add_parser("style-sheet", help="before/after sheet of styled samples (inpainted | styled | target)")
    add_workspace(p)
    p.add_argument("--samples", type=_ids, metavar="IDS", help="styled sample ids (default: the latest --limit)")
    p.add_argument("--limit", type=int, default=8)
    p.add_argument("--tile", type=int, default=160, help="tile size in pixels")
    p.set_defaults(func=cmd_sheet)


def params_from_args(a: argparse.Namespace) -> StyleParams:
    shard, device = shard_and_device(a)
    return StyleParams(
        samples=tuple(a.samples or ()),
        preset=a.preset,
        overrides=tuple(a.overrides or ()),
        lambdas={t: getattr(a, f"lambda_{t}") for t in LAMBDAS if getattr(a, f"lambda_{t}") is not None},
        target=a.target,
        seed=a.seed,
        color_match=a.color_match,
        vgg_weights=a.vgg_weights,
        dino_weights=a.dino_weights,
        device=device,
        shard=shard,
        bundle=a.bundle,
    )


def cmd_style(a: argparse.Namespace) -> int:
    ws = open_workspace(a)
    params = params_from_args(a)
    result = run_as_job(ws, "style", params, f"style {params.shard}" if params.shard else "style", "step")
    if a.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        spi = result.seconds_per_image
        print(
            f"Styled {len(result.styled)} of {result.considered} samples"
            + (f" ({spi:.1f} s per image)" if spi else "")
            + (f"; new sample ids: {', '.join(map(str, result.styled))}" if result.styled else "")
            + (
                f"; bundle {result.bundle} ({result.bundled} new, {result.already_done} from an earlier run); "
                "merge with 'diffgen import-samples'"
                if result.bundle
                else ""
            )
        )
    for err in result.errors:
        print(f"warning: {err}")
    return 0 if not result.errors or result.styled or result.bundled else 1


def cmd_sheet(a: argparse.Namespace) -> int:
    from backend.style.sheet import style_sheet

    ws = open_workspace(a)
    rel = style_sheet(ws, a.samples, a.limit, a.tile)
    print(f"Wrote {ws.path(rel)}")
    return 0
