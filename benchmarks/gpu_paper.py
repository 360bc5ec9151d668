"""Paper scale on one GPU (issue 17, part 4): the paper preset at 256x256 (548 M-parameter UNet).

One command, a few minutes on one GPU; every network has random weights of the real
architecture (timing does not depend on the values):

1. training steps/s in fp32 (baseline) against autocast (bf16 where supported, else fp16);
2. RePaint of one image x 3 samples in one batch with the paper's schedule (200 steps, jump
   10 x 5: 960 evaluations per sample) under autocast, against fp32 extrapolated per evaluation
   from a short chain;
3. style of one image (120 guided steps, DINO ViT-B/8 at 224 px and VGG19) against unguided
   resampling of the same steps;
4. peak GPU memory of each, and RePaint + style against the goal of <= 15 s per image.

    python -m benchmarks.gpu_paper [--device cuda] [--smoke]

Without CUDA it reports nothing unless ``--smoke``: the tiny preset with short chains and a
small ViT on the CPU, in seconds, so that the script is known to run before a GPU is at hand.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from backend.config.device import pick_device
from backend.config.presets import load_preset
from backend.diffusion.config import DiffusionConfig, ModelConfig
from backend.diffusion.gaussian import create_diffusion
from backend.diffusion.model import DiffusionUNet, build_model, count_parameters
from backend.diffusion.samplers.base import sample_rows
from backend.diffusion.samplers.repaint import RePaintSampler
from backend.diffusion.samplers.schedule import RepaintSchedule
from backend.style import networks
from backend.style.guidance import LAMBDAS, StyleConfig, style_tensor
from benchmarks._common import Figure, report, timed
from benchmarks.repaint import demo_rows
from benchmarks.style import SMOKE_DINO, loss_networks
from benchmarks.train_step import steps_per_second

BENCH = "gpu_paper"
GOAL_S = 15.0  # RePaint (3 samples) + style of one 256x256 image on one H100/H200


@dataclass(frozen=True)
class Sizes:
    """What runs: the paper's settings, or seconds' worth on a CPU (``--smoke``)."""

    preset: str
    train_batch: int | None  # None: the preset's
    train_steps: int
    repaint: RepaintSchedule
    fp32_respacing: int  # the short chain fp32 RePaint is extrapolated from
    style_steps: int | None  # None: the preset's (200 - skip 80 = 120)
    dino: networks.DinoSpec | None


PAPER = Sizes("paper", None, 10, RepaintSchedule(200, 10, 5), 20, None, None)
SMOKE = Sizes("tiny", 2, 1, RepaintSchedule(4, 2, 2), 4, 2, SMOKE_DINO)


def measured(fn: Callable[[], object], device: torch.device) -> tuple[float, float | None]:
    """(seconds, peak GPU memory in GiB or None on a CPU) of ``fn()``."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    seconds = timed(fn, device)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    return seconds, peak


def memory_note(label: str, peak: float | None) -> str:
    return f"{label}: peak {peak:.1f} GiB" if peak is not None else f"{label}: peak memory n/a on CPU"


def bench_train(sz: Sizes, device: torch.device) -> tuple[list[Figure], list[str]]:
    batch = sz.train_batch or int(load_preset(sz.preset)["train"]["batch_size"])
    rates: list[float] = []
    notes = []
    for amp in (False, True):  # autocast is CUDA only (amp_settings): on a CPU both run fp32

        def train(amp: bool = amp) -> None:
            rates.append(steps_per_second(sz.preset, batch, device, amp, sz.train_steps, warmup=1))

        _, peak = measured(train, device)
        notes.append(memory_note(f"training {'autocast' if amp else 'fp32'}", peak))
    label = "autocast" if device.type == "cuda" else "fp32 (no autocast on a CPU)"
    return [Figure(f"{sz.preset} training, batch {batch}, {label}", rates[1], "steps/s", rates[0], "fp32")], notes


def bench_repaint(sz: Sizes, model: DiffusionUNet, device: torch.device) -> tuple[Figure, str]:
    p = load_preset(sz.preset)
    diff_cfg = DiffusionConfig.from_dict(p["diffusion"])
    rows = demo_rows(1, 3, model.cfg.image_size, int(p["inpaint"]["dilate"]))

    def chain(schedule: RepaintSchedule, autocast: bool) -> None:
        sampler = RePaintSampler(schedule.respacing, schedule.jump_length, schedule.jump_n_sample)
        diffusion = sampler.set_timesteps(diff_cfg)
        for _ in sample_rows(model, sampler, diffusion, rows, len(rows), device, autocast):
            pass

    autocast = device.type == "cuda"  # fp16 autocast on a CPU is slower than fp32, not faster
    short = RepaintSchedule(sz.fp32_respacing, sz.repaint.jump_length, 1)
    chain(short, autocast)  # warm-up (kernels, autotune)
    fp32_short, _ = measured(lambda: chain(short, False), device)
    fp32 = fp32_short / short.evaluations() * sz.repaint.evaluations()
    seconds, peak = measured(lambda: chain(sz.repaint, autocast), device)
    n = sz.repaint.evaluations()
    label = "autocast" if autocast else "fp32"
    return (
        Figure(
            f"RePaint 1 image x 3 samples batched, {n} evaluations each, {label}",
            seconds,
            "s",
            fp32,
            f"fp32 (from {short.evaluations()} evaluations)",
        ),
        memory_note("RePaint", peak),
    )


def bench_style(sz: Sizes, model: DiffusionUNet, device: torch.device) -> tuple[Figure, str]:
    p = load_preset(sz.preset)
    diffusion = create_diffusion(DiffusionConfig.from_dict(p["diffusion"]))
    cfg = StyleConfig.from_dict(p["style"])
    if sz.style_steps:
        cfg = dataclasses.replace(cfg, skip_timesteps=diffusion.num_timesteps - sz.style_steps)
    steps = diffusion.num_timesteps - cfg.skip_timesteps
    nets, source = loss_networks(device, sz.dino or networks.dino_spec(cfg.dino_size), use_files=False)
    size = model.cfg.image_size
    content = (torch.rand(1, 4, size, size) * 2 - 1).to(device)
    target = (torch.rand(1, 3, size, size) * 2 - 1).to(device)

    def run(c: StyleConfig) -> None:
        style_tensor(model, diffusion, content, target, c, nets, torch.Generator().manual_seed(0))

    run(dataclasses.replace(cfg, skip_timesteps=diffusion.num_timesteps - 1))  # warm-up, 1 step
    unguided: dict[str, Any] = {f"lambda_{t}": 0.0 for t in LAMBDAS}
    base, _ = measured(lambda: run(dataclasses.replace(cfg, **unguided)), device)
    guided, peak = measured(lambda: run(cfg), device)
    return (
        Figure(f"style of one image, {steps} guided steps ({source})", guided, "s", base, "unguided resampling"),
        memory_note("style", peak),
    )


def main(argv: list[str] | None = None) -> list[Figure]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, runs on a CPU in seconds")
    a = ap.parse_args(argv)
    device = pick_device(a.device)
    if device.type != "cuda" and not a.smoke:
        return report(BENCH, [], "no CUDA device: skipped (--smoke checks it on the CPU)")
    sz = SMOKE if a.smoke else PAPER
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    figures, notes = bench_train(sz, device)
    torch.manual_seed(0)
    model = build_model(ModelConfig.from_dict(load_preset(sz.preset)["model"])).to(device).eval()
    model.requires_grad_(False)
    print(
        f"[{BENCH}] {sz.preset} preset, {model.cfg.image_size}x{model.cfg.image_size}, "
        f"{count_parameters(model) / 1e6:.0f} M parameters, on {name}",
        flush=True,
    )
    for bench in (bench_repaint, bench_style):
        figure, note = bench(sz, model, device)
        figures.append(figure)
        notes.append(note)
    total = figures[-2].value + figures[-1].value
    notes.append(
        f"RePaint (3 samples) + style of one image: {total:.1f} s (goal <= {GOAL_S:.0f} s on one "
        f"H100/H200: {'OK' if total <= GOAL_S else 'MISSED'}); quality gates: none in this version"
    )
    return report(BENCH, figures, "; ".join(notes))


if __name__ == "__main__":
    main()
