"""The ``diffgen`` command line: a thin face on the back end.

Each module in this package that defines ``register(subparsers)`` adds its subcommands,
so stages add their commands without touching a central list. The ``diffgen`` command
itself is ``diffgen_gui.launcher``: it adds ``gui`` and opens the app when no command is
given, so that nothing in the back end imports the GUI.

Building the parser must stay light (``diffgen --help`` in 0.2 s): a command module imports
what it computes with inside its ``cmd_`` functions, and takes ``choices`` and defaults from
light modules (``jobs.kinds``, ``style.terms``, ``io.limits``, ``config.network``,
``workspace.roles``); ``tests/test_startup.py`` holds numpy, OpenCV and torch to that.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sqlite3
import sys
from collections.abc import Callable, Sequence
from typing import Any

from backend import __version__
from backend.config import threads
from backend.errors import Cancelled, DiffGenError
from backend.jobs import CHILD_COMMAND

COMMAND_MODULES = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


Register = Callable[[Any], None]


def build_parser(extra: Sequence[Register] = ()) -> argparse.ArgumentParser:
    """The parser of every back-end command, plus the commands that ``extra`` registers (the
    desktop app adds ``gui`` this way, so that the back end never imports it)."""
    parser = argparse.ArgumentParser(
        prog="diffgen",
        description="DiffGen Studio: synthetic labelled polyp images with diffusion models. "
        "Run without a command to open the desktop app on the demo workspace.",
    )
    parser.add_argument("--version", action="version", version=f"diffgen {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        if hasattr(module, "register"):
            module.register(sub)
    for register in extra:
        register(sub)
    parser.set_defaults(root_parser=parser)
    return parser


def main(argv: list[str] | None = None, extra: Sequence[Register] = (), default: Callable[[], int] | None = None) -> int:
    """Run one command; ``default`` runs when no command is given (the app), else the help."""
    threads.configure_process()  # before anything imports torch
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [CHILD_COMMAND]:  # the desktop app runs each job through this (no parser: fast start)
        from backend.jobs.process import child_main

        return child_main(argv[1:])
    if not argv and default is not None:
        return default()
    parser = build_parser(extra)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except DiffGenError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except sqlite3.OperationalError as e:
        if e.sqlite_errorcode != sqlite3.SQLITE_FULL:
            raise
        print(f"error: disk full while writing the workspace database ({e}): free some space and run it again", file=sys.stderr)
        return 1
    except Cancelled as e:
        print(f"cancelled{': ' + str(e) if str(e) else ''}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (``diffgen jobs list | head``): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's own flush at exit would fail again
        return 141
