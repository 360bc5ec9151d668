"""Every benchmark, one Markdown table: ``python -m benchmarks [--smoke] [--only NAME ...] [--out FILE]``.

Each module of this package (not starting with ``_``) is a benchmark with ``main(argv)``
returning its figures. ``--smoke`` runs each in seconds with tiny sizes, to prove they still
run (CI does this; figures are printed, never asserted). The full set writes the table, with
each figure, its baseline and their ratio, the date and the machine, to ``--out``
(default ``benchmarks/results.md``). Exit status 1 when any benchmark failed.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import os
import pkgutil
import platform
import sys
import time
import traceback
from pathlib import Path

import benchmarks
from benchmarks._common import Figure

NAMES = sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if not m.name.startswith("_"))


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"
    return (
        f"{cpu_name()}, {os.cpu_count()} logical CPUs, {gpu}; {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, torch {torch.__version__}"
    )


def fmt(x: float | None) -> str:
    return "" if x is None else f"{x:.4g}"


def markdown(results: dict[str, list[Figure]], smoke: bool) -> str:
    lines = [
        f"Benchmarks{' (smoke sizes: not comparable)' if smoke else ''}, {datetime.date.today().isoformat()}, {machine()}.",
        "",
        "| benchmark | figure | value | unit | baseline | baseline value | ratio |",
        "|---|---|---:|---|---|---:|---:|",
    ]
    for name, figures in results.items():
        for f in figures:
            ratio = "" if f.ratio is None else f"{f.ratio:.2f}x"
            lines.append(f"| {name} | {f.name} | {fmt(f.value)} | {f.unit} | {f.baseline_name} | {fmt(f.baseline)} | {ratio} |")
    return "\n".join(lines) + "\n"


def run_one(name: str, smoke: bool) -> list[Figure] | None:
    """The module's figures, or None (traceback printed) when it failed."""
    start = time.perf_counter()
    print(f"== benchmarks.{name}{' --smoke' if smoke else ''}", flush=True)
    try:
        figures = importlib.import_module(f"benchmarks.{name}").main(["--smoke"] if smoke else [])
    except Exception:  # one broken benchmark must not hide the others' figures
        traceback.print_exc()
        print(f"== benchmarks.{name} FAILED", flush=True)
        return None
    print(f"== benchmarks.{name} done in {time.perf_counter() - start:.1f} s", flush=True)
    return figures


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="every benchmark in seconds with tiny sizes")
    ap.add_argument("--only", nargs="+", choices=NAMES, metavar="NAME", help=f"some of: {', '.join(NAMES)}")
    ap.add_argument("--out", type=Path, help="where the table goes (default: benchmarks/results.md; with --smoke: printed only)")
    a = ap.parse_args(argv)
    results: dict[str, list[Figure]] = {}
    failed = []
    for name in a.only or NAMES:
        figures = run_one(name, a.smoke)
        if figures is None:
            failed.append(name)
        else:
            results[name] = figures
    table = markdown(results, a.smoke)
    print(table)
    out = a.out or (None if a.smoke else Path(__file__).with_name("results.md"))
    if out is not None:
        out.write_text(table, encoding="utf-8")
        print(f"table written to {out}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
