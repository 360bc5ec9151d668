"""Diffusion commands: train, sample (unconditional), import-checkpoint."""

from __future__ import annotations

import argparse
import json

from backend.cli.common import add_model_target, add_workspace, open_workspace, run_as_job
from backend.cli.flags import add_param_flags
from backend.diffusion.train_params import TrainParams
from backend.errors import DiffGenError
from backend.jobs.context import JobContext


def register(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train the 4-channel diffusion model (full set, a cluster, or each cluster)",
        description="Train on the full set, one cluster or one model per cluster of the current "
        "clustering. Under torchrun the run uses DistributedDataParallel.",
    )
    add_workspace(p)
    add_param_flags(p, TrainParams)  # --preset, --target, --steps, --resume, --set, ... as declared
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sample", help="draw unconditional image + mask samples from a trained model")
    add_workspace(p)
    p.add_argument("--model", default="full", help="full | cluster:K | path to a model folder (default full)")
    p.add_argument("--count", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--respacing", help="sampling steps, e.g. 50 or ddim25 (default: the model's)")
    p.add_argument("--sheet", help="also write a contact sheet PNG (image | mask pairs) here")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser(
        "import-checkpoint", help="import an openai/guided-diffusion UNet .pt (4 channels, learn_sigma) as a model"
    )
    p.add_argument("file", help="guided-diffusion state dict (.pt), loaded without running code")
    p.add_argument(
        "--config",
        default="paper",
        help="preset whose [model]/[diffusion] match the file: paper (Table A.1, attention at 16 and 8 px) "
        "or diffuse-gen (the author's code, attention at 16 px only)",
    )
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE")
    add_model_target(p, "the file's stem")
    p.set_defaults(func=cmd_import_checkpoint)


def cmd_train(a: argparse.Namespace) -> int:
    from backend.diffusion.train_config import resolve_configs

    params = TrainParams(
        preset=a.preset,
        target=a.target,
        steps=a.steps,
        resume=a.resume,
        overrides=tuple(a.overrides),
        device=a.device,
        name=a.name,
        overwrite=a.overwrite,
        tensorboard=a.tensorboard,
    )
    resolve_configs(params)  # every preset and --set value checked before torch loads
    from backend.diffusion import ddp
    from backend.diffusion.training import run_train

    ws = open_workspace(a)
    if not ddp.context_from_env().is_main:  # another rank of the main rank's job: no row of its own
        run_train(ws, params, JobContext())
        return 0
    result = run_as_job(ws, "train", params, "train", "step")
    if a.json:
        print(json.dumps(result.to_dict(), indent=2))
        return 0
    for backup in result.backups:
        print(f"The model replaced by --overwrite was kept in {backup} (delete it when no longer needed).")
    for m in result.models:
        where = "full set" if m["target"] == "full" else f"cluster {m['cluster']}"
        print(
            f"Trained {m['name']} ({where}, {m['images']} images) to step {m['steps']}, "
            f"final loss {m['final_loss']:.4f}\n  folder:  {m['folder']}\n  loss:    {m.get('loss_png')}"
            + (f"\n  samples: {m['samples_png']}" if m.get("samples_png") else "")
        )
        if m.get("excluded_flagged"):
            print(f"  note: {m['excluded_flagged']} flagged images left out (--set train.exclude_flagged=false keeps them)")
        for msg in m["skipped"]:
            print(f"  WARNING {msg}")
    return 0


def cmd_sample(a: argparse.Namespace) -> int:
    from backend.diffusion.sample_params import SampleParams

    ws = open_workspace(a)
    params = SampleParams(a.model, a.count, a.seed, a.respacing, a.sheet, a.device)
    result = run_as_job(ws, "sample", params, "sample", "step")
    print(
        f"Wrote {len(result.sample_ids)} unconditional samples from {result.model_folder} "
        f"(sample ids {result.sample_ids[0]}..{result.sample_ids[-1]})" + (f"; sheet {result.sheet}" if result.sheet else "")
    )
    return 0


def cmd_import_checkpoint(a: argparse.Namespace) -> int:
    from pathlib import Path

    from backend.diffusion.model_files import check_checkpoint_size, configs_for

    if not a.workspace and not a.out:
        raise DiffGenError("give --workspace WS (registers the model) or --out FOLDER")
    check_checkpoint_size(Path(a.file), configs_for(a.config, a.overrides)[0], a.config)  # before torch loads
    from backend.diffusion.import_checkpoint import import_checkpoint

    ws = open_workspace(a) if a.workspace else None
    result = import_checkpoint(a.file, a.config, ws=ws, name=a.name, out=a.out, overrides=a.overrides, overwrite=a.overwrite)
    print(
        f"Imported {result['tensors']} tensors from {a.file} into {result['folder']}"
        + (f" (model id {result['model_id']})" if result.get("model_id") else "")
    )
    if result["backup"]:
        print(f"The model it replaced was kept in {result['backup']} (delete it when no longer needed).")
    return 0
