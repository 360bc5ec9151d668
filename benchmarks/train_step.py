"""Training throughput of the diffusion model on the CPU (images/s): the tiny preset at
batch 1 (baseline) against the preset's batch, in one process. The paper preset on a GPU
(fp32 against autocast) is in ``benchmarks.gpu_paper``.

Run from the repository root: ``python -m benchmarks.train_step [--steps N] [--threads T] [--smoke]``.
"""

from __future__ import annotations

import argparse
import time

import torch

from backend.config.presets import load_preset
from backend.diffusion.config import DiffusionConfig, ModelConfig
from backend.diffusion.gaussian import create_diffusion
from backend.diffusion.model import build_model, count_parameters
from backend.diffusion.training import amp_settings, train_step
from benchmarks._common import Figure, report

BENCH = "train_step"


def steps_per_second(preset: str, batch: int, device: torch.device, amp: bool, steps: int, warmup: int = 2) -> float:
    """Optimizer steps per second of ``preset``'s model (random weights) after ``warmup`` steps."""
    p = load_preset(preset)
    cfg = ModelConfig.from_dict(p["model"])
    diffusion = create_diffusion(DiffusionConfig.from_dict(p["diffusion"]), "")
    torch.manual_seed(0)
    model = build_model(cfg).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=float(p["train"]["lr"]))
    amp_dtype, needs_scaler = amp_settings(device, amp)
    scaler = torch.amp.GradScaler("cuda") if needs_scaler else None
    x0 = torch.rand(batch, cfg.in_channels, cfg.image_size, cfg.image_size, device=device) * 2 - 1
    for i in range(warmup + steps):
        if i == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
        t = torch.randint(0, diffusion.num_timesteps, (batch,), device=device)
        train_step(model, diffusion, opt, x0, t, torch.randn_like(x0), amp_dtype, scaler)
    if device.type == "cuda":
        torch.cuda.synchronize()
    rate = steps / (time.perf_counter() - start)
    label = f"{preset} ({count_parameters(model) / 1e6:.1f}M params), batch {batch}, {device.type}" + (
        f", autocast {amp_dtype}" if amp_dtype else ", fp32"
    )
    print(f"{label:70s} {rate:7.2f} steps/s  {rate * batch:8.1f} images/s")
    return rate


def main(argv: list[str] | None = None) -> list[Figure]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--smoke", action="store_true", help="2 steps at batch 4: seconds")
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    cpu = torch.device("cpu")
    batch = 4 if a.smoke else int(load_preset("tiny")["train"]["batch_size"])
    steps, warmup = (2, 1) if a.smoke else (a.steps, 2)
    base = steps_per_second("tiny", 1, cpu, False, steps, warmup)
    full = steps_per_second("tiny", batch, cpu, False, steps, warmup)
    return report(
        BENCH,
        [Figure(f"tiny CPU training, batch {batch}", full * batch, "images/s", base, "batch 1")],
        f"torch threads {torch.get_num_threads()}",
    )


if __name__ == "__main__":
    main()
