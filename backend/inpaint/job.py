"""The inpainting stage: several new labelled samples from each real image (paper 2.2, 3.2).

For each chosen image its current mask version is dilated (20 px in the paper, so that the
whole polyp is hidden from the model) and all four channels (RGB + mask) inside the dilated
region are regenerated with RePaint by the image's cluster model (else the full-set model).

Resolution: samples are produced at the model's resolution. The source image and mask are
resized (whole frame, to ``image_size`` squared, as the models are trained) and the dilation
is measured in pixels of that resolution; outside the dilated region a sample equals this
resized source exactly, image and mask. The source resolution is recorded in the sample's
params.

Writes are all-or-nothing per image: an image's samples are written (in one transaction)
only after all of them finished; cancelling raises :class:`Cancelled` and writes nothing
for the images in progress. Runs are idempotent: an image that already has every sample
this run would make (same seeds, model, mask version and settings, e.g. a re-run of an
interrupted ``--seed`` run) is skipped, so a re-run never adds duplicate rows.
"""

from __future__ import annotations

import json
import secrets
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from backend import gates
from backend.config.device import pick_device
from backend.config.presets import apply_overrides, check_choice, from_section, load_preset
from backend.diffusion.checkpoint import load_model, read_config
from backend.diffusion.config import DiffusionConfig
from backend.diffusion.gaussian import create_diffusion
from backend.diffusion.registry import ModelRef, latest_checkpoint_id, resolve_model
from backend.diffusion.repaint import RepaintRow, RepaintSchedule, repaint_rows
from backend.diffusion.train_data import resize_pair
from backend.errors import BadInputError, DiffGenError, WorkspaceError
from backend.inpaint.params import InpaintParams
from backend.jobs.bundles import BundleWriter, SampleRow, bundle_folder, run_identity
from backend.jobs.context import JobContext
from backend.jobs.params import JobResult
from backend.jobs.shards import Shard
from backend.masks import ops as masks
from backend.workspace import Workspace
from backend.workspace.store import sample_pngs

SHEET_MAX_IMAGES = 8
WEIGHT_FILES = {"ema": "ema", "raw": "model"}  # load_model's names for the two weight files
# Whole frame, whatever train.resize was: the author's sampler squashes too (image_editor.py,
# PIL resize to (256, 256)), and a crop would lose the sides a sample must keep.
RESIZE_NOTE = "whole frame to the model resolution: image INTER_AREA, mask nearest"
DILATE_SHAPES = ("disk", "ellipse_kernel")
MASK_CLEANUPS = ("islands", "opening")


@dataclass(frozen=True)
class InpaintConfig:
    """Per-run settings: preset ``[inpaint]`` section, then explicit params on top."""

    samples: int = 3  # samples per real image (paper: 3)
    dilate: int = 20  # pixels at the model's resolution (paper 2.2: "dilated ... by 20 pixels"):
    # the disk's radius, or the elliptical kernel's side
    dilate_shape: str = "disk"  # disk: Euclidean disk of radius `dilate` (our reading of the paper);
    # ellipse_kernel: cv2 MORPH_ELLIPSE (dilate, dilate), ~dilate/2 per side
    # (diffuse-gen optimization/image_editor.py)
    respacing: int = 200  # steps of the respaced reverse process (paper: 200)
    jump_length: int = 10  # Table A.2
    jump_n_sample: int = 5  # Table A.2
    clip_denoised: bool = True  # clip each step's x0 prediction to [-1, 1] (RePaint confs, guided-diffusion
    # image_sample.py); the author's p_sample_loop passes clip_denoised=False
    channels_last: bool = True  # run the UNet in NHWC layout: 1.23x evaluations/s on a 2-core CPU (demo UNet);
    # samples equal up to float rounding
    mask_cleanup: str = "islands"  # islands: threshold, drop blobs < min_island, fill holes (ours);
    # opening: threshold, elliptical opening (image_editor.py refine_mask)
    min_island: int = 64  # islands: generated mask components smaller than this are dropped
    fill_holes: bool = True  # islands: holes inside generated mask components are filled
    opening_kernel: int = 16  # opening: kernel side (refine_mask: MORPH_ELLIPSE (16, 16))
    weights: str = "ema"  # ema | raw; the author's README samples model*.pt, the raw weights
    batch_size: int = 3  # rows (samples) per model call
    retries: int = 0  # redraws (new seed) of a sample that fails one of `retry_gates`; 0: none (paper)
    retry_gates: tuple[str, ...] = ("no_polyp",)  # the quality gates (backend/gates.py) that trigger a redraw

    def __post_init__(self) -> None:
        check_choice("inpaint.dilate_shape", self.dilate_shape, DILATE_SHAPES)
        check_choice("inpaint.mask_cleanup", self.mask_cleanup, MASK_CLEANUPS)
        check_choice("inpaint.weights", self.weights, tuple(WEIGHT_FILES))
        object.__setattr__(self, "retry_gates", tuple(self.retry_gates))  # TOML gives a list
        for gate in self.retry_gates:
            check_choice("inpaint.retry_gates", gate, gates.GATES)

    def schedule(self) -> RepaintSchedule:
        return RepaintSchedule(self.respacing, self.jump_length, self.jump_n_sample)

    def region(self, mask: np.ndarray) -> np.ndarray:
        """The dilated mask: the region that is regenerated."""
        return dilate_region(mask, self.dilate, self.dilate_shape)

    def clean(self, mask: np.ndarray) -> np.ndarray:
        """A thresholded generated mask (0/255) cleaned as ``mask_cleanup`` says. The author
        opens the grey mask channel before any threshold; flat opening commutes with
        thresholding, so opening the thresholded mask gives the same binary mask."""
        if self.mask_cleanup == "opening":
            return masks.open_ellipse_kernel(mask, self.opening_kernel)
        if self.min_island > 0:
            mask = masks.remove_small_islands(mask, self.min_island)
        return masks.fill_holes(mask) if self.fill_holes else mask


def dilate_region(mask: np.ndarray, dilate: int, shape: str = "disk") -> np.ndarray:
    check_choice("inpaint.dilate_shape", shape, DILATE_SHAPES)
    return masks.dilate_ellipse_kernel(mask, dilate) if shape == "ellipse_kernel" else masks.dilate(mask, dilate)


def resolve_config(params: dict[str, Any], preset: str, overrides: tuple[str, ...] = ()) -> InpaintConfig:
    """The preset's ``[inpaint]`` values (after ``overrides``) overridden by the params that are
    set (not None)."""
    section = dict(apply_overrides(load_preset(preset), list(overrides)).get("inpaint", {}))
    aliases = {"batch": "batch_size"}
    for key, value in params.items():
        key = aliases.get(key, key)
        if key in InpaintConfig.__dataclass_fields__ and value is not None:
            section[key] = value
    cfg = from_section(InpaintConfig, section)
    if (
        min(cfg.samples, cfg.batch_size, cfg.respacing, cfg.jump_length, cfg.jump_n_sample) < 1
        or min(cfg.dilate, cfg.retries) < 0
    ):
        raise DiffGenError("samples, batch size, respacing, jump length and jump count must be >= 1, dilation and retries >= 0")
    return cfg


# -- seeds --------------------------------------------------------------------------------
def sample_seed(run_seed: int, image_id: int, index: int, attempt: int = 0) -> int:
    """Seed of one sample, from the run seed, image id, sample index and (for a redraw after a
    failed gate) the attempt only, so that the batch layout never changes a sample; fits
    SQLite's signed 64-bit integer. Attempt 0 is the seed runs without retries always had."""
    entropy = [int(run_seed), int(image_id), int(index)] + ([int(attempt)] if attempt else [])
    state = np.random.SeedSequence(entropy).generate_state(2, np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1])) & (2**63 - 1)


# -- pixels ---------------------------------------------------------------------------------
def to_model_resolution(image: np.ndarray, mask: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Whole-frame resize to ``size`` x ``size`` exactly as the training data is made
    (:func:`resize_pair`), so the model sees inputs from the distribution it learned."""
    arr = resize_pair(image, mask, size)
    return np.ascontiguousarray(arr[:3].transpose(1, 2, 0)), arr[3]


def to_tensor(image: np.ndarray, mask: np.ndarray) -> torch.Tensor:
    """RGB HxWx3 + mask HxW uint8 -> (4,H,W) float in [-1, 1] (the models' 4 channels)."""
    x = np.concatenate([image, mask[..., None]], axis=2).astype(np.float32) / 127.5 - 1.0
    return torch.from_numpy(x).permute(2, 0, 1).contiguous()


def postprocess(
    x0: torch.Tensor, image: np.ndarray, mask: np.ndarray, region: np.ndarray, cfg: InpaintConfig
) -> tuple[np.ndarray, np.ndarray]:
    """A generated (4,H,W) tensor -> (RGB uint8, binary mask uint8).

    The mask channel is thresholded at 0 (mid-grey) and cleaned (:meth:`InpaintConfig.clean`)
    in the context of the whole mask (a polyp crossing the region edge stays one component);
    outside the region both the image and the mask are the source's, exactly.
    """
    arr = ((x0.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()
    inside = region > 0
    out_img = np.where(inside[..., None], arr[..., :3], image)
    out_mask = cfg.clean(np.where(inside, np.where(arr[..., 3] >= 128, 255, 0), mask).astype(np.uint8))
    return out_img.astype(np.uint8), np.where(inside, out_mask, mask).astype(np.uint8)


@dataclass
class _Source:
    """One image ready for sampling, at the model's resolution."""

    image_id: int
    name: str
    mask_version_id: int
    source_size: tuple[int, int]
    source_sha256: str
    image: np.ndarray
    mask: np.ndarray
    region: np.ndarray


def _load_source(ws: Workspace, image_id: int, size: int, cfg: InpaintConfig) -> _Source:
    rec = ws.image(image_id)
    mv = ws.current_mask(image_id)
    image, mask = to_model_resolution(ws.read_image(rec), ws.read_mask(mv), size)
    region = cfg.region(mask)
    if not region.any():
        raise BadInputError(f"image {rec.name}: its mask is empty, nothing to inpaint")
    return _Source(image_id, rec.name, mv.id, (rec.width, rec.height), rec.sha256, image, mask, region)


# -- models -------------------------------------------------------------------------------
def set_name_for(target: str | None) -> str:
    """The paper's set names: Diff (cluster models) and Full-Diff (the full-set model)."""
    return {"cluster": "Diff", "full": "Full-Diff", "imported": "Full-Diff"}.get(target or "", "Custom-Diff")


# -- the job ------------------------------------------------------------------------------
@dataclass
class _Plan:
    """One model's share of a run, prepared from its config.json without loading weights
    (so that a run over 20 cluster models holds one model in memory at a time)."""

    ref: ModelRef
    model_id: int | None
    checkpoint_id: int | None
    target: str
    cluster: int | None
    preset: str
    cfg: InpaintConfig
    image_size: int
    diffusion: DiffusionConfig
    sources: list[_Source]
    gates: gates.GateConfig

    def provenance(self, ws: Workspace, run_seed: int, device: torch.device) -> dict[str, Any]:
        cfg, schedule = self.cfg, self.cfg.schedule()
        cleanup = (
            {"opening_kernel": cfg.opening_kernel}
            if cfg.mask_cleanup == "opening"
            else {"min_island": cfg.min_island, "fill_holes": cfg.fill_holes}
        )
        return {
            "preset": self.preset,
            "model_folder": ws.rel(self.ref.folder),
            "model_target": self.target,
            "cluster": self.cluster,
            "model_note": self.ref.note,
            "schedule": "repaint-jump",
            "respacing": cfg.respacing,
            "jump_length": cfg.jump_length,
            "jump_n_sample": cfg.jump_n_sample,
            "evaluations": schedule.evaluations(),
            "clip_denoised": cfg.clip_denoised,
            "channels_last": cfg.channels_last,
            "dilation": cfg.dilate,
            "dilation_shape": cfg.dilate_shape,
            "resolution": self.image_size,
            "resize": RESIZE_NOTE,
            "postprocess": {"threshold": 0.0, "cleanup": cfg.mask_cleanup, **cleanup},
            "run_seed": run_seed,
            "weights": cfg.weights,
            "device": device.type,
            "autocast_fp16": device.type == "cuda",
            "retries": cfg.retries,
            "retry_gates": list(cfg.retry_gates),
            "gates": asdict(self.gates),
        }


def _plan(ws: Workspace, ref: ModelRef, image_ids: list[int], params: InpaintParams, skipped: list[dict[str, Any]]) -> _Plan:
    saved = read_config(ref.folder)
    rows = ws.query(
        "SELECT * FROM models WHERE " + ("id = ?" if ref.id is not None else "path = ?"),
        (ref.id if ref.id is not None else ws.rel(ref.folder),),
    )
    row = dict(rows[0]) if rows else {}  # a folder given by path may be registered too
    preset = params.preset or row.get("preset") or saved.get("preset") or "paper"
    cfg = resolve_config(params.to_dict(), preset, params.overrides)
    size = int(saved["model"]["image_size"])
    diffusion = DiffusionConfig.from_dict(saved["diffusion"])
    if cfg.respacing > diffusion.diffusion_steps:
        raise DiffGenError(
            f"respacing {cfg.respacing} exceeds the {diffusion.diffusion_steps} diffusion steps of the model in {ref.folder}"
        )
    sources = []
    for image_id in image_ids:
        try:
            sources.append(_load_source(ws, image_id, size, cfg))
        except (BadInputError, WorkspaceError) as e:
            skipped.append({"image_id": image_id, "reason": str(e)})
    model_id = row.get("id")
    thresholds = gates.GateConfig.from_section(apply_overrides(load_preset(preset), list(params.overrides)).get("gates"))
    return _Plan(
        ref,
        model_id,
        latest_checkpoint_id(ws, model_id) if model_id is not None else None,
        row.get("target") or ref.target,
        row.get("cluster", ref.cluster),
        preset,
        cfg,
        size,
        diffusion,
        sources,
        thresholds,
    )


@dataclass(frozen=True)
class InpaintResult(JobResult):
    images: int  # images that got samples in this run
    samples: int
    sample_ids: dict[str, tuple[int, ...]]  # image id -> its new sample ids
    skipped: tuple[dict[str, Any], ...]  # {"image_id", "reason"}: images that could not be used
    already_done: tuple[int, ...]  # images that already had every sample of this run
    messages: tuple[str, ...]
    seed: int
    device: str
    seconds: float
    sheet: str | None = None  # the contact sheet, workspace-relative
    bundle: str | None = None  # a shard's bundle folder (then sample_ids are empty)


def run_inpaint(ws: Workspace, params: InpaintParams, ctx: JobContext) -> InpaintResult:
    """Inpaint the chosen images; returns counts, sample ids, skipped images and messages.
    Progress counts model evaluations of single samples over the whole run. With
    ``params.shard`` the run does its share of the sorted images and writes a bundle
    (:mod:`backend.jobs.bundles`) instead of the workspace."""
    started = time.perf_counter()
    shard = params.shard_spec()
    if shard is not None and params.seed is None:
        raise BadInputError(f"shard {shard} needs --seed: every shard of a run must use the same run seed")
    run_seed = params.seed if params.seed is not None else secrets.randbits(31)
    device = pick_device(params.device)
    messages: list[str] = []
    skipped: list[dict[str, Any]] = []

    # Group images by model so that each model is loaded once and its images share batches.
    groups: dict[Path, list[int]] = defaultdict(list)
    refs: dict[Path, ModelRef] = {}
    image_ids = params.image_ids(ws)
    if shard is not None:
        image_ids = shard.take(sorted(image_ids))
    for image_id in image_ids:
        ref = resolve_model(ws, image_id, params.model)
        if ref.note and ref.note not in messages:
            messages.append(ref.note)
        refs.setdefault(ref.folder, ref)
        groups[ref.folder].append(image_id)
    plans = [_plan(ws, refs[folder], ids, params, skipped) for folder, ids in groups.items()]
    messages += [s["reason"] for s in skipped]
    finished = [i for p in plans for i in _drop_finished(ws, p, p.provenance(ws, run_seed, device), params)]
    if finished:
        messages.append(f"skipped {len(finished)} image(s) that already have these samples (same seed, model and settings)")
    bundle = None
    if shard is not None:
        bundle = _open_bundle(ws, params, shard, run_seed, image_ids, plans, device)
        resumed = _drop_bundled(plans, bundle)
        if resumed:
            messages.append(
                f"{len(resumed)} image(s) already in the bundle {bundle.partial.name} (an interrupted "
                "run of this shard): not drawn again"
            )
        finished += resumed

    prog = _Progress(
        ctx,
        messages,
        sum(len(p.sources) for p in plans),
        sum(len(p.sources) * p.cfg.samples * p.cfg.schedule().evaluations() for p in plans),
    )
    written: dict[int, list[int]] = {}
    n_samples = redrawn = 0
    for plan in plans:
        if not plan.sources:
            continue
        model, _, _ = load_model(plan.ref.folder, weights=WEIGHT_FILES[plan.cfg.weights], device=device)
        common = plan.provenance(ws, run_seed, device)
        for src, drawn in _draw_plan(plan, model, run_seed, device, prog, ctx):
            rows = _rows(plan, src, drawn, common, params)
            if bundle is None:
                with ws.transaction():  # all samples of one image, with their gate scores
                    written[src.image_id] = [row.store(ws, ctx.job_id) for row in rows]
            else:
                bundle.add(_item_key(src.image_id), rows)
                written[src.image_id] = []
            prog.images_done = len(written)
            n_samples += len(rows)
            redrawn += sum(len(d.redraws) for d in drawn)
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()
    if redrawn:
        messages.append(
            f"{redrawn} sample(s) redrawn with a new seed after failing a quality gate "
            "(each attempt is in the sample's provenance)"
        )
    folder = str(bundle.finish(messages)) if bundle is not None else None

    sheet = (
        write_contact_sheet(ws, list(written.items())[:SHEET_MAX_IMAGES]) if params.sheet and written and bundle is None else None
    )
    return InpaintResult(
        summary=f"{n_samples} inpainted samples from {len(written)} images (seed {run_seed})"
        + (f", {redrawn} redrawn after a failed gate" if redrawn else "")
        + (f", {len(finished)} images already done" if finished else "")
        + (f"; shard {shard}: bundle {folder}" if folder else ""),
        images=len(written),
        samples=n_samples,
        sample_ids={str(k): tuple(v) for k, v in written.items()},
        skipped=tuple(skipped),
        already_done=tuple(finished),
        messages=tuple(messages),
        seed=run_seed,
        device=str(device),
        seconds=round(time.perf_counter() - started, 2),
        sheet=sheet,
        bundle=folder,
    )


def _item_key(image_id: int) -> str:
    return f"image-{image_id}"


def _open_bundle(
    ws: Workspace,
    params: InpaintParams,
    shard: Shard,
    run_seed: int,
    image_ids: list[int],
    plans: list[_Plan],
    device: torch.device,
) -> BundleWriter:
    """This shard's bundle (resumed when an interrupted run of it left one); its config is
    the run's parameters and each model's resolved settings (as samples record them)."""
    run, digest = run_identity("inpaint", params, run_seed)
    identity = {"kind": "inpaint", "run": run, "digest": digest, "shard": [shard.index, shard.count]}
    config = {"params": params.to_dict(), "models": [p.provenance(ws, run_seed, device) for p in plans]}
    return BundleWriter(bundle_folder(ws, run, shard, params.bundle), identity, [_item_key(i) for i in image_ids], config)


def _drop_bundled(plans: list[_Plan], bundle: BundleWriter) -> list[int]:
    """Remove from the plans the images the bundle already holds; their ids."""
    done = [s.image_id for p in plans for s in p.sources if _item_key(s.image_id) in bundle.done]
    for p in plans:
        p.sources = [s for s in p.sources if s.image_id not in done]
    return done


class _Progress:
    """Model evaluations done over the run's total (which grows when a sample is redrawn)."""

    def __init__(self, ctx: JobContext, messages: list[str], images: int, total: int):
        self.ctx, self.messages, self.images, self.total = ctx, messages, images, total
        self.done = self.images_done = 0

    def report(self, message: str) -> None:
        self.ctx.report(self.done, self.total, message)

    def on_step(self, n: int) -> None:
        self.done += n
        self.report(f"{self.images_done}/{self.images} images")

    def on_restart(self, lost: int) -> None:
        self.done -= lost

    def on_message(self, text: str) -> None:
        self.messages.append(text)
        self.ctx.log(text)
        self.report(text)


@dataclass(frozen=True)
class _Draw:
    """One sample to draw: image, sample index and attempt; the earlier attempts' seeds and failed gates."""

    src: _Source
    index: int
    attempt: int = 0
    redraws: tuple[dict[str, Any], ...] = ()

    def seed(self, run_seed: int) -> int:
        return sample_seed(run_seed, self.src.image_id, self.index, self.attempt)


@dataclass(frozen=True)
class _Drawn:
    draw: _Draw
    seed: int
    image: np.ndarray
    mask: np.ndarray
    scores: list[gates.GateScore]

    @property
    def redraws(self) -> tuple[dict[str, Any], ...]:
        return self.draw.redraws


def _draw_plan(
    plan: _Plan, model: torch.nn.Module, run_seed: int, device: torch.device, prog: _Progress, ctx: JobContext
) -> Iterator[tuple[_Source, list[_Drawn]]]:
    """Sample every image of a plan; yields (image, its samples) once all of an image's samples
    are drawn. A sample failing one of ``retry_gates`` is drawn again with the next attempt's
    seed, up to ``retries`` times; the last attempt is kept whatever its gates say."""
    cfg = plan.cfg
    evaluations = cfg.schedule().evaluations()
    diffusion = create_diffusion(plan.diffusion, str(cfg.respacing))
    draws = [_Draw(s, k) for s in plan.sources for k in range(cfg.samples)]
    ready: dict[int, list[_Drawn]] = defaultdict(list)
    while draws:
        again: list[_Draw] = []
        rows = [
            RepaintRow(
                to_tensor(d.src.image, d.src.mask),
                torch.from_numpy((d.src.region == 0).astype(np.float32))[None],
                d.seed(run_seed),
            )
            for d in draws
        ]
        for idx, x0 in repaint_rows(
            model,
            diffusion,
            rows,
            cfg.schedule().times(),
            cfg.batch_size,
            device,
            on_step=prog.on_step,
            cancel=ctx.cancel,
            on_message=prog.on_message,
            on_restart=prog.on_restart,
            clip_denoised=cfg.clip_denoised,
            channels_last=cfg.channels_last,
        ):
            d, src = draws[idx], draws[idx].src
            image, mask = postprocess(x0, src.image, src.mask, src.region, cfg)
            scores = gates.score(src.image, src.mask, src.region, image, mask, plan.gates)
            failed = [g for g in gates.failed(scores) if g in cfg.retry_gates]
            if failed and d.attempt < cfg.retries:
                again.append(_Draw(src, d.index, d.attempt + 1, d.redraws + ({"seed": rows[idx].seed, "failed": failed},)))
                prog.total += evaluations
                continue
            ready[src.image_id].append(_Drawn(d, rows[idx].seed, image, mask, scores))
            if len(ready[src.image_id]) == cfg.samples:
                yield src, sorted(ready.pop(src.image_id), key=lambda r: r.draw.index)
        draws = again


def _sample_params(common: dict[str, Any], src: _Source, k: int) -> dict[str, Any]:
    return {**common, "sample_index": k, "source_size": list(src.source_size), "region_pixels": int((src.region > 0).sum())}


def _drop_finished(ws: Workspace, plan: _Plan, common: dict[str, Any], params: InpaintParams) -> list[int]:
    """Remove from the plan the images whose every sample of this run is already stored
    (same run seed, sample index, checkpoint and recorded provenance; a redrawn sample has
    another seed but the same index); returns their ids. A model given by
    folder path has no recorded checkpoint, so its weights may have changed: never skipped."""
    if plan.model_id is None:
        return []
    finished = []
    for src in plan.sources:
        wanted = {k: json.loads(json.dumps(_sample_params(common, src, k), default=str)) for k in range(plan.cfg.samples)}
        stored = [
            json.loads(r[0])
            for r in ws.query(
                "SELECT params_json FROM samples WHERE kind = 'inpainted' AND set_name = ? AND source_image_id = ?"
                " AND mask_version_id = ? AND model_id = ? AND checkpoint_id IS ?",
                (_set_name(plan, params), src.image_id, src.mask_version_id, plan.model_id, plan.checkpoint_id),
            )
        ]
        have = {k for k, want in wanted.items() for p in stored if all(p.get(key) == v for key, v in want.items())}
        if have == set(wanted):
            finished.append(src.image_id)
    plan.sources = [s for s in plan.sources if s.image_id not in finished]
    return finished


def _set_name(plan: _Plan, params: InpaintParams) -> str:
    return params.set_name or set_name_for(plan.target)


def _rows(plan: _Plan, src: _Source, drawn: list[_Drawn], common: dict[str, Any], params: InpaintParams) -> list[SampleRow]:
    """One image's samples as the workspace records them, each with its gate scores."""
    rows = []
    for d in drawn:
        provenance = _sample_params(common, src, d.draw.index)
        if d.redraws:
            provenance["redraws"] = list(d.redraws)
        rows.append(
            SampleRow(
                "inpainted",
                _set_name(plan, params),
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


# -- contact sheet --------------------------------------------------------------------------
def _tile(arr: np.ndarray, size: int) -> np.ndarray:
    rgb = arr if arr.ndim == 3 else np.repeat(arr[..., None], 3, axis=2)
    return cv2.resize(rgb, (size, size), interpolation=cv2.INTER_NEAREST)


def _outline(image: np.ndarray, region: np.ndarray) -> np.ndarray:
    """The image with the dilated region's border drawn in yellow."""
    out = image.copy()
    contours, _ = cv2.findContours((region > 0).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(out, contours, -1, (255, 230, 0), 1)
    return out


def write_contact_sheet(ws: Workspace, items: list[tuple[int, list[int]]], tile: int = 160) -> str:
    """A PNG in ``reports/``: per image, a row of images (source | source with the dilated
    region outlined | samples) over a row of their masks (source mask | region | sample masks).
    Recorded as a ``report`` result; returns its workspace-relative path."""
    blocks, header_h, pad = [], 22, 4
    for image_id, sample_ids in items:
        samples = [ws.sample(i) for i in sample_ids]
        p, mask_id = samples[0].params, samples[0].mask_version_id
        if mask_id is None:
            raise WorkspaceError(f"sample {samples[0].id} records no source mask: not an inpainting sample")
        image, mask = to_model_resolution(ws.read_image(image_id), ws.read_mask(mask_id), int(p["resolution"]))
        region = dilate_region(mask, int(p["dilation"]), p.get("dilation_shape", "disk"))
        pairs = [(image, mask), (_outline(image, region), region)] + [ws.read_sample(s) for s in samples]
        cols = [np.vstack([_tile(a, tile), np.full((pad, tile, 3), 255, np.uint8), _tile(b, tile)]) for a, b in pairs]
        sep = np.full((cols[0].shape[0], pad, 3), 255, np.uint8)
        body = np.hstack([c for col in cols for c in (col, sep)][:-1])
        head = np.full((header_h, body.shape[1], 3), 255, np.uint8)
        reach = (
            f"{p['dilation']}x{p['dilation']} ellipse" if p.get("dilation_shape") == "ellipse_kernel" else f"+{p['dilation']} px"
        )
        labels = [f"source {ws.image(image_id).name}", f"region: {reach}"] + [
            f"sample {s.params['sample_index'] + 1} ({s.set_name})" for s in samples
        ]
        for j, text in enumerate(labels):
            cv2.putText(head, text[:24], (j * (tile + pad) + 3, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        blocks.append(np.vstack([head, body, np.full((2 * pad, body.shape[1], 3), 255, np.uint8)]))
    width = max(b.shape[1] for b in blocks)
    sheet = np.vstack([np.pad(b, ((0, 0), (0, width - b.shape[1]), (0, 0)), constant_values=255) for b in blocks])
    first = min(i for ids in (v for _, v in items) for i in ids)
    rel = ws.write_png(f"reports/inpaint_sheet_{first:06d}_{len(items)}img.png", sheet)
    ws.add_result(
        "report", "inpaint_sheet", {"path": rel, "images": [i for i, _ in items], "samples": [s for _, v in items for s in v]}
    )
    return rel
