"""Peak memory of a child process, for the tests that refuse memory bombs.

``resource.getrusage(...).ru_maxrss`` cannot measure this: Linux carries a process's RSS
high-water mark across ``execve``, so a child started from a pytest process of 1 GB reports
1 GB whatever it did itself (the bomb test passed alone and failed after a heavy test). The
``VmHWM`` line of ``/proc/self/status`` belongs to the child's own, new address space."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# appended to a child's code: its last stdout line is {"peak": bytes}
REPORT_PEAK = """
import json as _json
_kib = [int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
print(_json.dumps({"peak": _kib * 1024}))
"""


def run_child(code: str, *args: str, timeout: float = 120) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run ``code`` in a fresh Python (this checkout first on the path, one thread) and return
    the finished process and the peak resident memory of its own address space, in bytes."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code + REPORT_PEAK, *args], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert out.returncode == 0, out.stderr
    return out, int(json.loads(out.stdout.splitlines()[-1])["peak"])
