"""RePaint (Lugmayr et al., CVPR 2022, Alg. 1): inpainting with an unconditional diffusion model.

The reverse chain runs over a respaced process (200 steps in the paper). Before every model
evaluation at step ``t`` the known values are replaced by the real image noised to the same level
(``q_sample(x0, t)``, Alg. 1 line 5, then 8), so the model only has to make the unknown values
agree with them; the step itself is the model's ancestral step (line 7). The jumps back of the
schedule (lines 9-10) let the generated region harmonise with its surroundings (paper Table A.2:
jump_length 10, jump_n_sample 5).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from backend.diffusion.config import DiffusionConfig
from backend.diffusion.gaussian import GaussianDiffusion, create_diffusion
from backend.diffusion.samplers.base import Known, Model, Noise
from backend.diffusion.samplers.schedule import RepaintSchedule


@dataclass
class RePaintSampler:
    """RePaint over ``respacing`` steps with its jumps; ``clip_denoised`` clips each step's x0
    prediction to [-1, 1] before the posterior mean (RePaint's confs; the final sample is clamped
    either way)."""

    name: ClassVar[str] = "repaint"
    respacing: int = 200
    jump_length: int = 10
    jump_n_sample: int = 5
    clip_denoised: bool = True
    diffusion: GaussianDiffusion | None = field(default=None, repr=False, compare=False)

    @property
    def schedule(self) -> RepaintSchedule:
        return RepaintSchedule(self.respacing, self.jump_length, self.jump_n_sample)

    def set_timesteps(self, diffusion: DiffusionConfig) -> GaussianDiffusion:
        if self.respacing > diffusion.diffusion_steps:
            raise ValueError(f"respacing {self.respacing} exceeds the model's {diffusion.diffusion_steps} diffusion steps")
        self.diffusion = create_diffusion(diffusion, str(self.respacing))
        return self.diffusion

    def times(self) -> list[int]:
        return self.schedule.times()

    def evaluations(self) -> int:
        return self.schedule.evaluations()

    def step(self, model: Model, x: torch.Tensor, t: torch.Tensor, known: Known, noise: Noise) -> torch.Tensor:
        assert self.diffusion is not None, "set_timesteps first"
        x = known.paste(x, self.diffusion.q_sample(known.image, t, noise()))
        x, _ = self.diffusion.p_sample(model, x, t, noise(), clip_denoised=self.clip_denoised)
        return x

    def settings(self) -> dict[str, Any]:
        return {
            "sampler": self.name,
            "schedule": "repaint-jump",
            "respacing": self.respacing,
            "jump_length": self.jump_length,
            "jump_n_sample": self.jump_n_sample,
            "evaluations": self.evaluations(),
            "clip_denoised": self.clip_denoised,
        }
