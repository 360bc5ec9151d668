"""Job queue and export commands: export, jobs list / add / run / requeue / remove."""

from __future__ import annotations

import argparse
import json

from backend.cli.common import add_workspace, open_workspace, run_as_job, tqdm_progress
from backend.config.presets import parse_value
from backend.exporters import FORMATS
from backend.jobs.kinds import REGISTRY


def register(sub) -> None:
    p = sub.add_parser(
        "export",
        help="export kept samples (and optionally the real images) as a dataset "
        "for nnU-Net, MONAI, COCO tools, Hugging Face or Kvasir-style loaders",
        description="Writes the pairs, provenance.csv and a README.md data card into OUT, "
        "built beside it and renamed into place when complete.",
    )
    add_workspace(p)
    p.add_argument("out", help="output folder: new or empty (nothing is ever overwritten)")
    p.add_argument(
        "--format",
        dest="fmt",
        choices=list(FORMATS),
        default="kvasir",
        help="kvasir: images/ + masks/ (default); nnunet: nnU-Net v2 raw (imagesTr/, labelsTr/, "
        "dataset.json); coco: annotations.json with RLE masks; hf: Hugging Face parquet "
        "(needs the 'hf' extra); monai: Decathlon datalist dataset.json",
    )
    p.add_argument("--with-real", action="store_true", help="also export the real image/mask pairs")
    p.add_argument(
        "--only-passed",
        action="store_true",
        help="leave out kept samples that failed a quality gate (samples not scored yet are exported "
        "and counted; 'diffgen gates' scores them); refused when none is left",
    )
    p.add_argument(
        "--include-empty",
        action="store_true",
        help="also export kept samples whose mask is empty (no polyp pixel); by default they are left out and counted",
    )
    p.add_argument(
        "--licence",
        "--license",
        dest="licence",
        default="",
        help="the source dataset's licence terms, for the data card (e.g. 'Kvasir-SEG: research and educational use only')",
    )
    p.set_defaults(func=cmd_export)

    jobs = sub.add_parser("jobs", help="the persistent job queue shared with the desktop app")
    jsub = jobs.add_subparsers(dest="jobs_command", metavar="ACTION", required=True)
    p = jsub.add_parser("list", help="list jobs (running, queued, then finished)")
    add_workspace(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)
    p = jsub.add_parser(
        "add",
        help="queue a job",
        description="Queue a job of KIND with its flags (the same as its command's: 'diffgen jobs add KIND "
        "--help' lists them) or --param KEY=VALUE pairs; the job is checked before it enters the queue.",
    )
    add_workspace(p, required=False)
    p.add_argument("kind", choices=sorted(REGISTRY))
    p.add_argument("flags", nargs=argparse.REMAINDER, metavar="...", help="KIND's flags and --param KEY=VALUE pairs")
    p.set_defaults(func=cmd_add)
    p = jsub.add_parser("run", help="run queued jobs until the queue is empty")
    add_workspace(p)
    p.set_defaults(func=cmd_run)
    for name, helptext in (
        ("requeue", "queue a failed, cancelled or interrupted job again"),
        ("remove", "delete a job that is not running"),
    ):
        p = jsub.add_parser(name, help=helptext)
        add_workspace(p)
        p.add_argument("job_id", type=int)
        p.set_defaults(func=cmd_requeue if name == "requeue" else cmd_remove)


def cmd_export(a: argparse.Namespace) -> int:
    from backend.exporters.params import ExportParams

    params = ExportParams(a.out, a.fmt, a.with_real, a.only_passed, a.include_empty, a.licence)
    print(run_as_job(open_workspace(a), "export", params, "export", "pair").summary)
    return 0


def cmd_list(a: argparse.Namespace) -> int:
    from backend.jobs.queue import JobStore

    jobs = JobStore(open_workspace(a)).list()
    if a.json:
        print(json.dumps([j.__dict__ for j in jobs], indent=2, default=str))
        return 0
    for j in jobs:
        prog = f"{j.progress_done}/{j.progress_total}" if j.progress_total else ""
        print(f"{j.id:5d}  {j.status:11s} {prog:>9s}  {j.describe()}  {j.message}")
    if not jobs:
        print("no jobs")
    return 0


def kind_parser(kind: str) -> argparse.ArgumentParser:
    """The flags of ``jobs add KIND``: its parameters class's declared flags (each flag not given
    sets nothing), ``--param KEY=VALUE`` for any parameter, and ``--workspace``. Built when the
    command runs, as the class may live in a heavier module than a parser should load."""
    from backend.cli.flags import add_param_flags
    from backend.jobs.queue import params_class

    p = argparse.ArgumentParser(prog=f"diffgen jobs add {kind}", argument_default=argparse.SUPPRESS)
    add_workspace(p, required=False)
    p.add_argument(
        "--param",
        "-p",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="job parameter (JSON values), e.g. operation=dilate -p 'op_params={\"pixels\": 5}' or images=[1,2]",
    )
    add_param_flags(p, params_class(kind), defaults=False)
    return p


def cmd_add(a: argparse.Namespace) -> int:
    from backend.cli.flags import given_params
    from backend.jobs.queue import JobStore, params_class

    k = kind_parser(a.kind).parse_args(a.flags)
    a.workspace = getattr(k, "workspace", None) or a.workspace
    if not a.workspace:
        raise SystemExit("diffgen jobs add: the --workspace WS to queue the job in is required")
    params = {}
    for item in k.param:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--param {item!r} must look like KEY=VALUE")
        params[key] = parse_value(value)
    params.update(given_params(k, params_class(a.kind)))
    job_id = JobStore(open_workspace(a)).enqueue(a.kind, params)
    print(f"queued job {job_id} ({a.kind})")
    return 0


def cmd_run(a: argparse.Namespace) -> int:
    from backend.jobs.runner import run_queue

    ws = open_workspace(a)
    with tqdm_progress("jobs", "step") as prog:
        done = run_queue(ws, progress=lambda job, d, t, m: prog(d, t, f"job {job.id}: {m}"))
    for j in done:
        print(f"job {j.id} ({j.kind}): {j.status} - {j.message}")
    return 0 if all(j.status == "done" for j in done) else 1


def cmd_requeue(a: argparse.Namespace) -> int:
    from backend.jobs.queue import JobStore

    JobStore(open_workspace(a)).requeue(a.job_id)
    print(f"job {a.job_id} queued again")
    return 0


def cmd_remove(a: argparse.Namespace) -> int:
    from backend.jobs.queue import JobStore

    JobStore(open_workspace(a)).remove(a.job_id)
    print(f"job {a.job_id} removed")
    return 0
