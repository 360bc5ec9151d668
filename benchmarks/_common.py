"""What every benchmark shares: its figures, how they print, and how long to wait for CUDA."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch loads lazily: benchmarks.threads must configure threads first
    import torch


@dataclass(frozen=True)
class Figure:
    """One measured figure and the baseline it is compared with (same unit)."""

    name: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_name: str = ""

    @property
    def ratio(self) -> float | None:
        return self.value / self.baseline if self.baseline else None

    def line(self, bench: str) -> str:
        text = f"[{bench}] {self.name}: {self.value:.4g} {self.unit}"
        if self.baseline is not None:
            text += f"  (baseline {self.baseline_name}: {self.baseline:.4g}; ratio {self.ratio:.2f}x)"
        return text


def report(bench: str, figures: list[Figure], note: str = "") -> list[Figure]:
    """Print each figure as one line tagged ``[bench]`` (one line for none), and return them."""
    for f in figures:
        print(f.line(bench), flush=True)
    if not figures:
        print(f"[{bench}] no figures{': ' + note if note else ''}", flush=True)
    elif note:
        print(f"[{bench}] {note}", flush=True)
    return figures


def timed(fn: Callable[[], object], device: "torch.device") -> float:
    """Wall seconds of ``fn()``, waiting for queued CUDA work on both sides."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start
