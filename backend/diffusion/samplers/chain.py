"""What the samplers on a respaced jump schedule share: their schedule settings, the process
they build, and the network's x0 and noise predictions at one step.

Every sampler here visits the times of a :class:`RepaintSchedule` (RePaint's jumps, DDNM's time
travel; ``jump_n_sample = 1`` is a plain chain), so one torch-free count of evaluations serves the
estimate of every sampler (``InpaintConfig.schedule``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import torch

from backend.diffusion.config import DiffusionConfig
from backend.diffusion.gaussian import GaussianDiffusion, create_diffusion
from backend.diffusion.samplers.base import Model
from backend.diffusion.samplers.schedule import RepaintSchedule


@dataclass(frozen=True)
class Prediction:
    """The network's estimates at ``x_t``: ``x0`` (clipped when the sampler says so) and the
    noise ``eps`` that goes with it, and the step's ``alpha_bar`` at ``t`` and ``t - 1``."""

    x0: torch.Tensor
    eps: torch.Tensor
    alpha_bar: torch.Tensor
    alpha_bar_prev: torch.Tensor


@dataclass
class ChainSampler:
    """A sampler over ``respacing`` evenly spaced steps (guided-diffusion's respacing, as the
    paper's RePaint) with the jumps ``jump_length`` x ``jump_n_sample``; ``clip_denoised`` clips
    each x0 prediction to [-1, 1]."""

    name: ClassVar[str]
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

    def process(self) -> GaussianDiffusion:
        if self.diffusion is None:
            raise RuntimeError("set_timesteps first")
        return self.diffusion

    def settings(self) -> dict[str, Any]:
        """The sampler's name, schedule, evaluations and every setting (a sample's provenance)."""
        own = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "diffusion"}
        return {"sampler": self.name, "schedule": "repaint-jump", **own, "evaluations": self.evaluations()}

    def predict(self, model: Model, x: torch.Tensor, t: torch.Tensor, clip: bool | None = None) -> Prediction:
        """One network evaluation at ``(x, t)``. With clipping, ``eps`` is re-derived from the
        clipped x0 (guided-diffusion's ``ddim_sample``, diffusers' ``use_clipped_model_output``),
        so that x0 and eps stay one consistent decomposition of ``x_t``."""
        d = self.process()
        eps, _ = d.split_output(model(x, d.model_timesteps(t)), x.shape[1])  # the variance values are unused
        eps = eps.float()
        ab = d._extract(d.alphas_cumprod, t, x.shape)
        ab_prev = d._extract(d.alphas_cumprod_prev, t, x.shape)
        x0 = (x - torch.sqrt(1 - ab) * eps) / torch.sqrt(ab)
        if self.clip_denoised if clip is None else clip:
            x0 = x0.clamp(-1, 1)
            eps = (x - torch.sqrt(ab) * x0) / torch.sqrt(1 - ab)
        return Prediction(x0, eps, ab, ab_prev)
