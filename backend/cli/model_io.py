"""Sharing models: export-model (a diffusers folder) and import-model (such a folder back)."""

from __future__ import annotations

import argparse

from backend.cli.common import add_model_target, add_workspace, open_workspace
from backend.errors import DiffGenError


def register(sub) -> None:
    p = sub.add_parser(
        "export-model",
        help="write a trained model as a diffusers folder (UNet2DModel + "
        "DDPMScheduler + model card) that diffusers loads without DiffGen",
        description="OUT/unet loads with UNet2DModel.from_pretrained(OUT, subfolder='unet'); "
        "OUT/scheduler holds the noise schedule (learned-range variance); EMA weights, "
        "safetensors only.",
    )
    add_workspace(p)
    p.add_argument("name", help="name of a trained or imported model of the workspace (folder models/NAME)")
    p.add_argument("out", help="output folder: new or empty")
    p.add_argument("--format", dest="fmt", choices=["diffusers"], default="diffusers")
    p.set_defaults(func=cmd_export_model)

    p = sub.add_parser("import-model", help="import a folder written by 'diffgen export-model' as a model")
    p.add_argument("folder", help="the exported folder (diffgen.json, unet/, scheduler/)")
    add_model_target(p, "the exported model's")
    p.set_defaults(func=cmd_import_model)


def cmd_export_model(a: argparse.Namespace) -> int:
    from backend.diffusion.diffusers_io import export_model

    out = export_model(open_workspace(a), a.name, a.out)
    print(f"Exported model {a.name} to {out} (diffusers: unet/, scheduler/, model_index.json; model card README.md)")
    return 0


def cmd_import_model(a: argparse.Namespace) -> int:
    from pathlib import Path

    from backend.diffusion.model_files import read_export

    if not a.workspace and not a.out:
        raise DiffGenError("give --workspace WS (registers the model) or --out FOLDER")
    read_export(Path(a.folder).expanduser().resolve())  # configs and weights' header checked before torch loads
    from backend.diffusion.diffusers_io import import_model

    ws = open_workspace(a) if a.workspace else None
    result = import_model(a.folder, ws=ws, name=a.name, out=a.out, overwrite=a.overwrite)
    print(
        f"Imported {a.folder} into {result['folder']}" + (f" (model id {result['model_id']})" if result.get("model_id") else "")
    )
    if result["backup"]:
        print(f"The model it replaced was kept in {result['backup']} (delete it when no longer needed).")
    return 0
