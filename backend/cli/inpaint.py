"""``diffgen inpaint``: new labelled samples from real images with RePaint."""

from __future__ import annotations

import argparse
import json

from backend.cli.common import add_device, add_shard, add_workspace, generator_params, open_workspace, run_as_job
from backend.cli.flags import add_param_flags
from backend.inpaint.params import InpaintParams
from backend.words import counted
from backend.workspace.selection import add_selection_args


def register(sub) -> None:
    p = sub.add_parser(
        "inpaint",
        help="regenerate the dilated polyp region of real images (RePaint): N samples each",
        description="For each chosen image, dilate its current mask and regenerate image and mask inside "
        "the dilated region with the image's cluster model (else the full-set model). Samples are "
        "made at the model's resolution; outside the region they equal the resized source exactly. "
        "Defaults come from the preset's [inpaint] section (the model's own preset if not given).",
    )
    add_workspace(p)
    add_selection_args(p)
    add_param_flags(p, InpaintParams, skip=("device",))  # --samples, --dilate, --sampler, ... as declared
    add_device(p)
    add_shard(p, "images")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_inpaint)

    r = sub.add_parser(
        "regenerate",
        help="draw an inpainted sample again from its provenance and compare it with the stored one",
        description="Replays the model call that made SAMPLE_ID: the same model, settings and seeds, the "
        "same rows in its batch and, on a CPU, the same torch thread count at each model evaluation "
        "(all in the sample's provenance), then compares image and mask pixel for pixel. Nothing is "
        "written. Exit status 0 when identical, 1 when it differs.",
    )
    add_workspace(r)
    r.add_argument("sample_id", type=int, metavar="SAMPLE_ID")
    r.add_argument("--device", default="cpu", help="cpu (default: byte-for-byte replays are a CPU guarantee) | cuda")
    r.set_defaults(func=cmd_regenerate)


def cmd_inpaint(a: argparse.Namespace) -> int:
    params = generator_params(a, InpaintParams)
    ws = open_workspace(a)
    result = run_as_job(ws, "inpaint", params, f"inpaint {params.shard}" if params.shard else "inpaint", "eval")
    ok = 0 if result.samples or result.already_done else 1  # a finished re-run is a success
    if a.json:
        print(json.dumps(result.to_dict(), indent=2))
        return ok
    for m in result.messages:
        print(f"note: {m}")
    print(
        f"Wrote {counted(result.samples, 'inpainted sample')} from {counted(result.images, 'image')} "
        f"(seed {result.seed}, {result.device}, {result.seconds} s)"
        + (
            f" into the bundle {result.bundle} (shard {params.shard}); merge the shards' bundles with "
            f"'diffgen import-samples -w {ws.root} BUNDLE...'."
            if result.bundle
            else "."
        )
    )
    if result.samples > result.passed:
        from backend.gates import LABELS

        failed = ", ".join(f"{LABELS[g]} {n}" for g, n in result.gate_failures.items())
        print(
            f"Quality gates: {result.passed} of {result.samples} samples passed all; failed: {failed}. "
            f"'diffgen gates -w {ws.root}' counts them per set; the app's Review tab shows them."
        )
    if result.sheet:
        print(f"Contact sheet: {ws.path(result.sheet)}")
    return ok


def cmd_regenerate(a: argparse.Namespace) -> int:
    from backend.inpaint.regenerate import regenerate

    result = regenerate(open_workspace(a), a.sample_id, a.device)
    print(result.summary)
    return 0 if result.identical else 1
