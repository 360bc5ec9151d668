"""``diffgen audit``: is a sample a copy of a training image? (backend/audit)"""

from __future__ import annotations

import argparse
import json

from backend.audit.params import AuditParams
from backend.cli.common import add_workspace, open_workspace, run_as_job
from backend.cli.flags import add_param_flags, given_params


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
    add_param_flags(p, AuditParams)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_audit)


def cmd_audit(a: argparse.Namespace) -> int:
    from backend.words import counted

    ws = open_workspace(a)
    result = run_as_job(ws, "audit", AuditParams.from_dict(given_params(a, AuditParams)), "audit", "sample")
    md, html = ws.path(result.report), ws.path(result.html)
    if a.json:
        print(json.dumps({**result.record, "report": str(md), "html": str(html)}, indent=2))
        return 0
    print(result.summary + ".")
    for name, (memorised, samples) in result.sets.items():
        print(f"  {name}: {memorised} of {samples} memorised")
    if result.closest:
        print(f"Closest: {result.closest}")
    if result.record["embedding"]:
        flagged = counted(result.record["embedding_flagged"], "sample")
        print(f"Embedding check ({result.record['embedding']}): {flagged} below its threshold.")
    print(f"Report: {md} and {html.name}")
    return 0
