"""Import speed: a full ``import_dataset`` against the bare minimum work on the same files.

The baseline only reads, hashes and decodes each image and mask (what any importer must do).
The ratio shows what the workspace adds on top: checks, mask binarisation, PNG encoding,
atomic writes with fsync and one SQLite transaction per pair. Not a timed test.

    python benchmarks/import_speed.py [--count 200] [--size 256]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.data.demo import write_demo_dataset  # noqa: E402
from backend.data.importer import import_dataset  # noqa: E402
from backend.workspace import Workspace  # noqa: E402


def baseline(folder: Path) -> int:
    n = 0
    for img in sorted((folder / "images").iterdir()):
        for p in (img, folder / "masks" / f"{img.stem}.png"):
            hashlib.sha256(p.read_bytes()).hexdigest()
            np.asarray(Image.open(p).convert("RGB" if p.parent.name == "images" else "L"))
        n += 1
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = write_demo_dataset(Path(tmp) / "data", count=args.count, size=args.size, seed=0)
        baseline(data)  # warm the page cache so both runs read from memory
        t0 = time.perf_counter()
        baseline(data)
        t_base = time.perf_counter() - t0
        results = {}
        for copy in (False, True):
            ws = Workspace.create(Path(tmp) / f"ws-{copy}")
            t0 = time.perf_counter()
            report = import_dataset(ws, data, copy=copy)
            results[copy] = time.perf_counter() - t0
            assert report.imported == args.count
        ws = Workspace.open(Path(tmp) / "ws-False")
        t0 = time.perf_counter()
        again = import_dataset(ws, data)
        t_again = time.perf_counter() - t0
        assert again.already_present == args.count
    n = args.count
    print(f"{n} pairs of {args.size}x{args.size}")
    print(f"  baseline (read + hash + decode): {t_base:6.2f} s  ({n / t_base:7.1f} pairs/s)")
    for copy, t in results.items():
        label = "import --copy" if copy else "import"
        print(f"  {label:31s}: {t:6.2f} s  ({n / t:7.1f} pairs/s)  ratio {t / t_base:5.2f}x baseline")
    print(f"  {'re-import (nothing new)':31s}: {t_again:6.2f} s  ({n / t_again:7.1f} pairs/s)  "
          f"ratio {t_again / t_base:5.2f}x baseline")


if __name__ == "__main__":
    main()
