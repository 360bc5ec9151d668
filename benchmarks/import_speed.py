"""Import speed: a full ``import_dataset`` against the bare minimum work on the same files.

The baseline only reads, hashes and decodes each image and mask (what any importer must do).
The ratio shows what the workspace adds on top: checks, mask binarisation, PNG encoding,
atomic writes with fsync and one SQLite transaction per pair. Not a timed test.

    python -m benchmarks.import_speed [--count 200] [--size 256] [--smoke]
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from backend.data.demo import write_demo_dataset
from backend.data.importer import import_dataset
from backend.workspace import Workspace
from benchmarks._common import Figure, report

BENCH = "import_speed"


def baseline(folder: Path) -> int:
    n = 0
    for img in sorted((folder / "images").iterdir()):
        for p in (img, folder / "masks" / f"{img.stem}.png"):
            hashlib.sha256(p.read_bytes()).hexdigest()
            np.asarray(Image.open(p).convert("RGB" if p.parent.name == "images" else "L"))
        n += 1
    return n


def main(argv: list[str] | None = None) -> list[Figure]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--smoke", action="store_true", help="8 pairs of 64x64")
    args = ap.parse_args(argv)
    if args.smoke:
        args.count, args.size = 8, 64
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
            done = import_dataset(ws, data, copy=copy)
            results["import --copy" if copy else "import"] = time.perf_counter() - t0
            assert done.imported == args.count
        ws = Workspace.open(Path(tmp) / "ws-False")
        t0 = time.perf_counter()
        again = import_dataset(ws, data)
        results["re-import (nothing new)"] = time.perf_counter() - t0
        assert again.already_present == args.count
    n = args.count
    return report(
        BENCH,
        [
            Figure(f"{label}, {n} pairs of {args.size}x{args.size}", n / t, "pairs/s", n / t_base, "read + hash + decode")
            for label, t in results.items()
        ],
    )


if __name__ == "__main__":
    main()
