"""Bundle import speed: ``import_bundles`` of one shard's bundle against the bare minimum work
on the same files, in the same process.

The bundle is written by the real ``BundleWriter`` (rows of 16x16 samples, each with its four
gate scores, over the demo images). The baseline only reads, hashes and decodes every file
of the bundle (what any import must do); the ratio shows what the import adds on top: the
checks of every row against the workspace, the workspace's atomic writes and the inserts.
Not a timed test.

    python -m benchmarks.bundle_import [--rows 2000] [--smoke]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from backend.data.demo import write_demo_dataset
from backend.data.importer import import_dataset
from backend.diffusion.registry import register_model
from backend.gates import SCORED_WHEN_MADE, GateScore
from backend.io.files import atomic_write_text
from backend.jobs.bundles import BundleWriter, import_bundles
from backend.jobs.sample_row import SampleRow
from backend.workspace import Workspace
from backend.workspace.records import sample_pngs
from benchmarks._common import Figure, report

BENCH = "bundle_import"
SIZE = 16  # the stand-in model's image size
ROWS_PER_ITEM = 10


def workspace(root: Path) -> tuple[Workspace, list[tuple[int, int, str]], int]:
    """A workspace with the demo images and a registered 16 px model: (images as (id, mask
    version, sha256)), model id)."""
    ws = Workspace.create(root / "ws")
    import_dataset(ws, write_demo_dataset(root / "data", count=12, size=64, seed=0))
    folder = ws.root / "models" / "full"
    atomic_write_text(folder / "config.json", json.dumps({"model": {"image_size": SIZE}, "diffusion": {}}))
    model = register_model(ws, "full", "full", "tiny", {}, folder)
    images = [(r[0], r[1], r[2]) for r in ws.query("SELECT id, current_mask_id, sha256 FROM images ORDER BY id")]
    return ws, images, model


def write_bundle(ws: Workspace, images: list[tuple[int, int, str]], model: int, rows: int, folder: Path) -> Path:
    """A complete bundle of ``rows`` distinct samples, written as a shard writes one."""
    rng = np.random.default_rng(0)
    items = [f"item-{i}" for i in range(-(-rows // ROWS_PER_ITEM))]
    identity = {"kind": "inpaint", "run": "inpaint-seed1-bench", "digest": "0" * 64, "shard": [0, 1]}
    writer = BundleWriter(folder, identity, items, {"params": {}})
    for i, key in enumerate(items):
        batch = []
        for k in range(min(ROWS_PER_ITEM, rows - i * ROWS_PER_ITEM)):
            image_id, mask_id, sha = images[(i * ROWS_PER_ITEM + k) % len(images)]
            rgb = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
            mask = np.zeros((SIZE, SIZE), np.uint8)
            mask[4:12, 4:12] = 255
            batch.append(
                SampleRow(
                    "inpainted",
                    "Full-Diff",
                    *sample_pngs(rgb, mask),
                    {"sample_index": k, "source_size": [64, 64], "region_pixels": 64},
                    seed=i * ROWS_PER_ITEM + k,
                    source_image_id=image_id,
                    mask_version_id=mask_id,
                    model_id=model,
                    gates=tuple(GateScore(g, 0.5, 0.1, True) for g in SCORED_WHEN_MADE),
                    checks={"source_sha256": sha},
                )
            )
        writer.add(key, batch)
    return writer.finish()


def baseline(bundle: Path) -> None:
    """Read, hash and decode every file of the bundle."""
    for p in sorted(bundle.rglob("*")):
        if p.is_file():
            data = p.read_bytes()
            hashlib.sha256(data).hexdigest()
            if p.suffix == ".png":
                cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
            elif p.suffix == ".jsonl":
                [json.loads(line) for line in data.decode().splitlines()]


def main(argv: list[str] | None = None) -> list[Figure]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--smoke", action="store_true", help="20 rows")
    args = ap.parse_args(argv)
    if args.smoke:
        args.rows = 20
    with tempfile.TemporaryDirectory() as tmp:
        ws, images, model = workspace(Path(tmp))
        bundle = write_bundle(ws, images, model, args.rows, Path(tmp) / "bundle")
        baseline(bundle)  # warm the page cache so both runs read from memory
        t0 = time.perf_counter()
        baseline(bundle)
        t_base = time.perf_counter() - t0
        t0 = time.perf_counter()
        reports, errors = import_bundles(ws, [bundle])
        t_import = time.perf_counter() - t0
        assert not errors and len(reports[0].added) == args.rows, errors
        t0 = time.perf_counter()
        again, errors = import_bundles(ws, [bundle])
        t_again = time.perf_counter() - t0
        assert not errors and again[0].present == args.rows, errors
    n = args.rows
    return report(
        BENCH,
        [
            Figure(f"{label}, {n} rows of {SIZE}x{SIZE}", n / t, "rows/s", n / t_base, "read + hash + decode")
            for label, t in (("import-samples", t_import), ("import again (nothing new)", t_again))
        ],
        note=f"import-samples of {n} rows took {t_import:.2f} s",
    )


if __name__ == "__main__":
    main()
