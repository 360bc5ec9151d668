"""``diffgen import-samples`` and ``diffgen bundles``: merge and list the bundles that shards
of a sharded inpaint or style run wrote (see :mod:`backend.jobs.bundles`)."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from backend.cli.common import add_workspace, open_workspace, run_as_job
from backend.words import counted


def register(sub) -> None:
    p = sub.add_parser(
        "import-samples",
        help="merge the sample bundles of sharded runs into the workspace",
        description="Checks each bundle against its MANIFEST.sha256 and merges its samples, provenance and gate "
        "scores into the workspace, all in one transaction. A bundle that is incomplete (its shard has "
        "not finished), corrupt or of another workspace, or that holds anything a shard does not write "
        "(an unlisted or linked file, a row of another sample kind or with a malformed field, a sample "
        "of a held-out test image, an image that is not a PNG of its model's size), is refused whole "
        "with the file or the row and field named; the others are merged. Importing a bundle again "
        "adds nothing.",
    )
    add_workspace(p)
    p.add_argument("bundles", nargs="+", metavar="BUNDLE", help="bundle folders (e.g. WS/bundles/RUN-*-of-8)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser(
        "bundles",
        help="list the bundles of sharded runs: complete, merged or still running",
        description="Lists the bundle folders under WS/bundles (and any named): run, shard, items "
        "done of planned, and whether each is still being written (or was interrupted: "
        "run that shard again), complete, or merged into the workspace.",
    )
    add_workspace(p)
    p.add_argument("extra", nargs="*", metavar="BUNDLE", help="bundle folders outside WS/bundles")
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p.set_defaults(func=cmd_bundles)


def cmd_import(a: argparse.Namespace) -> int:
    from backend.jobs.bundle_params import ImportSamplesParams

    result = run_as_job(open_workspace(a), "import-samples", ImportSamplesParams(tuple(a.bundles)), "import-samples")
    if a.json:
        print(json.dumps({"imported": [asdict(r) for r in result.imported], "errors": result.errors}, indent=2))
    else:
        for r in result.imported:
            print(
                f"{r.bundle}: {counted(len(r.added), 'sample')} added"
                + (f", {r.present} already in the workspace" if r.present else "")
                + f" (run {r.run}, shard {r.shard})"
            )
    for e in result.errors:
        print(f"error: {e}")
    return 1 if result.errors else 0


def cmd_bundles(a: argparse.Namespace) -> int:
    from backend.jobs.bundles import bundle_states

    ws = open_workspace(a)
    states = bundle_states(ws, a.extra)
    if a.json:
        print(json.dumps([asdict(s) for s in states], indent=2))
        return 0
    if not states:
        print(f"no bundles in {ws.root / 'bundles'}")
    for s in states:
        samples = counted(s.samples, "sample") if s.samples is not None else ""
        print(f"{s.state:24} shard {s.shard:7} items {s.items:9} {samples:12} {s.run}  {s.path}")
    return 0
