"""Model checkpoints: a folder with safetensors weights and a JSON config beside them.

A folder reloads alone (``load_model``): ``config.json`` holds the model and diffusion
configs, ``model.safetensors`` the raw weights and ``ema.safetensors`` the EMA weights
used for sampling. Foreign ``.pt``/``.pth`` files are read with
``torch.load(weights_only=True)`` so a file from elsewhere can never run code.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save

from backend.diffusion.config import DiffusionConfig, ModelConfig
from backend.diffusion.model import DiffusionUNet, build_model
from backend.errors import BadInputError
from backend.workspace.files import atomic_write_bytes, atomic_write_text

FORMAT = "diffgen-diffusion/1"


def save_state_dict(path: str | Path, state: dict[str, torch.Tensor]) -> Path:
    """Atomically write tensors as safetensors (contiguous CPU copies)."""
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state.items()}
    return atomic_write_bytes(path, save(tensors))


def load_state_dict(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Tensors from a safetensors file, or from a ``.pt``/``.pth`` file without running code."""
    path = Path(path)
    if not path.exists():
        raise BadInputError(f"checkpoint file not found: {path}")
    if path.suffix == ".safetensors":
        return load_file(str(path), device=str(map_location))
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        raise BadInputError(
            f"refusing to load {path.name}: it is not a plain weights file (it asks to run code "
            f"or build arbitrary objects, which weights_only loading forbids). Detail: {str(e)[:300]}") from None
    except (RuntimeError, EOFError, ValueError) as e:
        raise BadInputError(f"cannot read checkpoint {path.name}: {e}") from None


def save_model(folder: str | Path, model: DiffusionUNet, diffusion: DiffusionConfig,
               ema: dict[str, torch.Tensor] | None = None, extra: dict[str, Any] | None = None) -> Path:
    """Write weights (+ EMA) and ``config.json`` so the folder reloads on its own."""
    folder = Path(folder)
    save_state_dict(folder / "model.safetensors", model.state_dict())
    if ema is not None:
        save_state_dict(folder / "ema.safetensors", ema)
    config = {"format": FORMAT, "model": model.cfg.to_dict(), "diffusion": diffusion.to_dict(),
              **(extra or {})}
    atomic_write_text(folder / "config.json", json.dumps(config, indent=2, default=str))
    return folder


def read_config(folder: str | Path) -> dict[str, Any]:
    p = Path(folder) / "config.json"
    if not p.exists():
        raise BadInputError(f"{folder} is not a model folder (no config.json)")
    cfg = json.loads(p.read_text())
    if cfg.get("format") != FORMAT:
        raise BadInputError(f"{p}: unknown model format {cfg.get('format')!r} (expected {FORMAT})")
    return cfg


def load_model(folder: str | Path, weights: str = "ema", device: str | torch.device = "cpu"
               ) -> tuple[DiffusionUNet, DiffusionConfig, dict[str, Any]]:
    """Rebuild the model from its folder; ``weights="ema"`` falls back to raw weights."""
    folder = Path(folder)
    cfg = read_config(folder)
    model_cfg = ModelConfig.from_dict(cfg["model"])
    diff_cfg = DiffusionConfig.from_dict(cfg["diffusion"])
    model = build_model(model_cfg)
    file = folder / f"{weights}.safetensors"
    if not file.exists():
        file = folder / "model.safetensors"
    model.load_state_dict(load_state_dict(file))
    return model.to(device).eval(), diff_cfg, cfg

