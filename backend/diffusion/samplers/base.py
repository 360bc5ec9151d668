"""The sampler protocol and the one loop that runs any sampler over a batch of rows.

A chain visits the times of a :class:`~backend.diffusion.samplers.schedule.RepaintSchedule`: a
pair ``(a, b)`` with ``b < a`` is a reverse step at ``a`` (``Sampler.step``, one network
evaluation); ``b > a`` re-noises forward to ``b`` (RePaint's jump back, DDNM's time travel), the
same for every sampler: ``x_b ~ q(x_b | x_a)`` one step of the sampler's own process. A sampler
without jumps is a schedule with ``jump_n_sample = 1``.

What is known is per value: ``keep`` is 1 where ``known`` is kept and 0 where it is generated,
shaped (C,H,W), or (1,H,W) to apply to every channel. Inpainting keeps every channel outside the
region; mask-guided synthesis keeps the mask channel everywhere and the image outside the region.
The loop ends with the composite: the result equals ``known`` exactly where ``keep`` is 1.

Each row draws all of its noise from its own CPU generator, seeded by the row, so a row's result
does not depend on which other rows share its batch (a batch split after an out-of-memory error,
or a different ``--batch``, gives the same samples up to the batch's float rounding).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import torch

from backend.config.threads import adapt as adapt_threads
from backend.diffusion.config import DiffusionConfig
from backend.diffusion.gaussian import GaussianDiffusion
from backend.errors import Cancelled

Model = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x_t, the network's timesteps) -> output
Noise = Callable[[], torch.Tensor]  # a fresh standard-normal draw shaped like the batch
StepCallback = Callable[[int], None]  # called with the number of rows after each model call
MessageCallback = Callable[[str], None]


@dataclass(frozen=True)
class Known:
    """The batch's known values: ``image`` (B,C,H,W) in [-1, 1] and ``keep`` (B,C,H,W) or
    (B,1,H,W), 1 where the value is known."""

    image: torch.Tensor
    keep: torch.Tensor

    def paste(self, x: torch.Tensor, known: torch.Tensor | None = None) -> torch.Tensor:
        """``known`` (default: the known image) where ``keep`` is 1, ``x`` elsewhere."""
        return self.keep * (self.image if known is None else known) + (1 - self.keep) * x


class Sampler(Protocol):
    """An inpainting sampler (diffusers' scheduler shape, with the known values passed in)."""

    name: ClassVar[str]

    def set_timesteps(self, diffusion: DiffusionConfig) -> GaussianDiffusion:
        """Build (and keep) the process this sampler runs on from the model's diffusion config."""
        ...

    def times(self) -> list[int]:
        """The times the chain visits, from ``T - 1`` down to ``-1`` (see the module docstring)."""
        ...

    def evaluations(self) -> int:
        """Network evaluations one sample costs: the number of reverse steps in :meth:`times`."""
        ...

    def step(self, model: Model, x: torch.Tensor, t: torch.Tensor, known: Known, noise: Noise) -> torch.Tensor:
        """One reverse step from ``x_t``; calls ``model`` exactly once."""
        ...

    def settings(self) -> dict[str, Any]:
        """What a sample's provenance records of this sampler (its name and every setting)."""
        ...


@dataclass(frozen=True)
class Row:
    """One sample to draw: ``known`` (C,H,W) in [-1, 1], ``keep`` (C,H,W) or (1,H,W) with 1 where
    the known value is kept and 0 where it is generated, and the seed of all its noise."""

    known: torch.Tensor
    keep: torch.Tensor
    seed: int


class _RowNoise:
    """Per-row CPU generators: the same seed yields the same noise in any batch, on any device."""

    def __init__(self, seeds: Sequence[int], shape: tuple[int, ...], device: torch.device):
        self.generators = [torch.Generator().manual_seed(int(s)) for s in seeds]
        self.shape, self.device = shape, device

    def __call__(self) -> torch.Tensor:
        return torch.stack([torch.randn(self.shape, generator=g) for g in self.generators]).to(self.device)


def sample_batch(
    model: Model,
    sampler: Sampler,
    diffusion: GaussianDiffusion,
    rows: Sequence[Row],
    device: torch.device | str = "cpu",
    autocast: bool | None = None,
    on_step: StepCallback | None = None,
    cancel: Callable[[], bool] | None = None,
    channels_last: bool = False,
) -> torch.Tensor:
    """Run ``sampler``'s chain for ``rows`` in one batch on ``diffusion`` (what its
    ``set_timesteps`` returned); returns x0 (B,C,H,W) on the CPU, equal to ``known`` exactly
    where ``keep`` is 1 and clamped to [-1, 1] elsewhere. ``channels_last`` runs the network in
    NHWC memory layout (the model converted in place): 1.23x the evaluations per second of the
    demo's UNet on this project's 2-core CPU, the same samples up to float rounding. Raises
    :class:`Cancelled` between model calls."""
    times = sampler.times()
    if times[0] != diffusion.num_timesteps - 1:
        raise ValueError(
            f"schedule starts at {times[0]}, but the diffusion has "
            f"{diffusion.num_timesteps} steps (expected {diffusion.num_timesteps - 1})"
        )
    device = torch.device(device)
    autocast = device.type == "cuda" if autocast is None else autocast
    known = Known(
        torch.stack([r.known for r in rows]).float().to(device),
        torch.stack([r.keep for r in rows]).float().to(device),
    )
    noise = _RowNoise([r.seed for r in rows], tuple(known.image.shape[1:]), device)

    layout = torch.channels_last if channels_last else torch.contiguous_format
    if channels_last and isinstance(model, torch.nn.Module):
        model.to(memory_format=layout)

    def net(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device.type, dtype=torch.float16, enabled=autocast):
            return model(x.contiguous(memory_format=layout), t).float()

    b = known.image.shape[0]
    with torch.no_grad():  # not inference_mode: a guided step differentiates its network call (chain.py)
        x = noise()
        for t_last, t_cur in zip(times[:-1], times[1:]):
            if cancel is not None and cancel():
                raise Cancelled("inpainting cancelled")
            adapt_threads()
            t = torch.full((b,), t_last if t_cur < t_last else t_cur, device=device, dtype=torch.long)
            if t_cur < t_last:
                x = sampler.step(net, x, t, known, noise)
                if on_step is not None:
                    on_step(b)
            else:
                x = diffusion.undo(x, t, noise())
        x = known.paste(x.clamp(-1, 1))
    return x.cpu()


def sample_rows(
    model: Model,
    sampler: Sampler,
    diffusion: GaussianDiffusion,
    rows: Sequence[Row],
    batch_size: int,
    device: torch.device | str = "cpu",
    autocast: bool | None = None,
    on_step: StepCallback | None = None,
    cancel: Callable[[], bool] | None = None,
    on_message: MessageCallback | None = None,
    on_restart: Callable[[int], None] | None = None,
    channels_last: bool = False,
    on_batch: Callable[[int, int], None] | None = None,
) -> Iterator[tuple[int, torch.Tensor]]:
    """Run ``rows`` in batches of ``batch_size``; yield ``(row index, x0)`` as batches finish.
    ``on_batch(first row, rows)`` names each finished batch before its rows are yielded (a
    sample's provenance records who shared its batch: the batch changes its float rounding).

    A GPU out-of-memory error halves the batch size and restarts the failed batch (each row
    reseeds its own generator, so the restart gives the same samples); ``on_restart`` gets the
    number of rows whose progress is lost. At batch size 1 the error is raised.
    """
    size, start = max(1, int(batch_size)), 0
    while start < len(rows):
        chunk = rows[start : start + size]
        done = [0]

        def counted(n: int, done: list[int] = done) -> None:
            done[0] += n
            if on_step is not None:
                on_step(n)

        try:
            out = sample_batch(model, sampler, diffusion, chunk, device, autocast, counted, cancel, channels_last)
        except torch.OutOfMemoryError:
            if size == 1:
                raise
            size //= 2
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            if on_restart is not None:
                on_restart(done[0])
            if on_message is not None:
                on_message(f"out of GPU memory: batch size lowered to {size}")
            continue
        if on_batch is not None:
            on_batch(start, len(chunk))
        for i in range(len(chunk)):
            yield start + i, out[i]
        start += len(chunk)
