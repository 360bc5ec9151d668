"""Run the real CLI in a child process and measure the child's peak memory.

``os.wait4`` reaps the child and returns the resource usage of that one child
(``getrusage(RUSAGE_CHILDREN)`` reports the largest child the test process ever waited for,
another test's included). Linux reports ``ru_maxrss`` in kB.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOMB_LIMIT_MB = 300  # issue 28: a refused memory bomb peaks under this


@dataclass(frozen=True)
class CliRun:
    rc: int
    stdout: str
    stderr: str
    peak_mb: float


def run_cli(*args: object, timeout: float = 120) -> CliRun:
    """``diffgen ARGS`` in a fresh interpreter, its exit code, output and peak RSS in MB; killed
    (and the test failed) after ``timeout`` seconds."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen([sys.executable, "-m", "diffgen_gui", *map(str, args)], stdout=out, stderr=err, env=env, cwd=ROOT)
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                p.kill()
                os.wait4(p.pid, 0)
                raise AssertionError(f"diffgen {' '.join(map(str, args))} still ran after {timeout} s")
            time.sleep(0.05)
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return CliRun(p.returncode, out.read().decode(errors="replace"), err.read().decode(errors="replace"), usage.ru_maxrss / 1024)
