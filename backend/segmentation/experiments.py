"""``run_segment``: the segmentation experiments job (resumable, one seg_runs row per run).

Every planned run has a key (see :mod:`backend.segmentation.plan`); keys already ``done``
in ``seg_runs`` are skipped, so an interrupted set picks up where it stopped. A finished
run writes its best checkpoint (safetensors) and ``run.json`` atomically, then its row. A
cancelled run writes nothing; a failed one is recorded as ``failed`` and the set goes on.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass
from typing import Any

from backend.config.device import pick_device
from backend.config.settings import resolve_weights
from backend.errors import Cancelled, DiffGenError
from backend.io.files import atomic_write_text
from backend.jobs.context import JobContext
from backend.jobs.params import JobResult
from backend.segmentation.config import EXPERIMENTS, SegConfig, load_config
from backend.segmentation.data import (
    ItemStore,
    batches_per_epoch,
    effective_epochs,
    image_split,
    synthetic_sets,
    test_sourced_note,
)
from backend.segmentation.model import build_model, save_checkpoint
from backend.segmentation.params import SegmentParams
from backend.segmentation.plan import Planner, RunSpec, images
from backend.segmentation.train import train_model
from backend.workspace import Workspace, now

# smp must never reach the Hugging Face hub (weights come from local files only).
os.environ.setdefault("HF_HUB_OFFLINE", "1")

RUNS_DIR = "segmentation/runs"


def resolve_experiments(names) -> list[str]:
    names = list(names or ["all"])
    if "all" in names:
        return list(EXPERIMENTS)
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        raise DiffGenError(f"unknown experiment(s) {', '.join(unknown)}; choose from {', '.join(EXPERIMENTS)} or all")
    return list(dict.fromkeys(names))


def finished_keys(ws: Workspace) -> set[str]:
    return {r[0] for r in ws.query("SELECT run_key FROM seg_runs WHERE status = 'done'")}


def record_run(ws: Workspace, key: str, mode: str, params: dict, status: str, metrics: dict | None, path: str | None) -> None:
    with ws.transaction() as c:
        c.execute(
            "INSERT INTO seg_runs (experiment, run_key, params_json, status, metrics_json, path,"
            " created_at) VALUES (?,?,?,?,?,?,?) ON CONFLICT(run_key) DO UPDATE SET"
            " experiment = excluded.experiment, params_json = excluded.params_json,"
            " status = excluded.status, metrics_json = excluded.metrics_json,"
            " path = excluded.path, created_at = excluded.created_at",
            (
                mode,
                key,
                json.dumps(params, default=str),
                status,
                json.dumps(metrics, default=str) if metrics is not None else None,
                path,
                now(),
            ),
        )


def run_steps(cfg: SegConfig, spec: RunSpec) -> int:
    n = len(spec.plan)
    return effective_epochs(cfg, n) * batches_per_epoch(n, cfg.batch_size)


def _safe(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", key)


def _train_one(
    ws: Workspace,
    cfg: SegConfig,
    spec: RunSpec,
    key: str,
    store: ItemStore,
    test: list,
    weights,
    params: dict,
    on_step,
    cancel,
    device,
) -> dict:
    """Train, save checkpoint + run.json, and return the metrics recorded for the run."""
    store.load(spec.refs(), keep=test)
    spec = spec.without(store.broken)
    if len(spec.plan) == 0 or not spec.val:
        raise DiffGenError(f"{spec.label}: nothing readable left to train or validate on")
    started = time.time()
    model = build_model(cfg, weights)
    out = train_model(
        model,
        cfg,
        spec.plan,
        store,
        spec.val,
        test,
        seed=spec.seed,
        control=spec.control,
        device=device,
        on_step=on_step,
        cancel=cancel,
    )
    metrics = {
        **out.test,
        "best_epoch": out.best_epoch,
        "epochs": out.epochs,
        "val_iou": out.best_val.get("iou"),
        "val_dice_loss": out.best_val.get("dice_loss"),
        "seconds": round(time.time() - started, 1),
        "device": str(device),
    }
    rel = f"{RUNS_DIR}/{_safe(key)}"
    save_checkpoint(
        ws.path(rel) / "best.safetensors", out.state, cfg, {"run_key": key, **spec.describe(), "best_epoch": out.best_epoch}
    )
    atomic_write_text(
        ws.path(rel) / "run.json",
        json.dumps(
            {
                "run_key": key,
                "params": params,
                "metrics": metrics,
                "history": out.history,
                "train": sorted(map(str, spec.plan.refs())),
                "val": sorted(map(str, spec.val)),
                "test": [str(r) for r in test],
                "notes": spec.notes,
            },
            indent=2,
            default=str,
        ),
    )
    return metrics | {"path": rel}


@dataclass(frozen=True)
class SegmentResult(JobResult):
    trained: tuple[dict[str, Any], ...]  # key, label, title, seed, iou, dice_loss per run trained now
    skipped: tuple[str, ...]  # run keys done earlier
    failed: tuple[str, ...]  # "key: error"
    notes: tuple[str, ...]
    test_images: int
    preset: str
    protocol: str  # which test set: the test role, or a random hold-out drawn once


def run_segment(ws: Workspace, params: SegmentParams, ctx: JobContext) -> SegmentResult:
    """Run the requested experiments (see :class:`SegmentParams`)."""
    cfg = load_config(params.preset, list(params.overrides), list(params.seeds) if params.seeds else None)
    experiments = resolve_experiments(params.experiments)
    device = pick_device(params.device)
    weights = resolve_weights("seg_encoder", params.encoder_weights) if cfg.pretrained else None
    split = image_split(ws, cfg)
    sets, gates = synthetic_sets(ws, params.only_passed)
    gate_note = gates.describe() if gates else None
    planner = Planner(
        cfg,
        split,
        sets,
        list(split.excluded)
        + test_sourced_note(sets, split)
        + ([f"synthetic sets, quality gates (--only-passed): {gate_note}"] if gate_note else []),
    )
    specs = planner.runs(experiments)
    store = ItemStore(ws, cfg.image_size)
    test = store.load(images(split.test))
    if not test:
        raise DiffGenError("no readable test image")
    test_hash = hashlib.sha256(json.dumps(list(split.test)).encode()).hexdigest()[:12]
    keyed: dict[str, RunSpec] = {}  # a run shared by two tables (the Real baseline) runs once
    for spec in specs:
        keyed.setdefault(spec.key(cfg, split.test, weights.name if weights else None), spec)
    done = finished_keys(ws)
    total = sum(run_steps(cfg, s) for s in keyed.values())
    state = {"done": 0}
    trained: list[dict[str, Any]] = []
    skipped: list[str] = []
    failed: list[str] = []

    def report(message: str) -> None:
        ctx.report(state["done"], total, message)

    for i, (key, spec) in enumerate(keyed.items()):
        steps = run_steps(cfg, spec)
        tag = f"[{i + 1}/{len(keyed)}] {spec.title} s{spec.seed}"
        if key in done:
            state["done"] += steps
            skipped.append(key)
            report(f"{tag}: done earlier")
            continue
        run_params = {
            **spec.describe(),
            "preset": cfg.preset,
            "config": cfg.to_dict(),
            "fingerprint": cfg.training_fingerprint(),
            "test_hash": test_hash,
            "protocol": split.protocol,
            "protocol_description": split.description,
            "encoder_weights": str(weights) if weights else None,
            "only_passed": params.only_passed,
            "gates_left_out": len(gates.failed) if gates else 0,
            "gate_note": gate_note,
        }
        start = state["done"]

        def on_step(message: str, tag=tag) -> None:
            state["done"] += 1
            report(f"{tag} {message}")

        try:
            metrics = _train_one(ws, cfg, spec, key, store, test, weights, run_params, on_step, ctx.cancel, device)
        except Cancelled:
            raise
        except Exception as e:  # noqa: BLE001 - record the failure, go on with the next run
            record_run(ws, key, spec.mode, run_params, "failed", {"error": f"{type(e).__name__}: {e}"}, None)
            failed.append(f"{key}: {e}")
            ctx.log(f"{key} failed: {e}")
            state["done"] = start + steps
            continue
        state["done"] = start + steps
        record_run(ws, key, spec.mode, run_params, "done", metrics, metrics["path"])
        trained.append(
            {
                "key": key,
                "label": spec.label,
                "title": spec.title,
                "seed": spec.seed,
                "iou": metrics["iou"],
                "dice_loss": metrics["dice_loss"],
            }
        )
    report("finished")
    return SegmentResult(
        summary=f"{len(trained)} runs trained, {len(skipped)} already done, {len(failed)} failed",
        trained=tuple(trained),
        skipped=tuple(skipped),
        failed=tuple(failed),
        notes=tuple(planner.notes + store.notes),
        test_images=len(test),
        preset=cfg.preset,
        protocol=split.description,
    )
