"""Guided reverse diffusion for style transfer (DiffuseIT / ZeCon, paper section 3.3).

The inpainted sample x0 is noised to step ``T - skip_timesteps - 1`` of the respaced process
(DiffuseIT's convention: with T = 200 and skip 80 the last 120 steps run) and denoised again
by the same 4-channel model. At each step the mean of p(x_{t-1} | x_t) is shifted by
``variance * -grad L_total`` where the losses read

    x_in = pred_x0 * f + x_t * (1 - f),   f = sqrt(1 - alphabar_t)

(ZeCon's cond_fn). Content terms compare x_in with the content image noised the same way
(y_in = x0 * f + q_sample(x0, t) * (1 - f)); style terms compare x_in with the target image.
A term whose lambda is 0 is skipped entirely and its network is never built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import torch
from torch import nn

from backend.config.threads import adapt as adapt_threads
from backend.diffusion.gaussian import GaussianDiffusion, PMeanVar
from backend.diffusion.model import DiffusionUNet
from backend.errors import BadInputError, Cancelled
from backend.style import losses
from backend.style.config import StyleConfig
from backend.style.networks import DinoCLS, UNetEncoder
from backend.style.terms import LAMBDAS as LAMBDAS  # re-exported: the style job and benchmarks import it here

N = TypeVar("N")


@dataclass
class Networks:
    """The frozen loss networks, built by the caller only for the terms that need them."""

    vgg: nn.Sequential | None = None
    dino: DinoCLS | None = None


def _built(net: N | None, name: str) -> N:
    """``net``, which a non-zero lambda needs (StyleGuide checks that up front)."""
    if net is None:
        raise ValueError(f"the {name} network needed by a non-zero lambda was not built")
    return net


class StyleGuide:
    """The cond_fn of one image: holds the content and target tensors, the previous step's
    [CLS] (semantic divergence) and the last unweighted loss terms (provenance)."""

    def __init__(
        self,
        cfg: StyleConfig,
        diffusion: GaussianDiffusion,
        model: DiffusionUNet,
        content: torch.Tensor,
        target: torch.Tensor,
        nets: Networks,
        generator: torch.Generator,
    ):
        self.cfg, self.diffusion, self.model, self.nets = cfg, diffusion, model, nets
        self.content, self.target, self.generator = content, target, generator
        self.encoder = UNetEncoder(model) if cfg.lambda_zecon else None
        if (cfg.needs_vgg and nets.vgg is None) or (cfg.needs_dino and nets.dino is None):
            raise ValueError("a network needed by a non-zero lambda was not built")
        self.target_cls: torch.Tensor | None = None
        self.prev_cls: torch.Tensor | None = None
        self.prev_image = content  # DiffuseIT starts the divergence from the input
        self.terms: dict[str, float] = {}

    def _noised_content(self, t: torch.Tensor, fac: float) -> torch.Tensor:
        noise = torch.randn(self.content.shape, generator=self.generator).to(self.content.device)
        return self.content * fac + self.diffusion.q_sample(self.content, t, noise) * (1 - fac)

    def loss(self, x: torch.Tensor, t: torch.Tensor, out: PMeanVar) -> torch.Tensor:
        """The weighted total loss at step t (records each unweighted term)."""
        cfg = self.cfg
        fac = float(self.diffusion.sqrt_one_minus_alphas_cumprod[int(t[0])])
        x_in = out.pred_xstart * fac + x * (1 - fac)
        needs_y = cfg.lambda_zecon or cfg.lambda_vgg or cfg.lambda_mse
        terms = self._content_terms(x_in, self._noised_content(t, fac), t) if needs_y else {}
        if cfg.needs_dino:
            dino = _built(self.nets.dino, "DINO")
            cls = dino(x_in)
            if cfg.lambda_sty:
                if self.target_cls is None:
                    with torch.no_grad():
                        self.target_cls = dino(self.target)
                terms["sty"] = losses.cls_loss(cls, self.target_cls)
            if cfg.lambda_sem and int(t[0]) > cfg.sem_min_t:
                if self.prev_cls is None:
                    with torch.no_grad():
                        self.prev_cls = dino(self.prev_image)
                terms["sem"] = losses.sem_loss(cls, self.prev_cls)
            # the next step's "previous" estimate is this x_in: keep its [CLS], not the image
            self.prev_cls = cls.detach()
        if cfg.lambda_l2:
            terms["l2"] = losses.mse(x_in[:, :3], self.target[:, :3])
        if cfg.lambda_rng:
            terms["rng"] = losses.range_loss(out.pred_xstart)
        self.terms = {k: float(v.detach()) for k, v in terms.items()}
        return sum((cfg.weight(k) * v for k, v in terms.items()), x.new_zeros(()))

    def _content_terms(self, x_in: torch.Tensor, y_in: torch.Tensor, t: torch.Tensor) -> dict[str, torch.Tensor]:
        """The terms comparing x_in with the noised content ``y_in`` (ZeCon, VGG, MSE)."""
        cfg, terms = self.cfg, {}
        if cfg.lambda_zecon:
            encoder = _built(self.encoder, "UNet encoder")
            t0 = torch.zeros_like(t, dtype=torch.float32)  # ZeCon reads the encoder at t = 0
            with torch.no_grad():
                feats_k = encoder(y_in, t0)
            terms["zecon"] = losses.zecon_loss(
                encoder(x_in, t0), feats_k, cfg.zecon_patches, cfg.zecon_temperature, self.generator
            )
        if cfg.lambda_vgg:
            terms["vgg"] = losses.vgg_loss(_built(self.nets.vgg, "VGG"), x_in, y_in)
        if cfg.lambda_mse:
            # RGB only, as the author's cnt_mse_loss(x_in3, y_in): the mask is not pulled to the parent's
            terms["mse"] = losses.mse(x_in[:, :3], y_in[:, :3])
        return terms

    def cond_fn(self, x: torch.Tensor, t: torch.Tensor, out: PMeanVar) -> torch.Tensor:
        """Gradient that p_sample adds (times the variance) to the mean: -dL/dx_t."""
        loss = self.loss(x, t, out)
        if not loss.requires_grad:  # no term active at this step (e.g. only lambda_sem, window closed)
            return torch.zeros_like(x)
        return -torch.autograd.grad(loss, x)[0]


def style_tensor(
    model: DiffusionUNet,
    diffusion: GaussianDiffusion,
    content: torch.Tensor,
    target: torch.Tensor,
    cfg: StyleConfig,
    nets: Networks,
    generator: torch.Generator,
    step_done: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Style one batch: ``content`` (N, 4, H, W) and ``target`` (N, 3, H, W) in [-1, 1].

    Returns the final x_0 (N, 4, H, W) and the last step's unweighted loss terms. With every
    lambda 0 this is plain (unguided) SDEdit-style resampling of the same steps.
    """
    T = diffusion.num_timesteps
    if not 0 <= cfg.skip_timesteps < T:
        raise BadInputError(f"skip_timesteps={cfg.skip_timesteps} must be in [0, {T - 1}] for a model sampled with {T} steps")
    device = content.device
    start = T - cfg.skip_timesteps - 1
    indices = list(range(start, -1, -1))
    guide = StyleGuide(cfg, diffusion, model, content, target, nets, generator) if cfg.guided else None

    def randn() -> torch.Tensor:
        return torch.randn(content.shape, generator=generator).to(device)

    x = diffusion.q_sample(content, torch.full((content.shape[0],), start, device=device, dtype=torch.long), randn())
    for n, i in enumerate(indices):
        if cancel is not None and cancel():
            raise Cancelled("style transfer cancelled")
        adapt_threads()
        t = torch.full((content.shape[0],), i, device=device, dtype=torch.long)
        noise = randn()
        if guide is None:
            with torch.no_grad():
                x, _ = diffusion.p_sample(model, x, t, noise, clip_denoised=False)
        else:
            # One UNet pass with x on the graph: cond_fn differentiates the same pred_x0.
            with torch.enable_grad():
                x_req = x.detach().requires_grad_(True)
                x, _ = diffusion.p_sample(model, x_req, t, noise, clip_denoised=False, cond_fn=guide.cond_fn)
            x = x.detach()
        if step_done is not None:
            step_done(n + 1, len(indices))
    return x, (guide.terms if guide else {})
