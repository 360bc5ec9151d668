"""Model and diffusion configurations: data (preset sections), saved beside every checkpoint."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from backend.config.fields import setting
from backend.config.presets import from_section
from backend.errors import BadInputError

# The largest network a model config may describe: the paper's 256 px UNet has 552 million
# parameters (2.2 GB in float32); a config far beyond it is a typo or an attack, refused
# before a single layer is built.
MAX_PARAMETERS = 1_000_000_000


@dataclass(frozen=True)
class ModelConfig:
    """The guided-diffusion UNet hyperparameters (paper Table A.1)."""

    image_size: int = setting(256, 8, 1024, unit="px")
    in_channels: int = setting(4, 1, 16)  # RGB + mask
    num_channels: int = setting(256, 32, 512)  # a multiple of 32 (GroupNorm's groups)
    num_res_blocks: int = setting(2, 1, 8)
    channel_mult: tuple[float, ...] = setting((), 0.5, 8, max_len=8)  # () = guided-diffusion's default for image_size
    attention_resolutions: tuple[int, ...] = setting((16, 8), 1, 1024, max_len=8)  # feature-map sizes with attention
    num_head_channels: int = setting(64, 1, 512)
    learn_sigma: bool = True
    resblock_updown: bool = True
    use_scale_shift_norm: bool = True
    dropout: float = setting(0.0, 0.0, 0.99)

    def __post_init__(self) -> None:
        object.__setattr__(self, "channel_mult", tuple(self.channel_mult))
        object.__setattr__(self, "attention_resolutions", tuple(self.attention_resolutions))

    def check_size(self, where: str) -> None:
        """Refuse a network this config describes that cannot be built or is far too large,
        from arithmetic alone (``where`` names the file in the message)."""
        levels = len(self.resolved_channel_mult())
        channels = [int(self.num_channels * m) for m in self.resolved_channel_mult()]
        bad = [c for c in channels if c % 32]
        if self.image_size % (1 << (levels - 1)):
            raise BadInputError(
                f"{where}: image_size {self.image_size} cannot be halved {levels - 1} times (channel_mult has {levels} levels)"
            )
        if bad:
            raise BadInputError(
                f"{where}: level widths {channels} (num_channels x channel_mult) must be multiples of 32 (GroupNorm's groups)"
            )
        n = parameter_count(self)
        if n > MAX_PARAMETERS:
            raise BadInputError(
                f"{where}: the network has {n:,} parameters, more than the {MAX_PARAMETERS:,} allowed "
                "(num_channels, channel_mult and num_res_blocks set its size)"
            )

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
    def from_dict(cls, d: dict[str, Any], where: str = "model") -> "ModelConfig":
        """The config of a preset's [model] section or a model folder's file (``where``), every
        field in its range and the network's size bounded, before anything is built."""
        if not isinstance(d, dict):
            raise BadInputError(f"{where}: the model config must be a table of settings, not {type(d).__name__}")
        cfg = from_section(cls, d, where)
        cfg.check_size(where)
        return cfg

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["channel_mult"] = list(self.channel_mult)
        d["attention_resolutions"] = list(self.attention_resolutions)
        return d


@dataclass(frozen=True)
class DiffusionConfig:
    """Noise schedule and sampling respacing (guided-diffusion's create_gaussian_diffusion)."""

    diffusion_steps: int = setting(1000, 1, 100_000, unit="steps")
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
    def from_dict(cls, d: dict[str, Any], learn_sigma: bool = True, where: str = "diffusion") -> "DiffusionConfig":
        if not isinstance(d, dict):
            raise BadInputError(f"{where}: the diffusion config must be a table of settings, not {type(d).__name__}")
        return from_section(cls, {**d, "learn_sigma": d.get("learn_sigma", learn_sigma)}, where)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _resnet(c_in: int, c_out: int, temb: int, scale_shift: bool) -> int:
    """diffusers' ResnetBlock2D: two GroupNorms, two 3x3 convs, the time projection (doubled
    for scale-shift) and a 1x1 shortcut when the widths differ."""
    n = 2 * c_in + 9 * c_in * c_out + c_out + 2 * c_out + 9 * c_out * c_out + c_out
    n += (temb + 1) * c_out * (2 if scale_shift else 1)
    return n + (c_in * c_out + c_out if c_in != c_out else 0)


def _attention(c: int) -> int:
    return 2 * c + 4 * (c * c + c)  # GroupNorm, q, k, v and the output projection


def parameter_count(cfg: ModelConfig) -> int:
    """The parameters of the UNet ``build_model(cfg)`` builds, by arithmetic (no torch): the
    size of a config is known, and checked, before anything is allocated."""
    channels = [int(cfg.num_channels * m) for m in cfg.resolved_channel_mult()]
    c0, temb, ss, last = channels[0], 4 * channels[0], cfg.use_scale_shift_norm, len(channels) - 1
    n = (c0 * temb + temb) + (temb * temb + temb) + (9 * cfg.in_channels * c0 + c0)
    attn = [cfg.image_size >> level in cfg.attention_resolutions for level in range(len(channels))]
    sampler = (lambda c: _resnet(c, c, temb, ss)) if cfg.resblock_updown else (lambda c: 9 * c * c + c)
    for level, c in enumerate(channels):
        c_in = channels[level - 1] if level else c0
        for r in range(cfg.num_res_blocks):
            n += _resnet(c_in if r == 0 else c, c, temb, ss) + (_attention(c) if attn[level] else 0)
        n += sampler(c) if level != last else 0
    n += 2 * _resnet(channels[-1], channels[-1], temb, ss) + _attention(channels[-1])
    prev = channels[-1]
    for i, level in enumerate(reversed(range(len(channels)))):
        c, skip_last = channels[level], channels[max(level - 1, 0)]
        for j in range(cfg.num_res_blocks + 1):
            skip = skip_last if j == cfg.num_res_blocks else c
            n += _resnet((prev if j == 0 else c) + skip, c, temb, ss) + (_attention(c) if attn[level] else 0)
        n += sampler(c) if i != last else 0
        prev = c
    return n + 2 * c0 + 9 * c0 * cfg.out_channels + cfg.out_channels
