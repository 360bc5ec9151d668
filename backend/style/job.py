"""The style stage as a job: pick inpainted samples, style each with its own diffusion model,
store the results as new ``styled`` samples linked to their parents. The parameters are
:class:`backend.style.params.StyleParams`.
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
from backend.diffusion.registry import resolve_model
from backend.errors import BadWeightsError, Cancelled, DiffGenError, MissingWeightsError
from backend.gates import GateConfig
from backend.inpaint.job import InpaintConfig
from backend.inpaint.quality import gate_config, score_sample
from backend.io.images import load_rgb
from backend.jobs.context import JobContext
from backend.jobs.params import JobResult
from backend.style import networks
from backend.style.colour import match_colours
from backend.style.guidance import LAMBDAS, Networks, StyleConfig, style_tensor
from backend.style.params import StyleParams
from backend.workspace import SampleRecord, Workspace
from backend.workspace.selection import generation_samples


@dataclass
class LoadedModel:
    model: DiffusionUNet
    diffusion: GaussianDiffusion
    preset: dict
    cfg: StyleConfig
    model_id: int | None
    gates: GateConfig                      # the preset's [gates] after --set overrides


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
    """Inpainted samples without a styled child."""
    rows = ws.query("SELECT id FROM samples s WHERE kind = 'inpainted' AND NOT EXISTS "
                    "(SELECT 1 FROM samples c WHERE c.parent_sample_id = s.id AND c.kind = 'styled')"
                    " ORDER BY id")
    return [ws.sample(r[0]) for r in rows]


def styled_set_name(parent_set: str) -> str:
    """Diff -> Styled-Diff, Full-Diff -> Full-Styled-Diff (the paper's names)."""
    if parent_set.endswith("Diff"):
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

    def model_for(self, sample: SampleRecord) -> LoadedModel:
        rows = self.ws.query("SELECT path, preset FROM models WHERE id = ?", (sample.model_id,)) \
            if sample.model_id is not None else []
        if rows:
            folder, model_id, trained_with = self.ws.path(rows[0]["path"]), sample.model_id, rows[0]["preset"]
        else:
            ref = resolve_model(self.ws, sample.source_image_id)
            folder, model_id, trained_with = ref.folder, ref.id, None
        key = str(folder)
        if key not in self.models:
            model, diff_cfg, _ = load_model(folder, device=self.device)
            model.requires_grad_(False)
            preset = load_preset(self.params.preset or trained_with or "paper")
            self.models[key] = LoadedModel(model, create_diffusion(diff_cfg), preset,
                                           style_config(preset, self.params), model_id,
                                           gate_config(apply_overrides(preset, list(self.params.overrides))))
        return self.models[key]

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
                raise DiffGenError(f"sample {sample.id} has no source image to take the style from; "
                                   "pass --target IMAGE")
            return self.ws.read_image(sample.source_image_id), f"original:{sample.source_image_id}"
        return load_rgb(target)[0], str(Path(target).resolve())

    def style_one(self, sample: SampleRecord, step_done: Callable[[int, int], None],
                  cancel: Callable[[], bool] | None) -> SampleRecord:
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
        x, terms = style_tensor(lm.model, lm.diffusion, content, target, cfg, self.nets, generator,
                                step_done, cancel)
        seconds = time.perf_counter() - started
        if not torch.isfinite(x).all():
            raise DiffGenError(f"sample {sample.id}: guidance diverged (non-finite values); lower the "
                               "lambdas (at sizes below 256 px scale them by (size/256)^2, as the tiny preset does)")
        rgb = match_colours(to_uint8(x[0, :3]), to_uint8(target[0]), cfg.color_match)
        if cfg.mask_from == "styled":
            mask = self.clean_mask(np.where(x[0, 3].cpu().numpy() > 0, 255, 0).astype(np.uint8), lm.preset)
        else:
            mask = cv2.resize(parent_mask, (size, size), interpolation=cv2.INTER_NEAREST) \
                if parent_mask.shape[:2] != (size, size) else parent_mask
        provenance = {
            "stage": "style", "style": cfg.to_dict(), "steps": cfg_steps(lm.diffusion, cfg),
            "respaced_steps": lm.diffusion.num_timesteps, "base_seed": self.params.seed,
            "target": target_name, "final_loss_terms": terms,
            "preset": self.params.preset or lm.preset.get("name"), "seconds": round(seconds, 3),
            **({"note": self.params.note} if self.params.note else {}),
            "device": str(self.device),
        }
        with self.ws.transaction():  # the sample and its gate scores (seam after style) together
            rec = self.ws.add_sample("styled", styled_set_name(sample.set_name), rgb, mask,
                                     source_image_id=sample.source_image_id,
                                     mask_version_id=sample.mask_version_id, parent_sample_id=sample.id,
                                     model_id=lm.model_id if lm.model_id is not None else sample.model_id,
                                     job_id=self.job_id, seed=seed, params=provenance)
            scores = score_sample(self.ws, rec, lm.gates)
            if scores is not None:
                self.ws.set_gates(rec.id, scores)
        return rec

    @staticmethod
    def clean_mask(mask: np.ndarray, preset: dict) -> np.ndarray:
        """The thresholded 4th channel cleaned as inpainting cleans its masks (the same config
        class, so a preset without these fields gets inpainting's defaults, not others)."""
        return from_section(InpaintConfig, preset.get("inpaint", {})).clean(mask)


def cfg_steps(diffusion: GaussianDiffusion, cfg: StyleConfig) -> int:
    return diffusion.num_timesteps - cfg.skip_timesteps


@dataclass(frozen=True)
class StyleResult(JobResult):
    styled: tuple[int, ...]                # new styled sample ids
    errors: tuple[str, ...]                # per sample that could not be styled
    considered: int
    seconds_per_image: float | None


def run_style(ws: Workspace, params: StyleParams, ctx: JobContext) -> StyleResult:
    """Style the chosen inpainted samples; returns ids made, per-sample errors and timing.

    A sample that cannot be read is reported and skipped; a missing or unusable weight file
    stops the run (it would fail for every sample). Cancelling raises Cancelled after
    the samples already finished (each is complete and recorded).
    """
    if params.samples:
        selected = [ws.sample(i) for i in params.samples]
    elif params.selection.chosen:
        sources = set(params.selection.resolve(ws))
        selected = [s for s in unstyled_samples(ws) if s.source_image_id in sources]
    else:
        selected = unstyled_samples(ws)
    selected = generation_samples(ws, selected, named=bool(params.samples))  # never samples of test images
    job = StyleJob(ws, params, ctx.job_id)
    made: list[int] = []
    errors: list[str] = []
    seconds: list[float] = []
    for k, sample in enumerate(selected):
        if sample.kind != "inpainted":
            errors.append(f"sample {sample.id} is {sample.kind!r}, not an inpainted sample: skipped")
            continue

        def step_done(done: int, total: int, k=k, sid=sample.id) -> None:
            ctx.report(k * total + done, len(selected) * total, f"sample {sid}: step {done}/{total}")

        try:
            started = time.perf_counter()
            rec = job.style_one(sample, step_done, ctx.cancel)
            seconds.append(time.perf_counter() - started)
            made.append(rec.id)
        except (Cancelled, MissingWeightsError, BadWeightsError):  # would fail for every sample
            raise
        except (DiffGenError, OSError) as e:
            errors.append(f"sample {sample.id}: {e}")
            ctx.log(errors[-1])
    return StyleResult(summary=f"styled {len(made)} of {len(selected)} samples"
                               + (f", {len(errors)} errors" if errors else ""),
                       styled=tuple(made), errors=tuple(errors), considered=len(selected),
                       seconds_per_image=(sum(seconds) / len(seconds)) if seconds else None)
