"""DDNM+ (Wang, Yu and Zhang, "Zero-Shot Image Restoration Using Denoising Diffusion Null-Space
Model", ICLR 2023) for inpainting: range/null-space decomposition with time travel.

For a linear degradation ``y = A x`` the range-space part of a solution is fixed by ``y`` and
only the null-space part is generated: at each step the network's clean estimate
``x0|t = (x_t - sqrt(1 - a_t) eps) / sqrt(a_t)`` (Eq. 12) is rectified to
``x^0|t = x0|t - A^+ (A x0|t - y) = A^+ y + (I - A^+ A) x0|t`` (Eq. 13; DDNM+'s Eq. 17 with
lambda_t = 1, which is what it is for a noise-free ``y`` like ours, Eq. 19). For inpainting A keeps
the known values: ``A = A^+ = diag(keep)``, per value, so a per-channel ``keep`` (mask-guided
synthesis: the mask channel known everywhere) is the same operator. The next state is sampled
from the rectified estimate with the authors' DDIM step (their code,
``functions/svd_ddnm.py:ddnm_diffusion``; the paper's Eq. 14 is the DDPM posterior instead):

    x_{t-1} = sqrt(a_{t-1}) x^0|t + sqrt(1 - a_{t-1}) (eta z + sqrt(1 - eta^2) eps)

(``eta = 0.85`` in their configs). Time travel (paper Sec. 3.3, "DDNM+"; RePaint's schedule with
``travel_length``/``travel_repeat``) is the schedule's jumps: the loop re-noises forward with
``q(x_{t+1} | x_t)``, as the paper's algorithm; the authors' code re-noises the last x0|t instead.
Equation numbers as the authors' code comments give them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from backend.diffusion.samplers.base import Known, Model, Noise
from backend.diffusion.samplers.chain import ChainSampler


@dataclass
class DDNMSampler(ChainSampler):
    """DDNM+ over ``respacing`` steps, time travel ``jump_length`` x ``jump_n_sample``.
    ``clip_denoised`` clips x0|t before the rectification (the authors do not clip)."""

    name: ClassVar[str] = "ddnm"
    respacing: int = 25
    jump_length: int = 5
    jump_n_sample: int = 1
    clip_denoised: bool = False
    eta: float = 0.85

    def reverse(self, model: Model, x: torch.Tensor, t: torch.Tensor, known: Known, noise: Noise) -> torch.Tensor:
        p = self.predict(model, x, t)
        x0 = known.paste(p.x0)  # A^+ y + (I - A^+ A) x0|t
        mix = self.eta * noise() + (1 - self.eta**2) ** 0.5 * p.eps
        return torch.sqrt(p.alpha_bar_prev) * x0 + torch.sqrt(1 - p.alpha_bar_prev) * mix
