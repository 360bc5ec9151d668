"""Inception-v3 features for clustering, cached in the workspace ``features`` table.

Clustering (paper section 2.2) describes each training pair by the 2048-d pool features of
the image and of its mask (drawn as an RGB image), concatenated to 4096-d. Two networks
(``cluster.network``): torchvision's ImageNet Inception-v3 (:class:`InceptionFeatures`) or,
as the author's ``clustering/clustering.ipynb``, the FID Inception (:class:`FidClusterFeatures`;
the network itself, :class:`FidInception`, is the one FID uses, :mod:`backend.metrics.fid`). Feature rows are
keyed by extractor + image sha256 + mask version sha256, so clustering again with another k,
or after editing a few masks, runs the network only on what changed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from backend.config.device import pick_device
from backend.config.settings import WEIGHTS, resolve_weights
from backend.errors import BadWeightsError, Cancelled, MissingWeightsError
from backend.io.weights import load_into, load_weights
from backend.workspace import Workspace

Progress = Callable[[int, int, str], None]
CancelFn = Callable[[], bool]

POOL_DIM = 2048
INPUT_SIZE = 299  # Inception-v3's native input; the real path always uses it
FID_WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"


_DIGESTS: dict[tuple[str, int, int], str] = {}


def file_digest(path: str | Path) -> str:
    """sha256 of a (weights) file, memoised on path + size + mtime: cache keys name the weights."""
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _DIGESTS[key] = h.hexdigest()
    return _DIGESTS[key]


def load_inception(weights: str | Path) -> torch.nn.Module:
    """torchvision Inception-v3 from a local state dict, returning the 2048-d pool features.

    ``transform_input`` stays False: inputs are scaled to [-1, 1] directly, which is what
    torchvision's ``transform_input=True`` produces from ImageNet-normalised input for these
    (TF-ported) weights.
    """
    import torchvision

    state = load_weights(weights)
    model = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False)
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise BadWeightsError(f"{weights}: not a torchvision inception_v3 state dict ({str(e)[:300]})") from None
    model.fc = torch.nn.Identity()  # keep the pooled features, drop the ImageNet classifier
    return model.eval()


def _missing_fid(path: Path) -> MissingWeightsError:
    spec = WEIGHTS["fid_inception"]
    return MissingWeightsError(spec.name, str(path), spec.architecture, spec.how_to_get, spec.cli_flag, spec.env_var)


class FidInception(nn.Module):
    """(B, 3, 299, 299) float in [0, 255] -> (B, 2048) pool3 features of the FID Inception."""

    def __init__(self):
        super().__init__()
        import torchvision
        from cleanfid.inception_pytorch import FIDInceptionA, FIDInceptionC, FIDInceptionE_1, FIDInceptionE_2

        net = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False, transform_input=False)
        net.Mixed_5b, net.Mixed_5c, net.Mixed_5d = (
            FIDInceptionA(c, pool_features=p) for c, p in ((192, 32), (256, 64), (288, 64))
        )
        net.Mixed_6b, net.Mixed_6c, net.Mixed_6d, net.Mixed_6e = (
            FIDInceptionC(768, channels_7x7=c) for c in (128, 160, 160, 192)
        )
        net.Mixed_7b, net.Mixed_7c = FIDInceptionE_1(1280), FIDInceptionE_2(2048)
        net.fc = nn.Identity()  # the pool3 features; the file's 1008-way classifier is ignored
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # the TF graph's own input scaling, as clean-fid's "clean" mode applies it
        return self.net((x - 128) / 128)


def load_fid_network(cli_value: str | None = None) -> tuple[FidInception, Path]:
    """The FID Inception filled from pytorch-fid's state dict (the file or the folder holding
    it, resolved flag > env > settings; never downloaded), and the file it came from."""
    p = resolve_weights("fid_inception", cli_value)
    file = p / FID_WEIGHTS_FILE if p.is_dir() else p
    if not file.is_file():
        raise _missing_fid(file)
    model = FidInception()
    state = load_weights(file, expected=WEIGHTS["fid_inception"].how_to_get)
    load_into(model.net, state, file, f"FID Inception ({FID_WEIGHTS_FILE})")
    return model.eval(), file


def embed_batches(
    model: nn.Module, to_input: Callable[[Sequence[np.ndarray]], torch.Tensor], images: Sequence[np.ndarray], batch_size: int
) -> np.ndarray:
    """(N, 2048) float32 features of uint8 RGB ``images``; one forward call per batch."""
    out = []
    with torch.inference_mode():
        for i in range(0, len(images), batch_size):
            out.append(model(to_input(images[i : i + batch_size])).float().cpu().numpy())
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, POOL_DIM), np.float32)


@dataclass
class InceptionFeatures:
    """Batched Inception-v3 pool features of uint8 RGB arrays (any size, resized to 299)."""

    model: torch.nn.Module
    weights_id: str  # names the weights file by content
    device: torch.device
    batch_size: int = 16
    input_size: int = INPUT_SIZE

    @property
    def extractor_id(self) -> str:
        """Cache key prefix: the same weights at another input size give other features."""
        return f"{self.weights_id}/{self.input_size}px"

    @classmethod
    def from_settings(cls, cli_value: str | None = None, device: str | None = None, batch_size: int = 16) -> "InceptionFeatures":
        """Resolve the weights file (flag > env > settings) or raise MissingWeightsError."""
        path = resolve_weights("inception", cli_value)
        dev = pick_device(device)
        model = load_inception(path).to(dev)
        return cls(model, f"inception_v3-pool@{file_digest(path)[:16]}", dev, batch_size)

    def _tensor(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        s = self.input_size
        batch = np.stack(
            [cv2.resize(im, (s, s), interpolation=cv2.INTER_AREA if min(im.shape[:2]) > s else cv2.INTER_CUBIC) for im in images]
        )
        x = torch.from_numpy(batch).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
        return x.to(self.device)

    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray:
        return embed_batches(self.model, self._tensor, images, self.batch_size)


@dataclass
class FidClusterFeatures:
    """The author's clustering features (``clustering/clustering.ipynb`` with
    ``utils_flexit/inception.py``, pytorch-fid's ``InceptionV3`` at its defaults): the image
    resized to 256x256 by PIL LANCZOS (``ret_img_mask``), ``TF.to_tensor`` to [0, 1], resized
    bilinearly to 299 (``F.interpolate``, align_corners False: ``resize_input``), ``2x - 1``
    (``normalize_input``), the FID Inception's pool features (block 3)."""

    net: torch.nn.Module  # FidInception.net: takes the [-1, 1] input as it is
    weights_id: str
    device: torch.device
    batch_size: int = 16
    notebook_size: int = 256  # clustering.ipynb shape = (256, 256)

    @property
    def extractor_id(self) -> str:
        return f"{self.weights_id}/lanczos{self.notebook_size}-bilinear{INPUT_SIZE}"

    @classmethod
    def from_settings(cls, cli_value: str | None = None, device: str | None = None, batch_size: int = 16) -> "FidClusterFeatures":
        """The FID Inception file as FID resolves it (flag > env > settings) or MissingWeightsError."""
        model, file = load_fid_network(cli_value)
        dev = pick_device(device)
        return cls(model.net.to(dev), f"fid-inception-pool@{file_digest(file)[:16]}", dev, batch_size)

    def _tensor(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        from PIL import Image

        s = self.notebook_size
        batch = np.stack(
            [np.asarray(Image.fromarray(im).convert("RGB").resize((s, s), Image.Resampling.LANCZOS)) for im in images]
        )
        x = torch.from_numpy(batch).permute(0, 3, 1, 2).float().div_(255.0)
        x = torch.nn.functional.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        return (2 * x - 1).to(self.device)

    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray:
        return embed_batches(self.net, self._tensor, images, self.batch_size)


# -- the workspace feature cache -----------------------------------------------------------


def load_cached(ws: Workspace, keys: Iterable[str]) -> dict[str, np.ndarray]:
    """Cached feature vectors for the keys that have one."""
    keys = list(keys)
    found: dict[str, np.ndarray] = {}
    for i in range(0, len(keys), 500):  # stay below SQLite's parameter limit
        chunk = keys[i : i + 500]
        rows = ws.query(f"SELECT key, data FROM features WHERE key IN ({','.join('?' * len(chunk))})", tuple(chunk))
        found.update({r["key"]: np.frombuffer(r["data"], dtype="<f4").copy() for r in rows})
    return found


def store_features(ws: Workspace, extractor: str, items: dict[str, np.ndarray]) -> None:
    with ws.transaction() as c:
        c.executemany(
            "INSERT OR REPLACE INTO features (key, extractor, dim, data) VALUES (?,?,?,?)",
            [(k, extractor, int(v.size), np.asarray(v, dtype="<f4").tobytes()) for k, v in items.items()],
        )


def mask_as_rgb(mask: np.ndarray) -> np.ndarray:
    return np.repeat((mask > 0).astype(np.uint8)[..., None] * 255, 3, axis=2)


def pair_features(
    ws: Workspace,
    image_ids: Sequence[int],
    extractor: InceptionFeatures | FidClusterFeatures,
    progress: Progress | None = None,
    cancel: CancelFn | None = None,
) -> np.ndarray:
    """(N, 4096) features [image pool | mask pool] of each image with its current mask.

    Cached rows are reused; only missing pairs go through the network, in batches, and each
    finished batch is stored at once so a cancelled run keeps what it computed.
    """
    keys: list[str] = []
    for image_id in image_ids:
        rec = ws.image(image_id)
        mask = ws.current_mask(image_id)
        keys.append(f"{extractor.extractor_id}|img:{rec.sha256}|mask:{mask.sha256}")
    cached = load_cached(ws, keys)
    todo = [i for i, k in enumerate(keys) if k not in cached]
    step = max(1, extractor.batch_size // 2)  # image + mask share one forward batch
    for start in range(0, len(todo), step):
        if cancel and cancel():
            raise Cancelled("feature extraction cancelled")
        idx = todo[start : start + step]
        images, masks = [], []
        for i in idx:
            images.append(ws.read_image(image_ids[i]))
            masks.append(mask_as_rgb(ws.read_mask(ws.current_mask(image_ids[i]))))
        feats = extractor.embed(images + masks)
        new = {keys[i]: np.concatenate([feats[j], feats[len(idx) + j]]) for j, i in enumerate(idx)}
        store_features(ws, extractor.extractor_id, new)
        cached.update(new)
        if progress:
            progress(start + len(idx), len(todo), "Inception features")
    return np.stack([cached[k] for k in keys]) if keys else np.zeros((0, 2 * POOL_DIM), np.float32)
