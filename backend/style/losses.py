"""The loss terms of style guidance (paper eq. for L_content and L_style), each a plain
differentiable function of image tensors in [-1, 1] (N, C, H, W).

Content (ZeCon, Yang et al.): patch-wise contrastive loss on the diffusion UNet's encoder
features, VGG19 feature MSE, pixel MSE. Style (DiffuseIT, Kwon & Ye): DINO [CLS] MSE to the
target, pixel L2 to the target, semantic divergence between consecutive steps, range loss.
Each mirrors the reference implementation's reduction so Table A.3's lambdas mean the same.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from backend.style.networks import IMAGENET_MEAN, IMAGENET_STD, vgg_features


def range_loss(x: torch.Tensor) -> torch.Tensor:
    """Squared distance outside [-1, 1], mean per image, summed over the batch."""
    return (x - x.clamp(-1, 1)).pow(2).mean(dim=list(range(1, x.ndim))).sum()


def mse(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(x, y)


def patch_nce(feat_q: torch.Tensor, feat_k: torch.Tensor, temperature: float = 0.07) -> torch.Tensor:
    """PatchNCE (Park et al., as ZeCon uses it) on L2-normalised patch features (P, D).

    Each query patch must pick its own key patch among all key patches of the image; the
    keys are constants. The self-similarity of a key with itself among the negatives is
    masked to -10 as the reference does. Returns the mean cross-entropy over patches.
    """
    feat_k = feat_k.detach()
    pos = (feat_q * feat_k).sum(dim=1, keepdim=True)
    neg = feat_q @ feat_k.t()
    eye = torch.eye(neg.shape[0], dtype=torch.bool, device=neg.device)
    neg = neg.masked_fill(eye, -10.0)
    logits = torch.cat([pos, neg], dim=1) / temperature
    target = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
    return F.cross_entropy(logits, target)


def _normalise(v: torch.Tensor) -> torch.Tensor:
    return v / (v.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-7)


def zecon_loss(
    feats_q: list[torch.Tensor],
    feats_k: list[torch.Tensor],
    num_patches: int = 256,
    temperature: float = 0.07,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """ZeCon's content loss: PatchNCE at ``num_patches`` random locations per layer (the same
    locations in query and key), summed over layers. Batch items are pooled per layer as the
    reference does (it runs with batch size 1)."""
    total = feats_q[0].new_zeros(())
    for fq, fk in zip(feats_q, feats_k):
        q = fq.permute(0, 2, 3, 1).flatten(1, 2)  # (B, HW, C)
        k = fk.permute(0, 2, 3, 1).flatten(1, 2)
        hw = q.shape[1]
        ids = torch.randperm(hw, generator=generator)[: min(num_patches, hw)].to(q.device)
        total = total + patch_nce(_normalise(q[:, ids].flatten(0, 1)), _normalise(k[:, ids].flatten(0, 1)), temperature)
    return total


def vgg_loss(vgg: nn.Sequential, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """MSE of post-ReLU conv1_1 and conv2_1 features (as the reference stores them).

    ZeCon applies the ImageNet normalisation to the [-1, 1] tensors directly (no rescale to
    [0, 1]); we keep that so that lambda_VGG = 100 (Table A.3) has the paper's weight.
    """
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    fx = vgg_features(vgg, (x[:, :3] - mean) / std)
    with torch.no_grad():
        fy = vgg_features(vgg, (y[:, :3] - mean) / std)
    return sum((F.mse_loss(fx[name], fy[name]) for name in fx), x.new_zeros(()))


def cls_loss(cls: torch.Tensor, target_cls: torch.Tensor) -> torch.Tensor:
    """DiffuseIT's style loss: MSE between [CLS] tokens, summed over the batch."""
    return sum((F.mse_loss(c, t.detach()) for c, t in zip(cls, target_cls)), cls.new_zeros(()))


def sem_loss(cls: torch.Tensor, prev_cls: torch.Tensor) -> torch.Tensor:
    """DiffuseIT's semantic divergence: the *negative* [CLS] MSE to the previous step's
    estimate, so minimising it pushes the semantics to keep moving in early steps."""
    return -cls_loss(cls, prev_cls)
