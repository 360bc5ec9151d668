"""Drawing samples: seeds, the sampler's calls over a set of sources in batches, the redraw of a
sample that fails a quality gate, and the progress a user sees while it runs. Every generator
draws here; what differs is its sources (what is known where)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from backend import gates
from backend.diffusion.config import DiffusionConfig
from backend.diffusion.samplers.base import Row, sample_rows
from backend.generate.config import GenerationConfig
from backend.generate.pixels import postprocess, to_tensor
from backend.jobs.context import JobContext


def sample_seed(run_seed: int, image_id: int, index: int, attempt: int = 0, series: int = 0) -> int:
    """Seed of one sample, from the run seed, image id, sample index, (for a redraw after a
    failed gate) the attempt and (for an image with several wanted masks) the series only, so
    that the batch layout never changes a sample; fits SQLite's signed 64-bit integer. Attempt
    and series 0 give the seed runs without retries always had."""
    entropy = [int(run_seed), int(image_id), int(index)] + ([int(attempt)] if attempt or series else [])
    entropy += [int(series)] if series else []
    state = np.random.SeedSequence(entropy).generate_state(2, np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1])) & (2**63 - 1)


@dataclass(eq=False)  # a source is itself (its arrays do not compare as one truth value)
class Source:
    """One image ready for sampling, at the model's resolution: ``image`` and ``mask`` are what
    the model is told (the mask is the result's mask outside ``region``), ``region`` is where
    the image is generated. ``mask_known``: the mask channel is known everywhere (mask-guided
    synthesis) instead of generated inside the region with the image (inpainting). ``series``
    tells apart several sources of one image (one per wanted mask); ``samples``: how many to
    draw of it (None: the run's ``samples``); ``provenance`` is what the generator records of
    this source in each of its samples."""

    image_id: int
    name: str
    mask_version_id: int | None  # None: an image without a mask (a background frame)
    source_size: tuple[int, int]
    source_sha256: str
    image: np.ndarray
    mask: np.ndarray
    region: np.ndarray
    mask_known: bool = False
    series: int = 0
    samples: int | None = None
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The source's name in a shard's bundle and in a run's bookkeeping."""
        return f"image-{self.image_id}" + (f"-{self.series}" if self.series else "")

    def count(self, cfg: GenerationConfig) -> int:
        return cfg.samples if self.samples is None else self.samples

    def row(self, seed: int) -> Row:
        """The sampler's row: the 4 channels, and 1 where a value is kept (per value, see
        :mod:`backend.diffusion.samplers.base`)."""
        outside = torch.from_numpy((self.region == 0).astype(np.float32))[None]
        keep = torch.cat([outside.expand(3, -1, -1), torch.ones_like(outside)]) if self.mask_known else outside
        return Row(to_tensor(self.image, self.mask), keep, seed)


class Progress:
    """Model evaluations done over the run's total (which grows when a sample is redrawn).
    The text names the step within the current batch: images finish together at the end of
    a batch, so an image count alone would stand still for most of a run."""

    def __init__(self, ctx: JobContext, messages: list[str], images: int, total: int):
        self.ctx, self.messages, self.images, self.total = ctx, messages, images, total
        self.done = self.images_done = 0
        self.batch_step, self.steps = 0, 0  # evaluations of the batch in progress, of one batch

    def report(self, message: str) -> None:
        self.ctx.report(self.done, self.total, message)

    def on_step(self, n: int) -> None:
        self.done += n
        self.batch_step += 1
        batch = f"{n} sample{'s' if n > 1 else ''} at step {self.batch_step}/{self.steps}" if self.steps else ""
        self.report(f"{self.images_done}/{self.images} images done" + (f"; {batch}" if batch else ""))

    def batch_finished(self) -> None:
        self.batch_step = 0

    def on_restart(self, lost: int) -> None:
        self.done -= lost
        self.batch_step = 0

    def on_message(self, text: str) -> None:
        self.messages.append(text)
        self.ctx.log(text)
        self.report(text)


@dataclass(frozen=True)
class Draw:
    """One sample to draw: image, sample index and attempt; the earlier attempts' seeds and failed gates."""

    src: Source
    index: int
    attempt: int = 0
    redraws: tuple[dict[str, Any], ...] = ()

    def seed(self, run_seed: int) -> int:
        return sample_seed(run_seed, self.src.image_id, self.index, self.attempt, self.src.series)


def run_lengths(values: list[int]) -> list[list[int]]:
    """[[value, count], ...] of consecutive equal values: a batch's thread counts, step by step."""
    out: list[list[int]] = []
    for v in values:
        if out and out[-1][0] == v:
            out[-1][1] += 1
        else:
            out.append([v, 1])
    return out


@dataclass(frozen=True)
class Drawn:
    draw: Draw
    seed: int
    image: np.ndarray
    mask: np.ndarray
    scores: list[gates.GateScore]
    # The model call that made it, for ``diffgen regenerate``: its rows in order as [image id,
    # mask version id, sample index, seed], this sample's position, and torch's CPU thread
    # count at each model evaluation as [[threads, evaluations], ...] (both change rounding).
    batch: dict[str, Any] = field(default_factory=dict)

    @property
    def redraws(self) -> tuple[dict[str, Any], ...]:
        return self.draw.redraws


def draw_samples(
    cfg: GenerationConfig,
    diffusion_cfg: DiffusionConfig,
    thresholds: gates.GateConfig,
    palette: np.ndarray,
    sources: list[Source],
    model: torch.nn.Module,
    run_seed: int,
    device: torch.device,
    prog: Progress,
    ctx: JobContext,
    more_gates: Callable[[Source, np.ndarray, gates.GateConfig], list[gates.GateScore]] | None = None,
) -> Iterator[tuple[Source, list[Drawn]]]:
    """Sample every source of ``sources`` with one model; yields (source, its samples) once all
    of a source's samples are drawn, scored with ``thresholds`` and the training set's
    ``palette`` (:mod:`backend.generate.palette`). A sample failing one of ``retry_gates`` is drawn again
    with the next attempt's seed, up to ``retries`` times; the last attempt is kept whatever
    its gates say."""
    sampler = cfg.make_sampler()
    diffusion = sampler.set_timesteps(diffusion_cfg)
    evaluations = prog.steps = sampler.evaluations()
    draws = [Draw(s, k) for s in sources for k in range(s.count(cfg))]
    ready: dict[str, list[Drawn]] = defaultdict(list)
    threads: list[int] = []  # torch's thread count at each model evaluation of the batch running
    batches: dict[int, dict[str, Any]] = {}  # row index -> its batch record

    def on_step(n: int) -> None:
        threads.append(torch.get_num_threads())
        prog.on_step(n)

    def on_restart(lost: int) -> None:
        threads.clear()
        prog.on_restart(lost)

    while draws:
        again: list[Draw] = []

        def on_batch(first: int, n: int, current: list[Draw] = draws) -> None:
            members = [[d.src.image_id, d.src.mask_version_id, d.index, d.seed(run_seed)] for d in current[first : first + n]]
            for i in range(n):
                batches[first + i] = {"rows": members, "position": i, "threads": run_lengths(threads)}
            threads.clear()

        rows = [d.src.row(d.seed(run_seed)) for d in draws]
        for idx, x0 in sample_rows(
            model,
            sampler,
            diffusion,
            rows,
            cfg.batch_size,
            device,
            on_step=on_step,
            cancel=ctx.cancel,
            on_message=prog.on_message,
            on_restart=on_restart,
            channels_last=cfg.channels_last,
            on_batch=on_batch,
        ):
            prog.batch_finished()
            d, src = draws[idx], draws[idx].src
            image, mask = postprocess(x0, src.image, src.mask, src.region, cfg)
            scores = gates.score(src.image, src.mask, src.region, image, mask, thresholds, training=palette)
            if more_gates is not None:
                scores += more_gates(src, image, thresholds)
            failed = [g for g in gates.failed(scores) if g in cfg.retry_gates]
            if failed and d.attempt < cfg.retries:
                again.append(Draw(src, d.index, d.attempt + 1, d.redraws + ({"seed": rows[idx].seed, "failed": failed},)))
                prog.total += evaluations
                batches.pop(idx)
                continue
            ready[src.key].append(Drawn(d, rows[idx].seed, image, mask, scores, batches.pop(idx)))
            if len(ready[src.key]) == src.count(cfg):
                yield src, sorted(ready.pop(src.key), key=lambda r: r.draw.index)
        draws = again
