"""The frozen networks the style losses look through: VGG19 (content), DINO ViT (style) and
the diffusion UNet's own encoder (ZeCon).

Pretrained weights come only from local files (``backend.config.settings.resolve_weights``); the
loaders build the architecture with random initialisation and then load the file strictly,
so a wrong file is an error, never a silently random network.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from backend.diffusion.model import DiffusionUNet
from backend.errors import DiffGenError
from backend.io.weights import load_into, load_weights

if TYPE_CHECKING:
    from timm.models.vision_transformer import VisionTransformer

M = TypeVar("M", bound=nn.Module)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# torchvision vgg19.features indices: 0 conv1_1, 1 its ReLU, 5 conv2_1, 6 its ReLU. ZeCon's
# content loss (and the author's vgg_loss) reads "conv1_1" and "conv2_1" as its get_features
# stores them: the conv's output tensor, which the next in-place ReLU then overwrites, so the
# values are post-ReLU. We read the ReLU outputs, under the reference's names.
VGG_LAYERS = {1: "conv1_1", 6: "conv2_1"}


def frozen(net: M, device: torch.device | str) -> M:
    return net.to(device).eval().requires_grad_(False)


def _unwrap(state: dict[str, Any], prefixes: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """Plain tensors from a checkpoint that may nest them (``teacher``, ``state_dict``,
    ``model``) or prefix them (``module.``, ``backbone.``), as DINO's own files do."""
    for key in ("teacher", "state_dict", "model"):
        if isinstance(state.get(key), dict):
            state = state[key]
    out = {}
    for k, v in state.items():
        if not isinstance(v, torch.Tensor):
            continue
        for p in prefixes:
            if k.startswith(p):
                k = k[len(p) :]
        out[k] = v
    return out


# -- VGG19 ------------------------------------------------------------------------------
def build_vgg_head() -> nn.Sequential:
    """vgg19.features up to conv2_1's ReLU (all that ZeCon's content loss reads)."""
    from torchvision.models.vgg import cfgs, make_layers

    return make_layers(cfgs["E"])[: max(VGG_LAYERS) + 1]


def load_vgg(path: str | Path, device: torch.device | str = "cpu") -> nn.Sequential:
    """VGG19's first layers from torchvision's state dict (``vgg19-dcbb9e9d.pth``); deeper
    layers and the classifier in the file are ignored."""
    path = Path(path)
    state = _unwrap(load_weights(path), ("module.", "features."))
    net = build_vgg_head()
    wanted = set(net.state_dict())
    load_into(net, {k: v for k, v in state.items() if k in wanted}, path, "torchvision VGG19")
    return frozen(net, device)


def vgg_features(vgg: nn.Sequential, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Post-ReLU conv1_1 / conv2_1 maps of images already normalised for VGG."""
    feats, x = {}, images
    for i, layer in enumerate(vgg):
        x = layer(x)
        if i in VGG_LAYERS:
            feats[VGG_LAYERS[i]] = x
    return feats


# -- DINO ViT ---------------------------------------------------------------------------
@dataclass(frozen=True)
class DinoSpec:
    """Which ViT to build. The default is the paper's DINO ViT-B/8 at 224 px; tests pass a
    small ViT (``timm_kwargs`` shrinking depth/width) through the same loader, because a
    full ViT-B/8 is slow on CPU."""

    architecture: str = "vit_base_patch8_224.dino"
    input_size: int = 224
    timm_kwargs: dict[str, Any] = field(default_factory=dict)

    def build(self) -> VisionTransformer:
        import timm
        from timm.models.vision_transformer import VisionTransformer

        vit = timm.create_model(self.architecture, pretrained=False, num_classes=0, **self.timm_kwargs)
        if not isinstance(vit, VisionTransformer):
            raise DiffGenError(f"{self.architecture!r} is not a vision transformer; the style loss needs a ViT")
        return vit


DEFAULT_DINO = DinoSpec()


def dino_spec(input_size: int) -> DinoSpec:
    """The paper's ViT-B/8 read at ``input_size``: below 224 the position embeddings are
    interpolated (timm's dynamic_img_size), which costs ~(224/size)^4 less attention work."""
    if input_size == DEFAULT_DINO.input_size:
        return DEFAULT_DINO
    return replace(DEFAULT_DINO, input_size=input_size, timm_kwargs={**DEFAULT_DINO.timm_kwargs, "dynamic_img_size": True})


class DinoCLS(nn.Module):
    """``forward(images in [-1, 1]) -> [CLS]`` of the last block (before the final norm), on
    ImageNet-normalised input resized to the ViT's size, as DiffuseIT's extractor reads it."""

    mean: torch.Tensor  # buffers, registered in __init__
    std: torch.Tensor

    def __init__(self, vit: VisionTransformer, input_size: int):
        super().__init__()
        self.vit = vit
        self.input_size = input_size
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = (images[:, :3] + 1) / 2
        if x.shape[-1] != self.input_size or x.shape[-2] != self.input_size:
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False, antialias=True)
        x = (x - self.mean) / self.std
        captured: list[torch.Tensor] = []
        handle = self.vit.blocks[-1].register_forward_hook(lambda _m, _i, out: captured.append(out))
        try:
            self.vit.forward_features(x)
        finally:
            handle.remove()
        return captured[0][:, 0]


def load_dino(path: str | Path, device: torch.device | str = "cpu", spec: DinoSpec | None = None) -> DinoCLS:
    """DINO ViT from timm's safetensors or facebookresearch's ``dino_vitbase8_pretrain.pth``
    (both use timm's key names; wrappers and ``module.``/``backbone.`` prefixes are removed)."""
    spec = spec or DEFAULT_DINO
    path = Path(path)
    state = _unwrap(load_weights(path), ("module.", "backbone."))  # a bad file fails before the build
    vit = spec.build()
    state = {k: v for k, v in state.items() if not k.startswith("head.")}
    load_into(vit, state, path, f"DINO {spec.architecture}")
    return frozen(DinoCLS(vit, spec.input_size), device)


# -- the diffusion UNet's encoder (ZeCon) -------------------------------------------------
class _EncoderDone(Exception):
    """Raised from the last hook to skip the rest of the UNet: only its encoder is read."""


class UNetEncoder:
    """Feature maps of the diffusion UNet's encoder at ZeCon's depths.

    ZeCon reads guided-diffusion's input blocks 0, 2, 5, 8, 11: the stem convolution and the
    end of the first four resolution levels (before each downsampling). In UNet2DModel these
    are ``conv_in`` and the ``num_res_blocks``-th output state of ``down_blocks[0..3]``.
    """

    def __init__(self, model: DiffusionUNet, levels: int = 4):
        self.model = model
        self.levels = min(levels, len(model.unet.down_blocks))

    def __call__(self, x: torch.Tensor, t_model: torch.Tensor) -> list[torch.Tensor]:
        unet = self.model.unet
        last = self.model.cfg.num_res_blocks - 1
        feats: list[torch.Tensor] = []

        def keep(get: Callable[[Any], torch.Tensor], stop: bool):
            def hook(_m, _i, out):
                feats.append(get(out))
                if stop:
                    raise _EncoderDone

            return hook

        handles = [unet.conv_in.register_forward_hook(keep(lambda o: o, False))]
        for i in range(self.levels):
            handles.append(unet.down_blocks[i].register_forward_hook(keep(lambda o: o[1][last], i == self.levels - 1)))
        try:
            self.model(x, t_model)
        except _EncoderDone:
            pass
        finally:
            for h in handles:
                h.remove()
        return feats
