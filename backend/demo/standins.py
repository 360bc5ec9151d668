"""Random-weight stand-ins for the pretrained networks, written as real weight files.

``diffgen demo`` must run out of the box, but pretrained weights cannot be downloaded. When
a file is missing the demo writes a random-weight network of the *same architecture* to
the workspace and points the stage at it, so the very same loading code runs; the report
says so in plain words. Nothing else uses these: every other command raises
``MissingWeightsError`` for a missing file.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

from backend.config.settings import resolve_weights
from backend.errors import MissingWeightsError


def _write_inception(path: Path) -> None:
    import torchvision

    torch.save(torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=True).state_dict(), path)


@torch.no_grad()
def _write_fid_inception(path: Path) -> None:
    """The FID network with random weights, its batch-norm statistics measured on random
    photo-like images (smooth colour fields, half of them grainy): with the default (0, 1)
    statistics activations grow by orders of magnitude from layer to layer and FIDs would be
    unreadable; calibrated, features of the demo images have norms near 20, like real ones."""
    from backend.metrics.fid import FidInception

    model = FidInception()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = None  # cumulative average: one batch sets the statistics outright
    smooth = torch.nn.functional.interpolate(torch.rand(4, 3, 8, 8), size=(299, 299), mode="bicubic")
    grain = torch.randn(4, 3, 299, 299) * 0.08 * (torch.arange(4) >= 2).view(4, 1, 1, 1)
    model.train()((smooth + grain).clamp(0, 1) * 255)
    save_file({k: v.contiguous() for k, v in model.net.state_dict().items()}, str(path))


def _write_vgg(path: Path) -> None:
    from backend.style.networks import build_vgg_head

    save_file({f"features.{k}": v.contiguous() for k, v in build_vgg_head().state_dict().items()}, str(path))


def _write_dino(path: Path) -> None:
    from backend.style.networks import DEFAULT_DINO

    state = DEFAULT_DINO.build().state_dict()
    save_file({k: v.half().contiguous() for k, v in state.items()}, str(path))  # half: 170 MB, not 340


WRITERS = {
    "inception": ("inception_v3_random.pth", _write_inception),
    "fid_inception": ("fid_inception_random.safetensors", _write_fid_inception),
    "vgg19": ("vgg19_head_random.safetensors", _write_vgg),
    "dino": ("dino_vitb8_random.safetensors", _write_dino),
}


def weights_or_standin(name: str, folder: Path, seed: int = 0) -> tuple[str, bool]:
    """(path, is_random): the user's weight file when configured, else a stand-in in ``folder``
    (written once, seeded, then reused)."""
    try:
        return str(resolve_weights(name)), False
    except MissingWeightsError:
        pass
    file_name, write = WRITERS[name]
    sub = folder / name
    path = sub / file_name
    if not path.exists():
        sub.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(seed)
        tmp = path.with_name(".tmp-" + path.name)
        write(tmp)
        tmp.replace(path)
    return str(path), True
