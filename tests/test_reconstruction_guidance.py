"""The samplers' mask contrast and reconstruction guidance (backend/diffusion/samplers/chain.py):
off, a sampler draws what it drew before, bit for bit; contrast extrapolates the noise estimate
away from the one told background under the generated values, and leaves inpainting as it is;
a guided step moves the mask channel's clean estimate toward the known (wanted) mask; the
settings are range-checked where a preset or --set gives them, recorded in the provenance, and
synthesize (only) takes its own contrast."""

from __future__ import annotations

import pytest
import torch

from backend.diffusion.config import DiffusionConfig
from backend.diffusion.samplers import make_sampler
from backend.diffusion.samplers.base import Known, Row, sample_batch
from backend.inpaint.config import InpaintConfig

GUIDED = ("repaint", "ddnm")


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
def test_settings_off_draw_the_same_samples_bit_for_bit_without_autograd(tiny_unet, name):
    def draw(rows=None, **settings):
        sampler = make_sampler(name, respacing=8, jump_length=3, jump_n_sample=2, **settings)
        model = Inputs(tiny_unet)
        return sample_batch(model, sampler, sampler.set_timesteps(DiffusionConfig()), rows or _rows()), model.grad

    default, grads = draw()
    off, _ = draw(guidance=0.0, contrast=0.0)
    on, on_grads = draw(guidance=1.0)
    contrasted, _ = draw(contrast=0.5)
    assert torch.equal(default, off) and not any(grads)  # the sampler's own step, as before either setting existed
    assert all(on_grads) and not torch.equal(on, off)
    assert not torch.equal(contrasted, off)
    inpainting = [Row(r.known, torch.ones(1, 16, 16) * (r.keep[0] > 0), r.seed) for r in _rows()]  # all channels alike
    assert torch.equal(draw(inpainting, contrast=0.5)[0], draw(inpainting)[0])  # nothing to contrast: unchanged


def test_contrast_extrapolates_away_from_the_network_told_background_under_the_generated_values():
    rows = _rows()
    known = Known(torch.stack([r.known for r in rows]), torch.stack([r.keep for r in rows]))
    sampler = make_sampler("repaint", respacing=8, jump_length=3, jump_n_sample=1, contrast=0.5)
    d = sampler.set_timesteps(DiffusionConfig())
    t = torch.full((2,), 4, dtype=torch.long)
    seen = []

    def linear(x, _t):  # eps = 2 x, then the variance values
        seen.append(x)
        return torch.cat([2 * x, torch.full_like(x, 0.3)], 1)

    x = torch.randn(2, 4, 16, 16)
    out = sampler.contrasted(linear, t, known)(x, d.model_timesteps(t))
    background = seen[0][2:]
    ab = d.alphas_cumprod[4]
    wanted_under_rgb = (known.keep[:, 3] > 0) & (known.keep[:, 0] == 0) & (known.image[:, 3] > 0)
    torch.testing.assert_close(background[:, 3][wanted_under_rgb], x[:, 3][wanted_under_rgb] - 2 * float(ab) ** 0.5)
    untold = ~wanted_under_rgb
    assert torch.equal(background[:, :3], x[:, :3]) and torch.equal(background[:, 3][untold], x[:, 3][untold])
    torch.testing.assert_close(out[:, :4], 2 * x + 0.5 * (2 * x - 2 * background))
    assert torch.equal(out[:, 4:], torch.full_like(x, 0.3))


def _mask_residual(sampler, model, x: torch.Tensor, t: torch.Tensor, known: Known) -> float:
    d = sampler.process()
    with torch.no_grad():
        x0, _ = sampler.estimate(model(x, d.model_timesteps(t)), x, t)
    return float((x0[:, 3] - known.image[:, 3]).pow(2).sum())


@pytest.mark.parametrize("name", GUIDED)
@pytest.mark.parametrize("t", [2, 5])
def test_a_guided_step_moves_the_generated_values_toward_a_closer_mask_estimate(tiny_unet, name, t):
    """What guidance adds to a step is a descent direction of the mask channel's residual at the
    network's input (the clean estimate there comes closer to the wanted mask), on the generated
    values only."""
    rows = _rows(seed=11)
    known = Known(torch.stack([r.known for r in rows]), torch.stack([r.keep for r in rows]))
    g = torch.Generator().manual_seed(3)
    draws = [torch.randn(2, 4, 16, 16, generator=g) for _ in range(3)]
    steps, inputs = {}, []
    for w in (0.0, 2.0):
        sampler = make_sampler(name, respacing=8, jump_length=3, jump_n_sample=1, guidance=w)
        diffusion = sampler.set_timesteps(DiffusionConfig())
        ts = torch.full((2,), t, dtype=torch.long)
        it = iter(draws[1:])
        with torch.no_grad():
            x_t = diffusion.q_sample(known.image, ts, draws[0])
            steps[w] = sampler.step(lambda x, s: inputs.append(x) or tiny_unet(x, s), x_t, ts, known, lambda it=it: next(it))
    x_in = inputs[0].detach()  # what the network saw (RePaint: the known values noised afresh)
    move = steps[2.0] - steps[0.0]
    assert move.abs().max() > 0 and torch.equal(move[known.keep.bool()], torch.zeros_like(move[known.keep.bool()]))
    before = _mask_residual(sampler, tiny_unet, x_in, ts, known)
    after = _mask_residual(sampler, tiny_unet, x_in + 1e-2 * move / move.abs().max(), ts, known)
    assert after < before


def test_the_settings_reach_each_sampler_and_its_provenance():
    for name in ("repaint", "ddnm", "ddim-repaint", "diffpir"):
        settings = InpaintConfig(sampler=name, guidance=2.5, contrast=0.75).make_sampler().settings()
        assert (settings["guidance"], settings["contrast"]) == (2.5, 0.75)
    assert (InpaintConfig().guidance, InpaintConfig().contrast) == (0.0, 0.0)  # inpainting: the paper's sampler


def test_synthesize_takes_its_own_contrast_and_inpaint_keeps_none():
    from backend.inpaint.config import resolve_config
    from backend.synthesis.generator import SynthesisGenerator
    from backend.synthesis.params import SynthesizeParams
    from backend.workspace.selection import ImageSelection

    for preset in ("demo", "paper"):
        assert resolve_config({}, preset).make_sampler().settings()["contrast"] == 0.0
        synth = SynthesisGenerator(SynthesizeParams(ImageSelection(all=True)), {}, 7)
        assert synth.config(preset).make_sampler().settings()["contrast"] == 0.5
        params = SynthesizeParams(ImageSelection(all=True), overrides=("inpaint.synthesis_contrast=0",))
        assert SynthesisGenerator(params, {}, 7).config(preset).contrast == 0.0
        flag = SynthesizeParams.from_dict({"all": True, "synthesis_contrast": 0.25})  # --contrast 0.25, or the form's row
        assert SynthesisGenerator(flag, {}, 7).config(preset).make_sampler().settings()["contrast"] == 0.25


def test_the_contrast_flag_is_checked_before_anything_runs(capsys):
    from backend.cli import main

    with pytest.raises(SystemExit):
        main(["synthesize", "-w", "nowhere", "--all", "--contrast", "1000"])
    assert "--contrast: synthesize.synthesis_contrast = 1000 is out of bounds: it must be a finite number in 0..100" in (
        capsys.readouterr().err
    )


def test_bad_values_are_refused_by_name():
    from backend.config.presets import apply_overrides, load_preset
    from backend.errors import BadInputError
    from backend.inpaint.config import resolve_config

    assert resolve_config({}, "demo", ("inpaint.guidance=1.5",)).make_sampler().guidance == 1.5
    for name in ("guidance", "contrast", "synthesis_contrast"):
        for bad in ("-1", "1000", "'strong'"):
            with pytest.raises(BadInputError, match=rf"inpaint\.{name}"):
                apply_overrides(load_preset("demo"), [f"inpaint.{name}={bad}"])
