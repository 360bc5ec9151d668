"""RePaint (Lugmayr et al., CVPR 2022, Alg. 1): inpainting with an unconditional diffusion model.

The reverse chain runs over a respaced process (200 steps in the paper). Before every model
evaluation at step ``t`` the known values are replaced by the real image noised to the same level
(``q_sample(x0, t)``, Alg. 1 line 5, then 8), so the model only has to make the unknown values
agree with them; the step itself is the model's ancestral step (line 7). The jumps back of the
schedule (lines 9-10) let the generated region harmonise with its surroundings (paper Table A.2:
jump_length 10, jump_n_sample 5).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from backend.diffusion.samplers.base import Known, Model, Noise
from backend.diffusion.samplers.chain import ChainSampler


@dataclass
class RePaintSampler(ChainSampler):
    """RePaint over ``respacing`` steps with its jumps; ``clip_denoised`` clips each step's x0
    prediction to [-1, 1] before the posterior mean (RePaint's confs; the final sample is clamped
    either way)."""

    name: ClassVar[str] = "repaint"

    def reverse(self, model: Model, x: torch.Tensor, t: torch.Tensor, known: Known, noise: Noise) -> torch.Tensor:
        d = self.process()
        x = known.paste(x, d.q_sample(known.image, t, noise()))
        x, _ = d.p_sample(model, x, t, noise(), clip_denoised=self.clip_denoised)
        return x
