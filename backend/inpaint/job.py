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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from backend import gates
from backend.config.device import pick_device
from backend.config.presets import apply_overrides, load_preset
from backend.diffusion.checkpoint import load_model, read_config
from backend.diffusion.config import DiffusionConfig
from backend.diffusion.model_pin import check_pins
from backend.diffusion.registry import ModelRef, latest_checkpoint_id, resolve_model
from backend.errors import BadInputError, DiffGenError, WorkspaceError
from backend.inpaint.config import WEIGHT_FILES, InpaintConfig, resolve_config
from backend.inpaint.draw import Drawn, Progress, Source, draw_samples
from backend.inpaint.params import InpaintParams
from backend.inpaint.pixels import RESIZE_NOTE, to_model_resolution
from backend.inpaint.sheet import write_contact_sheet
from backend.jobs.bundles import BundleWriter, bundle_folder, run_identity
from backend.jobs.context import JobContext
from backend.jobs.params import JobResult
from backend.jobs.sample_row import SampleRow
from backend.jobs.shards import Shard
from backend.words import counted
from backend.workspace import Workspace
from backend.workspace.queries import INPAINT_SPEED
from backend.workspace.records import sample_pngs

SHEET_MAX_IMAGES = 8


def _load_source(ws: Workspace, image_id: int, size: int, cfg: InpaintConfig) -> Source:
    rec = ws.image(image_id)
    mv = ws.current_mask(image_id)
    image, mask = to_model_resolution(ws.read_image(rec), ws.read_mask(mv), size)
    region = cfg.region(mask)
    if not region.any():
        raise BadInputError(f"image {rec.name}: its mask is empty, nothing to inpaint")
    return Source(image_id, rec.name, mv.id, (rec.width, rec.height), rec.sha256, image, mask, region)


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
    sources: list[Source]
    gates: gates.GateConfig
    set_name: str = ""  # where its samples go (see _own_set_name)

    def provenance(self, ws: Workspace, run_seed: int, device: torch.device) -> dict[str, Any]:
        cfg = self.cfg
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
            **cfg.make_sampler().settings(),
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
    gate_failures: dict[str, int]  # gate -> this run's samples that failed it (backend/gates.py)
    passed: int  # this run's samples that passed every gate
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
    used = check_pins(ws, params.pinned_models, list(refs.values()))
    if used:
        messages.append(f"models: {', '.join(used)}")
        ctx.log(messages[-1])  # the exact checkpoints, resolved as the job starts
    plans = [_plan(ws, refs[folder], ids, params, skipped) for folder, ids in groups.items()]
    for p in plans:
        p.set_name = _own_set_name(ws, p, params)
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

    prog = Progress(
        ctx,
        messages,
        sum(len(p.sources) for p in plans),
        sum(len(p.sources) * p.cfg.samples * p.cfg.schedule().evaluations() for p in plans),
    )
    written: dict[int, list[int]] = {}
    n_samples = redrawn = passed = 0
    gate_failures: dict[str, int] = defaultdict(int)
    for plan in plans:
        if not plan.sources:
            continue
        plan_started, evaluations_before = time.perf_counter(), prog.done
        model, _, _ = load_model(plan.ref.folder, weights=WEIGHT_FILES[plan.cfg.weights], device=device)
        common = plan.provenance(ws, run_seed, device)
        for src, drawn in draw_samples(plan.cfg, plan.diffusion, plan.gates, plan.sources, model, run_seed, device, prog, ctx):
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
            for d in drawn:
                failed = gates.failed(d.scores)
                passed += not failed
                for gate in failed:
                    gate_failures[gate] += 1
        del model
        if bundle is None and prog.done > evaluations_before:  # what the next run's estimate goes by
            speed = {"seconds": round(time.perf_counter() - plan_started, 2), "evaluations": prog.done - evaluations_before}
            ws.add_result(INPAINT_SPEED, plan.preset, {**speed, "device": device.type, "resolution": plan.image_size})
        if device.type == "cuda":
            torch.cuda.empty_cache()
    prog.report(f"{prog.images_done}/{prog.images} images done")  # the bar's last word: not a batch's step
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
        summary=f"{counted(n_samples, 'inpainted sample')} from {counted(len(written), 'image')} (seed {run_seed})"
        + (f", {redrawn} redrawn after a failed gate" if redrawn else "")
        + (f", {n_samples - passed} failing a quality gate" if passed < n_samples else "")
        + (f", {counted(len(finished), 'image')} already done" if finished else "")
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
        gate_failures={g: gate_failures[g] for g in gates.GATES if gate_failures[g]},
        passed=passed,
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


def _sample_params(common: dict[str, Any], src: Source, k: int) -> dict[str, Any]:
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


def _own_set_name(ws: Workspace, plan: _Plan, params: InpaintParams) -> str:
    """The set a plan's samples go to: the name given, else the paper's (Diff, Full-Diff), unless
    samples of another model are in that set already: sets made by different models never
    share a name (the cluster models of one clustering make one set, Diff), so the model's
    name is added to it (``Full-Diff-full-demo``)."""
    if params.set_name:
        return params.set_name
    row = ws.query("SELECT name, clustering_id FROM models WHERE id = ?", (plan.model_id,)) if plan.model_id else []
    name = row[0]["name"] if row else plan.ref.folder.name
    clustering = row[0]["clustering_id"] if row else None

    def ours(other: Any) -> bool:
        if plan.target == "cluster" and clustering is not None:
            return other["target"] == "cluster" and other["clustering_id"] == clustering
        return plan.model_id is not None and other["model_id"] == plan.model_id

    base = set_name_for(plan.target)
    for candidate in (base, f"{base}-{name}", f"{base}-{name}-{plan.model_id or 'folder'}"):
        makers = ws.query(
            "SELECT DISTINCT s.model_id, m.target, m.clustering_id FROM samples s LEFT JOIN models m ON m.id = s.model_id"
            " WHERE s.set_name = ?",
            (candidate,),
        )
        if all(ours(m) for m in makers):
            return candidate
    return f"{base}-{name}-{secrets.token_hex(3)}"


def _set_name(plan: _Plan, params: InpaintParams) -> str:
    return plan.set_name or params.set_name or set_name_for(plan.target)


def _rows(plan: _Plan, src: Source, drawn: list[Drawn], common: dict[str, Any], params: InpaintParams) -> list[SampleRow]:
    """One image's samples as the workspace records them, each with its gate scores."""
    rows = []
    for d in drawn:
        provenance = {**_sample_params(common, src, d.draw.index), "batch": d.batch}
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
