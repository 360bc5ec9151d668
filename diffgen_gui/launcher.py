"""The ``diffgen`` command: the back end's command line plus ``gui``; bare ``diffgen`` opens the app.

The back end's CLI takes the ``gui`` command from here (``backend.cli.main(extra=...)``), so
that no back-end module imports the GUI; a headless install can still run every other
command through ``python -m backend.cli``.
"""

from __future__ import annotations

import argparse

from backend import cli
from backend.cli.common import add_workspace, subparsers_of


def register(sub) -> None:
    """The commands that open windows: ``gui`` and ``survey rate``."""
    p = sub.add_parser("gui", help="open the desktop app (default: the demo workspace)")
    add_workspace(p, required=False)
    p.set_defaults(func=lambda a: open_app(a.workspace))
    p = subparsers_of(sub.choices["survey"]).add_parser("rate", help="open the full-screen blinded rater window")
    add_workspace(p)
    p.add_argument("--survey", required=True)
    p.add_argument("--rater", required=True)
    p.set_defaults(func=lambda a: open_rater(a.workspace, a.survey, a.rater))


def open_app(workspace: str | None) -> int:
    from diffgen_gui.app import main as app_main  # Qt only when a window is wanted

    return app_main(workspace)


def open_rater(workspace: str, survey: str, rater: str) -> int:
    from diffgen_gui.app import rater_main

    return rater_main(workspace, survey, rater)


def build_parser() -> argparse.ArgumentParser:
    return cli.build_parser((register,))


def main(argv: list[str] | None = None) -> int:
    return cli.main(argv, extra=(register,), default=lambda: open_app(None))
