"""Training throughput of the diffusion model (steps/s and images/s).

CPU: the tiny preset at batch 1 (baseline) against the preset's batch, in one process.
GPU (when present): the paper preset in fp32 (baseline) against autocast mixed precision.
Run from the repository root: ``python -m benchmarks.train_step [--steps N] [--threads T]``.
"""

from __future__ import annotations

import argparse
import time

import torch

from backend.diffusion.config import DiffusionConfig, ModelConfig
from backend.diffusion.gaussian import create_diffusion
from backend.diffusion.model import build_model, count_parameters
from backend.diffusion.training import amp_settings, train_step
from backend.presets import load_preset


def steps_per_second(preset: str, batch: int, device: torch.device, amp: bool, steps: int, warmup: int = 2) -> float:
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
    label = f"{preset} ({count_parameters(model) / 1e6:.1f}M params), batch {batch}, {device.type}" + \
            (f", autocast {amp_dtype}" if amp_dtype else ", fp32")
    print(f"{label:70s} {rate:7.2f} steps/s  {rate * batch:8.1f} images/s")
    return rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    cpu = torch.device("cpu")
    batch = int(load_preset("tiny")["train"]["batch_size"])
    base = steps_per_second("tiny", 1, cpu, False, a.steps)
    full = steps_per_second("tiny", batch, cpu, False, a.steps)
    print(f"CPU tiny: batch {batch} vs batch 1 -> {full / base:.2f}x steps/s, "
          f"{full * batch / base:.2f}x images/s  (torch threads {torch.get_num_threads()})")
    if torch.cuda.is_available():
        gpu = torch.device("cuda")
        paper_batch = int(load_preset("paper")["train"]["batch_size"])
        fp32 = steps_per_second("paper", paper_batch, gpu, False, a.steps)
        mixed = steps_per_second("paper", paper_batch, gpu, True, a.steps)
        print(f"GPU paper: autocast vs fp32 -> {mixed / fp32:.2f}x steps/s")
    else:
        print("no CUDA device: paper-preset GPU benchmark skipped")


if __name__ == "__main__":
    main()
