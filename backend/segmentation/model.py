"""UNet++ (segmentation-models-pytorch) with local-file encoder weights and safetensors checkpoints.

smp is always built with ``encoder_weights=None`` so it never contacts the Hugging Face hub;
ImageNet weights, when wanted, come from a file the user points to (state dict as ``.pth``
or ``.safetensors``: torchvision / Cadene ``pretrainedmodels`` / smp hub layouts).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save

from backend.errors import BadInputError
from backend.io.files import atomic_write_bytes
from backend.io.weights import load_weights, safetensors_metadata
from backend.segmentation.config import SegConfig

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)
CLASSIFIER_PREFIXES = ("fc.", "last_linear.", "classifier.", "head.")


def build_model(cfg: SegConfig, encoder_weights: Path | None = None) -> torch.nn.Module:
    """UNet++ with one output channel (logits; sigmoid gives the polyp probability)."""
    import segmentation_models_pytorch as smp

    try:
        model = smp.UnetPlusPlus(
            encoder_name=cfg.encoder,
            encoder_depth=cfg.encoder_depth,
            encoder_weights=None,
            decoder_channels=list(cfg.decoder_channels),
            in_channels=3,
            classes=1,
            activation=None,
        )
    except KeyError as e:
        raise BadInputError(f"segment.encoder {cfg.encoder!r} is not an smp encoder: {e}") from None
    if encoder_weights is not None:
        load_encoder_weights(model.encoder, encoder_weights)
    return model


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a weight file without running any pickled code."""
    sd = load_weights(path)
    return sd["state_dict"] if isinstance(sd.get("state_dict"), dict) else sd


def load_encoder_weights(encoder: torch.nn.Module, path: Path) -> None:
    """Load ImageNet weights into an smp encoder; every encoder tensor must be present."""
    sd = read_state_dict(Path(path))
    for prefix in ("module.", "encoder."):
        if sd and all(k.startswith(prefix) for k in sd):
            sd = {k[len(prefix) :]: v for k, v in sd.items()}
    sd = {k: v for k, v in sd.items() if not k.startswith(CLASSIFIER_PREFIXES)}
    own = encoder.state_dict()
    missing = sorted(set(own) - set(sd))
    if missing:
        raise BadInputError(
            f"{path} does not fit the {type(encoder).__name__} encoder: "
            f"{len(missing)} tensors missing (e.g. {', '.join(missing[:3])})"
        )
    bad = [k for k in own if tuple(sd[k].shape) != tuple(own[k].shape)]
    if bad:
        raise BadInputError(f"{path} does not fit the encoder: shape mismatch at {', '.join(bad[:3])}")
    encoder.load_state_dict({k: sd[k] for k in own})


def save_checkpoint(path: Path, model: torch.nn.Module | dict[str, torch.Tensor], cfg: SegConfig, info: dict) -> None:
    """Atomic safetensors file whose metadata carries the config needed to rebuild the network."""
    state = model.state_dict() if isinstance(model, torch.nn.Module) else model
    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    meta = {"format": "diffgen-segmentation", "config": json.dumps(cfg.to_dict()), "info": json.dumps(info, default=str)}
    atomic_write_bytes(path, save(tensors, metadata=meta))


def load_checkpoint(path: Path) -> tuple[torch.nn.Module, SegConfig, dict]:
    """Rebuild the network of a checkpoint written by :func:`save_checkpoint`."""
    meta = safetensors_metadata(path)
    tensors = load_weights(path)
    if meta.get("format") != "diffgen-segmentation":
        raise BadInputError(f"{path} is not a DiffGen segmentation checkpoint")
    cfg_dict = json.loads(meta["config"])
    cfg = SegConfig(**cfg_dict)
    model = build_model(cfg)
    model.load_state_dict(tensors)
    return model, cfg, json.loads(meta.get("info", "{}"))


def to_input(images: np.ndarray, scale: str = "imagenet") -> torch.Tensor:
    """(N,H,W,3) uint8 RGB -> float tensor (N,3,H,W): ImageNet-normalised (``imagenet``) or
    the 0..255 values as they are (``raw``, segment.input_scale)."""
    x = images.astype(np.float32)
    if scale == "imagenet":
        x = (x / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
