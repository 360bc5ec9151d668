"""Run the real CLI (or a snippet) in a child process and measure that child's peak memory.

The child runs under a small wrapper interpreter, which reads
``getrusage(RUSAGE_CHILDREN).ru_maxrss`` once the CLI has exited. Measuring a direct child of
the test process would not do: Linux carries the pre-exec peak of a forked process into its
``ru_maxrss``, so a child of a pytest that has loaded torch starts at the pytest's ~1 GB. The
wrapper is small when it forks. Linux reports ``ru_maxrss`` in kB.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOMB_LIMIT_MB = 300  # issue 28: a refused memory bomb peaks under this

_WRAPPER = """
import json, resource, subprocess, sys
out, err = sys.argv[1], sys.argv[2]
with open(out, "wb") as o, open(err, "wb") as e:
    rc = subprocess.run([sys.executable, *sys.argv[3:]], stdout=o, stderr=e).returncode
print(json.dumps({"rc": rc, "peak_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


@dataclass(frozen=True)
class CliRun:
    rc: int
    stdout: str
    stderr: str
    peak_mb: float


def run_cli(*args: object, tmp: Path, timeout: float = 120) -> CliRun:
    """``diffgen ARGS`` in a fresh interpreter: exit code, output and peak RSS in MB (its
    output files go into the folder ``tmp``)."""
    return _measured("-m", "diffgen_gui", *args, tmp=tmp, timeout=timeout)


def run_code(code: str, *args: object, tmp: Path, timeout: float = 120) -> CliRun:
    """``python -c CODE ARGS`` in a fresh interpreter (one thread), measured as :func:`run_cli`."""
    return _measured("-c", code, *args, tmp=tmp, timeout=timeout, threads=1)


def _measured(*argv: object, tmp: Path, timeout: float, threads: int | None = None) -> CliRun:
    out, err = tmp / "cli.stdout", tmp / "cli.stderr"
    env = {**os.environ, "PYTHONPATH": str(ROOT), **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    r = subprocess.run(
        [sys.executable, "-c", _WRAPPER, str(out), str(err), *map(str, argv)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=timeout,
        check=True,
    )
    result = json.loads(r.stdout)
    return CliRun(result["rc"], out.read_text(errors="replace"), err.read_text(errors="replace"), result["peak_kb"] / 1024)
