"""Helpers shared by the CLI command modules: workspace argument, tqdm progress, cancel."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from backend.jobs.shards import local_rank_from_env, parse_shard, shard_from_env

if TYPE_CHECKING:  # numpy, cv2 and tqdm load when a command runs, not to build the parser (`--help` < 0.5 s)
    from backend.jobs.params import JobParams
    from backend.workspace import Workspace

P = TypeVar("P", bound="JobParams")
POSTFIX_CHARS = 60  # of a progress message beside a tqdm bar ("12/24 images done; 12 samples at step 33/45")
# Commands that only read the workspace, so they also work on a read-only one ("module:function").
READ_ONLY_COMMANDS = frozenset(
    {
        "backend.cli.data:cmd_info",
        "backend.cli.survey:cmd_list",
        "backend.cli.jobs:cmd_export",
        "backend.cli.bundles:cmd_bundles",
        "backend.cli.review:cmd_review",  # lists; refuses its decisions itself on a read-only workspace
    }
)


def postfix(message: str, width: int = POSTFIX_CHARS) -> str:
    """A progress message that fits beside a tqdm bar: a long one loses its middle, not its end,
    where the figures that change are ("[21/21] Full-Styled-Diff … epoch 10/20 loss 0.214")."""
    if len(message) <= width:
        return message
    tail = 2 * width // 5
    head = message[: width - tail - 3].rsplit(" ", 1)[0]  # whole words either side of the cut
    return f"{head} … {message[-tail:].split(' ', 1)[-1]}"


def add_workspace(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--workspace", "-w", required=required, metavar="WS", help="workspace folder (holds workspace.sqlite)")


def command_id(args: argparse.Namespace) -> str:
    func = getattr(args, "func", None)
    return f"{func.__module__}:{func.__name__}" if func is not None else ""


def open_workspace(args: argparse.Namespace, create: bool = False) -> Workspace:
    """The ``--workspace`` of the command; a read-only one only for commands that just read."""
    from backend.workspace import Workspace
    from backend.workspace.access import read_only_error

    ws = Workspace.create(args.workspace) if create else Workspace.open(args.workspace)
    if ws.read_only and command_id(args) not in READ_ONLY_COMMANDS:
        words = [getattr(args, "command", "")] + [v for k, v in vars(args).items() if k.endswith("_command")]
        raise read_only_error(ws.root, f"'diffgen {' '.join(filter(None, words))}' writes to it")
    return ws


@contextmanager
def tqdm_progress(desc: str, unit: str = "it") -> Iterator[Callable[[int, int, str], None]]:
    """A ``progress(done, total, message)`` callback drawing a tqdm bar on stderr. The bar
    starts at the first report, so a command refused before any work prints no empty bar."""
    from tqdm import tqdm

    bars: list[tqdm] = []

    def update(done: int, total: int, message: str = "") -> None:
        if not bars:
            bars.append(tqdm(desc=desc, unit=unit, dynamic_ncols=True, total=total))
        bar = bars[0]
        if bar.total != total:
            bar.total = total
        bar.n = done
        if message:
            bar.set_postfix_str(postfix(str(message)), refresh=False)
        bar.refresh()

    try:
        yield update
    finally:
        for bar in bars:
            bar.close()


def run_as_job(ws: Workspace | None, kind: str, params: JobParams, desc: str, unit: str = "it") -> Any:
    """Run the command's stage as a ``kind`` job through the one runner
    (:func:`backend.jobs.runner.run_now`), behind a tqdm bar: the run gets a job row (``diffgen
    jobs list``) and a log, named on stderr as it starts; a refused run is a failed job whose log
    holds the error, and the error reaches :func:`backend.cli.main`, which prints it as before.
    ``ws`` None (``fid`` or ``msssim`` of folders): no workspace to hold a row or a log, so the
    stage runs alone; so does a command that only reads a read-only workspace (``export`` from a
    read-only mount: the row could not be written, and the stage refuses any other write itself),
    and a shard (``params.shard`` of inpaint and style), which writes
    nothing into the workspace's database (N processes on N machines never write one SQLite
    file): its bundle's manifest is its record. Returns the stage's typed result (the command
    prints it)."""
    from backend.jobs.context import JobContext
    from backend.jobs.joblog import log_path
    from backend.jobs.runner import resolve, run_now

    def started(job_id: int) -> None:
        assert ws is not None
        print(f"job {job_id}; its log: {log_path(ws, job_id)}", file=sys.stderr, flush=True)

    with tqdm_progress(desc, unit) as prog:
        if ws is None or ws.read_only or getattr(params, "shard", None) is not None:
            return resolve(kind)(ws, params, JobContext(progress=prog))
        return run_now(ws, kind, params, prog, started)


def add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--device",
        default="auto",
        metavar="DEVICE",
        help="auto (CUDA when present) | cpu | cuda | cuda:N | mps; under torchrun auto is cuda:LOCAL_RANK",
    )


def add_shard(p: argparse.ArgumentParser, items: str) -> None:
    """``--shard`` and ``--bundle`` of a stage that can run as N processes on many GPUs or machines."""
    p.add_argument(
        "--shard",
        metavar="K/N|none",
        help=f"do the K-th (from 0) of N disjoint slices of the sorted {items} and write its samples to "
        "a bundle instead of the workspace (merge with 'diffgen import-samples'); needs --seed for "
        "inpaint. Default: RANK/WORLD_SIZE under torchrun, the task of a SLURM job array, else none "
        "(one process writing the workspace)",
    )
    p.add_argument("--bundle", metavar="DIR", help="the shard's bundle folder (default: WS/bundles/RUN-K-of-N)")


def shard_and_device(a: argparse.Namespace) -> tuple[str | None, str | None]:
    """The ``--shard`` (or the launcher's, see :func:`backend.jobs.shards.shard_from_env`) and the
    device of this process (``cuda:LOCAL_RANK`` for ``auto`` under torchrun)."""
    from backend.config.device import rank_device  # torch: only when a command computes

    if a.shard == "none":
        shard = None
    else:
        spec = parse_shard(a.shard) if a.shard else shard_from_env()
        shard = str(spec) if spec is not None else None
    return shard, rank_device(a.device, local_rank_from_env())


def generator_params(a: argparse.Namespace, cls: type[P], **more: Any) -> P:
    """A generator job's parameters (inpaint, synthesize): every flag its declarations gave the
    parser, read the way ``diffgen jobs add`` reads them (a flag listed by hand was once parsed
    and dropped), with the image selection, this process's shard and device, ``--bundle`` and
    ``more``. A crafted ``--model`` folder is refused here, before torch loads."""
    from dataclasses import asdict
    from pathlib import Path

    from backend.cli.flags import given_params
    from backend.diffusion.model_files import check_folder_choice
    from backend.workspace.selection import ImageSelection

    check_folder_choice(a.model, Path(a.workspace))
    shard, device = shard_and_device(a)
    selection = asdict(ImageSelection.from_params(vars(a)))
    return cls.from_dict({**given_params(a, cls), **selection, "device": device, "shard": shard, "bundle": a.bundle, **more})


def add_model_target(p: argparse.ArgumentParser, default_name: str) -> None:
    """Where an imported model goes: a workspace (and name), or a bare folder; ``--overwrite``."""
    add_workspace(p, required=False)
    p.add_argument("--name", help=f"model name (default: {default_name}; letters, digits, . _ -)")
    p.add_argument("--out", help="model folder to write when no workspace is given")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing model of that name (the old folder is kept as NAME.replaced-DATE)",
    )


def subparsers_of(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    """The sub-command action of ``parser`` (argparse keeps it among the actions, with no public
    accessor): the documentation walks it, and the desktop app adds its commands to groups."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise LookupError(f"{parser.prog} has no sub-commands")
