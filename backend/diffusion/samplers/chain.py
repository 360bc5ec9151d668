"""What the samplers on a respaced jump schedule share: their schedule settings, the process
they build, and the network's x0 and noise predictions at one step.

Every sampler here visits the times of a :class:`RepaintSchedule` (RePaint's jumps, DDNM's time
travel; ``jump_n_sample = 1`` is a plain chain), so one torch-free count of evaluations serves the
estimate of every sampler (``InpaintConfig.schedule``).

Replacing the known values (RePaint) or pasting them into the clean estimate (DDNM) tells the
generated values of them only through the next network evaluation, and at high noise a known
value is mostly noise. Mask-guided synthesis knows the mask channel everywhere and generates the
RGB under it, and the new polyp came out faint: flat, pale, see-through (issue 34). Two settings
make the known values count for more. Both are 0 by default, and then the sampler's step runs
as it always has, bit for bit.

``contrast`` (classifier-free guidance's extrapolation, Ho and Salimans 2021, with the joint
model's own mask channel as the condition): each step evaluates the network twice in one batch.
Once it is told the known values. Once it is told background (-1, the low end of [-1, 1]) at
each known value whose pixel has other values that are generated: the wanted polyp's mask under
the generated RGB. The noise estimate is moved away from the second:
``eps = eps_told + contrast * (eps_told - eps_background)``. The variance values are the
first's. What the mask changes in the generated values (the polyp's colour and shading) is
amplified. Inpainting keeps or generates all values of a pixel together, so it has no such value
and the step is unchanged. Cost: the network on a batch twice as large. Measured on the demo
(issue 34): it is the setting that lifts adherence, and ``diffgen synthesize`` uses it by
default (``InpaintConfig.synthesis_contrast``).

``guidance``, reconstruction guidance (Ho et al. 2022, "Video Diffusion Models", Sec. 3.1),
differentiates the step's own unclipped clean estimate ``x0|t`` with respect to the network's
input ``x_t``, and corrects the generated values' estimate, ``x0 <- x0 - guidance * sqrt(a_t) / 2
* grad_{x_t} ||keep * (x0|t - known)||^2``. The correction reaches the step's result as a DDIM
step carries its x0, scaled by ``sqrt(a_{t-1})``. It costs one backward pass per evaluation.
DPS's step (Chung et al., ICLR 2023), the same gradient divided by the residual's norm, drove the
demo's polyps to black or white blobs and lowered adherence. This form, whose step shrinks with
the residual, helped DDNM a little (issue 34's measurements). Guidance is off everywhere by default.
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
    contrast: float = 0.0  # the mask contrast (module docstring); 0: none
    guidance: float = 0.0  # reconstruction guidance's weight (module docstring); 0: none
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
        """:meth:`reverse` with ``contrast`` and ``guidance`` when they are set (module docstring)."""
        if self.contrast > 0:
            model = self.contrasted(model, t, known)
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
            residual = (known.keep * (self.estimate(out, x_in, t)[0] - known.image)).pow(2).sum()  # rows add up: each its own
            (grad,) = torch.autograd.grad(residual, x_in)
        d = self.process()
        ab, ab_prev = d._extract(d.alphas_cumprod, t, x.shape), d._extract(d.alphas_cumprod_prev, t, x.shape)
        return x_next - self.guidance * torch.sqrt(ab_prev) * torch.sqrt(ab) / 2 * (1 - known.keep) * grad

    def contrasted(self, model: Model, t: torch.Tensor, known: Known) -> Model:
        """``model`` with its noise estimate moved away from the one told background at the known
        values whose pixel is otherwise generated (module docstring); ``model`` itself when the
        batch has no such value (inpainting)."""
        keep = known.keep.expand_as(known.image)
        told = (keep > 0) & (keep < 1).any(1, keepdim=True)
        if not bool(told.any()):
            return model
        d = self.process()
        ab = d._extract(d.alphas_cumprod, t, known.image.shape)
        shift = torch.where(told, torch.sqrt(ab) * (-1 - known.image), torch.zeros_like(known.image))  # x0 -> background

        def net(x_in: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
            out, background = model(torch.cat([x_in, x_in + shift]), timesteps.repeat(2)).chunk(2)
            c = x_in.shape[1]
            eps = out[:, :c] + self.contrast * (out[:, :c] - background[:, :c])
            return torch.cat([eps, out[:, c:]], 1)

        return net

    def estimate(self, output: torch.Tensor, x: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The unclipped clean estimate ``x0|t`` and the noise ``eps`` from the network's
        ``output`` at ``(x, t)`` (its variance values are unused)."""
        d = self.process()
        eps, _ = d.split_output(output, x.shape[1])
        eps = eps.float()
        ab = d._extract(d.alphas_cumprod, t, x.shape)
        return (x - torch.sqrt(1 - ab) * eps) / torch.sqrt(ab), eps

    def predict(self, model: Model, x: torch.Tensor, t: torch.Tensor, clip: bool | None = None) -> Prediction:
        """One network evaluation at ``(x, t)``. With clipping, ``eps`` is re-derived from the
        clipped x0 (guided-diffusion's ``ddim_sample``, diffusers' ``use_clipped_model_output``),
        so that x0 and eps stay one consistent decomposition of ``x_t``."""
        d = self.process()
        x0, eps = self.estimate(model(x, d.model_timesteps(t)), x, t)
        ab = d._extract(d.alphas_cumprod, t, x.shape)
        ab_prev = d._extract(d.alphas_cumprod_prev, t, x.shape)
        if self.clip_denoised if clip is None else clip:
            x0 = x0.clamp(-1, 1)
            eps = (x - torch.sqrt(ab) * x0) / torch.sqrt(1 - ab)
        return Prediction(x0, eps, ab, ab_prev)
