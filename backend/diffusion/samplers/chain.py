"""What the samplers on a respaced jump schedule share: their schedule settings, the process
they build, and the network's x0 and noise predictions at one step.

Every sampler here visits the times of a :class:`RepaintSchedule` (RePaint's jumps, DDNM's time
travel; ``jump_n_sample = 1`` is a plain chain), so one torch-free count of evaluations serves the
estimate of every sampler (``InpaintConfig.schedule``).

Reconstruction guidance (``guidance`` > 0; Ho et al. 2022, "Video Diffusion Models", Sec. 3.1;
DPS, Chung et al., ICLR 2023, Alg. 1): replacing the known values (RePaint) or pasting them into
the clean estimate (DDNM) tells the generated values of them only through the next network
evaluation, and at high noise a known value is mostly noise. Mask-guided synthesis knows the mask
channel everywhere and generates the RGB under it: the new polyp came out faint. Guidance
differentiates the step's own clean estimate ``x0|t`` (unclipped) with respect to the network's
input ``x_t`` and moves the generated values of the step's result down the gradient of the
known values' residual, each row by itself:

    x_{t-1} <- x_{t-1} - guidance * (1 - keep) * grad_{x_t} ||keep * (x0|t - known)||

DPS's step size ``zeta_t = zeta' / ||y - A x0|t||`` on the squared residual, which is this
gradient of the norm; DPS takes zeta' = 1 for inpainting. It costs one backward pass through
the network per evaluation; 0 (the default) runs the sampler's step as it is, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import torch

from backend.diffusion.config import DiffusionConfig
from backend.diffusion.gaussian import GaussianDiffusion, create_diffusion
from backend.diffusion.samplers.base import Known, Model, Noise
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
    guidance: float = 0.0  # reconstruction guidance's step (module docstring); 0: none
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

    def reverse(self, model: Model, x: torch.Tensor, t: torch.Tensor, known: Known, noise: Noise) -> torch.Tensor:
        """The sampler's own reverse step from ``x_t``; calls ``model`` exactly once."""
        raise NotImplementedError

    def step(self, model: Model, x: torch.Tensor, t: torch.Tensor, known: Known, noise: Noise) -> torch.Tensor:
        """:meth:`reverse`, then reconstruction guidance when ``guidance`` > 0 (module docstring)."""
        if self.guidance <= 0:
            return self.reverse(model, x, t, known, noise)
        seen: list[torch.Tensor] = []

        def traced(x_in: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
            x_in = x_in.detach().requires_grad_(True)
            with torch.enable_grad():
                out = model(x_in, timesteps)
            seen[:] = [x_in, out]
            return out.detach()

        x_next = self.reverse(traced, x, t, known, noise)
        x_in, out = seen
        with torch.enable_grad():
            x0 = self.estimate(out, x_in, t)
            residual = (known.keep * (x0 - known.image)).flatten(1).pow(2).sum(1)  # per row
            (grad,) = torch.autograd.grad(residual.sum(), x_in)
        norm = residual.detach().sqrt().clamp_min(1e-8).reshape(-1, *([1] * (x.ndim - 1)))
        return x_next - self.guidance * (1 - known.keep) * grad / (2 * norm)  # grad ||r|| = grad ||r||^2 / 2||r||

    def estimate(self, output: torch.Tensor, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The unclipped clean estimate ``x0|t`` from the network's ``output`` at ``(x, t)``."""
        d = self.process()
        eps, _ = d.split_output(output, x.shape[1])
        ab = d._extract(d.alphas_cumprod, t, x.shape)
        return (x - torch.sqrt(1 - ab) * eps.float()) / torch.sqrt(ab)

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
