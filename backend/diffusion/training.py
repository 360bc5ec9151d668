"""Training the 4-channel (image + mask) diffusion model: on the full set, one cluster, or
one model per cluster (paper sections 2.2 and 3.1, hyperparameters Table A.1).

As the reference (openai/guided-diffusion ``TrainLoop``): AdamW, uniform timestep
sampling on the full (unrespaced) diffusion, the hybrid loss, EMA weights for sampling,
a checkpoint every ``save_interval`` steps and at the end. ``--resume`` continues exactly
(same weights as an uninterrupted run) because every random draw of a step is a function
of (seed, step) (see ``train_data``) and the optimizer, scaler and RNG states are saved.
``batch_size`` is per process; under ``torchrun`` the global batch is split over ranks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from backend.config.device import pick_device
from backend.config.threads import adapt as adapt_threads
from backend.diffusion import ddp, train_io
from backend.diffusion.checkpoint import load_state_dict, read_config
from backend.diffusion.config import DiffusionConfig, ModelConfig
from backend.diffusion.gaussian import GaussianDiffusion, create_diffusion
from backend.diffusion.model import DiffusionUNet, build_model
from backend.diffusion.registry import (
    INCOMPLETE,
    back_up,
    holds_model,
    model_folder,
    record_checkpoint,
    refuse_taken,
    register_model,
)
from backend.diffusion.tb_log import TensorBoardLog, open_log
from backend.diffusion.train_config import TrainConfig, resolve_configs
from backend.diffusion.train_data import PairCache, draw_step, from_model_range, load_pairs, make_batch
from backend.diffusion.train_params import TrainParams, model_name
from backend.errors import Cancelled, DiffGenError
from backend.io.files import atomic_write_text, disk_full_as_error
from backend.jobs.context import JobContext
from backend.jobs.params import JobResult
from backend.words import counted
from backend.workspace import Workspace
from backend.workspace.selection import generation_images

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class TrainTarget:
    """One model to train: which images, and how it is registered."""

    kind: str  # full | cluster
    name: str
    image_ids: list[int]
    clustering_id: int | None = None
    cluster: int | None = None


# -- setup ---------------------------------------------------------------------------------
def init_like_guided_diffusion(model: DiffusionUNet) -> DiffusionUNet:
    """Zero the last layer of every residual branch and the output conv, as the reference's
    ``zero_module`` does: each block starts as the identity, which keeps early training
    stable at high learning rates."""
    with torch.no_grad():
        for name, module in model.named_modules():
            if name.endswith(("conv2", "to_out.0")) or name == "unet.conv_out":
                for p in module.parameters():
                    p.zero_()
    return model


def resolve_targets(ws: Workspace, target: str, preset: str, name: str | None, exclude_flagged: bool = True) -> list[TrainTarget]:
    """``full``, ``cluster:K`` or ``clusters`` (every cluster of the current clustering)."""
    where = "current_mask_id IS NOT NULL" + (" AND flagged = 0" if exclude_flagged else "")
    usable = {r.id for r in generation_images(ws, where)}  # never test images
    if target == "full":
        return [TrainTarget("full", model_name("full", preset, name), sorted(usable))]
    clustering = ws.current_clustering_id()
    if clustering is None:
        raise DiffGenError(
            f"target {target!r} needs a clustering: run 'diffgen cluster --workspace "
            f"{ws.root}' first (or train with --target full)"
        )
    rows = ws.query(
        "SELECT cluster, image_id FROM cluster_assignments WHERE clustering_id = ? ORDER BY cluster, image_id", (clustering,)
    )
    members: dict[int, list[int]] = {}
    for r in rows:
        if r["image_id"] in usable:
            members.setdefault(r["cluster"], []).append(r["image_id"])
    if target == "clusters":
        wanted = sorted(members)
    elif target.startswith("cluster:"):
        try:
            wanted = [int(target.split(":", 1)[1])]
        except ValueError:
            raise DiffGenError(f"target {target!r}: expected cluster:K with K a number") from None
        if wanted[0] not in members:
            raise DiffGenError(
                f"cluster {wanted[0]} of clustering {clustering} has no usable images "
                f"(clusters: {', '.join(map(str, sorted(members))) or 'none'})"
            )
    else:
        raise DiffGenError(f"unknown target {target!r}: use full, cluster:K or clusters")
    return [TrainTarget("cluster", model_name("cluster", preset, name, clustering, k), members[k], clustering, k) for k in wanted]


def amp_settings(device: torch.device, use_fp16: bool) -> tuple[torch.dtype | None, bool]:
    """(autocast dtype or None, whether a grad scaler is needed). CPU trains in fp32."""
    if device.type != "cuda" or not use_fp16:
        return None, False
    if torch.cuda.is_bf16_supported():
        return torch.bfloat16, False
    return torch.float16, True


# -- one step ------------------------------------------------------------------------------
def train_step(
    model: nn.Module,
    diffusion: GaussianDiffusion,
    optimizer: torch.optim.Optimizer,
    x0: torch.Tensor,
    t: torch.Tensor,
    noise: torch.Tensor,
    amp_dtype: torch.dtype | None = None,
    scaler: torch.amp.GradScaler | None = None,
    microbatch: int = 0,
) -> dict[str, torch.Tensor]:
    """One optimizer step on the hybrid loss with the given timesteps and noise (injected,
    so tests can compare runs sample for sample). Returns the batch-mean loss terms.

    ``microbatch`` > 0 runs the batch in slices of that many and adds up the gradients of each
    slice's mean loss before the step, as guided-diffusion's ``TrainLoop.forward_backward``
    (a sum, not a mean, of the slices' gradients: Adam's step hardly depends on the scale)."""
    size = microbatch if 0 < microbatch < len(x0) else len(x0)
    optimizer.zero_grad(set_to_none=True)
    parts: list[dict[str, torch.Tensor]] = []
    for i in range(0, len(x0), size):
        last = i + size >= len(x0)
        no_sync = getattr(model, "no_sync", None)  # DDP: all-reduce the gradients once, after the last slice
        sync = no_sync() if callable(no_sync) and not last else nullcontext()
        autocast = torch.autocast(x0.device.type, dtype=amp_dtype) if amp_dtype is not None else nullcontext()
        with sync:
            with autocast:
                terms = diffusion.training_losses(model, x0[i : i + size], t[i : i + size], noise[i : i + size])
            loss = terms["loss"].mean()
            (scaler.scale(loss) if scaler is not None else loss).backward()
        parts.append({k: v.detach() for k, v in terms.items()})
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    return {k: torch.cat([p[k].reshape(-1) for p in parts]).mean() for k in parts[0]}


class EMA:
    """Exponential moving average of the weights: ``ema = rate*ema + (1-rate)*w``.

    With ``warmup`` the rate after ``n`` updates is ``min(rate, (1+n)/(10+n))``, so the
    average forgets the initial weights within a few hundred steps (guided-diffusion has no
    warm-up; its runs are 100k+ steps long, where the two agree)."""

    def __init__(self, model: nn.Module, rate: float, state: dict[str, torch.Tensor] | None = None, warmup: bool = False):
        self.rate, self.warmup = rate, warmup
        src = state if state is not None else model.state_dict()
        self.state = {k: v.detach().clone().float() for k, v in src.items()}

    def rate_at(self, updates: int) -> float:
        return min(self.rate, (1 + updates) / (10 + updates)) if self.warmup else self.rate

    @torch.no_grad()
    def update(self, model: nn.Module, updates: int) -> None:
        """Fold in the current weights; ``updates`` = updates made before this one."""
        current = model.state_dict()
        keys = [k for k in self.state if current[k].is_floating_point()]
        torch._foreach_lerp_([self.state[k] for k in keys], [current[k].float() for k in keys], 1 - self.rate_at(updates))


# -- the run -------------------------------------------------------------------------------
@dataclass
class Session:
    """Everything one target's training loop holds."""

    ws: Workspace
    target: TrainTarget
    run: Path
    preset: str
    model_cfg: ModelConfig
    diff_cfg: DiffusionConfig
    train_cfg: TrainConfig
    device: torch.device
    ctx: ddp.DistContext
    model_id: int | None = None
    log: TensorBoardLog | None = None  # --tensorboard


def _extra(s: Session, step: int, final_loss: float | None, cache: PairCache) -> dict[str, Any]:
    return {
        "preset": s.preset,
        "target": s.target.kind,
        "cluster": s.target.cluster,
        "clustering_id": s.target.clustering_id,
        "steps": step,
        "final_loss": final_loss,
        "train": asdict(s.train_cfg),
        "image_ids": cache.image_ids,
        "name": s.target.name,
        "world_size": s.ctx.world_size,
    }


def _sample_images(
    model: nn.Module, diff_cfg: DiffusionConfig, cfg: ModelConfig, count: int, seed: int, device: torch.device
) -> tuple[np.ndarray, np.ndarray]:
    diffusion = create_diffusion(diff_cfg)  # the respaced process, as for inpainting
    g = torch.Generator(device=device).manual_seed(seed)
    with torch.no_grad():
        x = diffusion.sample_loop(model, (count, cfg.in_channels, cfg.image_size, cfg.image_size), generator=g, device=device)
    return from_model_range(x)


def start_weights(folder: Path, cfg: ModelConfig) -> dict[str, torch.Tensor]:
    """EMA (else raw) weights of a model folder whose architecture equals ``cfg``."""
    saved = read_config(folder)
    if ModelConfig.from_dict(saved["model"]) != cfg:
        raise DiffGenError(f"init_from {folder}: its model config differs from this run's")
    file = folder / "ema.safetensors"
    return load_state_dict(file if file.exists() else folder / "model.safetensors")


class Trainer:
    """One target's model, optimizer, EMA and loss log, with save / restore / finish."""

    def __init__(self, s: Session):
        self.s, tc = s, s.train_cfg
        self.cache = load_pairs(s.ws, s.target.image_ids, s.model_cfg.image_size, resize=tc.resize)
        self.raw = init_like_guided_diffusion(build_model(s.model_cfg)).to(s.device)
        if tc.init_from:
            self.raw.load_state_dict(start_weights(s.ws.path(tc.init_from), s.model_cfg))
        self.optimizer = torch.optim.AdamW(self.raw.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
        self.amp_dtype, needs_scaler = amp_settings(s.device, tc.use_fp16)
        self.scaler = torch.amp.GradScaler("cuda") if needs_scaler else None
        self.ema = EMA(self.raw, tc.ema_rate, warmup=tc.ema_warmup)
        self.step = 0
        self.losses: list[tuple[int, float, float, float]] = []
        self.global_batch = tc.batch_size * s.ctx.world_size

    def restore(self, checkpoint: Path) -> None:
        """Continue exactly where ``checkpoint`` stopped: weights, EMA, optimizer, scaler,
        RNG states, step and loss log."""
        weights, ema_state, state = train_io.load_training_state(checkpoint)
        self.check_global_batch(checkpoint, int(state.get("global_batch", self.global_batch)))
        self.raw.load_state_dict(weights)
        self.ema = EMA(self.raw, self.s.train_cfg.ema_rate, ema_state, self.s.train_cfg.ema_warmup)
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        train_io.restore_rng(state["rng"])
        self.step = int(state["step"])
        self.losses = [(int(a), b, c, d) for a, b, c, d in state["losses"].tolist()]

    def check_global_batch(self, checkpoint: Path, saved: int) -> None:
        """A resumed run keeps its global batch (batch_size x processes), whatever the number of
        processes: the data order, the effective batch and so the meaning of the learning rate
        depend on it (2 processes x batch 4 and 1 x 8 continue each other exactly)."""
        if saved == self.global_batch:
            return
        world, per = self.s.ctx.world_size, self.s.train_cfg.batch_size
        fix = f"--set train.batch_size={saved // world}" if saved % world == 0 else f"a number of processes that divides {saved}"
        raise DiffGenError(
            f"{checkpoint} was trained with a global batch of {saved} (batch_size x processes); this "
            f"run's is {self.global_batch} ({per} x {world} process{'es' * (world > 1)}): resuming "
            f"would change the effective batch and the data order. Use {fix}"
        )

    @property
    def last_loss(self) -> float | None:
        return self.losses[-1][1] if self.losses else None

    def save(self) -> None:
        """Checkpoint the current step (rank 0 only) and record it in the workspace; the model
        is registered with its first checkpoint, so no row ever points at an empty folder."""
        s = self.s
        if not s.ctx.is_main:
            return
        state = {
            "step": self.step,
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else {},
            "rng": train_io.capture_rng(),
            "losses": torch.tensor(self.losses, dtype=torch.float64).reshape(-1, 4),
            "global_batch": self.global_batch,
            "seed": s.train_cfg.seed,
        }
        kept = train_io.latest_resumable(s.run)
        hint = (
            f"the checkpoint {kept.name} is intact; continue from it with --resume"
            if kept
            else "no checkpoint of this run was saved yet"
        )
        with disk_full_as_error(f"checkpoint step {self.step} of {s.run}", hint):
            folder = train_io.save_checkpoint(
                s.run, self.raw, s.diff_cfg, self.ema.state, state, _extra(s, self.step, self.last_loss, self.cache)
            )
            train_io.write_loss_csv(s.run / "loss.csv", self.losses)
        record_checkpoint(s.ws, register(s), self.step, self.last_loss, folder)

    def train(self, steps: int, progress: Progress | None, cancel: Callable[[], bool] | None, saved: bool) -> None:
        """Step until ``steps``; checkpoint every ``save_interval`` and at the end; on cancel,
        checkpoint the current step and raise ``Cancelled``."""
        s, tc = self.s, self.s.train_cfg
        model = ddp.wrap(self.raw, s.ctx, s.device)
        diffusion = create_diffusion(s.diff_cfg, "")  # train on every step of the full process
        self.raw.train()
        start_step, t0 = self.step, time.perf_counter()
        while self.step < steps:
            adapt_threads()
            if ddp.any_rank(bool(cancel and cancel()), s.ctx, s.device):
                if not saved:
                    self.save()
                ddp.barrier(s.ctx)
                raise Cancelled(
                    f"training of {s.target.name} cancelled at step {self.step}; "
                    f"checkpoint kept in {s.run} (continue with --resume)"
                )
            draw = draw_step(
                tc.seed, self.step, self.global_batch, len(self.cache), diffusion.num_timesteps, s.model_cfg.image_size, tc.hflip
            ).rank_slice(s.ctx.rank, tc.batch_size)
            terms = train_step(
                model,
                diffusion,
                self.optimizer,
                make_batch(self.cache, draw).to(s.device),
                draw.t.to(s.device),
                draw.noise.to(s.device),
                self.amp_dtype,
                self.scaler,
                tc.microbatch,
            )
            self.ema.update(self.raw, self.step)
            self.step += 1
            loss, mse, vb = (float(ddp.mean_across(terms[k], s.ctx).item()) for k in ("loss", "mse", "vb"))
            self.losses.append((self.step, loss, mse, vb))
            if s.log:
                s.log.step(self.step, loss, mse, vb, self.optimizer.param_groups[0]["lr"])
            saved = self.step % tc.save_interval == 0 or self.step == steps
            if saved:
                self.save()
            if progress and s.ctx.is_main:
                rate = (self.step - start_step) / max(time.perf_counter() - t0, 1e-9)
                # no time left here: whoever shows the progress gives its one estimate (tqdm, the app's bar)
                progress(self.step, steps, f"loss {loss:.4f}  {rate:.2f} it/s")

    def finish(self, progress: Progress | None) -> dict[str, Any]:
        """The loss curve and a sheet of EMA samples (rank 0), and the run's summary."""
        s, tc = self.s, self.s.train_cfg
        summary = {
            "name": s.target.name,
            "target": s.target.kind,
            "cluster": s.target.cluster,
            "folder": str(s.run),
            "model_id": s.model_id,
            "steps": self.step,
            "images": len(self.cache),
            "skipped": self.cache.skipped,
            "final_loss": self.last_loss,
            "excluded_flagged": len(s.ws.images("flagged = 1")) if tc.exclude_flagged and s.target.kind == "full" else 0,
        }
        if s.ctx.is_main:
            with disk_full_as_error(f"the loss curve or samples of {s.run}", f"the model is saved (step {self.step})"):
                self._pictures(summary, progress)
        ddp.barrier(s.ctx)
        return summary

    def _pictures(self, summary: dict[str, Any], progress: Progress | None) -> None:
        s, tc = self.s, self.s.train_cfg
        title = f"{s.target.name} ({s.preset})"
        summary["loss_png"] = str(train_io.plot_loss(s.run / "loss.png", self.losses, title))
        if tc.sample_count > 0:
            if progress:
                progress(self.step, self.step, f"sampling {counted(tc.sample_count, 'image')} (EMA)")
            sampler = build_model(s.model_cfg).to(s.device).eval()
            sampler.load_state_dict({k: v.to(s.device) for k, v in self.ema.state.items()})
            rgb, mask = _sample_images(sampler, s.diff_cfg, s.model_cfg, tc.sample_count, tc.seed, s.device)
            sheet = train_io.sample_sheet(rgb, mask)
            summary["samples_png"] = str(train_io.write_sheet(s.run / "samples.png", sheet))
            if s.log:
                s.log.samples(self.step, sheet)


def register(s: Session) -> int:
    """Record the model in the workspace (rank 0 only calls it; idempotent per folder); its id."""
    if s.model_id is None:
        s.model_id = register_model(
            s.ws,
            s.target.name,
            s.target.kind,
            s.preset,
            {"model": s.model_cfg.to_dict(), "diffusion": s.diff_cfg.to_dict(), "train": asdict(s.train_cfg)},
            s.run,
            s.target.clustering_id,
            s.target.cluster,
        )
    return s.model_id


def check_run_folder(ws: Workspace, run: Path, resume: bool, overwrite: bool) -> bool:
    """Refuse to train into a folder that holds another model (unless ``overwrite``) or to
    resume one that has no training state; returns whether the folder must be backed up."""
    checkpoint = train_io.latest_resumable(run)
    if resume and overwrite:
        raise DiffGenError("--resume continues a model and --overwrite replaces it: choose one")
    if resume:
        if checkpoint is None and holds_model(run):
            raise DiffGenError(
                f"{run} holds a model without training state (imported, or trained elsewhere): "
                "it cannot be resumed; train a new model with another --name"
            )
        return False
    if checkpoint is not None and not overwrite:
        raise DiffGenError(
            f"{run} already holds a training run (up to {checkpoint.name}); pass --resume to "
            "continue it, --overwrite to replace it (the old one is kept as a backup) or "
            "--name to start a new model"
        )
    return refuse_taken(ws, run, overwrite)


def train_target(s: Session, steps: int, resume: bool, ctx: JobContext) -> dict[str, Any]:
    """Train (or continue) one model to ``steps`` total steps; returns its summary."""
    trainer = Trainer(s)
    checkpoint = train_io.latest_resumable(s.run) if resume else None
    if checkpoint is None and steps < 1:
        raise DiffGenError("nothing to train: --steps must be at least 1")
    if checkpoint is not None:
        trainer.restore(checkpoint)
        if s.ctx.is_main:
            register(s)
            ctx.log(f"resumed {s.target.name} from {checkpoint.name} (step {trainer.step})")
    marker = s.run / INCOMPLETE  # until the end: a cancelled or failed run is never a fallback's pick
    if s.ctx.is_main:
        s.run.mkdir(parents=True, exist_ok=True)
        atomic_write_text(marker, f"training to step {steps} started; removed when it finished\n")
    trainer.train(steps, ctx.progress, ctx.cancel, saved=checkpoint is not None)
    summary = trainer.finish(ctx.progress)
    if s.ctx.is_main:
        marker.unlink(missing_ok=True)
    return summary


@dataclass(frozen=True)
class TrainResult(JobResult):
    models: tuple[dict[str, Any], ...]  # per trained model: name, folder, steps, final_loss, ...
    preset: str
    device: str
    world_size: int
    backups: tuple[str, ...]  # folders of models replaced by ``overwrite``


def run_train(ws: Workspace, params: TrainParams, ctx: JobContext) -> TrainResult:
    """Train the target's model(s) (see :class:`TrainParams`). With ``overwrite``, an existing
    model of that name is replaced; the old folder is kept as ``models/NAME.replaced-STAMP``
    and its rows follow it."""
    preset, model_cfg, diff_cfg, train_cfg = resolve_configs(params)
    steps = params.steps or train_cfg.steps
    device = pick_device(params.device)
    dist = ddp.init_distributed(device)
    device = ddp.local_device(device, dist)
    torch.manual_seed(train_cfg.seed)  # same initial weights on every rank
    targets = resolve_targets(ws, params.target, preset, params.name, train_cfg.exclude_flagged)
    resume, overwrite = params.resume, params.overwrite
    runs = [model_folder(ws, t.name) for t in targets]  # every name and folder checked before any training
    replaced = [run for run in runs if check_run_folder(ws, run, resume, overwrite)]
    backups = [str(back_up(ws, run)) for run in replaced] if dist.is_main else []
    ddp.barrier(dist)  # no rank looks for checkpoints before rank 0 moved the old ones away
    results = []
    for target, run in zip(targets, runs):
        log = open_log(params.tensorboard, target.name, dist.is_main)
        session = Session(ws, target, run, preset, model_cfg, diff_cfg, train_cfg, device, dist, log=log)
        try:
            results.append(train_target(session, steps, resume, ctx))
        finally:
            if log:
                log.close()
    trained = ", ".join(f"{m['name']} (step {m['steps']})" for m in results)
    return TrainResult(
        summary=f"trained {trained}" if results else "nothing trained",
        models=tuple(results),
        preset=preset,
        device=str(device),
        world_size=dist.world_size,
        backups=tuple(backups),
    )
