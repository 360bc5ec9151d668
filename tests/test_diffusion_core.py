"""The diffusion core against hand computations: the hybrid loss on a 2-pixel case (KL and
discretized NLL by hand with numpy/scipy), guided-diffusion's respacing rule, the UNet's
guided-diffusion shape, and a model that can overfit one batch."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from backend.config.presets import apply_overrides, load_preset
from backend.diffusion.config import DiffusionConfig, ModelConfig
from backend.diffusion.gaussian import GaussianDiffusion, create_diffusion, linear_betas, space_timesteps
from backend.diffusion.model import build_model
from backend.diffusion.training import init_like_guided_diffusion, train_step
from tests.diffusion_micro import MICRO_OVERRIDES


def _hand_hybrid(betas, t, x0, noise, eps, v):
    """Nichol & Dhariwal's hybrid loss for one sample, written out from the formulas."""
    alphas = 1 - betas
    ab = np.cumprod(alphas)
    ab_prev = np.append(1.0, ab[:-1])
    post_var = betas * (1 - ab_prev) / (1 - ab)
    post_logvar = np.log(np.append(post_var[1], post_var[1:]))
    xt = math.sqrt(ab[t]) * x0 + math.sqrt(1 - ab[t]) * noise
    mse = np.mean((noise - eps) ** 2)
    # posterior q(x_{t-1} | x_t, x_0)
    c1 = betas[t] * math.sqrt(ab_prev[t]) / (1 - ab[t])
    c2 = (1 - ab_prev[t]) * math.sqrt(alphas[t]) / (1 - ab[t])
    true_mean = c1 * x0 + c2 * xt
    # model p(x_{t-1} | x_t): mean from predicted x0 (eps detached), learned-range log variance
    pred_x0 = (xt - math.sqrt(1 - ab[t]) * eps) / math.sqrt(ab[t])
    model_mean = c1 * pred_x0 + c2 * xt
    frac = (v + 1) / 2
    model_logvar = frac * np.log(betas[t]) + (1 - frac) * post_logvar[t]
    if t > 0:
        kl = 0.5 * (
            -1
            + model_logvar
            - post_logvar[t]
            + np.exp(post_logvar[t] - model_logvar)
            + (true_mean - model_mean) ** 2 * np.exp(-model_logvar)
        )
        vb = np.mean(kl) / math.log(2)
    else:  # discretized Gaussian decoder over 256 bins in [-1, 1]
        sd = np.exp(0.5 * model_logvar)
        upper = np.where(x0 > 0.999, np.inf, x0 + 1 / 255)
        lower = np.where(x0 < -0.999, -np.inf, x0 - 1 / 255)
        p = stats.norm.cdf(upper, model_mean, sd) - stats.norm.cdf(lower, model_mean, sd)
        vb = np.mean(-np.log(p)) / math.log(2)
    return mse, vb


@pytest.mark.parametrize("t", [0, 1, 3])
def test_hybrid_loss_matches_hand_computation(t):
    betas = np.array([0.01, 0.05, 0.1, 0.2])
    diffusion = GaussianDiffusion(betas, learn_sigma=True, rescale_timesteps=False)
    x0 = np.array([0.2, 1.0])  # one ordinary value, one at the top edge
    noise = np.array([0.7, -1.3])
    eps = np.array([0.5, -1.0])
    v = np.array([0.3, -0.6])

    def model(x, ts):  # a fixed "network" output: 1 channel of noise + 1 of variance
        return torch.tensor(np.concatenate([eps, v]), dtype=torch.float32).reshape(1, 2, 1, 2)

    as_img = lambda a: torch.tensor(a, dtype=torch.float32).reshape(1, 1, 1, 2)  # noqa: E731
    terms = diffusion.training_losses(model, as_img(x0), torch.tensor([t]), as_img(noise))
    mse, vb = _hand_hybrid(betas, t, x0, noise, eps, v)
    assert terms["mse"].item() == pytest.approx(mse, rel=1e-5)
    # the reference's tanh CDF approximation differs from scipy's exact one by ~1e-4
    assert terms["vb"].item() == pytest.approx(vb, rel=5e-3 if t == 0 else 1e-4)
    assert terms["loss"].item() == pytest.approx(mse + vb, rel=5e-3)


def test_vb_term_trains_only_the_variance():
    diffusion = create_diffusion(DiffusionConfig(diffusion_steps=100), "")
    out = torch.zeros(1, 2, 2, 2, requires_grad=True)
    terms = diffusion.training_losses(lambda x, t: out, torch.zeros(1, 1, 2, 2), torch.tensor([5]), torch.ones(1, 1, 2, 2))
    grad_eps, grad_v = torch.autograd.grad(terms["vb"].sum(), out)[0].split(1, dim=1)
    assert grad_eps.abs().max() == 0 and grad_v.abs().max() > 0


def test_space_timesteps_follows_guided_diffusion_rule():
    # one section of 100 steps into 10: fractional stride 99/9 = 11
    assert space_timesteps(100, "10") == set(range(0, 100, 11))
    # two sections of 5: 3 steps with stride 2, then 2 steps with stride 4
    assert space_timesteps(10, "3,2") == {0, 2, 4, 5, 9}
    # uneven split: sections of 4 and 3 steps
    assert space_timesteps(7, "2,2") == {0, 3, 4, 6}
    assert space_timesteps(100, "ddim5") == {0, 20, 40, 60, 80}
    assert space_timesteps(10, "") == set(range(10))
    with pytest.raises(ValueError):
        space_timesteps(10, "3,6")


def test_respaced_schedule_keeps_alphas_cumprod_at_kept_steps():
    cfg = DiffusionConfig(diffusion_steps=1000, timestep_respacing="50")
    full, spaced = create_diffusion(cfg, ""), create_diffusion(cfg)
    keep = sorted(space_timesteps(1000, "50"))
    assert spaced.num_timesteps == 50 and list(spaced.timestep_map) == keep
    np.testing.assert_allclose(spaced.alphas_cumprod, full.alphas_cumprod[keep], rtol=1e-12)
    np.testing.assert_allclose(full.betas, linear_betas(1000))
    # the network sees the original timestep values
    t = torch.tensor([0, 1, 49])
    assert spaced.model_timesteps(t).tolist() == [float(keep[0]), float(keep[1]), float(keep[49])]


def test_unet_has_guided_diffusion_shape():
    """Resblock up/down sampling at every level and a normalised mid-block attention."""
    model = build_model(
        ModelConfig(image_size=32, num_channels=32, channel_mult=(1, 2, 2), attention_resolutions=(8,), num_head_channels=16)
    )
    keys = model.state_dict().keys()
    samplers = {k.rsplit(".", 2)[0] for k in keys if "downsamplers.0" in k or "upsamplers.0" in k}
    assert len(samplers) == 4
    for s in samplers:  # a ResBlock (two norms, time projection), not a bare conv
        assert {f"{s}.norm1.weight", f"{s}.time_emb_proj.weight", f"{s}.conv2.weight"} <= set(keys)
    assert "unet.mid_block.attentions.0.group_norm.weight" in keys
    out = model(torch.randn(2, 4, 32, 32), torch.tensor([3.0, 900.0]))
    assert out.shape == (2, 8, 32, 32)


def test_loss_falls_when_overfitting_one_batch():
    preset = apply_overrides(load_preset("tiny"), MICRO_OVERRIDES)
    torch.manual_seed(0)
    model = init_like_guided_diffusion(build_model(ModelConfig.from_dict(preset["model"])))
    diffusion = create_diffusion(DiffusionConfig.from_dict(preset["diffusion"]), "")
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(1)
    x0 = torch.rand(4, 4, 16, 16, generator=g) * 2 - 1
    t = torch.randint(0, 1000, (4,), generator=g)
    noise = torch.randn(4, 4, 16, 16, generator=g)
    losses = [train_step(model, diffusion, opt, x0, t, noise)["loss"].item() for _ in range(30)]
    assert np.mean(losses[-5:]) < 0.3 * np.mean(losses[:5])
