"""One place that resolves local pretrained-weight files: CLI flag > env var > settings file.

Nothing is downloaded: a missing file raises :class:`MissingWeightsError` that names the
file, the architecture and where to obtain it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from backend.config.paths import user_config_dir
from backend.errors import MissingWeightsError
from backend.io.files import atomic_write_text


@dataclass(frozen=True)
class WeightSpec:
    name: str  # settings key, also used in messages
    architecture: str
    env_var: str
    cli_flag: str
    how_to_get: str


WEIGHTS: dict[str, WeightSpec] = {
    s.name: s
    for s in [
        WeightSpec(
            "inception",
            "torchvision inception_v3 (ImageNet, state dict .pth)",
            "DIFFGEN_INCEPTION_WEIGHTS",
            "--inception-weights",
            "torchvision's Inception_V3_Weights.IMAGENET1K_V1 file "
            "'inception_v3_google-0cc3c7bd.pth' (download it on a connected machine and copy it)",
        ),
        WeightSpec(
            "fid_inception",
            "TensorFlow's FID Inception as ported by pytorch-fid (state dict 'pt_inception-2015-12-05-6726825d.pth')",
            "DIFFGEN_FID_INCEPTION",
            "--fid-inception",
            "pytorch-fid's plain state dict 'pt_inception-2015-12-05-6726825d.pth' (release 'fid_weights' "
            "of github.com/mseitzer/pytorch-fid, ~90 MB; the file or its folder). StyleGAN2's TorchScript "
            "'inception-2015-12-05.pt' is refused: loading TorchScript runs code",
        ),
        WeightSpec(
            "vgg19",
            "torchvision vgg19 (ImageNet, state dict .pth)",
            "DIFFGEN_VGG_WEIGHTS",
            "--vgg-weights",
            "torchvision's VGG19_Weights.IMAGENET1K_V1 file 'vgg19-dcbb9e9d.pth'",
        ),
        WeightSpec(
            "dino",
            "timm vit_base_patch8_224.dino (state dict .pth or .safetensors)",
            "DIFFGEN_DINO_WEIGHTS",
            "--dino-weights",
            "the DINO ViT-B/8 checkpoint 'dino_vitbase8_pretrain.pth' (facebookresearch/dino) "
            "or timm's 'vit_base_patch8_224.dino' model.safetensors",
        ),
        WeightSpec(
            "seg_encoder",
            "segmentation-models-pytorch encoder (ImageNet state dict)",
            "DIFFGEN_SEG_ENCODER_WEIGHTS",
            "--encoder-weights",
            "the ImageNet weights of the chosen encoder (e.g. 'se_resnext50_32x4d-a260b3a4.pth')",
        ),
    ]
}


def settings_path() -> Path:
    return user_config_dir() / "settings.json"


def load_settings() -> dict:
    p = settings_path()
    if not p.exists():
        return {}
    try:
        return json.loads(p.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def save_setting(key: str, value: str | None) -> None:
    data = load_settings()
    weights = data.setdefault("weights", {})
    if value is None:
        weights.pop(key, None)
    else:
        weights[key] = value
    settings_path().parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(settings_path(), json.dumps(data, indent=2))


def configured_weights(name: str, cli_value: str | None = None) -> str | None:
    """The path the user named for ``name`` (may not exist), by precedence; None if unset."""
    import os

    spec = WEIGHTS[name]
    return cli_value or os.environ.get(spec.env_var) or load_settings().get("weights", {}).get(name)


def resolve_weights(name: str, cli_value: str | None = None) -> Path:
    """Existing weight file for ``name`` or a :class:`MissingWeightsError` saying how to fix it."""
    spec = WEIGHTS[name]
    value = configured_weights(name, cli_value)
    if value and Path(value).expanduser().exists():
        return Path(value).expanduser()
    raise MissingWeightsError(spec.name, value, spec.architecture, spec.how_to_get, spec.cli_flag, spec.env_var)
