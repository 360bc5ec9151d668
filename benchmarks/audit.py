"""Memorisation audit speed: ``audit_samples`` on a workspace of N training images and N
samples (issue 31 goal: 1,000 against 1,000 in under 60 s on 2 CPU cores), and its
distance core (batched matrix products) against a plain loop over pairs in the same run.

The samples are inpainted-like (a training image with its mask region changed, with the
provenance that gives the audit their region), so both the frame and the region are
compared. Wall time depends on what else runs; the CPU time of the audit (all its threads)
bounds the wall time on idle cores. The plain loop computes the same RMS distances pair by pair with numpy (every
training image as it is and mirrored both ways, frame only, no shifts): it runs on
``--loop-queries`` samples and is scaled to N, its cost per sample being constant.

    python -m benchmarks.audit [--n 1000] [--size 64] [--loop-queries 100] [--smoke]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from backend.audit import distances
from backend.audit.params import AuditConfig
from backend.audit.run import audit_samples
from backend.data.demo import write_demo_dataset
from backend.data.importer import import_dataset
from backend.workspace import Workspace
from benchmarks._common import Figure, report

BENCH = "audit"


def plain_loop(queries: np.ndarray, train: np.ndarray, side: int) -> np.ndarray:
    """Each query's least RMS distance to any training image or its mirror, pair by pair."""
    imgs = train.reshape(-1, side, side, 3)
    versions = [v.reshape(-1) for t in imgs for v in (t, t[:, ::-1], t[::-1])]
    out = np.empty(len(queries))
    for i, q in enumerate(queries):
        out[i] = min(float(np.sqrt(np.mean((q - v) ** 2))) for v in versions)
    return out


def make_workspace(root: Path, n: int, size: int) -> Workspace:
    ws = Workspace.create(root / "ws")
    import_dataset(ws, write_demo_dataset(root / "data", count=n, size=size, seed=3))
    rng = np.random.default_rng(0)
    for rec in ws.images():
        img, mask = ws.read_image(rec), ws.read_mask(ws.current_mask(rec.id))
        out = img.copy()
        out[mask > 0] = rng.integers(0, 256, (int((mask > 0).sum()), 3), dtype=np.uint8)
        ws.add_sample(
            "inpainted",
            "Bench",
            out,
            mask,
            source_image_id=rec.id,
            mask_version_id=rec.current_mask_id,
            params={"resolution": size, "dilation": 0},
        )
    return ws


def main(argv: list[str] | None = None) -> list[Figure]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="training images, and samples")
    ap.add_argument("--size", type=int, default=64, help="side of the demo images")
    ap.add_argument("--loop-queries", type=int, default=100, help="samples the plain loop is timed on")
    ap.add_argument("--smoke", action="store_true", help="12 against 12, 64x64")
    args = ap.parse_args(argv)
    if args.smoke:
        args.n, args.size, args.loop_queries = 12, 64, 12
    cfg = AuditConfig()
    with tempfile.TemporaryDirectory() as tmp:
        ws = make_workspace(Path(tmp), args.n, args.size)
        t0, c0 = time.perf_counter(), time.process_time()
        result = audit_samples(ws, cfg=cfg)
        t_audit, c_audit = time.perf_counter() - t0, time.process_time() - c0
        assert len(result.verdicts) == args.n
        train = distances.frames([ws.read_image(r) for r in ws.images()], cfg.side)
        queries = distances.frames([ws.read_sample(s)[0] for s in ws.samples()], cfg.side)
    t0 = time.perf_counter()
    fast = distances.nearest_training(queries, train, cfg.side, cfg.k)
    t_batched = time.perf_counter() - t0
    m = min(args.loop_queries, args.n)
    t0 = time.perf_counter()
    slow = plain_loop(queries[:m], train, cfg.side)
    t_loop = (time.perf_counter() - t0) * args.n / m
    assert np.allclose(slow, fast.distance[:m], atol=1e-6)  # the same numbers
    n = args.n
    return report(
        BENCH,
        [
            Figure(f"diffgen audit, {n} samples vs {n} training images ({args.size} px), end to end", t_audit, "s"),
            Figure("the same audit's CPU time (all threads of the process)", c_audit, "s"),
            Figure(
                f"nearest of {n} frames among {n} x 3 versions (batched)",
                t_batched,
                "s",
                t_loop,
                f"plain loop over pairs (timed on {m}, scaled)",
            ),
        ],
        note=f"{len(result.flagged)} flagged (inpainted-like samples with noise in the region)",
    )


if __name__ == "__main__":
    main()
