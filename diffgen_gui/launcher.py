"""The ``diffgen`` command: the back end's command line plus ``gui``; bare ``diffgen`` opens the app.

The back end's CLI takes the ``gui`` command from here (``backend.cli.main(extra=...)``), so
that no back-end module imports the GUI; a headless install can still run every other
command through ``python -m backend.cli``.
"""

from __future__ import annotations

import argparse

from backend import cli
from backend.cli.common import add_workspace


def register(sub) -> None:
    p = sub.add_parser("gui", help="open the desktop app (default: the demo workspace)")
    add_workspace(p, required=False)
    p.set_defaults(func=lambda a: open_app(a.workspace))


def open_app(workspace: str | None) -> int:
    from diffgen_gui.app import main as app_main  # Qt only when the window is wanted

    return app_main(workspace)


def build_parser() -> argparse.ArgumentParser:
    return cli.build_parser((register,))


def main(argv: list[str] | None = None) -> int:
    return cli.main(argv, extra=(register,), default=lambda: open_app(None))
