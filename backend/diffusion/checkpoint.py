"""Model checkpoints: a folder with safetensors weights and a JSON config beside them.

A folder reloads alone (``load_model``): ``config.json`` holds the model and diffusion
configs, ``model.safetensors`` the raw weights and ``ema.safetensors`` the EMA weights
used for sampling. Every weight file is read through :mod:`backend.io.weights`
(safetensors or ``torch.load(weights_only=True)``), so a file from elsewhere can never run code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save

from backend.diffusion.config import DiffusionConfig
from backend.diffusion.model import DiffusionUNet, build_model
from backend.diffusion.model_files import FORMAT, check_weights_fit, configs
from backend.diffusion.model_files import read_config as read_config  # re-exported: stages read configs here
from backend.io.files import atomic_write_bytes, atomic_write_text

# checkpoints load through the one door for weight files; the name stays for diffusion/'s callers
from backend.io.weights import load_into
from backend.io.weights import load_weights as load_state_dict


def save_state_dict(path: str | Path, state: dict[str, torch.Tensor]) -> Path:
    """Atomically write tensors as safetensors (contiguous CPU copies)."""
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state.items()}
    return atomic_write_bytes(path, save(tensors))


def save_model(
    folder: str | Path,
    model: DiffusionUNet,
    diffusion: DiffusionConfig,
    ema: dict[str, torch.Tensor] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write weights (+ EMA) and ``config.json`` so the folder reloads on its own."""
    folder = Path(folder)
    save_state_dict(folder / "model.safetensors", model.state_dict())
    if ema is not None:
        save_state_dict(folder / "ema.safetensors", ema)
    config = {"format": FORMAT, "model": model.cfg.to_dict(), "diffusion": diffusion.to_dict(), **(extra or {})}
    atomic_write_text(folder / "config.json", json.dumps(config, indent=2, default=str))
    return folder


def load_model(
    folder: str | Path, weights: str = "ema", device: str | torch.device = "cpu"
) -> tuple[DiffusionUNet, DiffusionConfig, dict[str, Any]]:
    """Rebuild the model from its folder; ``weights="ema"`` falls back to raw weights. The
    configs and the weight file's header are checked against each other before the network
    is built (a crafted config.json cannot make it allocate what no weights fill)."""
    folder = Path(folder)
    cfg = read_config(folder)
    model_cfg, diff_cfg = configs(cfg, str(folder / "config.json"))
    file = folder / f"{weights}.safetensors"
    if not file.exists():
        file = folder / "model.safetensors"
    check_weights_fit(file, model_cfg, str(folder / "config.json"))
    model = build_model(model_cfg)
    load_into(model, load_state_dict(file), file, f"the network of {folder / 'config.json'}")
    return model.to(device).eval(), diff_cfg, cfg
