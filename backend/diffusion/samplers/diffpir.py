"""DiffPIR (Zhu et al., "Denoising Diffusion Models for Plug-and-Play Image Restoration", CVPR
2023 workshops, Algorithm 1): half-quadratic splitting with the known values as the data term.

Each step splits the posterior into a prior and a data subproblem (Eq. 6a/6b). The prior step is
the network's clean estimate ``x0 = (x_t - sqrt(1 - a_t) eps) / sqrt(a_t)`` (Eq. 11); the data
step solves ``argmin_x ||y - H x||^2 + rho_t ||x - x0||^2`` (Eq. 13), which for inpainting
(H = diag(keep), per value) has the closed form

    x^0 = (keep y + rho_t x0) / (keep + rho_t),   rho_t = lambda sigma_n^2 / sigma_bar_t^2,
    sigma_bar_t^2 = (1 - a_t) / a_t,

(the authors' ``main_ddpir_inpainting.py``; sigma_n = max(0.001, the noise level of y) = 0.001
for our noise-free known values, lambda = 1). Then the effective noise
``eps^ = (x_t - sqrt(a_t) x^0) / sqrt(1 - a_t)`` (Eq. 14) and the next state (Eq. 15, with the
authors' DDIM ``eta`` term)

    x_{t-1} = sqrt(a_{t-1}) x^0 + sqrt(1 - zeta) (sqrt(1 - a_{t-1} - s^2) eps^ + s z1)
              + sqrt(zeta) sqrt(1 - a_{t-1}) z2,
    s = eta sqrt((1 - a_{t-1}) / (1 - a_t)) sqrt(beta_t),

where ``beta_t = 1 - a_t / a_{t-1}`` is the respaced step's (the authors take the 1000-step
beta; the two agree at their ``eta = 0``). ``zeta = 1`` (their inpainting setting) re-noises the
corrected estimate completely. Our steps are the evenly respaced ones (theirs: ``quad``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from backend.diffusion.samplers.base import Known, Model, Noise
from backend.diffusion.samplers.chain import ChainSampler


@dataclass
class DiffPIRSampler(ChainSampler):
    """DiffPIR over ``respacing`` steps (jumps optional); ``hqs_lambda`` is the paper's lambda,
    ``zeta`` in [0, 1] the share of fresh noise, ``eta`` the DDIM term, ``sigma_n`` the noise
    level assumed on the known values."""

    name: ClassVar[str] = "diffpir"
    respacing: int = 25
    jump_length: int = 5
    jump_n_sample: int = 1
    eta: float = 0.0
    zeta: float = 1.0
    hqs_lambda: float = 1.0
    sigma_n: float = 0.001

    def reverse(self, model: Model, x: torch.Tensor, t: torch.Tensor, known: Known, noise: Noise) -> torch.Tensor:
        p = self.predict(model, x, t)
        ab, ab_prev = p.alpha_bar, p.alpha_bar_prev
        rho = self.hqs_lambda * self.sigma_n**2 * ab / (1 - ab)
        x0 = (known.keep * known.image + rho * p.x0) / (known.keep + rho)
        eps = (x - torch.sqrt(ab) * x0) / torch.sqrt(1 - ab)
        s = self.eta * torch.sqrt((1 - ab_prev) / (1 - ab)) * torch.sqrt(1 - ab / ab_prev)
        z1, z2 = noise(), noise()
        kept = torch.sqrt((1 - ab_prev - s**2).clamp(min=0)) * eps + s * z1
        return torch.sqrt(ab_prev) * x0 + (1 - self.zeta) ** 0.5 * kept + self.zeta**0.5 * torch.sqrt(1 - ab_prev) * z2
