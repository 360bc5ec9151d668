"""``diffgen diversity``: how varied each set's masks are (backend/synthesis/diversity.py)."""

from __future__ import annotations

import argparse
import dataclasses
import json

from backend.cli.common import add_workspace, open_workspace


def register(sub) -> None:
    p = sub.add_parser(
        "diversity",
        help="mask diversity per set: polyp area and centroid distributions, mean pairwise mask IoU",
        description="For Real (the training images' masks) and each sample set (Diff, Mask-Diff, ...): the "
        "distribution of polyp area and centroid position, per polyp, and the mean IoU between every two "
        "masks of the set resized to one size (it also falls with polyp area); per sample set, the IoU of each "
        "mask with its source image's mask and between two samples of one source. Inpainting keeps each "
        "source's polyp in place (high IoU with its source); mask-guided polyps placed elsewhere give about 0.",
    )
    add_workspace(p)
    p.add_argument("--set", dest="sets", action="append", metavar="NAME", help="a set (Real or a sample set; repeatable)")
    p.add_argument("--json", action="store_true", help="print the statistics as JSON")
    p.set_defaults(func=cmd_diversity)


def cmd_diversity(a: argparse.Namespace) -> int:
    from backend.reports.document import markdown_table
    from backend.synthesis.diversity import COLUMNS, diversity_table, table_rows

    ws = open_workspace(a)
    rows = diversity_table(ws, a.sets)
    if a.json:
        print(json.dumps([dataclasses.asdict(r) for r in rows], indent=2))
        return 0
    print("\n".join(markdown_table(COLUMNS, table_rows(rows))))
    return 0
