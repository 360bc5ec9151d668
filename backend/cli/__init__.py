"""The ``diffgen`` command line: a thin face on the back end.

Each module in this package that defines ``register(subparsers)`` adds its subcommands,
so stages add their commands without touching a central list. Bare ``diffgen`` opens
the desktop app on the demo workspace.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from backend import __version__, threads
from backend.errors import DiffGenError
from backend.job_process import CHILD_COMMAND

COMMAND_MODULES = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="diffgen",
        description="DiffGen Studio: synthetic labelled polyp images with diffusion models. "
                    "Run without a command to open the desktop app on the demo workspace.")
    parser.add_argument("--version", action="version", version=f"diffgen {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        if hasattr(module, "register"):
            module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    threads.configure_process()  # before anything imports torch
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [CHILD_COMMAND]:  # the desktop app runs each job through this (no parser: fast start)
        from backend.job_process import child_main

        return child_main(argv[1:])
    if not argv:
        from backend.cli.common import launch_gui

        return launch_gui(None)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except DiffGenError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
