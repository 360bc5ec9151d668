"""Seconds per styled image, against unguided resampling of the same steps in the same run.

    python -m benchmarks.style [--preset tiny|paper] [--steps N] [--device auto|cpu|cuda] [--smoke]

The tiny preset runs on CPU; the paper preset (256 px model, 120 guided steps, ViT-B/8) is
meant for a GPU (the paper reports about 60 s per 256x256 image on an RTX A6000). The
diffusion model is randomly initialised and VGG19 / DINO use the configured weight files
when present, else random weights of the real architectures: timing does not depend on
the weight values. ``--smoke``: 2 steps with a 2-block ViT at 32 px (seconds on a CPU).
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

import torch

from backend.config.device import pick_device
from backend.config.presets import load_preset
from backend.config.settings import resolve_weights
from backend.diffusion.config import DiffusionConfig, ModelConfig
from backend.diffusion.gaussian import create_diffusion
from backend.diffusion.model import build_model
from backend.errors import MissingWeightsError
from backend.style import networks
from backend.style.guidance import LAMBDAS, Networks, StyleConfig, style_tensor
from benchmarks._common import Figure, report, timed

BENCH = "style"
# --smoke: a 2-block ViT-S/8 at 32 px (as the tests) instead of the paper's ViT-B/8 at 224 px
SMOKE_DINO = networks.DinoSpec(
    "vit_small_patch8_224.dino", input_size=32, timm_kwargs={"img_size": 32, "depth": 2, "embed_dim": 48, "num_heads": 2}
)


def loss_networks(device: torch.device, spec: networks.DinoSpec, use_files: bool = True) -> tuple[Networks, str]:
    """VGG19 and DINO (``spec``) from the configured weight files, else (or without
    ``use_files``) random weights of the same architectures: timing does not depend on them."""
    if use_files:
        try:
            return (
                Networks(
                    networks.load_vgg(resolve_weights("vgg19"), device), networks.load_dino(resolve_weights("dino"), device, spec)
                ),
                "configured weight files",
            )
        except MissingWeightsError:
            pass
    vit = networks.DinoCLS(spec.build(), spec.input_size)
    return (
        Networks(networks.frozen(networks.build_vgg_head(), device), networks.frozen(vit, device)),
        f"random weights ({spec.architecture} at {spec.input_size} px)",
    )


def main(argv: list[str] | None = None) -> list[Figure]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--steps", type=int, help="run only this many steps (sets skip_timesteps)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--smoke", action="store_true", help="2 steps, small ViT: seconds on a CPU")
    a = ap.parse_args(argv)
    if a.smoke:
        a.steps = 2
    device = pick_device(a.device)
    torch.manual_seed(0)
    preset = load_preset(a.preset)
    model = build_model(ModelConfig.from_dict(preset["model"])).to(device).eval().requires_grad_(False)
    diffusion = create_diffusion(DiffusionConfig.from_dict(preset["diffusion"]))
    cfg = StyleConfig.from_dict(preset["style"])
    if a.steps:
        cfg = dataclasses.replace(cfg, skip_timesteps=diffusion.num_timesteps - a.steps)
    steps = diffusion.num_timesteps - cfg.skip_timesteps
    nets, source = loss_networks(device, SMOKE_DINO if a.smoke else networks.dino_spec(cfg.dino_size), not a.smoke)
    size = model.cfg.image_size
    content = (torch.rand(1, 4, size, size) * 2 - 1).to(device)
    target = (torch.rand(1, 3, size, size) * 2 - 1).to(device)
    unguided: dict[str, Any] = {f"lambda_{t}": 0.0 for t in LAMBDAS}
    unguided_cfg = dataclasses.replace(cfg, **unguided)

    def run(c: StyleConfig) -> None:
        style_tensor(model, diffusion, content, target, c, nets, torch.Generator().manual_seed(0))

    run(dataclasses.replace(cfg, skip_timesteps=diffusion.num_timesteps - 1))  # warm-up, 1 step
    base = timed(lambda: run(unguided_cfg), device)
    guided = timed(lambda: run(cfg), device)
    print(
        f"style benchmark: preset {a.preset}, {size}x{size}, {steps} steps, device {device} "
        f"({torch.cuda.get_device_name(device) if device.type == 'cuda' else f'{torch.get_num_threads()} threads'}), "
        f"loss networks: {source}"
    )
    note = "paper: about 60 s per 256x256 image on an RTX A6000" if a.preset == "paper" else ""
    return report(
        BENCH, [Figure(f"{a.preset} guided style, {steps} steps", guided, "s/image", base, "unguided resampling")], note
    )


if __name__ == "__main__":
    main()
