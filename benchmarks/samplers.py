"""Inpainting samplers at their evaluation budgets: RePaint against the fast samplers.

One run, one model (the shipped demo base model, ``resources/demo_base``: 64 px, trained on
procedural images of the demo recipe), the same demo images (seed 0 of the recipe, other images
than the model saw) and the same per-sample seeds for every configuration: RePaint at 460, 95
and 45 evaluations a sample (``--repaint``; 960 is the paper's) and each fast sampler at 100, 50
and 25 evaluations (``--fast``: plain chains; 45 is the demo's 25 steps with jumps 5 x 2). Prints
per configuration the evaluations, samples/s and its ratio to the largest RePaint measured in
this process (RePaint-460 by default),
each gate's first-draw failure rate (``backend/gates.py``, the demo preset's thresholds,
no redraws) and the mean seam score. ``--sheet FILE`` writes a contact sheet: one row per
configuration, the same samples in the same columns. Not a timed test.

    python -m benchmarks.samplers [--images 8] [--seeds 2] [--repaint 460 95 45] [--fast 100 50 25]
                                  [--only ddnm ...] [--sheet FILE] [--smoke]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from backend import gates
from backend.config.presets import load_preset
from backend.data.demo import generate_item
from backend.diffusion.checkpoint import load_model
from backend.diffusion.samplers import SAMPLERS
from backend.diffusion.samplers.base import Row, sample_rows
from backend.generate.draw import sample_seed
from backend.generate.pixels import postprocess, to_model_resolution, to_tensor
from backend.inpaint.config import InpaintConfig, resolve_config
from benchmarks._common import Figure, report

BENCH = "samplers"
DEMO_BASE = Path(__file__).resolve().parents[1] / "resources" / "demo_base"
FAST = [name for name in SAMPLERS if name != "repaint"]
REPAINT = {960: (200, 10, 5), 460: (100, 10, 5), 95: (50, 5, 2), 45: (25, 5, 2)}  # evaluations -> schedule
PLAIN = {100: (100, 1, 1), 50: (50, 1, 1), 45: (25, 5, 2), 25: (25, 1, 1)}  # plain chains; 45: the demo's jumps


@dataclass(frozen=True)
class Result:
    cfg: InpaintConfig
    evaluations: int
    seconds: float
    failures: dict[str, int]
    seams: list[float]
    images: list[np.ndarray]

    @property
    def label(self) -> str:
        c = self.cfg
        jumps = f" jumps {c.jump_length}x{c.jump_n_sample}" if c.jump_n_sample > 1 else ""
        return f"{c.sampler} {c.respacing}{jumps} ({self.evaluations} ev)"


def demo_sources(n_images: int, size: int, cfg: InpaintConfig) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(image, mask, region) of the first ``n_images`` demo images at the model's resolution."""
    out = []
    for i in range(n_images):
        item = generate_item(0, i, size=256)
        image, mask = to_model_resolution(item.image, item.mask, size)
        out.append((image, mask, cfg.region(mask)))
    return out


def run(model, diffusion_cfg, cfg: InpaintConfig, sources, seeds: int, thresholds: gates.GateConfig) -> Result:
    sampler = cfg.make_sampler()
    diffusion = sampler.set_timesteps(diffusion_cfg)
    rows, keys = [], []
    for i, (image, mask, region) in enumerate(sources):
        for k in range(seeds):
            rows.append(
                Row(to_tensor(image, mask), torch.from_numpy((region == 0).astype(np.float32))[None], sample_seed(0, i, k))
            )
            keys.append(i)
    start = time.perf_counter()
    out = dict(sample_rows(model, sampler, diffusion, rows, cfg.batch_size, channels_last=cfg.channels_last))
    seconds = time.perf_counter() - start
    failures = {g: 0 for g in gates.SCORED_WHEN_MADE}
    seams, images = [], []
    training = gates.colour_palette(image for image, _, _ in sources)  # the benchmark's images stand for the training set
    for idx, i in enumerate(keys):
        image, mask, region = sources[i]
        rgb, sample_mask = postprocess(out[idx], image, mask, region, cfg)
        scores = gates.score(image, mask, region, rgb, sample_mask, thresholds, training=training)
        for g in gates.failed(scores):
            failures[g] += 1
        seams += [s.value for s in scores if s.gate == "seam"]
        images.append(np.hstack([rgb, np.repeat(sample_mask[..., None], 3, axis=2) * (255 if sample_mask.max() <= 1 else 1)]))
    return Result(cfg, sampler.evaluations(), seconds, failures, seams, images)


def write_sheet(results: list[Result], path: Path, columns: int) -> None:
    """One row per configuration (its label above it), the same samples in the same columns."""
    import cv2

    rows = []
    for r in results:
        strip = np.hstack([np.pad(im, ((2, 2), (2, 2), (0, 0)), constant_values=255) for im in r.images[:columns]])
        strip = cv2.resize(strip, (strip.shape[1] * 2, strip.shape[0] * 2), interpolation=cv2.INTER_NEAREST)
        head = np.full((18, strip.shape[1], 3), 255, np.uint8)
        cv2.putText(head, r.label, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        rows.append(np.vstack([head, strip]))
    width = max(r.shape[1] for r in rows)
    sheet = np.vstack([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows])
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    print(f"[{BENCH}] contact sheet written to {path}")


def main(argv: list[str] | None = None) -> list[Figure]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=8, help="demo images (seed 0 of the recipe)")
    ap.add_argument("--seeds", type=int, default=2, help="samples (seeds) per image")
    ap.add_argument("--repaint", nargs="+", type=int, choices=sorted(REPAINT), default=[460, 95, 45], help="RePaint budgets")
    ap.add_argument("--fast", nargs="+", type=int, choices=sorted(PLAIN), default=[100, 50, 25], help="fast samplers' budgets")
    ap.add_argument("--only", nargs="+", choices=FAST, help="only these fast samplers")
    ap.add_argument("--sheet", type=Path, help="write a contact sheet PNG of every configuration's samples here")
    ap.add_argument("--smoke", action="store_true", help="seconds: 1 image x 1 seed, 2-step chains")
    a = ap.parse_args(argv)
    repaint = [REPAINT[e] for e in sorted(a.repaint, reverse=True)]
    plain = [PLAIN[e] for e in sorted(a.fast, reverse=True)]
    if a.smoke:
        a.images, a.seeds, repaint, plain = 1, 1, [(2, 1, 2)], [(2, 1, 1)]

    torch.manual_seed(0)
    model, diffusion_cfg, _ = load_model(DEMO_BASE, weights="ema", device="cpu")
    model.eval()
    base = replace(resolve_config({}, "demo"), retries=0, batch_size=a.images * a.seeds)
    thresholds = gates.GateConfig.from_section(load_preset("demo").get("gates"))
    sources = demo_sources(a.images, model.cfg.image_size, base)
    n = a.images * a.seeds
    print(
        f"demo base model at {model.cfg.image_size} px on the CPU ({torch.get_num_threads()} threads), "
        f"{a.images} demo images x {a.seeds} seeds = {n} samples per configuration, first draws"
    )
    configs = [replace(base, sampler="repaint", respacing=r, jump_length=j, jump_n_sample=s) for r, j, s in repaint]
    for name in FAST:
        if a.only is None or name in a.only:
            configs += [replace(base, sampler=name, respacing=r, jump_length=j, jump_n_sample=s) for r, j, s in plain]
    results = []
    for cfg in configs:
        results.append(run(model, diffusion_cfg, cfg, sources, a.seeds, thresholds))
        r = results[-1]
        print(
            f"[{BENCH}] {r.label}: {n / r.seconds:.3g} samples/s, failures {r.failures}, mean seam {np.mean(r.seams):.4f}",
            flush=True,
        )
    ref = results[0]  # the largest RePaint budget
    print(f"\n| sampler (steps, jumps) | evaluations | samples/s | vs {ref.label} | no polyp | cut off | copy | mean seam |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        f = r.failures
        rate = " | ".join(f"{f[g]} ({100 * f[g] / n:.0f}%)" for g in ("no_polyp", "cut_off", "copy"))
        speed = f"{n / r.seconds:.3g} | {ref.seconds / r.seconds:.2f}x"
        print(f"| {r.label} | {r.evaluations} | {speed} | {rate} | {np.mean(r.seams):.4f} |")
    if a.sheet is not None:
        write_sheet(results, a.sheet, columns=min(n, 8))
    return report(
        BENCH,
        [Figure(r.label, n / r.seconds, "samples/s", n / ref.seconds, ref.label) for r in results if r is not ref],
        f"{n} samples per configuration; first-draw gate failures and seams above",
    )


if __name__ == "__main__":
    main()
