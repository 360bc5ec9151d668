"""The preset's ``[train]`` section, with the range of every value (light: no torch, so a bad
value is refused before training loads anything)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend.config.fields import setting
from backend.config.presets import apply_overrides, check_choice, from_section, load_preset
from backend.diffusion.config import DiffusionConfig, ModelConfig
from backend.diffusion.train_params import TrainParams

RESIZES = ("squash", "center_crop")


@dataclass(frozen=True)
class TrainConfig:
    """The preset's ``[train]`` section."""

    lr: float = setting(1e-4, 1e-8, 1.0)
    weight_decay: float = setting(0.0, 0.0, 1.0)
    batch_size: int = setting(1, 1, 4096)  # per process
    # Slices of this many samples, their gradients summed before each step (guided-diffusion's
    # microbatch; 0 = the whole batch at once, its -1). Bounds memory, not the result.
    microbatch: int = setting(0, 0, 4096)
    ema_rate: float = setting(0.9999, 0.0, 1.0)
    ema_warmup: bool = False  # rate min(ema_rate, (1+n)/(10+n)): short runs get a usable EMA
    use_fp16: bool = True  # autocast (bf16 where supported, else fp16) on CUDA only
    steps: int = setting(110000, 1, 100_000_000, unit="steps")
    save_interval: int = setting(10000, 1, 100_000_000, unit="steps")
    hflip: bool = True
    resize: str = "squash"  # squash: whole frame to image_size^2 (ours; the paper does not say);
    # center_crop: short side to image_size, middle square (diffuse-gen
    # guided_diffusion/BOI_image_datasets.py center_crop_arr)
    seed: int = setting(0, 0, 2**63 - 1)
    sample_count: int = setting(16, 0, 1024)  # unconditional samples in samples.png (0: none)
    exclude_flagged: bool = True  # images the user flagged are left out of training
    init_from: str = ""  # model folder to start from (e.g. per-cluster fine-tuning
    # of the full-set model); "" = guided-diffusion's init

    def __post_init__(self) -> None:
        check_choice("train.resize", self.resize, RESIZES)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        return from_section(cls, d, "train")


def resolve_configs(params: TrainParams) -> tuple[str, ModelConfig, DiffusionConfig, TrainConfig]:
    """(preset name, model, diffusion and train configs) of a training job, every value checked."""
    preset = apply_overrides(load_preset(params.preset), list(params.overrides))
    model_cfg = ModelConfig.from_dict(preset["model"])
    diff_cfg = DiffusionConfig.from_dict(preset["diffusion"], learn_sigma=model_cfg.learn_sigma)
    train_cfg = TrainConfig.from_dict(preset["train"])
    return preset.get("name", Path(params.preset).stem), model_cfg, diff_cfg, train_cfg
