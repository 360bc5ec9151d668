"""Gaussian diffusion with learned-range variance, the hybrid loss and timestep respacing.

What diffusers lacks and the paper's reference code (openai/guided-diffusion) has:
- the model predicts noise *and* a per-pixel interpolation ``v`` between the two variance
  bounds: ``log var = (v+1)/2 * log beta_t + (1-(v+1)/2) * log beta~_t`` (Nichol & Dhariwal);
- the hybrid loss ``L_simple + L_vb``, where the variational bound term trains only the
  variance (the mean is detached), in bits per dimension;
- respacing: sampling with a subset of the 1000 training steps (200 in the paper) by
  recomputing betas from the kept ``alphas_cumprod``; the model still sees original
  timestep values through ``timestep_map``.
All schedule arithmetic is float64 (as the reference does) and cast when indexed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from backend.diffusion.config import DiffusionConfig

Model = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def linear_betas(steps: int) -> np.ndarray:
    """Ho et al.'s linear schedule, scaled so that any step count spans the same range."""
    scale = 1000 / steps
    return np.linspace(scale * 0.0001, scale * 0.02, steps, dtype=np.float64)


def cosine_betas(steps: int, max_beta: float = 0.999) -> np.ndarray:
    f = lambda t: math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    return np.array([min(1 - f((i + 1) / steps) / f(i / steps), max_beta) for i in range(steps)])


def named_betas(name: str, steps: int) -> np.ndarray:
    if name == "linear":
        return linear_betas(steps)
    if name == "cosine":
        return cosine_betas(steps)
    raise ValueError(f"unknown noise schedule {name!r} (linear or cosine)")


def space_timesteps(num_timesteps: int, section_counts: str | list[int]) -> set[int]:
    """Which original steps to keep: ``"200"`` = 200 evenly spaced, ``"10,15"`` = per
    section, ``"ddimN"`` = stride-based as in DDIM (guided-diffusion's rule, kept exactly so
    that respaced schedules match the reference's)."""
    if isinstance(section_counts, str):
        if not section_counts:
            return set(range(num_timesteps))
        if section_counts.startswith("ddim"):
            desired = int(section_counts[len("ddim") :])
            for stride in range(1, num_timesteps):
                if len(range(0, num_timesteps, stride)) == desired:
                    return set(range(0, num_timesteps, stride))
            raise ValueError(f"cannot create exactly {desired} steps with an integer stride")
        section_counts = [int(x) for x in section_counts.split(",")]
    size_per = num_timesteps // len(section_counts)
    extra = num_timesteps % len(section_counts)
    start, all_steps = 0, []
    for i, count in enumerate(section_counts):
        size = size_per + (1 if i < extra else 0)
        if size < count:
            raise ValueError(f"cannot divide section of {size} steps into {count}")
        frac_stride = 1 if count <= 1 else (size - 1) / (count - 1)
        cur = 0.0
        for _ in range(count):
            all_steps.append(start + round(cur))
            cur += frac_stride
        start += size
    return set(all_steps)


def normal_kl(mean1, logvar1, mean2, logvar2) -> torch.Tensor:
    """KL(N1 || N2) elementwise, in nats."""
    return 0.5 * (-1.0 + logvar2 - logvar1 + torch.exp(logvar1 - logvar2) + (mean1 - mean2) ** 2 * torch.exp(-logvar2))


def approx_standard_normal_cdf(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def discretized_gaussian_log_likelihood(x: torch.Tensor, means: torch.Tensor, log_scales: torch.Tensor) -> torch.Tensor:
    """Log-likelihood of data in [-1, 1] quantised to 256 bins under a Gaussian (nats)."""
    centered = x - means
    inv_stdv = torch.exp(-log_scales)
    cdf_plus = approx_standard_normal_cdf(inv_stdv * (centered + 1.0 / 255.0))
    cdf_min = approx_standard_normal_cdf(inv_stdv * (centered - 1.0 / 255.0))
    log_cdf_plus = torch.log(cdf_plus.clamp(min=1e-12))
    log_one_minus_cdf_min = torch.log((1.0 - cdf_min).clamp(min=1e-12))
    cdf_delta = cdf_plus - cdf_min
    return torch.where(
        x < -0.999, log_cdf_plus, torch.where(x > 0.999, log_one_minus_cdf_min, torch.log(cdf_delta.clamp(min=1e-12)))
    )


def mean_flat(x: torch.Tensor) -> torch.Tensor:
    return x.mean(dim=list(range(1, x.ndim)))


@dataclass
class PMeanVar:
    mean: torch.Tensor
    variance: torch.Tensor
    log_variance: torch.Tensor
    pred_xstart: torch.Tensor
    eps: torch.Tensor


class GaussianDiffusion:
    """A (possibly respaced) diffusion process. Index ``t`` runs over *this* process's steps."""

    def __init__(
        self,
        betas: np.ndarray,
        timestep_map: np.ndarray | None = None,
        learn_sigma: bool = True,
        original_num_steps: int | None = None,
        rescale_timesteps: bool = True,
    ):
        self.betas = np.asarray(betas, dtype=np.float64)
        assert self.betas.ndim == 1 and (self.betas > 0).all() and (self.betas <= 1).all()
        self.num_timesteps = len(self.betas)
        self.timestep_map = np.arange(self.num_timesteps) if timestep_map is None else np.asarray(timestep_map)
        self.original_num_steps = original_num_steps or self.num_timesteps
        self.learn_sigma = learn_sigma
        self.rescale_timesteps = rescale_timesteps

        alphas = 1.0 - self.betas
        self.alphas_cumprod = np.cumprod(alphas)
        self.alphas_cumprod_prev = np.append(1.0, self.alphas_cumprod[:-1])
        self.sqrt_alphas_cumprod = np.sqrt(self.alphas_cumprod)
        self.sqrt_one_minus_alphas_cumprod = np.sqrt(1.0 - self.alphas_cumprod)
        self.sqrt_recip_alphas_cumprod = np.sqrt(1.0 / self.alphas_cumprod)
        self.sqrt_recipm1_alphas_cumprod = np.sqrt(1.0 / self.alphas_cumprod - 1)
        self.posterior_variance = self.betas * (1.0 - self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)
        # The first posterior variance is 0; the reference clips the log at the second value.
        self.posterior_log_variance_clipped = np.log(np.append(self.posterior_variance[1], self.posterior_variance[1:]))
        self.posterior_mean_coef1 = self.betas * np.sqrt(self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)
        self.posterior_mean_coef2 = (1.0 - self.alphas_cumprod_prev) * np.sqrt(alphas) / (1.0 - self.alphas_cumprod)

    # -- helpers ---------------------------------------------------------------------
    @staticmethod
    def _extract(arr: np.ndarray, t: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        out = torch.from_numpy(arr).to(device=t.device)[t].float()
        return out.reshape(-1, *([1] * (len(shape) - 1))).expand(shape)

    def model_timesteps(self, t: torch.Tensor) -> torch.Tensor:
        """The timestep values the network sees (original scale, as the reference's wrapper)."""
        mapped = torch.as_tensor(self.timestep_map, device=t.device)[t]
        if self.rescale_timesteps:
            return mapped.float() * (1000.0 / self.original_num_steps)
        return mapped

    # -- forward process ---------------------------------------------------------------
    def q_sample(self, x_start: torch.Tensor, t: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        noise = torch.randn_like(x_start) if noise is None else noise
        return (
            self._extract(self.sqrt_alphas_cumprod, t, x_start.shape) * x_start
            + self._extract(self.sqrt_one_minus_alphas_cumprod, t, x_start.shape) * noise
        )

    def q_posterior(
        self, x_start: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mean, variance and clipped log-variance of q(x_{t-1} | x_t, x_0)."""
        mean = (
            self._extract(self.posterior_mean_coef1, t, x_t.shape) * x_start
            + self._extract(self.posterior_mean_coef2, t, x_t.shape) * x_t
        )
        return (
            mean,
            self._extract(self.posterior_variance, t, x_t.shape),
            self._extract(self.posterior_log_variance_clipped, t, x_t.shape),
        )

    def undo(self, x_t: torch.Tensor, t: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """One forward step x_{t-1} -> x_t (RePaint's jump back): sqrt(1-b) x + sqrt(b) n."""
        noise = torch.randn_like(x_t) if noise is None else noise
        beta = self._extract(self.betas, t, x_t.shape)
        return torch.sqrt(1 - beta) * x_t + torch.sqrt(beta) * noise

    # -- reverse process ---------------------------------------------------------------
    def split_output(self, model_output: torch.Tensor, channels: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.learn_sigma:
            return model_output[:, :channels], model_output[:, channels:]
        return model_output, None

    def p_mean_variance_from_output(
        self, model_output: torch.Tensor, x: torch.Tensor, t: torch.Tensor, clip_denoised: bool = True
    ) -> PMeanVar:
        """Mean and variance of p(x_{t-1} | x_t) given the network's output at (x, t)."""
        eps, var_values = self.split_output(model_output, x.shape[1])
        if var_values is not None:
            min_log = self._extract(self.posterior_log_variance_clipped, t, x.shape)
            max_log = self._extract(np.log(self.betas), t, x.shape)
            frac = (var_values.float() + 1) / 2
            log_variance = frac * max_log + (1 - frac) * min_log
            variance = torch.exp(log_variance)
        else:  # fixed-large variance, as guided-diffusion without learn_sigma
            fixed = np.append(self.posterior_variance[1], self.betas[1:])
            variance = self._extract(fixed, t, x.shape)
            log_variance = self._extract(np.log(fixed), t, x.shape)
        eps = eps.float()
        pred_xstart = (
            self._extract(self.sqrt_recip_alphas_cumprod, t, x.shape) * x
            - self._extract(self.sqrt_recipm1_alphas_cumprod, t, x.shape) * eps
        )
        if clip_denoised:
            pred_xstart = pred_xstart.clamp(-1, 1)
        mean, _, _ = self.q_posterior(pred_xstart, x, t)
        return PMeanVar(mean, variance, log_variance, pred_xstart, eps)

    def p_mean_variance(self, model: Model, x: torch.Tensor, t: torch.Tensor, clip_denoised: bool = True) -> PMeanVar:
        return self.p_mean_variance_from_output(model(x, self.model_timesteps(t)), x, t, clip_denoised)

    def p_sample(
        self,
        model: Model,
        x: torch.Tensor,
        t: torch.Tensor,
        noise: torch.Tensor | None = None,
        clip_denoised: bool = True,
        cond_fn: Callable[[torch.Tensor, torch.Tensor, PMeanVar], torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, PMeanVar]:
        """x_{t-1} ~ p(x_{t-1} | x_t). ``cond_fn`` returns a gradient that shifts the mean by
        ``variance * grad`` (guided-diffusion's condition_mean, used by style guidance)."""
        out = self.p_mean_variance(model, x, t, clip_denoised)
        mean = out.mean
        if cond_fn is not None:
            mean = mean + out.variance * cond_fn(x, t, out).float()
        noise = torch.randn_like(x) if noise is None else noise
        nonzero = (t != 0).float().reshape(-1, *([1] * (x.ndim - 1)))
        return mean + nonzero * torch.exp(0.5 * out.log_variance) * noise, out

    def sample_loop(
        self,
        model: Model,
        shape: tuple[int, ...],
        generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
        progress: Callable[[int, int], None] | None = None,
    ) -> torch.Tensor:
        """Unconditional ancestral sampling from pure noise over all steps of this process."""
        x = torch.randn(shape, generator=generator, device=device)
        for i in reversed(range(self.num_timesteps)):
            t = torch.full((shape[0],), i, device=device, dtype=torch.long)
            noise = torch.randn(shape, generator=generator, device=device)
            x, _ = self.p_sample(model, x, t, noise)
            if progress:
                progress(self.num_timesteps - i, self.num_timesteps)
        return x

    # -- training ----------------------------------------------------------------------
    def vb_terms_bpd(self, model_output: torch.Tensor, x_start: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Variational-bound term per sample in bits/dim: KL for t>0, decoder NLL at t=0."""
        true_mean, _, true_log_var = self.q_posterior(x_start, x_t, t)
        out = self.p_mean_variance_from_output(model_output, x_t, t, clip_denoised=False)
        kl = mean_flat(normal_kl(true_mean, true_log_var, out.mean, out.log_variance)) / math.log(2.0)
        nll = -discretized_gaussian_log_likelihood(x_start, out.mean, 0.5 * out.log_variance)
        nll = mean_flat(nll) / math.log(2.0)
        return torch.where(t == 0, nll, kl)

    def training_losses(
        self, model: Model, x_start: torch.Tensor, t: torch.Tensor, noise: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """Per-sample hybrid loss: ``mse`` (noise prediction) + ``vb`` (variance only)."""
        noise = torch.randn_like(x_start) if noise is None else noise
        x_t = self.q_sample(x_start, t, noise)
        model_output = model(x_t, self.model_timesteps(t)).float()
        eps, var_values = self.split_output(model_output, x_start.shape[1])
        terms = {"mse": mean_flat((noise - eps) ** 2)}
        if var_values is not None:
            # The bound trains the variance only: the mean's gradient comes from the MSE.
            frozen = torch.cat([eps.detach(), var_values], dim=1)
            terms["vb"] = self.vb_terms_bpd(frozen, x_start, x_t, t)
            terms["loss"] = terms["mse"] + terms["vb"]
        else:
            terms["loss"] = terms["mse"]
        return terms


def create_diffusion(cfg: DiffusionConfig, respacing: str | None = None) -> GaussianDiffusion:
    """The diffusion of ``cfg``; ``respacing`` overrides ``cfg.timestep_respacing`` ("" = all
    steps, used for training; the respaced process is for sampling)."""
    if cfg.use_kl or cfg.predict_xstart or cfg.rescale_learned_sigmas:
        raise ValueError(
            "use_kl, predict_xstart and rescale_learned_sigmas are not supported (the paper sets all three to False)"
        )
    base = named_betas(cfg.noise_schedule, cfg.diffusion_steps)
    spacing = cfg.timestep_respacing if respacing is None else respacing
    keep = space_timesteps(cfg.diffusion_steps, spacing)
    alphas_cumprod = np.cumprod(1.0 - base)
    last, new_betas, tmap = 1.0, [], []
    for i, ac in enumerate(alphas_cumprod):
        if i in keep:
            new_betas.append(1 - ac / last)
            last = ac
            tmap.append(i)
    return GaussianDiffusion(
        np.array(new_betas),
        np.array(tmap),
        learn_sigma=cfg.learn_sigma,
        original_num_steps=cfg.diffusion_steps,
        rescale_timesteps=cfg.rescale_timesteps,
    )
