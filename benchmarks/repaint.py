"""RePaint throughput: batched inpainting against a one-sample-at-a-time loop.

Both runs use the same model (the preset's architecture, random weights), the same demo
images, the same RePaint schedule and the same per-sample seeds, so they make the same
samples; the batched run stacks every sample of every image into one model call (as
``diffgen inpaint --batch``), the baseline calls the model once per sample and step.
Prints samples/s of each and the ratio. Not a timed test.

    python -m benchmarks.repaint [--preset tiny] [--images 2] [--samples 3] [--respacing 20] [--smoke]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from backend.config.device import pick_device
from backend.config.presets import load_preset
from backend.data.demo import generate_item
from backend.diffusion.config import DiffusionConfig, ModelConfig
from backend.diffusion.model import build_model
from backend.diffusion.samplers.base import Row, sample_rows
from backend.diffusion.samplers.repaint import RePaintSampler
from backend.generate.draw import sample_seed
from backend.generate.pixels import to_model_resolution, to_tensor
from backend.masks import ops as masks
from benchmarks._common import Figure, report, timed

BENCH = "repaint"


def demo_rows(n_images: int, samples: int, size: int, dilate: int) -> list[Row]:
    rows = []
    for i in range(n_images):
        item = generate_item(0, i, size=max(64, size))
        image, mask = to_model_resolution(item.image, item.mask, size)
        keep = torch.from_numpy((masks.dilate(mask, dilate) == 0).astype(np.float32))[None]
        rows += [Row(to_tensor(image, mask), keep, sample_seed(0, i, k)) for k in range(samples)]
    return rows


def run_rows(model, sampler, diffusion, rows, batch, device) -> tuple[float, torch.Tensor]:
    out: dict[int, torch.Tensor] = {}
    seconds = timed(lambda: out.update(sample_rows(model, sampler, diffusion, rows, batch, device)), device)
    return seconds, torch.stack([out[i] for i in range(len(rows))])


def main(argv: list[str] | None = None) -> list[Figure]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--images", type=int, default=2)
    ap.add_argument("--samples", type=int, default=3)
    ap.add_argument("--respacing", type=int, default=20)
    ap.add_argument("--jump-length", type=int, default=5)
    ap.add_argument("--jump-n-sample", type=int, default=2)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--smoke", action="store_true", help="seconds: 1 image x 2 samples, 4 steps")
    a = ap.parse_args(argv)
    if a.smoke:
        a.images, a.samples, a.respacing, a.jump_length, a.jump_n_sample = 1, 2, 4, 2, 2

    preset = load_preset(a.preset)
    device = pick_device(a.device)
    torch.manual_seed(0)
    model = build_model(ModelConfig.from_dict(preset["model"])).to(device).eval()
    sampler = RePaintSampler(a.respacing, a.jump_length, a.jump_n_sample)
    diffusion = sampler.set_timesteps(DiffusionConfig.from_dict(preset["diffusion"]))
    rows = demo_rows(a.images, a.samples, model.cfg.image_size, int(preset["inpaint"]["dilate"]))
    n = len(rows)
    print(
        f"{a.preset} model at {model.cfg.image_size} px on {device} ({torch.get_num_threads()} threads), "
        f"{a.images} images x {a.samples} samples, T={a.respacing} jump {a.jump_length} x{a.jump_n_sample}: "
        f"{sampler.evaluations()} model evaluations per sample"
    )

    with torch.inference_mode():  # warm-up
        for b in (1, n):
            model(torch.zeros(b, 4, model.cfg.image_size, model.cfg.image_size, device=device), torch.zeros(b, device=device))
    t_loop, loop = run_rows(model, sampler, diffusion, rows, 1, device)
    t_batch, batched = run_rows(model, sampler, diffusion, rows, n, device)
    diff = (loop - batched).abs().max().item()
    return report(
        BENCH,
        [Figure(f"{a.preset} batched ({n} per call)", n / t_batch, "samples/s", n / t_loop, "one sample at a time")],
        f"max |difference| between the two: {diff:.2e}",
    )


if __name__ == "__main__":
    main()
