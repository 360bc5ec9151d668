"""Planning a generation run: the images grouped by the model that serves them, each model's
settings read from its config.json (no weights loaded: a run over 20 cluster models holds one
model in memory at a time), its sources loaded at its resolution, the set its samples go to,
and the sources whose samples are already stored (a re-run skips them)."""

from __future__ import annotations

import json
import secrets
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from backend import gates
from backend.config.presets import apply_overrides, load_preset
from backend.diffusion.checkpoint import read_config
from backend.diffusion.config import DiffusionConfig
from backend.diffusion.model_pin import check_pins
from backend.diffusion.registry import ModelRef, latest_checkpoint_id, resolve_model
from backend.errors import BadInputError, DiffGenError, WorkspaceError
from backend.generate.config import GenerationConfig
from backend.generate.draw import Source
from backend.generate.pixels import RESIZE_NOTE
from backend.jobs.context import JobContext
from backend.workspace import Workspace

if TYPE_CHECKING:
    from backend.generate.base import GenerationParams, Generator

# Provenance keys added after samples were stored with the value they had then implicitly:
# a stored sample without the key was made with this value (skip-finished still finds it).
IMPLIED = {"sampler": "repaint"}


@dataclass
class Plan:
    """One model's share of a run."""

    ref: ModelRef
    model_id: int | None
    checkpoint_id: int | None
    target: str
    cluster: int | None
    preset: str
    cfg: GenerationConfig
    image_size: int
    diffusion: DiffusionConfig
    sources: list[Source]
    gates: gates.GateConfig
    set_name: str = ""  # where its samples go (see own_set_name)

    def provenance(self, ws: Workspace, run_seed: int, device: torch.device) -> dict[str, Any]:
        """What every sample of this plan records, whatever its source."""
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


def sample_params(common: dict[str, Any], src: Source, k: int) -> dict[str, Any]:
    """Sample ``k`` of ``src``'s provenance before drawing (the batch and redraws come after)."""
    return {
        **common,
        "sample_index": k,
        "source_size": list(src.source_size),
        "region_pixels": int((src.region > 0).sum()),
        **src.provenance,
    }


def make_plans(
    ws: Workspace, generator: Generator, params: GenerationParams, image_ids: list[int], messages: list[str], ctx: JobContext
) -> tuple[list[Plan], list[dict[str, Any]]]:
    """The run's plans, one per model, in the order the images first name them; and the images
    that could not be used ({"image_id", "reason"}). Notes on the models go to ``messages``, the
    exact checkpoints (resolved as the job starts) to the job's log too."""
    groups: dict[Path, list[int]] = defaultdict(list)
    refs: dict[Path, ModelRef] = {}
    for image_id in image_ids:
        ref = resolve_model(ws, image_id, params.model)
        if ref.note and ref.note not in messages:
            messages.append(ref.note)
        refs.setdefault(ref.folder, ref)
        groups[ref.folder].append(image_id)
    used = check_pins(ws, params.pinned_models, list(refs.values()))
    if used:
        messages.append(f"models: {', '.join(used)}")
        ctx.log(messages[-1])
    skipped: list[dict[str, Any]] = []
    plans = [_plan(ws, generator, refs[folder], ids, params, skipped) for folder, ids in groups.items()]
    for p in plans:
        p.set_name = own_set_name(ws, p, generator.base_set_name(p.target), params.set_name)
    return plans, skipped


def _plan(
    ws: Workspace,
    generator: Generator,
    ref: ModelRef,
    image_ids: list[int],
    params: GenerationParams,
    skipped: list[dict[str, Any]],
) -> Plan:
    saved = read_config(ref.folder)
    rows = ws.query(
        "SELECT * FROM models WHERE " + ("id = ?" if ref.id is not None else "path = ?"),
        (ref.id if ref.id is not None else ws.rel(ref.folder),),
    )
    row = dict(rows[0]) if rows else {}  # a folder given by path may be registered too
    preset = params.preset or row.get("preset") or saved.get("preset") or "paper"
    cfg = generator.config(preset)
    size = int(saved["model"]["image_size"])
    diffusion = DiffusionConfig.from_dict(saved["diffusion"])
    if cfg.respacing > diffusion.diffusion_steps:
        raise DiffGenError(
            f"respacing {cfg.respacing} exceeds the {diffusion.diffusion_steps} diffusion steps of the model in {ref.folder}"
        )
    sources = []
    for image_id in image_ids:
        try:
            sources += generator.sources(ws, image_id, size, cfg)
        except (BadInputError, WorkspaceError) as e:
            skipped.append({"image_id": image_id, "reason": str(e)})
    model_id = row.get("id")
    thresholds = gates.GateConfig.from_section(apply_overrides(load_preset(preset), list(params.overrides)).get("gates"))
    return Plan(
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


def drop_finished(ws: Workspace, plan: Plan, common: dict[str, Any], sample_kind: str) -> list[Source]:
    """Remove from the plan the sources whose every sample of this run is already stored (same
    run seed, sample index, checkpoint and recorded provenance; a redrawn sample has another
    seed but the same index); returns them. A model given by folder path has no recorded
    checkpoint, so its weights may have changed: never skipped."""
    if plan.model_id is None:
        return []
    finished = []
    for src in plan.sources:
        wanted = {k: json.loads(json.dumps(sample_params(common, src, k), default=str)) for k in range(src.count(plan.cfg))}
        stored = [
            json.loads(r[0])
            for r in ws.query(
                "SELECT params_json FROM samples WHERE kind = ? AND set_name = ? AND source_image_id = ?"
                " AND mask_version_id IS ? AND model_id = ? AND checkpoint_id IS ?",
                (sample_kind, plan.set_name, src.image_id, src.mask_version_id, plan.model_id, plan.checkpoint_id),
            )
        ]
        have = {k for k, want in wanted.items() for p in stored if all(_recorded(p, key) == v for key, v in want.items())}
        if have == set(wanted):
            finished.append(src)
    plan.sources = [s for s in plan.sources if s not in finished]
    return finished


def _recorded(stored: dict[str, Any], key: str) -> Any:
    return stored.get(key, IMPLIED.get(key))


def own_set_name(ws: Workspace, plan: Plan, base: str, given: str | None) -> str:
    """The set a plan's samples go to: the name given, else ``base`` (the paper's Diff,
    Full-Diff; Mask-Diff), unless samples of another model are in that set already: sets made
    by different models never share a name (the cluster models of one clustering make one set,
    Diff), so the model's name is added to it (``Full-Diff-full-demo``)."""
    if given:
        return given
    row = ws.query("SELECT name, clustering_id FROM models WHERE id = ?", (plan.model_id,)) if plan.model_id else []
    name = row[0]["name"] if row else plan.ref.folder.name
    clustering = row[0]["clustering_id"] if row else None

    def ours(other: Any) -> bool:
        if plan.target == "cluster" and clustering is not None:
            return other["target"] == "cluster" and other["clustering_id"] == clustering
        return plan.model_id is not None and other["model_id"] == plan.model_id

    for candidate in (base, f"{base}-{name}", f"{base}-{name}-{plan.model_id or 'folder'}"):
        makers = ws.query(
            "SELECT DISTINCT s.model_id, m.target, m.clustering_id FROM samples s LEFT JOIN models m ON m.id = s.model_id"
            " WHERE s.set_name = ?",
            (candidate,),
        )
        if all(ours(m) for m in makers):
            return candidate
    return f"{base}-{name}-{secrets.token_hex(3)}"
