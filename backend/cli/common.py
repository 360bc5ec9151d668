"""Helpers shared by the CLI command modules: workspace argument, tqdm progress, cancel."""

from __future__ import annotations

import argparse
import importlib
from contextlib import contextmanager
from typing import Callable, Iterator

from tqdm import tqdm

from backend.workspace import Workspace


def add_workspace(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--workspace", "-w", required=required, metavar="WS",
                   help="workspace folder (holds workspace.sqlite)")


def open_workspace(args: argparse.Namespace, create: bool = False) -> Workspace:
    return Workspace.create(args.workspace) if create else Workspace.open(args.workspace)


@contextmanager
def tqdm_progress(desc: str, unit: str = "it") -> Iterator[Callable[[int, int, str], None]]:
    """A ``progress(done, total, message)`` callback drawing a tqdm bar on stderr."""
    bar = tqdm(desc=desc, unit=unit, dynamic_ncols=True)

    def update(done: int, total: int, message: str = "") -> None:
        if bar.total != total:
            bar.total = total
        bar.n = done
        if message:
            bar.set_postfix_str(str(message)[:40], refresh=False)
        bar.refresh()

    try:
        yield update
    finally:
        bar.close()


def launch_gui(workspace: str | None) -> int:
    """Start the desktop app (imported lazily: the back end itself never imports Qt)."""
    app = importlib.import_module("diffgen_gui.app")
    return app.main(workspace)
