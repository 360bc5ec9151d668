"""Seconds per styled image, against unguided resampling of the same steps in the same run.

    python benchmarks/style.py [--preset tiny|paper] [--steps N] [--device auto|cpu|cuda]

The tiny preset runs on CPU; the paper preset (256 px model, 120 guided steps, ViT-B/8) is
meant for a GPU (the paper reports about 60 s per 256x256 image on an RTX A6000). The
diffusion model is randomly initialised and VGG19 / DINO use the configured weight files
when present, else random weights of the real architectures: timing does not depend on
the weight values.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.diffusion.checkpoint import pick_device  # noqa: E402
from backend.diffusion.config import DiffusionConfig, ModelConfig  # noqa: E402
from backend.diffusion.gaussian import create_diffusion  # noqa: E402
from backend.diffusion.model import build_model  # noqa: E402
from backend.errors import MissingWeightsError  # noqa: E402
from backend.presets import load_preset  # noqa: E402
from backend.settings import resolve_weights  # noqa: E402
from backend.style import networks  # noqa: E402
from backend.style.guidance import LAMBDAS, Networks, StyleConfig, style_tensor  # noqa: E402


def loss_networks(device: torch.device) -> tuple[Networks, str]:
    try:
        return (Networks(networks.load_vgg(resolve_weights("vgg19"), device),
                         networks.load_dino(resolve_weights("dino"), device)), "configured weight files")
    except MissingWeightsError:
        dino = networks.DinoCLS(networks.DEFAULT_DINO.build(), networks.DEFAULT_DINO.input_size)
        return (Networks(networks.frozen(networks.build_vgg_head(), device), networks.frozen(dino, device)),
                "random weights (no weight files configured)")


def timed(fn, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--steps", type=int, help="run only this many steps (sets skip_timesteps)")
    ap.add_argument("--device", default="auto")
    a = ap.parse_args()
    device = pick_device(a.device)
    torch.manual_seed(0)
    preset = load_preset(a.preset)
    model = build_model(ModelConfig.from_dict(preset["model"])).to(device).eval().requires_grad_(False)
    diffusion = create_diffusion(DiffusionConfig.from_dict(preset["diffusion"]))
    cfg = StyleConfig.from_dict(preset["style"])
    if a.steps:
        cfg = dataclasses.replace(cfg, skip_timesteps=diffusion.num_timesteps - a.steps)
    steps = diffusion.num_timesteps - cfg.skip_timesteps
    nets, source = loss_networks(device)
    size = model.cfg.image_size
    content = (torch.rand(1, 4, size, size) * 2 - 1).to(device)
    target = (torch.rand(1, 3, size, size) * 2 - 1).to(device)
    unguided_cfg = dataclasses.replace(cfg, **{f"lambda_{t}": 0.0 for t in LAMBDAS})

    def run(c: StyleConfig) -> None:
        style_tensor(model, diffusion, content, target, c, nets, torch.Generator().manual_seed(0))

    run(dataclasses.replace(cfg, skip_timesteps=diffusion.num_timesteps - 1))   # warm-up, 1 step
    base = timed(lambda: run(unguided_cfg), device)
    guided = timed(lambda: run(cfg), device)
    print(f"style benchmark: preset {a.preset}, {size}x{size}, {steps} steps, device {device} "
          f"({torch.cuda.get_device_name(device) if device.type == 'cuda' else f'{torch.get_num_threads()} threads'}), "
          f"loss networks: {source}")
    print(f"  unguided resampling (baseline): {base:8.2f} s/image  ({base / steps * 1000:.0f} ms/step)")
    print(f"  guided style transfer:          {guided:8.2f} s/image  ({guided / steps * 1000:.0f} ms/step)")
    print(f"  ratio guided/unguided:          {guided / base:8.1f}x")
    if a.preset == "paper":
        print("  paper: about 60 s per 256x256 image on an RTX A6000")


if __name__ == "__main__":
    main()
