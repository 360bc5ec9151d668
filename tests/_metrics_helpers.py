"""Stand-ins for the pretrained networks of the metrics tests, saved to files and loaded
through the real loaders (nothing is downloaded)."""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision

from backend.metrics.fid import FidExtractor


def save_random_inception(path: Path) -> Path:
    """A random-weight torchvision inception_v3 state dict, as the real file is one."""
    torch.manual_seed(0)
    model = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False)
    torch.save(model.state_dict(), path)
    return path


class _Texture(torch.nn.Module):
    """Fixed random 5x5 filters + ReLU, pooled by mean and std: low-dim, sensitive to noise/blur."""

    def __init__(self, dim: int):
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.register_buffer("w", torch.randn(dim // 2, 3, 5, 5, generator=g) / 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = torch.relu(torch.nn.functional.conv2d(x, self.w, stride=2))
        return torch.cat([r.mean((2, 3)), r.std((2, 3))], dim=1)


def small_extractor(dim: int = 16) -> FidExtractor:
    """A low-dimensional injectable FID extractor (keeps sqrtm cheap in tests)."""
    return FidExtractor(_Texture(dim).eval(), f"test-texture{dim}", torch.device("cpu"), batch_size=16)
