"""Which torch device work runs on: CUDA when present, else the CPU (or what the user asked)."""

from __future__ import annotations

import torch


def pick_device(requested: str | torch.device | None = None) -> torch.device:
    """``None``/``"auto"``: CUDA when present, else CPU; anything else as given."""
    if requested is not None and str(requested) != "auto":
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
