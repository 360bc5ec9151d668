"""The benchmarks cannot rot: ``python -m benchmarks --smoke`` runs every one of them in
seconds (tiny sizes) and exits 0; figures are printed, never asserted (this is how CI runs them)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def benchmark_modules() -> list[str]:
    return sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py") if not p.stem.startswith("_"))


def test_every_benchmark_runs_in_smoke_mode(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--out", str(tmp_path / "table.md")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    names = benchmark_modules()
    assert {"gpu_paper", "gui", "import_speed", "repaint", "samplers", "style", "threads", "train_step"} <= set(names)
    for name in names:
        assert any(line.startswith(f"[{name}] ") for line in out.stdout.splitlines()), (
            f"benchmarks.{name} printed no figure line:\n{out.stdout[-3000:]}"
        )
    table = (tmp_path / "table.md").read_text()
    for name in names:
        assert f"| {name} |" in table, f"benchmarks.{name} missing from the table:\n{table}"
