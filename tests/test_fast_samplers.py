"""The fast inpainting samplers (DDIM with RePaint's resampling, DDNM+, DiffPIR): one step
against a reference (diffusers' DDIMScheduler; DDNM's and DiffPIR's arithmetic re-stated here from
their papers and code), the evaluations each counts against the model calls it makes, and the
known values kept exactly (spatial and per-channel keeps)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from backend.diffusion.config import DiffusionConfig
from backend.diffusion.samplers import SAMPLERS, SETTINGS, make_sampler
from backend.diffusion.samplers.base import Known, Row, sample_batch
from backend.diffusion.samplers.ddim import DDIMRePaintSampler
from backend.diffusion.samplers.ddnm import DDNMSampler
from backend.diffusion.samplers.diffpir import DiffPIRSampler
from backend.inpaint.config import InpaintConfig
from tests.test_inpainting import ws  # noqa: F401 - the workspace fixture (a tiny model)

C, H = 4, 8


class Fixed:
    """A learned-sigma 'network' with a fixed output (eps then variance values); records inputs."""

    def __init__(self, out: torch.Tensor):
        self.out, self.inputs = out, []

    def __call__(self, x, t):
        self.inputs.append((x.clone(), t.clone()))
        return self.out


def _draws(*tensors):
    it = iter(tensors)
    return lambda: next(it)


def _case(seed=0, per_channel=False):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, C, H, H, generator=g)
    y = torch.rand(2, C, H, H, generator=g) * 2 - 1
    out = torch.cat([2 * torch.randn(2, C, H, H, generator=g), torch.rand(2, C, H, H, generator=g) * 2 - 1], 1)
    keep = (torch.rand(2, 1, H, H, generator=g) > 0.5).float()
    if per_channel:  # mask-guided synthesis: the mask channel known everywhere
        keep = keep.repeat(1, C, 1, 1)
        keep[:, 3] = 1
    noises = [torch.randn(2, C, H, H, generator=g) for _ in range(3)]
    return x, y, out, keep, noises


def _bound(sampler, steps, respacing, schedule="cosine"):
    sampler.set_timesteps(DiffusionConfig(diffusion_steps=steps, noise_schedule=schedule))
    d = sampler.diffusion
    assert d.num_timesteps == respacing
    return d


# -- DDIM + RePaint replacement against diffusers' DDIMScheduler --------------------------------
@pytest.mark.parametrize("eta,t,per_channel", [(0.0, 17, False), (0.6, 9, True), (1.0, 0, False), (0.3, 24, True)])
def test_ddim_step_matches_diffusers_ddim_scheduler(eta, t, per_channel):
    from diffusers import DDIMScheduler

    x, y, out, keep, (n1, z, _) = _case(t, per_channel)
    sampler = DDIMRePaintSampler(respacing=25, eta=eta)
    d = _bound(sampler, 1000, 25)
    model = Fixed(out)
    tt = torch.full((2,), t)
    got = sampler.step(model, x, tt, Known(y, keep), _draws(n1, z))

    # RePaint Alg. 1 line 5/8: the known values noised to level t, pasted before the evaluation.
    ab = float(d.alphas_cumprod[t])
    pasted = keep * (ab**0.5 * y + (1 - ab) ** 0.5 * n1) + (1 - keep) * x
    torch.testing.assert_close(model.inputs[0][0], pasted, atol=1e-6, rtol=0)
    assert torch.equal(model.inputs[0][1], d.model_timesteps(tt))
    # diffusers over the respaced process's own betas: its timestep t is our respaced index.
    sched = DDIMScheduler(num_train_timesteps=25, trained_betas=d.betas, clip_sample=True, set_alpha_to_one=True)
    sched.set_timesteps(25)
    ref = sched.step(out[:, :C], t, pasted, eta=eta, use_clipped_model_output=True, variance_noise=z).prev_sample
    torch.testing.assert_close(got, ref, atol=2e-5, rtol=1e-5)


# -- DDNM: the authors' arithmetic (functions/svd_ddnm.py ddnm_diffusion) -----------------------
def _alpha(betas, t):
    """DDNM's compute_alpha: cumprod of (1 - beta) with a zero beta prepended, read at t + 1."""
    b = torch.cat([torch.zeros(1, dtype=torch.float64), torch.as_tensor(betas)])
    return (1 - b).cumprod(0)[t + 1].float()


@pytest.mark.parametrize("t,per_channel", [(11, False), (0, True), (19, True)])
def test_ddnm_step_matches_the_authors_arithmetic(t, per_channel):
    x, y, out, keep, (z, _, _) = _case(100 + t, per_channel)
    sampler = DDNMSampler(respacing=20, eta=0.85, clip_denoised=False)
    d = _bound(sampler, 1000, 20)
    got = sampler.step(Fixed(out), x, torch.full((2,), t), Known(y, keep), _draws(z))

    A = lambda v: v * keep  # noqa: E731  A = A^+ = diag(keep) for inpainting
    at, at_next = _alpha(d.betas, t), _alpha(d.betas, t - 1)
    et = out[:, :C]
    x0_t = (x - et * (1 - at).sqrt()) / at.sqrt()
    x0_t_hat = x0_t - A(A(x0_t) - A(y))
    c1 = (1 - at_next).sqrt() * 0.85
    c2 = (1 - at_next).sqrt() * ((1 - 0.85**2) ** 0.5)
    ref = at_next.sqrt() * x0_t_hat + c1 * z + c2 * et
    # float32 rounding of x0|t = (...) / sqrt(a_t) grows as a_t -> 0 at the chain's top
    torch.testing.assert_close(got, ref, atol=2e-6 * float(ref.abs().max()), rtol=1e-5)


# -- DiffPIR: the authors' arithmetic (main_ddpir_inpainting.py, pred_xstart, analytic) ---------
@pytest.mark.parametrize("eta,zeta,lam,t", [(0.0, 1.0, 1.0, 13), (0.5, 0.3, 7.0, 5), (1.0, 0.0, 1e4, 2)])
def test_diffpir_step_matches_the_authors_arithmetic(eta, zeta, lam, t):
    x, y, out, keep, (z1, z2, _) = _case(200 + t, per_channel=t == 5)
    # No respacing: the authors' beta_t is the 1000-step one; here the chain's steps are those.
    sampler = DiffPIRSampler(respacing=40, eta=eta, zeta=zeta, hqs_lambda=lam)
    d = _bound(sampler, 40, 40, "linear")  # betas up to 0.5
    got = sampler.step(Fixed(out), x, torch.full((2,), t), Known(y, keep), _draws(z1, z2))

    betas = torch.as_tensor(d.betas)
    ac = torch.cumprod(1 - betas, 0)
    sa, s1m = ac.sqrt().float(), (1 - ac).sqrt().float()
    sigma = max(0.001, 0.0)
    rho = lam * sigma**2 / (s1m[t] / sa[t]) ** 2
    x0 = ((x - s1m[t] * out[:, :C]) / sa[t]).clamp(-1, 1)  # the model's pred_xstart, clipped
    x0 = (keep * y + rho * x0) / (keep + rho)
    eps = (x - sa[t] * x0) / s1m[t]
    eta_sigma = eta * s1m[t - 1] / s1m[t] * betas[t].sqrt().float()
    ref = sa[t - 1] * x0 + np.sqrt(1 - zeta) * ((s1m[t - 1] ** 2 - eta_sigma**2).sqrt() * eps + eta_sigma * z1)
    ref = ref + np.sqrt(zeta) * s1m[t - 1] * z2
    torch.testing.assert_close(got, ref, atol=3e-5, rtol=1e-4)


# -- every sampler: evaluations counted = model calls made; known values kept exactly ------------


class Counting:
    def __init__(self, model):
        self.model, self.calls = model, 0

    def __call__(self, x, t):
        self.calls += 1
        return self.model(x, t)


@pytest.mark.parametrize("name", sorted(SAMPLERS))
@pytest.mark.parametrize("per_channel", [False, True])
def test_each_sampler_counts_its_model_calls_and_keeps_the_known_values(tiny_unet, name, per_channel):
    sampler = make_sampler(name, respacing=8, jump_length=3, jump_n_sample=2)
    diffusion = sampler.set_timesteps(DiffusionConfig())
    g = torch.Generator().manual_seed(5)
    rows = []
    for i in range(2):
        known = torch.rand(4, 16, 16, generator=g) * 2 - 1
        keep = torch.ones(1, 16, 16)
        keep[:, 4:12, 4:12] = 0
        if per_channel:
            keep = keep.repeat(4, 1, 1)
            keep[3] = 1  # the wanted mask: known everywhere
        rows.append(Row(known, keep, i))
    model = Counting(tiny_unet)
    x0 = sample_batch(model, sampler, diffusion, rows)
    assert model.calls == sampler.evaluations() == 8 + 2 * 3  # 8 steps, 3 more at each jump point (0 and 3)
    keep = torch.stack([r.keep for r in rows]).expand_as(x0).bool()
    known = torch.stack([r.known for r in rows])
    assert torch.equal(x0[keep], known[keep])
    assert x0[~keep].abs().max() <= 1 and not torch.equal(x0[~keep], known[~keep])


def test_inpaint_config_passes_each_sampler_its_own_settings():
    cfg = InpaintConfig(
        sampler="diffpir", respacing=30, jump_length=4, jump_n_sample=2, diffpir_eta=0.2, diffpir_zeta=0.5, diffpir_lambda=3.0
    )
    s = cfg.make_sampler()
    assert isinstance(s, DiffPIRSampler) and (s.respacing, s.eta, s.zeta, s.hqs_lambda) == (30, 0.2, 0.5, 3.0)
    assert s.evaluations() == cfg.schedule().evaluations()
    assert InpaintConfig(sampler="ddnm", ddim_eta=0.3).make_sampler().eta == 0.85  # only its own settings
    settings = InpaintConfig(sampler="ddim-repaint", ddim_eta=0.4).make_sampler().settings()
    assert settings["sampler"] == "ddim-repaint" and settings["eta"] == 0.4
    assert settings["evaluations"] == InpaintConfig().schedule().evaluations()
    assert set(SETTINGS) == set(SAMPLERS)


# -- choosing a sampler: presets, --set, the CLI -------------------------------------------------
def test_a_preset_override_chooses_the_sampler_and_bad_settings_are_refused_by_name():
    from backend.config.presets import apply_overrides, load_preset
    from backend.errors import BadInputError, DiffGenError
    from backend.inpaint.config import resolve_config

    cfg = resolve_config({}, "demo", ("inpaint.sampler=ddnm", "inpaint.ddnm_eta=0.5"))
    assert isinstance(cfg.make_sampler(), DDNMSampler) and cfg.make_sampler().eta == 0.5
    assert isinstance(resolve_config({"sampler": "diffpir"}, "demo").make_sampler(), DiffPIRSampler)  # the job's value wins
    with pytest.raises(BadInputError, match=r"inpaint\.ddim_eta.*1\.5"):
        apply_overrides(load_preset("demo"), ["inpaint.ddim_eta=1.5"])
    with pytest.raises(DiffGenError, match="inpaint.sampler"):
        resolve_config({}, "demo", ("inpaint.sampler=ddpm",))


def test_the_fast_preset_runs_a_fast_sampler_in_fewer_evaluations_than_paper_fast():
    from backend.inpaint.config import resolve_config

    fast, paper_fast = resolve_config({}, "fast"), resolve_config({}, "paper-fast")
    assert fast.sampler != "repaint"
    assert fast.schedule().evaluations() <= 50 < paper_fast.schedule().evaluations()


def test_the_cli_takes_a_sampler_on_inpaint_and_demo(capsys):
    from diffgen_gui.launcher import build_parser

    parser = build_parser()
    assert parser.parse_args(["inpaint", "-w", "WS", "--all", "--sampler", "ddnm"]).sampler == "ddnm"
    assert parser.parse_args(["demo", "--sampler", "diffpir"]).sampler == "diffpir"
    assert parser.parse_args(["demo"]).sampler is None  # the preset's (RePaint)
    with pytest.raises(SystemExit):
        parser.parse_args(["demo", "--sampler", "fast"])  # a preset, not a sampler
    assert "invalid choice: 'fast'" in capsys.readouterr().err


def test_the_demo_passes_its_sampler_to_both_inpainting_stages(monkeypatch):
    from backend.demo import stages
    from backend.demo.plan import DemoContext

    seen = []
    monkeypatch.setattr(stages, "_run", lambda _ctx, kind, params, _label: seen.append((kind, params)) or {})
    ctx = DemoContext(ws=None, sampler="ddnm")  # the stages only hand the workspace on
    stages.stage_inpaint_cluster(ctx)
    stages.stage_inpaint_full(ctx)
    assert [(kind, p.sampler, p.model) for kind, p in seen] == [("inpaint", "ddnm", "cluster"), ("inpaint", "ddnm", "full")]


def test_a_fast_sampler_run_records_its_sampler_and_regenerates_pixel_for_pixel(ws):  # noqa: F811
    from backend.inpaint.regenerate import regenerate
    from tests.test_inpainting import FAST, _run

    _run(ws, {**FAST, "sampler": "diffpir", "images": [1], "samples": 1, "overrides": ["inpaint.diffpir_zeta=0.5"]})
    sample = ws.samples(kind="inpainted")[0]
    p = sample.params
    assert (p["sampler"], p["zeta"], p["eta"], p["hqs_lambda"], p["evaluations"]) == ("diffpir", 0.5, 0.0, 1.0, 15)
    result = regenerate(ws, sample.id)  # the recorded sampler and settings, not the preset's RePaint
    assert result.identical, result.summary


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_the_estimate_counts_what_each_sampler_runs(name):
    """The job's estimate (InpaintConfig.schedule, torch-free) is each sampler's own count and times."""
    cfg = InpaintConfig(sampler=name, respacing=30, jump_length=4, jump_n_sample=3)
    sampler = cfg.make_sampler()
    assert (
        cfg.schedule().times() == sampler.times() and cfg.schedule().evaluations() == sampler.evaluations() == 30 + 7 * 2 * 4
    )  # jump points 0, 4, ..., 24
