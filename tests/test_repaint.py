"""RePaint sampler: schedule against the reference and diffusers, exactness against an
analytic Gaussian oracle, batch-layout invariance, OOM halving and cancelling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from backend.diffusion.config import DiffusionConfig
from backend.diffusion.gaussian import create_diffusion
from backend.diffusion.samplers.base import Row, sample_batch, sample_rows
from backend.diffusion.samplers.repaint import RePaintSampler
from backend.diffusion.samplers.schedule import RepaintSchedule, jump_schedule, model_evaluations
from backend.errors import Cancelled
from backend.generate.draw import sample_seed


# -- schedule -------------------------------------------------------------------------------
@pytest.mark.parametrize("respacing,length,n", [(200, 10, 5), (50, 5, 2), (7, 3, 4), (10, 10, 3), (5, 1, 1)])
def test_the_schedule_counts_its_evaluations_as_the_paper_describes_them(respacing, length, n):
    """The count the app's estimate uses is the schedule's own; checked here against the paper's
    description: ``respacing`` reverse steps, plus ``length`` more at each jump point (every
    ``length`` steps below ``respacing - length``), ``n - 1`` times each."""
    jump_points = len(range(0, respacing - length, length))
    assert RepaintSchedule(respacing, length, n).evaluations() == respacing + jump_points * (n - 1) * length


def test_paper_schedule_makes_960_model_evaluations():
    times = jump_schedule(200, 10, 5)
    assert model_evaluations(times) == 960
    assert RePaintSampler(200, 10, 5).evaluations() == 960
    assert RepaintSchedule(200, 10, 5).evaluations() == 960
    assert times[0] == 199 and times[-1] == -1
    assert all(abs(a - b) == 1 for a, b in zip(times[:-1], times[1:]))


def test_small_schedule_by_hand():
    # T=6, jumps of 2 back once at t=2 and t=0 (worked out on paper from RePaint's rule).
    assert jump_schedule(6, 2, 2) == [5, 4, 3, 2, 3, 4, 3, 2, 1, 0, 1, 2, 1, 0, -1]
    assert model_evaluations(jump_schedule(6, 2, 2)) == 10
    assert jump_schedule(4, 10, 5) == [3, 2, 1, 0, -1]  # jump longer than the chain: none


@pytest.mark.parametrize("steps, length, n", [(200, 10, 5), (50, 5, 2), (20, 5, 2), (30, 7, 3)])
def test_schedule_matches_diffusers_repaint_scheduler(steps, length, n):
    from diffusers import RePaintScheduler

    sched = RePaintScheduler(num_train_timesteps=1000)
    sched.set_timesteps(steps, jump_length=length, jump_n_sample=n)
    ours = np.array(jump_schedule(steps, length, n)[:-1]) * (1000 // steps)
    np.testing.assert_array_equal(sched.timesteps.numpy(), ours)


# -- exactness against an analytic oracle -----------------------------------------------------
MU, SIGMA = 0.3, 0.2


class GaussianOracle:
    """The exact denoiser for data x0 ~ N(MU, SIGMA^2) per pixel under the 1000-step linear
    schedule: optimal noise prediction and the exact reverse variance, encoded as the
    learned-range interpolation value. Computed from its own copy of the schedule."""

    def __init__(self, diffusion):
        betas = np.linspace(1e-4, 0.02, 1000)
        self.ac = np.cumprod(1 - betas)
        self.diffusion = diffusion
        self.calls = []

    def __call__(self, x, t):
        self.calls.append(x.shape[0])
        orig = t.round().long()
        ac = torch.tensor(self.ac, dtype=torch.float64)[orig].reshape(-1, 1, 1, 1)
        a, b2 = ac.sqrt(), 1 - ac
        denom = a**2 * SIGMA**2 + b2
        eps = b2.sqrt() * (x.double() - a * MU) / denom
        # Exact Var(x_{t-1} | x_t) = beta~ + coef1^2 Var(x0 | x_t), mapped onto the
        # interpolation between log beta~ and log beta that the model outputs.
        idx = torch.as_tensor(np.searchsorted(self.diffusion.timestep_map, orig.numpy()))
        d = self.diffusion
        bt = torch.tensor(d.posterior_variance)[idx].reshape(-1, 1, 1, 1)
        lo = torch.tensor(d.posterior_log_variance_clipped)[idx].reshape(-1, 1, 1, 1)
        hi = torch.tensor(np.log(d.betas))[idx].reshape(-1, 1, 1, 1)
        c1 = torch.tensor(d.posterior_mean_coef1)[idx].reshape(-1, 1, 1, 1)
        var = bt + c1**2 * SIGMA**2 * b2 / denom
        frac = ((var.log() - lo) / (hi - lo)).clamp(0, 1).expand_as(x)
        return torch.cat([eps, 2 * frac - 1], dim=1).float()


def _sampler(diffusion, respacing, length, n, clip=True):
    """RePaint over ``diffusion`` (already respaced to ``respacing`` steps, or not, to test the check)."""
    sampler = RePaintSampler(respacing, length, n, clip)
    sampler.diffusion = diffusion
    return sampler


def _rows(n, size=32, seed0=0):
    g = torch.Generator().manual_seed(123)
    rows = []
    for i in range(n):
        known = (MU + SIGMA * torch.randn(4, size, size, generator=g)).clamp(-1, 1)
        keep = torch.ones(1, size, size)
        keep[:, : size // 2] = 0  # regenerate the top half
        rows.append(Row(known, keep, seed0 + i))
    return rows


def test_repaint_with_exact_denoiser_samples_the_data_distribution_and_keeps_the_rest():
    diffusion = create_diffusion(DiffusionConfig(), "25")
    oracle = GaussianOracle(diffusion)
    rows = _rows(4)
    sampler = _sampler(diffusion, 25, 5, 3)
    x0 = sample_batch(oracle, sampler, diffusion, rows)
    keep = torch.stack([r.keep for r in rows]).expand_as(x0).bool()
    known = torch.stack([r.known for r in rows])
    assert torch.equal(x0[keep], known[keep])  # exactly the real pixels
    generated = x0[~keep].double().numpy()
    assert len(oracle.calls) == sampler.evaluations()
    # Unknown pixels are independent of the known ones here, so their law is the data's.
    ks = stats.kstest(generated, stats.norm(MU, SIGMA).cdf)
    assert ks.pvalue > 1e-3, (generated.mean(), generated.std(), ks)
    assert abs(generated.mean() - MU) < 0.02 and abs(generated.std() - SIGMA) < 0.02


# -- a tiny real network ----------------------------------------------------------------------


def test_batch_layout_does_not_change_samples(tiny_unet):
    diffusion = create_diffusion(DiffusionConfig(), "10")
    sampler = _sampler(diffusion, 10, 5, 2)
    rows = [Row(r.known, r.keep, sample_seed(7, 42, k)) for k, r in enumerate(_rows(3, size=16))]
    batched = sample_batch(tiny_unet, sampler, diffusion, rows)
    singles = torch.cat([sample_batch(tiny_unet, sampler, diffusion, [r]) for r in rows])
    torch.testing.assert_close(batched, singles, atol=1e-4, rtol=0)
    region = ~torch.stack([r.keep for r in rows]).bool().expand_as(batched)
    assert not torch.allclose(batched[0][region[0]], batched[1][region[1]])  # seeds differ


def test_channels_last_layout_gives_the_same_samples(tiny_unet):
    diffusion = create_diffusion(DiffusionConfig(), "10")
    sampler = _sampler(diffusion, 10, 5, 2)
    rows = [Row(r.known, r.keep, sample_seed(7, 42, k)) for k, r in enumerate(_rows(2, size=16))]
    plain = sample_batch(tiny_unet, sampler, diffusion, rows)
    nhwc = sample_batch(tiny_unet, sampler, diffusion, rows, channels_last=True)
    convs = [p for p in tiny_unet.parameters() if p.dim() == 4 and p.shape[2:] != (1, 1)]
    assert convs and all(p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous() for p in convs)
    torch.testing.assert_close(nhwc, plain, atol=1e-4, rtol=0)


class OOMAbove:
    """Wraps a model; raises the GPU out-of-memory error for batches above ``limit``."""

    def __init__(self, model, limit):
        self.model, self.limit, self.raised = model, limit, 0

    def __call__(self, x, t):
        if x.shape[0] > self.limit:
            self.raised += 1
            raise torch.OutOfMemoryError("CUDA out of memory (injected by the test)")
        return self.model(x, t)


def test_out_of_memory_halves_the_batch_and_gives_the_same_samples():
    diffusion = create_diffusion(DiffusionConfig(), "10")
    sampler = _sampler(diffusion, 10, 5, 2)
    rows = _rows(5, size=8)
    reference = sample_batch(GaussianOracle(diffusion), sampler, diffusion, rows)
    wrapped = OOMAbove(GaussianOracle(diffusion), limit=1)
    messages, steps = [], [0]

    def on_step(n):
        steps[0] += n

    def on_restart(lost):
        steps[0] -= lost

    out = dict(
        sample_rows(
            wrapped, sampler, diffusion, rows, batch_size=4, on_step=on_step, on_message=messages.append, on_restart=on_restart
        )
    )
    assert wrapped.raised == 2 and len(messages) == 2 and "batch size lowered to 1" in messages[-1]
    torch.testing.assert_close(torch.stack([out[i] for i in range(5)]), reference, atol=1e-5, rtol=0)
    assert steps[0] == 5 * sampler.evaluations()


def test_out_of_memory_at_batch_one_is_raised():
    diffusion = create_diffusion(DiffusionConfig(), "10")
    wrapped = OOMAbove(GaussianOracle(diffusion), limit=0)
    with pytest.raises(torch.OutOfMemoryError):
        list(sample_rows(wrapped, _sampler(diffusion, 10, 5, 2), diffusion, _rows(2, size=8), batch_size=2))


def test_cancel_stops_between_model_calls():
    diffusion = create_diffusion(DiffusionConfig(), "10")
    oracle = GaussianOracle(diffusion)
    with pytest.raises(Cancelled):
        sample_batch(oracle, _sampler(diffusion, 10, 5, 2), diffusion, _rows(2, size=8), cancel=lambda: len(oracle.calls) >= 3)
    assert len(oracle.calls) == 3


def test_schedule_must_match_the_diffusion():
    diffusion = create_diffusion(DiffusionConfig(), "10")
    with pytest.raises(ValueError, match="10 steps"):
        sample_batch(GaussianOracle(diffusion), _sampler(diffusion, 20, 5, 2), diffusion, _rows(1, size=8))
