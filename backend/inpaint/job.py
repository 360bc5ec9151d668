"""The inpainting stage: several new labelled samples from each real image (paper 2.2, 3.2).

For each chosen image its current mask version is dilated (20 px in the paper, so that the
whole polyp is hidden from the model) and all four channels (RGB + mask) inside the dilated
region are regenerated with RePaint by the image's cluster model (else the full-set model).

Resolution: samples are produced at the model's resolution. The source image and mask are
resized (whole frame, to ``image_size`` squared, as the models are trained) and the dilation
is measured in pixels of that resolution; outside the dilated region a sample equals this
resized source exactly, image and mask. The source resolution is recorded in the sample's
params.

What is inpainting's own is :class:`InpaintGenerator` (the region, the set names); the run
itself (plan, skip finished, shard, draw, gates, store, speed) is :mod:`backend.generate.run`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from backend.errors import BadInputError
from backend.gates import GateConfig, GateScore
from backend.generate.config import GenerationConfig
from backend.generate.draw import Source
from backend.generate.pixels import to_model_resolution
from backend.generate.run import GenerationResult, generate
from backend.inpaint.config import InpaintConfig, resolve_config
from backend.inpaint.params import InpaintParams
from backend.inpaint.sheet import write_contact_sheet
from backend.jobs.context import JobContext
from backend.workspace import Workspace

SHEET_MAX_IMAGES = 8


def set_name_for(target: str | None) -> str:
    """The paper's set names: Diff (cluster models) and Full-Diff (the full-set model)."""
    return {"cluster": "Diff", "full": "Full-Diff", "imported": "Full-Diff"}.get(target or "", "Custom-Diff")


@dataclass(frozen=True)
class InpaintGenerator:
    """Each image's own polyp region, dilated, regenerated in all four channels."""

    params: InpaintParams
    kind: ClassVar[str] = "inpaint"
    sample_kind: ClassVar[str] = "inpainted"

    def config(self, preset: str) -> InpaintConfig:
        return resolve_config(self.params.to_dict(), preset, self.params.overrides)

    def sources(self, ws: Workspace, image_id: int, size: int, cfg: GenerationConfig) -> list[Source]:
        rec = ws.image(image_id)
        mv = ws.current_mask(image_id)
        image, mask = to_model_resolution(ws.read_image(rec), ws.read_mask(mv), size)
        region = cfg.region(mask)
        if not region.any():
            raise BadInputError(f"image {rec.name}: its mask is empty, nothing to inpaint")
        return [Source(image_id, rec.name, mv.id, (rec.width, rec.height), rec.sha256, image, mask, region)]

    def base_set_name(self, target: str | None) -> str:
        return set_name_for(target)

    def more_gates(self, src: Source, image: np.ndarray, thresholds: GateConfig) -> list[GateScore]:
        return []


@dataclass(frozen=True)
class InpaintResult(GenerationResult):
    """An inpainting run's result: the generation layer's, with its contact sheet when asked."""


def run_inpaint(ws: Workspace, params: InpaintParams, ctx: JobContext) -> InpaintResult:
    """Inpaint the chosen images; returns counts, sample ids, skipped images and messages.
    With ``params.shard`` the run does its share of the sorted images and writes a bundle
    (:mod:`backend.jobs.bundles`) instead of the workspace."""
    run = generate(ws, InpaintGenerator(params), params, ctx)
    sheet = None
    if params.sheet and run.written and run.bundle is None:
        sheet = write_contact_sheet(ws, list(run.written.items())[:SHEET_MAX_IMAGES])
    result: InpaintResult = InpaintResult.of(run, "inpainted sample", sheet=sheet)
    return result
