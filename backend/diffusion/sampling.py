"""Unconditional image + mask samples from a trained model (a quick look at what a model
learned; the pipeline's own samples come from RePaint). Each sample is recorded in the
workspace with its model, checkpoint and seed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from backend.config.device import pick_device
from backend.diffusion.checkpoint import load_model
from backend.diffusion.gaussian import create_diffusion
from backend.diffusion.registry import ModelRef, latest_checkpoint_id, resolve_model, stored_model_folder
from backend.diffusion.sample_params import SampleParams
from backend.diffusion.train_data import from_model_range
from backend.diffusion.train_io import sample_sheet, write_sheet
from backend.errors import DiffGenError
from backend.jobs.context import JobContext
from backend.jobs.params import JobResult
from backend.workspace import Workspace


def model_for(ws: Workspace, choice: str) -> ModelRef:
    """``full``, ``cluster:K`` (current clustering) or a model folder."""
    if choice.startswith("cluster:"):
        k = int(choice.split(":", 1)[1])
        rows = ws.query(
            "SELECT * FROM models WHERE target = 'cluster' AND clustering_id = ? AND cluster = ? ORDER BY id DESC LIMIT 1",
            (ws.current_clustering_id(), k),
        )
        if not rows:
            raise DiffGenError(f"no trained model for cluster {k} of the current clustering")
        return ModelRef(rows[0]["id"], stored_model_folder(ws, rows[0]), "cluster", k)
    return resolve_model(ws, None, "full" if choice == "full" else choice)


@dataclass(frozen=True, kw_only=True)
class SampleResult(JobResult):
    sample_ids: tuple[int, ...]
    model_folder: str
    sheet: str | None = None


def run_sample(ws: Workspace, params: SampleParams, ctx: JobContext) -> SampleResult:
    """Draw ``params.count`` unconditional samples from a model and store them (set Uncond)."""
    ref = model_for(ws, params.model)
    device = pick_device(params.device)
    model, diff_cfg, cfg = load_model(ref.folder, device=device)
    diffusion = create_diffusion(diff_cfg, params.respacing)
    count, seed = params.count, params.seed
    size, channels = model.cfg.image_size, model.cfg.in_channels
    g = torch.Generator(device=device).manual_seed(seed)

    def step(done: int, total: int) -> None:
        ctx.check_cancel("no sample was written")
        ctx.report(done, total, f"step {done}/{total}")

    with torch.no_grad():
        x = diffusion.sample_loop(model, (count, channels, size, size), generator=g, device=device, progress=step)
    rgb, mask = from_model_range(x)
    checkpoint_id = latest_checkpoint_id(ws, ref.id) if ref.id is not None else None
    ids = [
        ws.add_sample(
            "unconditional",
            "Uncond",
            rgb[i],
            mask[i],
            model_id=ref.id,
            checkpoint_id=checkpoint_id,
            seed=seed,
            params={
                "index": i,
                "count": count,
                "respacing": diffusion.num_timesteps,
                "model_folder": str(ref.folder),
                "steps_trained": cfg.get("steps"),
            },
        ).id
        for i in range(count)
    ]
    sheet = str(write_sheet(Path(params.sheet), sample_sheet(rgb, mask))) if params.sheet else None
    return SampleResult(
        summary=f"{len(ids)} unconditional samples from {ref.folder}",
        sample_ids=tuple(ids),
        model_folder=str(ref.folder),
        sheet=sheet,
    )
