"""Reconstruction guidance of the samplers (backend/diffusion/samplers/chain.py): off, a sampler
draws what it drew before, bit for bit; on, one step moves the mask channel's clean estimate
toward the known (wanted) mask; the setting is range-checked where a preset or --set gives it,
and recorded in the sample's provenance."""

from __future__ import annotations

import pytest
import torch

from backend.diffusion.config import DiffusionConfig, ModelConfig
from backend.diffusion.model import build_model
from backend.diffusion.samplers import make_sampler
from backend.diffusion.samplers.base import Known, Row, sample_batch
from backend.inpaint.config import InpaintConfig

GUIDED = ("repaint", "ddnm")


@pytest.fixture(scope="module")
def tiny_unet():
    torch.manual_seed(0)
    cfg = ModelConfig(
        image_size=16, num_channels=32, num_res_blocks=1, channel_mult=(1,), attention_resolutions=(), num_head_channels=32
    )
    return build_model(cfg).eval()


def _rows(n: int = 2, seed: int = 5) -> list[Row]:
    """Mask-guided rows: RGB generated in the middle, the mask channel known everywhere."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for i in range(n):
        known = torch.rand(4, 16, 16, generator=g) * 2 - 1
        known[3] = -1
        known[3, 5:11, 5:11] = 1  # the wanted polyp
        keep = torch.ones(4, 16, 16)
        keep[:3, 3:13, 3:13] = 0
        rows.append(Row(known, keep, i))
    return rows


class Inputs:
    """The model, recording whether its inputs carry gradients."""

    def __init__(self, model):
        self.model, self.grad = model, []

    def __call__(self, x, t):
        self.grad.append(x.requires_grad)
        return self.model(x, t)


@pytest.mark.parametrize("name", GUIDED)
def test_no_guidance_draws_the_same_samples_bit_for_bit_without_autograd(tiny_unet, name):
    def draw(**settings):
        sampler = make_sampler(name, respacing=8, jump_length=3, jump_n_sample=2, **settings)
        model = Inputs(tiny_unet)
        return sample_batch(model, sampler, sampler.set_timesteps(DiffusionConfig()), _rows()), model.grad

    default, grads = draw()
    off, _ = draw(guidance=0.0)
    on, on_grads = draw(guidance=1.0)
    assert torch.equal(default, off) and not any(grads)  # the sampler's own step, as before guidance existed
    assert all(on_grads) and not torch.equal(on, off)


def _mask_residual(sampler, model, x: torch.Tensor, t: torch.Tensor, known: Known) -> float:
    d = sampler.process()
    with torch.no_grad():
        x0 = sampler.estimate(model(x, d.model_timesteps(t)), x, t)
    return float((x0[:, 3] - known.image[:, 3]).pow(2).sum())


@pytest.mark.parametrize("name", GUIDED)
def test_a_guided_step_brings_the_mask_estimate_closer_to_the_known_mask(tiny_unet, name):
    rows = _rows(seed=11)
    known = Known(torch.stack([r.known for r in rows]), torch.stack([r.keep for r in rows]))
    g = torch.Generator().manual_seed(3)
    draws = [torch.randn(2, 4, 16, 16, generator=g) for _ in range(4)]
    results = {}
    for w in (0.0, 0.5):
        sampler = make_sampler(name, respacing=8, jump_length=3, jump_n_sample=1, guidance=w)
        diffusion = sampler.set_timesteps(DiffusionConfig())
        t = torch.full((2,), 5, dtype=torch.long)
        it = iter(draws)
        with torch.no_grad():
            x_t = diffusion.q_sample(known.image, t, draws[3])
            x_next = sampler.step(tiny_unet, x_t, t, known, lambda it=it: next(it))
        results[w] = _mask_residual(sampler, tiny_unet, x_next, t - 1, known)
    assert results[0.5] < results[0.0]


def test_guidance_reaches_each_sampler_and_its_provenance():
    for name in ("repaint", "ddnm", "ddim-repaint", "diffpir"):
        settings = InpaintConfig(sampler=name, guidance=2.5).make_sampler().settings()
        assert settings["guidance"] == 2.5
    assert InpaintConfig().guidance == 0.0  # inpainting: the paper's sampler, unguided


def test_a_bad_guidance_is_refused_by_name():
    from backend.config.presets import apply_overrides, load_preset
    from backend.errors import BadInputError
    from backend.inpaint.config import resolve_config

    assert resolve_config({}, "demo", ("inpaint.guidance=1.5",)).make_sampler().guidance == 1.5
    for bad in ("-1", "1000", "'strong'"):
        with pytest.raises(BadInputError, match=r"inpaint\.guidance"):
            apply_overrides(load_preset("demo"), [f"inpaint.guidance={bad}"])
