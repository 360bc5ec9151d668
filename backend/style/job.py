"""The style stage as a job: pick generated samples (inpainted, synthesized), style each with
its own diffusion model, store the results as new ``styled`` samples linked to their parents.
The parameters are :class:`backend.style.params.StyleParams`. It shares the generation layer's
steps where they fit a run over samples: unstyled samples only (skip finished), a shard's
bundle (:func:`backend.generate.run.open_bundle`), gate scores and storage (:class:`SampleRow`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from backend.config.device import pick_device
from backend.config.presets import apply_overrides, from_section, load_preset
from backend.config.settings import resolve_weights
from backend.diffusion.checkpoint import load_model
from backend.diffusion.gaussian import GaussianDiffusion, create_diffusion
from backend.diffusion.model import DiffusionUNet
from backend.diffusion.registry import resolve_model, stored_model_folder
from backend.errors import BadWeightsError, Cancelled, DiffGenError, MissingWeightsError
from backend.gates import GateConfig
from backend.generate.run import open_bundle
from backend.inpaint.config import InpaintConfig
from backend.inpaint.quality import gate_config, score_child
from backend.io.images import load_rgb
from backend.jobs.bundles import BundleWriter
from backend.jobs.context import JobContext
from backend.jobs.params import JobResult
from backend.jobs.sample_row import GENERATED_KINDS, SampleRow
from backend.jobs.shards import Shard
from backend.style import networks
from backend.style.colour import match_colours
from backend.style.guidance import LAMBDAS, Networks, StyleConfig, style_tensor
from backend.style.params import StyleParams
from backend.workspace import SampleRecord, Workspace
from backend.workspace.records import sample_pngs
from backend.workspace.selection import generation_samples


@dataclass
class LoadedModel:
    model: DiffusionUNet
    diffusion: GaussianDiffusion
    preset: dict
    cfg: StyleConfig
    model_id: int | None
    gates: GateConfig  # the preset's [gates] after --set overrides


def style_config(preset: dict, params: StyleParams) -> StyleConfig:
    """The [style] section with ``--set`` overrides, then lambda and colour overrides."""
    section = apply_overrides(preset, list(params.overrides)).get("style")
    if section is None:
        raise DiffGenError("the preset has no [style] section")
    cfg = StyleConfig.from_dict(section)
    changes: dict[str, Any] = {}  # field name -> value of that field's type
    for term, value in params.lambdas.items():
        if term not in LAMBDAS:
            raise DiffGenError(f"unknown loss term {term!r} (one of {', '.join(LAMBDAS)})")
        if value is not None:
            changes[f"lambda_{term}"] = float(value)
    if params.color_match:
        changes["color_match"] = params.color_match
    return dataclasses.replace(cfg, **changes)  # StyleConfig checks its choices


def unstyled_samples(ws: Workspace) -> list[SampleRecord]:
    """Generated samples (any generator's) without a styled child."""
    rows = ws.query(
        f"SELECT id FROM samples s WHERE kind IN ({', '.join('?' * len(GENERATED_KINDS))}) AND NOT EXISTS "
        "(SELECT 1 FROM samples c WHERE c.parent_sample_id = s.id AND c.kind = 'styled')"
        " ORDER BY id",
        GENERATED_KINDS,
    )
    return [ws.sample(r[0]) for r in rows]


def styled_set_name(parent_set: str) -> str:
    """Diff -> Styled-Diff, Full-Diff -> Full-Styled-Diff (the paper's names); Mask-Diff ->
    Styled-Mask-Diff (issue 34's name for styled mask-guided samples)."""
    if parent_set.endswith("Diff") and not parent_set.startswith("Mask-"):
        return parent_set[: -len("Diff")] + "Styled-Diff"
    return f"Styled-{parent_set}"


def to_tensor(rgb: np.ndarray, size: int, mask: np.ndarray | None = None) -> torch.Tensor:
    """(1, C, size, size) in [-1, 1]: RGB, plus the mask as a 4th channel when given."""

    def fit(a: np.ndarray, interp: int) -> np.ndarray:
        if a.shape[:2] == (size, size):
            return a
        return cv2.resize(a, (size, size), interpolation=interp)

    down = cv2.INTER_AREA if rgb.shape[0] >= size else cv2.INTER_CUBIC
    chans = [fit(rgb, down).astype(np.float32).transpose(2, 0, 1)]
    if mask is not None:
        chans.append(np.where(fit(mask, cv2.INTER_NEAREST) > 127, 255.0, 0.0)[None].astype(np.float32))
    return torch.from_numpy(np.concatenate(chans) / 127.5 - 1.0)[None]


def to_uint8(x: torch.Tensor) -> np.ndarray:
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


class StyleJob:
    """One run over many samples: caches models per folder and the loss networks."""

    def __init__(self, ws: Workspace, params: StyleParams, job_id: int | None = None):
        self.ws, self.params, self.job_id = ws, params, job_id
        self.device = pick_device(params.device)
        self.models: dict[str, LoadedModel] = {}
        self.nets = Networks()

    def model_source(self, sample: SampleRecord) -> tuple[Path, int | None, dict]:
        """The folder and id of the model that styles ``sample`` (the one that made it, else
        the image's), and its preset (as resolved for this run)."""
        rows = (
            self.ws.query("SELECT id, path, preset FROM models WHERE id = ?", (sample.model_id,))
            if sample.model_id is not None
            else []
        )
        if rows:
            folder, model_id, trained_with = stored_model_folder(self.ws, rows[0]), sample.model_id, rows[0]["preset"]
        else:
            ref = resolve_model(self.ws, sample.source_image_id)
            folder, model_id, trained_with = ref.folder, ref.id, None
        return folder, model_id, load_preset(self.params.preset or trained_with or "paper")

    def model_for(self, sample: SampleRecord) -> LoadedModel:
        folder, model_id, preset = self.model_source(sample)
        key = str(folder)
        if key not in self.models:
            model, diff_cfg, _ = load_model(folder, device=self.device)
            model.requires_grad_(False)
            self.models[key] = LoadedModel(
                model,
                create_diffusion(diff_cfg),
                preset,
                style_config(preset, self.params),
                model_id,
                gate_config(apply_overrides(preset, list(self.params.overrides))),
            )
        return self.models[key]

    def resolved(self, samples: list[SampleRecord]) -> dict[str, Any]:
        """Each model's resolved settings for ``samples`` (read from presets, no weights loaded)."""
        out: dict[str, Any] = {}
        for sample in samples:
            folder, _, preset = self.model_source(sample)
            out.setdefault(
                self.ws.rel(folder),
                {
                    "preset": self.params.preset or preset.get("name"),
                    "style": style_config(preset, self.params).to_dict(),
                    "gates": dataclasses.asdict(gate_config(apply_overrides(preset, list(self.params.overrides)))),
                },
            )
        return out

    def ensure_networks(self, cfg: StyleConfig) -> None:
        """Build VGG / DINO the first time a non-zero lambda needs them (never otherwise)."""
        if cfg.needs_vgg and self.nets.vgg is None:
            path = resolve_weights("vgg19", self.params.vgg_weights)
            self.nets.vgg = networks.load_vgg(path, self.device)
        if cfg.needs_dino and self.nets.dino is None:
            path = resolve_weights("dino", self.params.dino_weights)
            self.nets.dino = networks.load_dino(path, self.device, networks.dino_spec(cfg.dino_size))

    def target_image(self, sample: SampleRecord) -> tuple[np.ndarray, str]:
        target = self.params.target
        if target == "original":
            if sample.source_image_id is None:
                raise DiffGenError(f"sample {sample.id} has no source image to take the style from; pass --target IMAGE")
            return self.ws.read_image(sample.source_image_id), f"original:{sample.source_image_id}"
        return load_rgb(target)[0], str(Path(target).resolve())

    def style_one(
        self, sample: SampleRecord, step_done: Callable[[int, int], None], cancel: Callable[[], bool] | None
    ) -> SampleRecord:
        """Style ``sample`` and record the result (with its gate scores: the seam after style)."""
        return self.ws.sample(self.style_row(sample, step_done, cancel).store(self.ws, self.job_id))

    def style_row(
        self, sample: SampleRecord, step_done: Callable[[int, int], None], cancel: Callable[[], bool] | None
    ) -> SampleRow:
        """The styled child of ``sample`` as the workspace would record it (not stored)."""
        lm = self.model_for(sample)
        cfg = lm.cfg
        self.ensure_networks(cfg)
        size = lm.model.cfg.image_size
        image, parent_mask = self.ws.read_sample(sample)
        target_rgb, target_name = self.target_image(sample)
        content = to_tensor(image, size, parent_mask).to(self.device)
        target = to_tensor(target_rgb, size).to(self.device)
        seed = self.params.seed + sample.id
        generator = torch.Generator().manual_seed(seed)
        started = time.perf_counter()
        x, terms = style_tensor(lm.model, lm.diffusion, content, target, cfg, self.nets, generator, step_done, cancel)
        seconds = time.perf_counter() - started
        if not torch.isfinite(x).all():
            raise DiffGenError(
                f"sample {sample.id}: guidance diverged (non-finite values); lower the "
                "lambdas (at sizes below 256 px scale them by (size/256)^2, as the tiny preset does)"
            )
        rgb = match_colours(to_uint8(x[0, :3]), to_uint8(target[0]), cfg.color_match, cfg.color_range)
        if cfg.mask_from == "styled":
            mask = self.clean_mask(np.where(x[0, 3].cpu().numpy() > 0, 255, 0).astype(np.uint8), lm.preset)
        else:
            mask = (
                cv2.resize(parent_mask, (size, size), interpolation=cv2.INTER_NEAREST)
                if parent_mask.shape[:2] != (size, size)
                else parent_mask
            )
        provenance = {
            "stage": "style",
            "style": cfg.to_dict(),
            "steps": cfg_steps(lm.diffusion, cfg),
            "respaced_steps": lm.diffusion.num_timesteps,
            "base_seed": self.params.seed,
            "target": target_name,
            "final_loss_terms": terms,
            "preset": self.params.preset or lm.preset.get("name"),
            "seconds": round(seconds, 3),
            **({"note": self.params.note} if self.params.note else {}),
            "device": str(self.device),
        }
        scores = score_child(self.ws, sample, rgb, mask, lm.gates)
        return SampleRow(
            "styled",
            styled_set_name(sample.set_name),
            *sample_pngs(rgb, mask),
            provenance,
            seed=seed,
            source_image_id=sample.source_image_id,
            mask_version_id=sample.mask_version_id,
            parent_sample_id=sample.id,
            model_id=lm.model_id if lm.model_id is not None else sample.model_id,
            gates=None if scores is None else tuple(scores),
            checks={"parent_image": sample.image_path},
        )

    @staticmethod
    def clean_mask(mask: np.ndarray, preset: dict) -> np.ndarray:
        """The thresholded 4th channel cleaned as inpainting cleans its masks (the same config
        class, so a preset without these fields gets inpainting's defaults, not others)."""
        return from_section(InpaintConfig, preset.get("inpaint", {})).clean(mask)


def cfg_steps(diffusion: GaussianDiffusion, cfg: StyleConfig) -> int:
    return diffusion.num_timesteps - cfg.skip_timesteps


@dataclass(frozen=True)
class StyleResult(JobResult):
    styled: tuple[int, ...]  # new styled sample ids (none from a shard: its samples are bundled)
    errors: tuple[str, ...]  # per sample that could not be styled
    considered: int
    seconds_per_image: float | None
    bundled: int = 0  # a shard's samples written to its bundle
    already_done: int = 0  # a shard's samples found in its bundle (an interrupted run)
    bundle: str | None = None  # a shard's bundle folder


def _selected(ws: Workspace, params: StyleParams, shard: Shard | None) -> list[SampleRecord]:
    """The samples to style; a shard's share of them sorted by id."""
    if params.samples:
        selected = [ws.sample(i) for i in params.samples]
    elif params.selection.chosen:
        sources = set(params.selection.resolve(ws))
        selected = [s for s in unstyled_samples(ws) if s.source_image_id in sources]
    else:
        selected = unstyled_samples(ws)
    selected = generation_samples(ws, selected, named=bool(params.samples))  # never samples of test images
    return shard.take(sorted(selected, key=lambda s: s.id)) if shard is not None else selected


def _item_key(sample: SampleRecord) -> str:
    return f"sample-{sample.id}"


def _open_bundle(job: StyleJob, shard: Shard, selected: list[SampleRecord]) -> BundleWriter:
    generated = [s for s in selected if s.kind in GENERATED_KINDS]
    config = {"params": job.params.to_dict(), "models": job.resolved(generated)}
    return open_bundle(job.ws, "style", job.params, job.params.seed, shard, [_item_key(s) for s in selected], config)


def run_style(ws: Workspace, params: StyleParams, ctx: JobContext) -> StyleResult:
    """Style the chosen generated samples; returns ids made, per-sample errors and timing.

    A sample that cannot be read is reported and skipped; a missing or unusable weight file
    stops the run (it would fail for every sample). Cancelling raises Cancelled after
    the samples already finished (each is complete and recorded). With ``params.shard`` the
    run styles its share of the sorted samples into a bundle (:mod:`backend.jobs.bundles`).
    """
    shard = params.shard_spec()
    selected = _selected(ws, params, shard)
    job = StyleJob(ws, params, ctx.job_id)
    bundle = _open_bundle(job, shard, selected) if shard is not None else None
    made: list[int] = []
    errors: list[str] = []
    seconds: list[float] = []
    bundled = resumed = 0
    for k, sample in enumerate(selected):
        if sample.kind not in GENERATED_KINDS:
            errors.append(
                f"sample {sample.id} is {sample.kind!r}, not a generated sample ({', '.join(GENERATED_KINDS)}): skipped"
            )
            continue
        if bundle is not None and _item_key(sample) in bundle.done:
            resumed += 1
            continue

        def step_done(done: int, total: int, k=k, sid=sample.id) -> None:
            ctx.report(k * total + done, len(selected) * total, f"sample {sid}: step {done}/{total}")

        try:
            started = time.perf_counter()
            if bundle is None:
                made.append(job.style_one(sample, step_done, ctx.cancel).id)
            else:
                bundle.add(_item_key(sample), [job.style_row(sample, step_done, ctx.cancel)])
                bundled += 1
            seconds.append(time.perf_counter() - started)
        except (Cancelled, MissingWeightsError, BadWeightsError):  # would fail for every sample
            raise
        except (DiffGenError, OSError) as e:
            errors.append(f"sample {sample.id}: {e}")
            ctx.log(errors[-1])
    folder = str(bundle.finish(errors)) if bundle is not None else None
    return StyleResult(
        summary=f"styled {len(made) + bundled} of {len(selected)} samples"
        + (f", {len(errors)} errors" if errors else "")
        + (f", {resumed} already in the bundle" if resumed else "")
        + (f"; shard {shard}: bundle {folder}" if folder else ""),
        styled=tuple(made),
        errors=tuple(errors),
        considered=len(selected),
        seconds_per_image=(sum(seconds) / len(seconds)) if seconds else None,
        bundled=bundled,
        already_done=resumed,
        bundle=folder,
    )
