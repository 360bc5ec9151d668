"""The driver every generator shares, and the :class:`~backend.generate.base.Generator` it drives.

A run: plan (images grouped by model, sources at the model's resolution), skip the sources
whose samples are stored already (a re-run of an interrupted ``--seed`` run adds no duplicate),
open a shard's bundle (resuming an interrupted one), draw (with redraws on the retry gates),
store each source's samples with their gate scores in one transaction (or add them to the
bundle), and record the measured speed the next run's estimate goes by.

Writes are all-or-nothing per source: its samples are written only after all of them finished;
cancelling raises :class:`Cancelled` and writes nothing for the sources in progress.
"""

from __future__ import annotations

import secrets
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import torch

from backend import gates
from backend.config.device import pick_device
from backend.diffusion.checkpoint import load_model
from backend.errors import BadInputError
from backend.generate.base import GenerationParams, Generator
from backend.generate.config import WEIGHT_FILES
from backend.generate.draw import Drawn, Progress, Source, draw_samples
from backend.generate.palette import training_colours
from backend.generate.plan import Plan, drop_finished, make_plans, sample_params
from backend.jobs.bundles import BundleWriter, bundle_folder, run_identity
from backend.jobs.context import JobContext
from backend.jobs.params import JobResult
from backend.jobs.sample_row import SampleRow
from backend.jobs.shards import Shard
from backend.words import counted
from backend.workspace import Workspace
from backend.workspace.queries import INPAINT_SPEED
from backend.workspace.records import sample_pngs


@dataclass
class Generated:
    """What a run did, for the generator's result."""

    seed: int
    device: torch.device
    messages: list[str]
    skipped: list[dict[str, Any]]  # {"image_id", "reason"}: images that could not be used
    already_done: list[int] = field(default_factory=list)  # images whose sources were all finished before
    written: dict[int, list[int]] = field(default_factory=dict)  # image id -> its new sample ids
    samples: int = 0
    redrawn: int = 0
    passed: int = 0
    gate_failures: dict[str, int] = field(default_factory=dict)
    bundle: str | None = None
    shard: Shard | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class GenerationResult(JobResult):
    """A generator job's result (what :class:`Generated` says, as plain values)."""

    images: int  # images that got samples in this run
    samples: int
    sample_ids: dict[str, tuple[int, ...]]  # image id -> its new sample ids
    skipped: tuple[dict[str, Any], ...]  # {"image_id", "reason"}: images that could not be used
    already_done: tuple[int, ...]  # images that already had every sample of this run
    messages: tuple[str, ...]
    seed: int
    device: str
    seconds: float
    gate_failures: dict[str, int]  # gate -> this run's samples that failed it (backend/gates.py)
    passed: int  # this run's samples that passed every gate
    sheet: str | None = None  # a contact sheet, workspace-relative (inpainting's, when asked)
    bundle: str | None = None  # a shard's bundle folder (then sample_ids are empty)

    @classmethod
    def of(cls, run: Generated, noun: str, **more: Any) -> Any:
        """The result of ``run`` whose samples are called ``noun`` ("inpainted sample"); ``more``:
        a subclass's own fields."""
        summary = (
            f"{counted(run.samples, noun)} from {counted(len(run.written), 'image')} (seed {run.seed})"
            + (f", {run.redrawn} redrawn after a failed gate" if run.redrawn else "")
            + (f", {run.samples - run.passed} failing a quality gate" if run.passed < run.samples else "")
            + (f", {counted(len(run.already_done), 'image')} already done" if run.already_done else "")
            + (f"; shard {run.shard}: bundle {run.bundle}" if run.bundle else "")
        )
        return cls(
            summary=summary,
            images=len(run.written),
            samples=run.samples,
            sample_ids={str(k): tuple(v) for k, v in run.written.items()},
            skipped=tuple(run.skipped),
            already_done=tuple(run.already_done),
            messages=tuple(run.messages),
            seed=run.seed,
            device=str(run.device),
            seconds=run.seconds,
            gate_failures=run.gate_failures,
            passed=run.passed,
            bundle=run.bundle,
            **more,
        )


def generate(ws: Workspace, generator: Generator, params: GenerationParams, ctx: JobContext) -> Generated:
    """Run ``generator`` over ``params``' images. Progress counts model evaluations of single
    samples over the whole run. With a shard the run does its share of the sorted images and
    writes a bundle (:mod:`backend.jobs.bundles`) instead of the workspace."""
    started = time.perf_counter()
    shard = params.shard_spec()
    if shard is not None and params.seed is None:
        raise BadInputError(f"shard {shard} needs --seed: every shard of a run must use the same run seed")
    run_seed = params.seed if params.seed is not None else secrets.randbits(31)
    device = pick_device(params.device)
    messages: list[str] = []
    image_ids = params.image_ids(ws)
    if shard is not None:
        image_ids = shard.take(sorted(image_ids))
    plans, skipped = make_plans(ws, generator, params, image_ids, messages, ctx)
    out = Generated(run_seed, device, messages, skipped, shard=shard)
    planned = _planned(image_ids, plans)
    messages += [s["reason"] for s in skipped]
    finished = [s for p in plans for s in drop_finished(ws, p, p.provenance(ws, run_seed, device), generator.sample_kind)]
    if finished:
        messages.append(f"skipped {len(finished)} image(s) that already have these samples (same seed, model and settings)")
    bundle = None
    if shard is not None:
        config = {"params": params.to_dict(), "models": [p.provenance(ws, run_seed, device) for p in plans]}
        bundle = open_bundle(ws, generator.kind, params, run_seed, shard, planned, config)
        resumed = _drop_bundled(plans, bundle)
        if resumed:
            messages.append(
                f"{len(resumed)} image(s) already in the bundle {bundle.partial.name} (an interrupted "
                "run of this shard): not drawn again"
            )
        finished += resumed
    left = {s.image_id for p in plans for s in p.sources}  # an image is done when all its sources are
    out.already_done = [i for i in dict.fromkeys(s.image_id for s in finished) if i not in left]
    _draw(ws, generator, plans, run_seed, bundle, ctx, out)
    if out.redrawn:
        messages.append(
            f"{out.redrawn} sample(s) redrawn with a new seed after failing a quality gate "
            "(each attempt is in the sample's provenance)"
        )
    out.bundle = str(bundle.finish(messages)) if bundle is not None else None
    out.seconds = round(time.perf_counter() - started, 2)
    return out


def _draw(
    ws: Workspace,
    generator: Generator,
    plans: list[Plan],
    run_seed: int,
    bundle: BundleWriter | None,
    ctx: JobContext,
    out: Generated,
) -> None:
    """Draw every plan's sources, model by model, and store (or bundle) each source's samples."""
    device = out.device
    prog = Progress(
        ctx,
        out.messages,
        len({s.image_id for p in plans for s in p.sources}),
        sum(s.count(p.cfg) * p.cfg.make_sampler().evaluations() for p in plans for s in p.sources),
    )
    images_of: dict[int, int] = defaultdict(int)  # image id -> its sources still to draw
    for p in plans:
        for s in p.sources:
            images_of[s.image_id] += 1
    gate_failures: dict[str, int] = defaultdict(int)
    for plan in plans:
        if not plan.sources:
            continue
        plan_started, evaluations_before = time.perf_counter(), prog.done
        model, _, _ = load_model(plan.ref.folder, weights=WEIGHT_FILES[plan.cfg.weights], device=device)
        common = plan.provenance(ws, run_seed, device)
        for src, drawn in draw_samples(
            plan.cfg,
            plan.diffusion,
            plan.gates,
            training_colours(ws, plan.image_size),
            plan.sources,
            model,
            run_seed,
            device,
            prog,
            ctx,
            generator.more_gates,
        ):
            rows = _rows(generator, plan, src, drawn, common)
            if bundle is None:
                with ws.transaction():  # all samples of one source, with their gate scores
                    out.written.setdefault(src.image_id, []).extend(row.store(ws, ctx.job_id) for row in rows)
            else:
                bundle.add(src.key, rows)
                out.written.setdefault(src.image_id, [])
            images_of[src.image_id] -= 1
            prog.images_done += not images_of[src.image_id]
            out.samples += len(rows)
            out.redrawn += sum(len(d.redraws) for d in drawn)
            for d in drawn:
                failed = gates.failed(d.scores)
                out.passed += not failed
                for gate in failed:
                    gate_failures[gate] += 1
        del model
        if bundle is None and prog.done > evaluations_before:  # what the next run's estimate goes by
            speed = {"seconds": round(time.perf_counter() - plan_started, 2), "evaluations": prog.done - evaluations_before}
            record = {**speed, "device": device.type, "resolution": plan.image_size, "kind": generator.kind}
            ws.add_result(INPAINT_SPEED, plan.preset, record)
        if device.type == "cuda":
            torch.cuda.empty_cache()
    prog.report(f"{prog.images_done}/{prog.images} images done")  # the bar's last word: not a batch's step
    out.gate_failures = {g: gate_failures[g] for g in gates.GATES if gate_failures[g]}


def open_bundle(
    ws: Workspace, kind: str, params: Any, run_seed: int, shard: Shard, planned: list[str], config: dict[str, Any]
) -> BundleWriter:  # params: a job's parameters with a ``bundle`` folder (GenerationParams, StyleParams)
    """This shard's bundle of a ``kind`` run (resumed when an interrupted run of it left one);
    ``config`` is what the run resolved (its parameters and each model's settings)."""
    run, digest = run_identity(kind, params, run_seed)
    identity = {"kind": kind, "run": run, "digest": digest, "shard": [shard.index, shard.count]}
    return BundleWriter(bundle_folder(ws, run, shard, params.bundle), identity, planned, config)


def _planned(image_ids: list[int], plans: list[Plan]) -> list[str]:
    """A shard's items in order: each image's first source (``image-ID``, also for an image that
    cannot be used), then its further sources (one per further wanted mask)."""
    further: dict[int, list[str]] = defaultdict(list)
    for p in plans:
        for s in p.sources:
            if s.series:
                further[s.image_id].append(s.key)
    return [key for i in image_ids for key in (f"image-{i}", *further[i])]


def _drop_bundled(plans: list[Plan], bundle: BundleWriter) -> list[Source]:
    """Remove from the plans the sources the bundle already holds; returns them."""
    done = [s for p in plans for s in p.sources if s.key in bundle.done]
    for p in plans:
        p.sources = [s for s in p.sources if s not in done]
    return done


def _rows(generator: Generator, plan: Plan, src: Source, drawn: list[Drawn], common: dict[str, Any]) -> list[SampleRow]:
    """One source's samples as the workspace records them, each with its gate scores."""
    rows = []
    for d in drawn:
        provenance = {**sample_params(common, src, d.draw.index), "batch": d.batch}
        if d.redraws:
            provenance["redraws"] = list(d.redraws)
        rows.append(
            SampleRow(
                generator.sample_kind,
                plan.set_name,
                *sample_pngs(d.image, d.mask),
                provenance,
                seed=d.seed,
                source_image_id=src.image_id,
                mask_version_id=src.mask_version_id,
                model_id=plan.model_id,
                checkpoint_id=plan.checkpoint_id,
                gates=tuple(d.scores),
                checks={"source_sha256": src.source_sha256},
            )
        )
    return rows
