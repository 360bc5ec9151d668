"""DDIM with RePaint's resampling: RePaint's known-value replacement and jumps on a DDIM chain.

Before each evaluation at step ``t`` the known values are replaced by the real image noised to
level ``t`` (RePaint, Lugmayr et al., CVPR 2022, Alg. 1 lines 5 and 8); the step itself is DDIM's
(Song, Meng and Ermon, ICLR 2021, Eq. 12):

    x_{t-1} = sqrt(a_{t-1}) x0 + sqrt(1 - a_{t-1} - sigma_t^2) eps + sigma_t z,
    sigma_t = eta sqrt((1 - a_{t-1}) / (1 - a_t)) sqrt(1 - a_t / a_{t-1})          (Eq. 16)

with ``a`` the cumulative alpha of the respaced process, x0 = (x_t - sqrt(1 - a_t) eps) / sqrt(a_t)
(Eq. 9's rearrangement) clipped to [-1, 1] and eps re-derived from the clipped x0 (diffusers'
``DDIMScheduler.step(..., use_clipped_model_output=True)``, guided-diffusion's ``ddim_sample``).
``eta = 0`` is deterministic DDIM, ``eta = 1`` the ancestral variance. The jumps back (RePaint
Alg. 1 lines 9-10) run on the same respaced chain. Only the first ``C`` output channels (eps) of
the learned-sigma network are used: DDIM has its own variance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from backend.diffusion.samplers.base import Known, Model, Noise
from backend.diffusion.samplers.chain import ChainSampler


def ddim_step(
    x0: torch.Tensor, eps: torch.Tensor, ab: torch.Tensor, ab_prev: torch.Tensor, eta: float, z: torch.Tensor
) -> torch.Tensor:
    """DDIM's Eq. 12 with Eq. 16's sigma (a_{t-1} = 1 at the last step: the result is x0)."""
    sigma = eta * torch.sqrt((1 - ab_prev) / (1 - ab)) * torch.sqrt(1 - ab / ab_prev)
    return torch.sqrt(ab_prev) * x0 + torch.sqrt((1 - ab_prev - sigma**2).clamp(min=0)) * eps + sigma * z


@dataclass
class DDIMRePaintSampler(ChainSampler):
    """DDIM over ``respacing`` steps with RePaint's replacement and jumps; ``eta`` in [0, 1]."""

    name: ClassVar[str] = "ddim-repaint"
    respacing: int = 25
    jump_length: int = 5
    jump_n_sample: int = 1
    eta: float = 0.0

    def reverse(self, model: Model, x: torch.Tensor, t: torch.Tensor, known: Known, noise: Noise) -> torch.Tensor:
        x = known.paste(x, self.process().q_sample(known.image, t, noise()))
        p = self.predict(model, x, t)
        return ddim_step(p.x0, p.eps, p.alpha_bar, p.alpha_bar_prev, self.eta, noise())
