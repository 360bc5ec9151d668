"""Model and diffusion configurations: data (preset sections), saved beside every checkpoint."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from backend.config.presets import from_section


@dataclass(frozen=True)
class ModelConfig:
    """The guided-diffusion UNet hyperparameters (paper Table A.1)."""

    image_size: int = 256
    in_channels: int = 4  # RGB + mask
    num_channels: int = 256
    num_res_blocks: int = 2
    channel_mult: tuple[int, ...] = ()  # () = guided-diffusion's default for image_size
    attention_resolutions: tuple[int, ...] = (16, 8)  # feature-map sizes with attention
    num_head_channels: int = 64
    learn_sigma: bool = True
    resblock_updown: bool = True
    use_scale_shift_norm: bool = True
    dropout: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "channel_mult", tuple(self.channel_mult))
        object.__setattr__(self, "attention_resolutions", tuple(self.attention_resolutions))

    @property
    def out_channels(self) -> int:
        return self.in_channels * (2 if self.learn_sigma else 1)

    def resolved_channel_mult(self) -> tuple[float, ...]:
        if self.channel_mult:
            return self.channel_mult
        defaults = {
            512: (0.5, 1, 1, 2, 2, 4, 4),
            256: (1, 1, 2, 2, 4, 4),
            128: (1, 1, 2, 3, 4),
            64: (1, 2, 3, 4),
            32: (1, 2, 2, 2),
        }
        if self.image_size not in defaults:
            raise ValueError(f"no default channel_mult for image_size {self.image_size}; set one")
        return defaults[self.image_size]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        return from_section(cls, d)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["channel_mult"] = list(self.channel_mult)
        d["attention_resolutions"] = list(self.attention_resolutions)
        return d


@dataclass(frozen=True)
class DiffusionConfig:
    """Noise schedule and sampling respacing (guided-diffusion's create_gaussian_diffusion)."""

    diffusion_steps: int = 1000
    noise_schedule: str = "linear"
    timestep_respacing: str = "200"  # "" = all steps; "200"; "50,50"; "ddim25"
    rescale_timesteps: bool = True
    use_kl: bool = False
    predict_xstart: bool = False
    rescale_learned_sigmas: bool = False
    learn_sigma: bool = field(default=True)

    def __post_init__(self):
        # "--set diffusion.timestep_respacing=50" arrives as the number 50
        object.__setattr__(self, "timestep_respacing", str(self.timestep_respacing))

    @classmethod
    def from_dict(cls, d: dict[str, Any], learn_sigma: bool = True) -> "DiffusionConfig":
        return from_section(cls, {**d, "learn_sigma": d.get("learn_sigma", learn_sigma)})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
