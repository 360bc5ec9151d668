"""``diffgen gates``: quality-gate pass rates per sample set; scores samples not scored yet."""

from __future__ import annotations

import argparse
import json

from backend.cli.common import add_workspace, open_workspace, run_as_job
from backend.cli.flags import add_param_flags, given_params
from backend.inpaint.quality_params import GatesParams


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
    add_param_flags(p, GatesParams)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_gates)


def cmd_gates(a: argparse.Namespace) -> int:
    from backend.gates import GATES
    from backend.workspace import queries

    ws = open_workspace(a)
    result = run_as_job(ws, "gates", GatesParams.from_dict(given_params(a, GatesParams)), "gates", "sample")
    counts = {"scored": result.scored, "passed": result.passed, "unscorable": result.unscorable}
    rates = queries.gate_pass_rates(ws)
    if a.json:
        print(json.dumps({"scored_now": counts, "sets": [r.__dict__ for r in rates]}, indent=2))
        return 0
    if result.scored:
        print(result.summary)
    if result.unscorable:
        print(f"{result.unscorable} sample(s) cannot be scored: not inpainted from a workspace image (e.g. an imported set).")
    print(f"{'set':<20} {'samples':>7} {'scored':>7} {'passed':>7}  " + "  ".join(f"{g:>8}" for g in GATES))
    for r in rates:
        print(
            f"{r.set_name:<20} {r.samples:>7} {r.scored:>7} {r.passed:>7}  "
            + "  ".join(f"{r.failed.get(g, 0):>8}" for g in GATES)
        )
    print("(the gate columns count samples that failed that gate)")
    return 0
