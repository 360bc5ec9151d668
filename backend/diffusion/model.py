"""The 4-channel noise-prediction UNet, built on diffusers' UNet2DModel.

The paper uses openai/guided-diffusion's UNet. UNet2DModel expresses the same network:
scale-shift norm (``resnet_time_scale_shift="scale_shift"``), resblock up/down sampling
(``downsample_type="resnet"``), attention at the configured feature-map sizes with
``num_head_channels`` per head, ``num_res_blocks`` per level (+1 on the way up), a
mid block ResBlock-Attention-ResBlock, cos-first sinusoidal time embedding and a 4x
time-embedding MLP. With ``learn_sigma`` it has 8 output channels: 4 for the noise and
4 for the interpolation between the two variance bounds.
"""

from __future__ import annotations

import torch
from diffusers.models import UNet2DModel  # for mypy the top-level name is the no-torch dummy class
from torch import nn

from backend.diffusion.config import ModelConfig


def block_layout(cfg: ModelConfig) -> tuple[list[int], list[str], list[str]]:
    """(block_out_channels, down_block_types, up_block_types) for a config."""
    mult = cfg.resolved_channel_mult()
    channels = [int(cfg.num_channels * m) for m in mult]
    # Without attention, only the Resnet* blocks honour resblock up/down sampling
    # (DownBlock2D/UpBlock2D always use a strided/nearest conv).
    plain_down, plain_up = (
        ("ResnetDownsampleBlock2D", "ResnetUpsampleBlock2D") if cfg.resblock_updown else ("DownBlock2D", "UpBlock2D")
    )
    down, res = [], cfg.image_size
    for _ in mult:
        down.append("AttnDownBlock2D" if res in cfg.attention_resolutions else plain_down)
        res //= 2
    up = ["AttnUpBlock2D" if t == "AttnDownBlock2D" else plain_up for t in reversed(down)]
    return channels, down, up


class DiffusionUNet(nn.Module):
    """``forward(x, t) -> model output`` with ``t`` the original (unrespaced) timesteps."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        channels, down, up = block_layout(cfg)
        updown = "resnet" if cfg.resblock_updown else "conv"
        self.unet: UNet2DModel = UNet2DModel(
            sample_size=cfg.image_size,
            in_channels=cfg.in_channels,
            out_channels=cfg.out_channels,
            block_out_channels=tuple(channels),
            down_block_types=tuple(down),
            up_block_types=tuple(up),
            layers_per_block=cfg.num_res_blocks,
            attention_head_dim=cfg.num_head_channels,
            resnet_time_scale_shift="scale_shift" if cfg.use_scale_shift_norm else "default",
            downsample_type=updown,
            upsample_type=updown,
            dropout=cfg.dropout,
            flip_sin_to_cos=True,  # guided-diffusion: cat([cos, sin])
            freq_shift=0,
            norm_num_groups=32,
            add_attention=True,
            attn_norm_num_groups=32,  # the mid attention is normalised too (diffusers omits it with scale_shift)
        )

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if t.ndim == 0:
            t = t.expand(x.shape[0])
        return self.unet(x, t).sample


def build_model(cfg: ModelConfig) -> DiffusionUNet:
    return DiffusionUNet(cfg)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
