"""The demo's inpainting stage on RePaint and on a fast sampler, timed in one process.

What a user of ``diffgen demo --sampler`` gains: the whole stage (draws, redraws after the
no-polyp gate, gates, storing) on the same images with the same model, not one chain. The runs go
in the order RePaint, fast, fast, RePaint (each with its own run seed), so that a drift of the
machine's load over the run falls on both alike; prints seconds per sample for each sampler, the
ratio, the draws (first draws + redraws) and the samples passing every gate.

With ``--workspace`` it runs on a ``diffgen demo`` workspace and its full-set model (the README's
figure); without, on a fresh workspace of demo images with the shipped demo base model
(``resources/demo_base``). Writes new sample sets into that workspace: use a copy.

    python -m benchmarks.demo_stage [--workspace WS] [--images 6] [--fast ddnm] [--smoke]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from backend.diffusion.samplers import SAMPLERS
from backend.inpaint.job import run_inpaint
from backend.inpaint.params import InpaintParams
from backend.jobs.context import JobContext
from backend.workspace import TRAIN, Workspace
from backend.workspace.selection import ImageSelection
from benchmarks._common import Figure, report

BENCH = "demo_stage"
DEMO_BASE = Path(__file__).resolve().parents[1] / "resources" / "demo_base"
ORDER = ("repaint", "fast", "fast", "repaint")


def fresh_workspace(folder: Path, images: int) -> Workspace:
    """Demo images imported into a new workspace, every one a training image."""
    from backend.data.demo import write_demo_dataset
    from backend.data.importer import import_dataset

    write_demo_dataset(folder / "data", count=images, size=64, seed=0)
    ws = Workspace.create(folder / "ws")
    import_dataset(ws, folder / "data")
    return ws


def main(argv: list[str] | None = None) -> list[Figure]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace", type=Path, help="a diffgen demo workspace (a copy: samples are added)")
    ap.add_argument("--images", type=int, default=6, help="training images (the first by id)")
    ap.add_argument("--fast", default="ddnm", choices=[s for s in SAMPLERS if s != "repaint"])
    ap.add_argument("--smoke", action="store_true", help="seconds: 1 image, 1 sample, no redraws, 2-step chains")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.open(a.workspace) if a.workspace else fresh_workspace(Path(tmp), max(a.images, 2))
        model = "full" if a.workspace else str(DEMO_BASE)
        ids = tuple(r[0] for r in ws.query("SELECT id FROM images WHERE role = ? ORDER BY id", (TRAIN,)))[: a.images]
        more: dict[str, Any] = {"samples": 1, "retries": 0, "respacing": 2, "jump_n_sample": 1} if a.smoke else {}
        ids = ids[:1] if a.smoke else ids
        seconds = {"repaint": 0.0, a.fast: 0.0}
        samples = dict.fromkeys(seconds, 0)
        passed = dict.fromkeys(seconds, 0)
        for k, which in enumerate(ORDER):
            sampler = a.fast if which == "fast" else "repaint"
            params = InpaintParams(
                ImageSelection(images=ids), model=model, preset="demo", seed=1000 + k, device="cpu", sampler=sampler, **more
            )
            t0 = time.perf_counter()
            result = run_inpaint(ws, params, JobContext())
            took = time.perf_counter() - t0
            seconds[sampler] += took
            samples[sampler] += result.samples
            passed[sampler] += result.passed
            print(f"[{BENCH}] {sampler}: {result.summary} in {took:.1f} s", flush=True)
        ws.close()
    per = {s: seconds[s] / max(samples[s], 1) for s in seconds}
    figures = [
        Figure(
            f"{a.fast} stage, s/sample ({passed[a.fast]}/{samples[a.fast]} pass every gate)",
            per[a.fast],
            "s",
            per["repaint"],
            f"repaint ({passed['repaint']}/{samples['repaint']} pass)",
        ),
    ]
    return report(BENCH, figures)


if __name__ == "__main__":
    main()
