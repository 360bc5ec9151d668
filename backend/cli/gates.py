"""``diffgen gates``: quality-gate pass rates per sample set; scores samples not scored yet."""

from __future__ import annotations

import argparse
import json

from backend.cli.common import add_workspace, open_workspace, tqdm_progress


def register(sub) -> None:
    p = sub.add_parser(
        "gates",
        help="quality gates per sample set (no polyp, cut-off polyp, copy of the source, seam, odd colour)",
        description="Every inpainted and styled sample is scored when it is made (backend/gates.py). This prints "
        "the pass rate of each set and how many samples failed each gate. Samples without scores "
        "(made before gates existed) are scored first; --rescore scores every sample again, e.g. "
        "with thresholds of another preset, or after training images changed: the odd-colour gate "
        "compares a sample's region with the colours of the workspace's training-role images now.",
    )
    add_workspace(p)
    p.add_argument("--rescore", action="store_true", help="score every sample again")
    p.add_argument("--preset", help="take the thresholds from this preset's [gates] (default: each sample's own)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_gates)


def cmd_gates(a: argparse.Namespace) -> int:
    from backend.gates import GATES, SCORED_WHEN_MADE
    from backend.inpaint.quality import gate_config, rescore  # torch: only when a command computes
    from backend.workspace import queries

    ws = open_workspace(a)
    scored = queries.scored_sample_ids(ws, SCORED_WHEN_MADE)  # an audit's memorised score alone is not a scoring
    todo = [s for s in ws.samples() if a.rescore or s.id not in scored]
    counts = {"scored": 0, "passed": 0, "unscorable": 0}
    if todo:
        with tqdm_progress("gates", "sample") as prog:
            counts = rescore(ws, todo, gate_config(a.preset) if a.preset else None, prog)
    rates = queries.gate_pass_rates(ws)
    if a.json:
        print(json.dumps({"scored_now": counts, "sets": [r.__dict__ for r in rates]}, indent=2))
        return 0
    if counts["scored"]:
        print(f"Scored {counts['scored']} samples ({counts['passed']} passed every gate).")
    if counts["unscorable"]:
        print(f"{counts['unscorable']} sample(s) cannot be scored: not inpainted from a workspace image (e.g. an imported set).")
    print(f"{'set':<20} {'samples':>7} {'scored':>7} {'passed':>7}  " + "  ".join(f"{g:>8}" for g in GATES))
    for r in rates:
        print(
            f"{r.set_name:<20} {r.samples:>7} {r.scored:>7} {r.passed:>7}  "
            + "  ".join(f"{r.failed.get(g, 0):>8}" for g in GATES)
        )
    print("(the gate columns count samples that failed that gate)")
    return 0
