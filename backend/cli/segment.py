"""Segmentation commands: ``diffgen segment`` (run experiments) and ``diffgen segment report``."""

from __future__ import annotations

import argparse

from backend.cli.common import add_workspace, open_workspace, run_as_job
from backend.cli.flags import add_param_flags
from backend.segmentation.config import N_COUNTS
from backend.segmentation.params import SegmentParams


def register(sub) -> None:
    p = sub.add_parser(
        "segment",
        help="segmentation experiments (paper Tables 3-6): train UNet++ models and report",
        description="Train UNet++ segmentation models on real, synthetic, augmented and small real "
        "sets and test them on held-out real images. Finished runs are skipped, so an "
        "interrupted set resumes. 'diffgen segment report' writes the tables and plots.",
    )
    p.add_argument("action", nargs="?", choices=["run", "report"], default="run")
    add_workspace(p)
    add_param_flags(p, SegmentParams, skip=("only_passed",))  # --experiment, --preset, --seeds, --set, ... as declared
    p.add_argument(
        "--n-counts",
        choices=list(N_COUNTS),
        help="Table 6 (small-n): N counts training + validation images (train+val: N=16 trains on 13, "
        "the preset's default) or training images only (train: 16 + 4 for validation)",
    )
    add_param_flags(p, SegmentParams, skip=("preset", "overrides", "experiments", "seeds", "encoder_weights", "device"))
    p.set_defaults(func=cmd_segment)


def cmd_segment(a: argparse.Namespace) -> int:
    ws = open_workspace(a)
    if a.action == "report":
        from backend.segmentation.report import write_report

        for kind, path in write_report(ws).items():
            print(f"{kind:11s} {path}")
        return 0
    params = SegmentParams(
        preset=a.preset,
        overrides=tuple(a.overrides or ()) + ((f"segment.small_n_counts={a.n_counts}",) if a.n_counts else ()),
        experiments=tuple(a.experiment or ("all",)),
        seeds=tuple(a.seeds) if a.seeds else None,
        encoder_weights=a.encoder_weights,
        device=a.device,
        only_passed=a.only_passed,
    )
    result = run_as_job(ws, "segment", params, "segment", "step")
    for note in result.notes:
        print(f"note: {note}")
    for run in result.trained:
        print(f"trained {run['title']:<30s} seed {run['seed']}: IoU {run['iou']:.4f}  Dice loss {run['dice_loss']:.4f}")
    print(
        f"{result.summary}; test set {result.test_images} real images ({result.protocol}). "
        f"Tables: diffgen segment report --workspace {a.workspace}"
    )
    for f in result.failed:
        print(f"FAILED {f}")
    return 1 if result.failed else 0
