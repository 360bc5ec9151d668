"""What every issue walk does around its steps: start ``diffgen gui`` under ``xvfb-run`` with the
walk's file as ``DIFFGEN_GUI_HOOK``, check how it ended; and, inside the app, run the steps with
a pause before each screenshot. Imported both by pytest and inside the app (Qt loads lazily)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SETTLE_MS = 250


def demo_workspace(folder: Path, count: int, size: int, seed: int):
    """A workspace in ``folder``/ws with ``count`` demo images of ``size`` px imported (open)."""
    from backend.data.demo import write_demo_dataset
    from backend.data.importer import import_dataset
    from backend.workspace import Workspace

    ws = Workspace.create(folder / "ws")
    import_dataset(ws, write_demo_dataset(folder / "data", count=count, size=size, seed=seed))
    return ws


def system_tool(command: str, package: str) -> str:
    """A system ``command`` (from the apt ``package``); missing, it fails under CI (``.ci/run``
    installs it) and skips elsewhere."""
    found = shutil.which(command)
    if found is None:
        from _ci import missing_system_tool  # here, not at the top: the app imports this module without tests/ on its path

        missing_system_tool(f"{command} is not installed (apt-get install {package})")
    return found


def xvfb_run() -> str:
    return system_tool("xvfb-run", "xvfb")


def walk_folder(phase: str, scratch: Path) -> Path:
    """Where a walk's screenshots and log go: ``$DIFFGEN_WALK_KEEP``, else ``scratch``/walk;
    emptied of an earlier run's pictures of this phase and error."""
    keep = os.environ.get("DIFFGEN_WALK_KEEP")
    out = Path(keep) if keep else scratch / "walk"
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob(f"p{phase}-*.png"):
        old.unlink()
    (out / "journey-error.txt").unlink(missing_ok=True)
    return out


def launch(
    hook: str | Path, phase: str, workspace: Path, out: Path, timeout_s: float, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """``diffgen gui`` on ``workspace`` as its own process under Xvfb, with ``hook`` driving
    it from inside (its helpers importable from this folder); returns when the app has ended."""
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    env.update(
        DIFFGEN_GUI_HOOK=str(Path(hook).resolve()),
        DIFFGEN_JOURNEY_OUT=str(out),
        DIFFGEN_JOURNEY_PHASE=phase,
        QT_QPA_PLATFORM="xcb",
        PYTHONPATH=os.pathsep.join([str(ROOT), str(HERE)]),  # the app imports the walk's helpers
        **(extra_env or {}),
    )
    cmd = [
        xvfb_run(),
        "-a",
        "-s",
        "-screen 0 1600x1000x24",
        sys.executable,
        "-m",
        "diffgen_gui",
        "gui",
        "--workspace",
        str(workspace),
    ]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout_s, cwd=ROOT)


def walk_detail(proc: subprocess.CompletedProcess, out: Path) -> str:
    """How a walk ended, for an assertion's message: exit code, the walk's error, stderr's end."""
    error = out / "journey-error.txt"
    return (
        f"rc={proc.returncode}\n--- walk error:\n{error.read_text() if error.exists() else '(none)'}"
        f"\n--- stderr tail:\n{proc.stderr[-3000:]}"
    )


def run_walk(
    hook: str, phase: str, workspace: Path, scratch: Path, timeout_s: float, extra_env: dict[str, str] | None = None
) -> Path:
    """Walk ``hook`` (a walk file) in a real X server on ``workspace``; fails the test on any
    error the walk reported. Returns the folder of its screenshots (:func:`walk_folder`: look
    at them)."""
    out = walk_folder(phase, scratch)
    proc = launch(hook, phase, workspace, out, timeout_s, extra_env)
    detail = walk_detail(proc, out)
    assert proc.returncode == 0, detail
    assert not (out / "journey-error.txt").exists(), detail
    assert "journey phase done" in (out / f"journey-phase{phase}.log").read_text(), detail
    return out


def start_walk(win, steps) -> None:
    """Inside the app: run ``steps(journey)`` on the event loop, the journey's way."""
    from journey_hook import Journey, QTimer

    class Walk(Journey):
        def screenshot(self, name: str) -> None:
            """After the repaints the last input posted (a list's new text shows a tick later)."""
            from PySide6.QtTest import QTest

            QTest.qWait(SETTLE_MS)
            super().screenshot(name)

    win.journey = Walk(win, steps)
    QTimer.singleShot(500, win.journey.tick)
