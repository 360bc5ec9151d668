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

from backend.errors import MissingWeightsError
from backend.settings import resolve_weights


class _InceptionLayers(nn.Module):
    """clean-fid calls ``model.layers(x)`` on 299 px input scaled to [-1, 1] for 2048-d features."""

    def __init__(self):
        super().__init__()
        import torchvision

        net = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=True)
        net.fc = nn.Identity()
        self.net = net.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Untrained batch-norm statistics let activations grow by orders of magnitude from
        # layer to layer; rescale to the norm of real pool features (~20) so FIDs stay readable.
        return torch.nn.functional.normalize(self.net._forward(x)[0], dim=1) * 20.0


class _FidInception(nn.Module):
    """The interface of StyleGAN2's TorchScript Inception that clean-fid loads."""

    def __init__(self):
        super().__init__()
        self.layers = _InceptionLayers()

    def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        return self.layers(x)


def _write_inception(path: Path) -> None:
    import torchvision

    torch.save(torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=True).state_dict(), path)


def _write_fid_inception(path: Path) -> None:
    torch.jit.script(_FidInception().eval()).save(str(path))


def _write_vgg(path: Path) -> None:
    from backend.style.networks import build_vgg_head

    save_file({f"features.{k}": v.contiguous() for k, v in build_vgg_head().state_dict().items()}, str(path))


def _write_dino(path: Path) -> None:
    from backend.style.networks import DEFAULT_DINO

    state = DEFAULT_DINO.build().state_dict()
    save_file({k: v.half().contiguous() for k, v in state.items()}, str(path))  # half: 170 MB, not 340


WRITERS = {
    "inception": ("inception_v3_random.pth", _write_inception),
    "fid_inception": ("inception-2015-12-05.pt", _write_fid_inception),
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
    sub = folder / name  # clean-fid wants its file alone under a fixed name
    path = sub / file_name
    if not path.exists():
        sub.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(seed)
        tmp = path.with_name(".tmp-" + path.name)
        write(tmp)
        tmp.replace(path)
    return str(path), True
