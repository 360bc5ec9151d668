"""``diffgen audit``: is a sample a copy of a training image? (backend/audit)"""

from __future__ import annotations

import argparse
import json

from backend.cli.common import add_workspace, open_workspace, tqdm_progress


def register(sub) -> None:
    p = sub.add_parser(
        "audit",
        help="memorisation audit: each sample's nearest training image; the 'memorised' gate",
        description="Compares every sample (or those of --set) with every train-role image, as they are and "
        "mirrored: L2 on downsampled frames, on the generated region of inpainted samples, divided by the mean "
        "distance to the next nearest training images. A sample closer than the --percentile of held-out real "
        "images (test-role; else leave-one-out among the training images) fails the 'memorised' gate, which "
        "--only-passed and the Review filter then leave out. Distances are stored per training set: a second run "
        "recomputes only what changed. Writes a report to reports/audit-<time>/.",
    )
    add_workspace(p)
    p.add_argument("--set", dest="set_name", metavar="NAME", help="audit the samples of this set only (default: all)")
    p.add_argument("--percentile", type=float, help="memorised below this percentile of real images' scores (default 1)")
    p.add_argument("--side", type=int, help="frames are compared downsampled to SIDE x SIDE (default 32)")
    p.add_argument("--k", type=int, help="score: nearest distance over the mean of the next K (default 5)")
    p.add_argument(
        "--fid-inception",
        metavar="PTH",
        help="also compare FID Inception features (pytorch-fid's state dict or its folder; default: the configured one, if any)",
    )
    p.add_argument("--device", help="device of the feature network (cuda / cpu; default: cuda when present)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_audit)


def cmd_audit(a: argparse.Namespace) -> int:
    from dataclasses import replace

    from backend.audit.report import write_audit_report
    from backend.audit.run import AuditConfig, audit_samples, summary_record
    from backend.config.settings import configured_weights
    from backend.metrics.fid import load_fid_inception
    from backend.words import counted

    ws = open_workspace(a)
    given = {k: v for k, v in (("percentile", a.percentile), ("side", a.side), ("k", a.k)) if v is not None}
    cfg = replace(AuditConfig(), **given)
    extractor = load_fid_inception(a.fid_inception, a.device) if a.fid_inception or configured_weights("fid_inception") else None
    with tqdm_progress("audit", "sample") as prog:
        result = audit_samples(ws, a.set_name, cfg, extractor, prog)
    md, html = write_audit_report(ws, result)
    if a.json:
        print(json.dumps({**summary_record(result), "report": str(md), "html": str(html)}, indent=2))
        return 0
    print(result.summary + ".")
    per_set: dict[str, list[bool]] = {}
    for v in result.verdicts:
        per_set.setdefault(v.set_name, []).append(v.memorised)
    for name, flags in sorted(per_set.items()):
        print(f"  {name}: {sum(flags)} of {len(flags)} memorised")
    closest = min(result.verdicts, key=lambda v: v.ratio, default=None)
    if closest is not None:
        mirrored = "" if closest.flip == "none" else f", {closest.flip}ly mirrored"
        print(
            f"Closest: sample {closest.sample_id} ({closest.set_name}) to training image "
            f"{ws.image(closest.nearest_image_id).name}{mirrored}, score {closest.ratio:.3f} (threshold {closest.threshold:.3f})"
        )
    if result.embedding:
        print(f"Embedding check ({result.embedding}): {counted(len(result.embedding_flagged), 'sample')} below its threshold.")
    print(f"Report: {md} and {html.name}")
    return 0
