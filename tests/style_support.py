"""Shared builders for the style tests: a tiny random diffusion model registered in a
workspace, inpainted samples, and small random-weight VGG / DINO files loaded through the
real loaders (a full ViT-B/8 is too slow on CPU, so tests use a 2-block ViT-S/8 at 32 px)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from backend.config.presets import load_preset
from backend.diffusion.checkpoint import save_model
from backend.diffusion.config import DiffusionConfig, ModelConfig
from backend.diffusion.model import build_model
from backend.diffusion.registry import register_model
from backend.style.networks import DinoSpec, build_vgg_head
from backend.workspace import Workspace

SMALL_DINO = DinoSpec(
    "vit_small_patch8_224.dino", input_size=32, timm_kwargs={"img_size": 32, "depth": 2, "embed_dim": 48, "num_heads": 2}
)


def tiny_model_folder(folder: Path, seed: int = 0) -> Path:
    preset = load_preset("tiny")
    torch.manual_seed(seed)
    model = build_model(ModelConfig.from_dict(preset["model"]))
    # The guidance-strength tests were calibrated on the linear schedule (larger posterior
    # variance in the last steps, so the same gradient moves x further); pin it here so that
    # tuning the tiny preset's schedule does not change what these tests measure.
    return save_model(folder, model, DiffusionConfig.from_dict({**preset["diffusion"], "noise_schedule": "linear"}))


def register_tiny_model(ws: Workspace, seed: int = 0) -> int:
    folder = tiny_model_folder(ws.root / "models" / f"tiny-{seed}", seed)
    return register_model(ws, f"tiny-{seed}", "full", "tiny", {}, folder)


def add_inpainted(ws: Workspace, model_id: int, image_id: int, size: int = 32, set_name: str = "Diff"):
    """An 'inpainted' sample: the real image with a flat, off-colour patch in its mask (the
    colour seam styling should soften)."""
    import cv2

    img = cv2.resize(ws.read_image(image_id), (size, size), interpolation=cv2.INTER_AREA)
    mask = cv2.resize(ws.read_mask(ws.current_mask(image_id)), (size, size), interpolation=cv2.INTER_NEAREST)
    out = img.copy()
    out[mask > 127] = np.clip(img[mask > 127].astype(int) + [60, -40, 30], 0, 255).astype(np.uint8)
    return ws.add_sample(
        "inpainted",
        set_name,
        out,
        mask,
        source_image_id=image_id,
        mask_version_id=ws.current_mask(image_id).id,
        model_id=model_id,
        seed=0,
        params={"resolution": size, "dilation": 0, "preset": "tiny"},
    )  # the patch is the region


def write_vgg(path: Path) -> Path:
    """torchvision's key layout ('features.N.weight'), random weights, plus a classifier key
    the loader must ignore."""
    torch.manual_seed(1)
    state = {f"features.{k}": v for k, v in build_vgg_head().state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(4, 4)
    torch.save(state, path)
    return path


def write_dino(path: Path, spec: DinoSpec = SMALL_DINO, layout: str = "timm") -> Path:
    """A small ViT as timm's safetensors, or wrapped as DINO's training checkpoints are."""
    torch.manual_seed(2)
    state = spec.build().state_dict()
    if layout == "timm":
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save({"teacher": {f"backbone.{k}": v for k, v in state.items()}}, path)
    return path
