"""Start-up as a user meets it: ``diffgen --help``, ``diffgen info`` and the desktop app's first
painted window, each a fresh process timed from its launch, idle and while one other process
keeps a core busy (issue 17 goals: ``--help`` < 0.5 s, ``info`` < 0.8 s, window < 2 s).

Baselines run in the same way and the same load: a bare ``python -c pass`` for the commands,
a bare PySide6 window (same paint hook, same display) for the app. The app and the bare
window paint on an Xvfb server started once for the run when ``Xvfb`` is installed, else
offscreen. Figures are medians over ``--repeats``.

    python -m benchmarks.startup [--repeats 3] [--smoke]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from benchmarks._common import Figure, report
from benchmarks.threads import busy_competitor

BENCH = "startup"
ROOT = Path(__file__).resolve().parents[1]
DIFFGEN = [sys.executable, "-m", "diffgen_gui"]
BARE_WINDOW = (
    "import sys; from PySide6.QtWidgets import QApplication, QMainWindow; "
    "from benchmarks._first_paint import start; app = QApplication(sys.argv[:1]); "
    "w = QMainWindow(); w.resize(1280, 800); w.show(); start(w); app.exec()"
)
GOALS = {"--help": 0.5, "info": 0.8, "first window": 2.0}
TIMEOUT_S = 120


@contextmanager
def display(smoke: bool) -> Iterator[dict[str, str]]:
    """Environment for the windows: a private Xvfb server, or Qt's offscreen platform."""
    xvfb = shutil.which("Xvfb")
    if smoke or xvfb is None:
        yield {"QT_QPA_PLATFORM": "offscreen"}
        return
    read, write = os.pipe()
    proc = subprocess.Popen(
        [xvfb, "-displayfd", str(write), "-screen", "0", "1600x1000x24", "-nolisten", "tcp"], pass_fds=(write,)
    )
    os.close(write)
    with os.fdopen(read) as f:
        number = f.readline().strip()
    try:
        yield {"QT_QPA_PLATFORM": "xcb", "DISPLAY": f":{number}"}
    finally:
        proc.terminate()
        proc.wait()


def seconds_to_exit(cmd: list[str], env: dict[str, str]) -> float:
    start = time.time()
    out = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed (rc {out.returncode}): {out.stderr[-1500:]}")
    return time.time() - start


def seconds_to_paint(cmd: list[str], env: dict[str, str], scratch: Path) -> float:
    """From launch to the window's first paint event (written by ``benchmarks._first_paint``)."""
    stamp = scratch / "first-paint.txt"
    stamp.unlink(missing_ok=True)
    start = time.time()
    out = subprocess.run(
        cmd,
        env={**env, "DIFFGEN_FIRST_PAINT_OUT": str(stamp)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    if out.returncode != 0 or not stamp.exists():
        raise RuntimeError(f"{' '.join(cmd)}: no first paint (rc {out.returncode}): {out.stderr[-1500:]}")
    return float(stamp.read_text()) - start


def workspace(folder: Path, count: int) -> Path:
    from backend.data.demo import write_demo_dataset
    from backend.data.importer import import_dataset
    from backend.workspace import Workspace

    ws = Workspace.create(folder / "ws")
    import_dataset(ws, write_demo_dataset(folder / "data", count=count, size=64, seed=0))
    ws.close()
    return folder / "ws"


def main(argv: list[str] | None = None) -> list[Figure]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--images", type=int, default=30, help="images in the workspace the app opens")
    ap.add_argument("--smoke", action="store_true", help="one round, idle, offscreen, a small workspace")
    a = ap.parse_args(argv)
    if a.smoke:
        a.repeats, a.images = 1, 4
    loads = ("idle",) if a.smoke else ("idle", "busy")
    with tempfile.TemporaryDirectory() as tmp, display(a.smoke) as screen:
        scratch = Path(tmp)
        ws = str(workspace(scratch, a.images))
        env = {**os.environ, **screen, "PYTHONPATH": str(ROOT), "HOME": str(scratch / "home")}
        env.pop("DIFFGEN_GUI_HOOK", None)
        gui_env = {**env, "DIFFGEN_GUI_HOOK": str(ROOT / "benchmarks" / "_first_paint.py")}
        bare_python = [sys.executable, "-c", "pass"]
        runs = {
            "--help": (lambda: seconds_to_exit(DIFFGEN + ["--help"], env), lambda: seconds_to_exit(bare_python, env)),
            "info": (lambda: seconds_to_exit(DIFFGEN + ["info", "-w", ws], env), lambda: seconds_to_exit(bare_python, env)),
            "first window": (
                lambda: seconds_to_paint(DIFFGEN + ["gui", "--workspace", ws], gui_env, scratch),
                lambda: seconds_to_paint([sys.executable, "-c", BARE_WINDOW], env, scratch),
            ),
        }
        figures, verdicts = [], []
        for load in loads:
            with busy_competitor(0.5) if load == "busy" else nullcontext():
                for name, (measure, base) in runs.items():
                    measure()  # warm the file cache, as a user's second start is
                    base()
                    values = [(measure(), base()) for _ in range(a.repeats)]
                    value = statistics.median(v for v, _ in values)
                    baseline = "bare PySide6 window" if name == "first window" else "bare Python"
                    figures.append(
                        Figure(f"diffgen {name}, {load}", value, "s", statistics.median(b for _, b in values), baseline)
                    )
                    verdicts.append(f"{name} {load} {'met' if value < GOALS[name] else 'MISSED'} (< {GOALS[name]} s)")
    note = f"windows on {screen['QT_QPA_PLATFORM']}; {a.images} images; goals: " + ", ".join(verdicts)
    return report(BENCH, figures, note)


if __name__ == "__main__":
    main()
