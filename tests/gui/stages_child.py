"""A job child with extra test stages: run as ``python stages_child.py _job-child WS JOB``.

The app's worker starts jobs through a launcher command; tests give it this script, so that
stages that misbehave (hang, crash in native code, die) run in a real child process through
the real entry point.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from backend import jobs  # noqa: E402
from backend.cli import main  # noqa: E402
from backend.errors import Cancelled  # noqa: E402


def run_slow(ws, params, progress=None, cancel=None):
    """A pure-Python stage with progress and cooperative cancel."""
    steps = int(params.get("steps", 100))
    for i in range(steps):
        t_end = time.perf_counter() + float(params.get("step_s", 0.01))
        x = 0
        while time.perf_counter() < t_end:
            x += sum(range(200))
        if cancel and cancel():
            raise Cancelled(f"at step {i}")
        if progress:
            progress(i + 1, steps, f"step {i + 1}")
    return {"summary": f"{steps} steps"}


def run_misbehave(ws, params, progress=None, cancel=None):
    """Reports a little progress, then does what ``how`` says."""
    if progress:
        progress(1, 10, "about to misbehave")
    print("stage output before the end", flush=True)
    how = params["how"]
    if how == "segfault":
        ctypes.string_at(0)
    elif how == "raise":
        raise RuntimeError("CUDA error: an illegal memory access was encountered")
    elif how == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif how == "hang":  # never checks cancel
        while True:
            time.sleep(0.05)
    return {"summary": "behaved"}


jobs.REGISTRY.update(slow=f"{__name__}:run_slow", misbehave=f"{__name__}:run_misbehave")

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
