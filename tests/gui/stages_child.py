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

from dataclasses import dataclass  # noqa: E402

from backend.cli import main  # noqa: E402
from backend.jobs import queue as jobs  # noqa: E402
from backend.jobs.kinds import JobSpec  # noqa: E402
from backend.jobs.params import JobParams, JobResult  # noqa: E402


@dataclass(frozen=True)
class SlowParams(JobParams):
    steps: int = 100
    step_s: float = 0.01


@dataclass(frozen=True)
class MisbehaveParams(JobParams):
    how: str


def run_slow(ws, params: SlowParams, ctx) -> JobResult:
    """A pure-Python stage with progress and cooperative cancel."""
    for i in range(params.steps):
        t_end = time.perf_counter() + params.step_s
        x = 0
        while time.perf_counter() < t_end:
            x += sum(range(200))
        ctx.check_cancel(f"at step {i}")
        ctx.report(i + 1, params.steps, f"step {i + 1}")
    return JobResult(summary=f"{params.steps} steps")


def run_misbehave(ws, params: MisbehaveParams, ctx) -> JobResult:
    """Reports a little progress, then does what ``how`` says."""
    ctx.report(1, 10, "about to misbehave")
    print("stage output before the end", flush=True)
    how = params.how
    if how == "segfault":
        ctypes.string_at(0)
    elif how == "raise":
        raise RuntimeError("CUDA error: an illegal memory access was encountered")
    elif how == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif how == "hang":  # never checks cancel
        while True:
            time.sleep(0.05)
    return JobResult(summary="behaved")


def register(module: str) -> dict[str, JobSpec]:
    """The test kinds, as the registry of a process that imports this file as ``module``."""
    return {
        "slow": JobSpec(f"{module}:run_slow", f"{module}:SlowParams"),
        "misbehave": JobSpec(f"{module}:run_misbehave", f"{module}:MisbehaveParams"),
    }


if __name__ == "__main__":
    jobs.REGISTRY.update(register(__name__))
    sys.exit(main(sys.argv[1:]))
