"""Mask-guided synthesis on the generation layer: new polyps where a wanted mask says (issue 34).

The joint image + mask model is told the mask: its channel is known everywhere (the image's own
mask united with the wanted mask, so existing polyps stay), and the RGB channels are known
outside the wanted mask dilated by ``dilate`` px and generated inside it. The result's mask is
that united mask after the usual clean-up; outside the dilated region every pixel is the
(resized) source's. Everything else (plan, skip finished, shards, redraws, gates, storage,
speed) is :mod:`backend.generate.run`'s.

Each wanted mask is a workspace file (drawn ones are, bank and file masks are stored under
``WS/wanted/``) that the sample's provenance names, with how it was made.
"""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from backend.config.device import pick_device
from backend.errors import BadInputError
from backend.gates import GateConfig, GateScore
from backend.generate.config import GenerationConfig
from backend.generate.draw import Source, sample_seed
from backend.generate.pixels import with_wanted
from backend.generate.run import GenerationResult, generate
from backend.inpaint.config import InpaintConfig, resolve_config
from backend.io.images import load_mask, read_png_fast
from backend.jobs.context import JobContext
from backend.synthesis.adherence import score_adherence
from backend.synthesis.fov import check_in_view
from backend.synthesis.judge import Judge, current_judge, judge_caveat
from backend.synthesis.params import MASK_SOURCES, SynthesizeParams
from backend.synthesis.wanted import WantedMask, check_wanted, drawn_folder, drawn_paths, store_wanted
from backend.words import counted
from backend.workspace import Workspace
from backend.workspace.names import check_name

SET_NAME = "Mask-Diff"


@dataclass(frozen=True)
class StoredWanted:
    """A wanted mask at the source's resolution and the workspace file that holds it."""

    mask: np.ndarray
    path: str  # workspace-relative
    how: str  # drawn | bank | file
    detail: dict[str, Any] = field(default_factory=dict)


def _existing_mask(ws: Workspace, image_id: int) -> tuple[int | None, np.ndarray]:
    """The image's current mask version and mask (a frame without polyps: none, all background)."""
    mv = ws.current_mask(image_id)
    if mv is not None:
        return mv.id, ws.read_mask(mv)
    rec = ws.image(image_id)
    return None, np.zeros((rec.height, rec.width), np.uint8)


def _drawn(ws: Workspace, image_id: int) -> list[StoredWanted]:
    rec = ws.image(image_id)
    paths = drawn_paths(ws, image_id)
    if not paths:
        raise BadInputError(
            f"image {rec.name} (id {image_id}) has no drawn wanted mask: draw one with the mask editor's "
            "Place polyp tool, or pass --masks bank or --masks FILE.png"
        )
    image = ws.read_image(rec)
    return [
        _in_view(StoredWanted(_checked(p, rec.width, rec.height, rec.name), ws.rel(p), "drawn"), image, p.name) for p in paths
    ]


def _checked(path: Path, width: int, height: int, name: str) -> np.ndarray:
    return check_wanted(read_png_fast(path, grey=True), (width, height), f"{path.name} of image {name}")


def _in_view(wanted: StoredWanted, image: np.ndarray, what: str) -> StoredWanted:
    """``wanted``, once its polyp is seen to lie on the tissue of ``image`` (not the black border)."""
    check_in_view(wanted.mask, image, what)
    return wanted


def _from_file(ws: Workspace, image_id: int, file: Path) -> StoredWanted:
    rec = ws.image(image_id)
    if not file.is_file():
        raise BadInputError(f"mask file {file}: not found; pass a PNG of the image's size (white: polyp, black: background)")
    if file.resolve().parent == drawn_folder(ws, image_id).resolve() and file.name.startswith("drawn-"):
        return _in_view(  # one drawn mask of the image, named (the editor's Place polyp queues the shape it saved)
            StoredWanted(_checked(file, rec.width, rec.height, rec.name), ws.rel(file.resolve()), "drawn"),
            ws.read_image(rec),
            file.name,
        )
    mask, notes = load_mask(file)
    grey = [n for n in notes if "not binary" in n or "below the threshold" in n]
    if grey:
        raise BadInputError(f"mask file {file}: {grey[0]}; save it with black (0) and white (255) pixels only")
    binary = check_wanted(mask, (rec.width, rec.height), f"mask file {file} for image {rec.name}")
    check_in_view(binary, ws.read_image(rec), f"mask file {file} for image {rec.name}")
    return StoredWanted(binary, ws.rel(store_wanted(ws, image_id, binary, "file")), "file", {"file": str(file.resolve())})


def wanted_masks(ws: Workspace, params: SynthesizeParams, image_ids: list[int]) -> dict[int, list[StoredWanted]]:
    """Each image's wanted masks from ``drawn`` or mask files, checked before any work (a bad
    mask is refused naming its file); ``bank`` masks are drawn per image as the run plans it."""
    named = [m for m in params.masks if m in MASK_SOURCES]
    if named and len(params.masks) > 1:
        raise BadInputError(f"--masks {' '.join(params.masks)}: {named[0]} stands alone; give drawn, bank or mask files")
    if params.masks == ("bank",):
        return {}
    if params.masks == ("drawn",):
        return {i: _drawn(ws, i) for i in image_ids}
    files = [Path(f) for f in params.masks]
    if len(files) not in (1, len(image_ids)):
        raise BadInputError(
            f"--masks: {counted(len(files), 'mask file')} for {counted(len(image_ids), 'image')}; "
            "give one file for all images or one per image"
        )
    return {i: [_from_file(ws, i, files[0] if len(files) == 1 else files[n])] for n, i in enumerate(image_ids)}


@dataclass(frozen=True)
class SynthesisGenerator:
    """Sources: one per wanted mask of an image (a bank mask gets one sample, as each of the
    image's samples has a mask of its own)."""

    params: SynthesizeParams
    wanted: dict[int, list[StoredWanted]]
    run_seed: int
    judge: Judge | None = None  # scores the adherence gate; None: not scored (no judge, or a shard's bundle)
    small_wanted: dict[str, np.ndarray] = field(default_factory=dict)  # source key -> its wanted mask at the model's size
    kind: ClassVar[str] = "synthesize"
    sample_kind: ClassVar[str] = "synthesized"

    def config(self, preset: str) -> InpaintConfig:
        """The preset's inpainting settings, with its ``synthesis_contrast`` as the sampler's
        contrast: without it the new polyps came out faint (issue 34)."""
        cfg = resolve_config(self.params.to_dict(), preset, self.params.overrides)
        return dataclasses.replace(cfg, contrast=cfg.synthesis_contrast)

    def sources(self, ws: Workspace, image_id: int, size: int, cfg: GenerationConfig) -> list[Source]:
        rec = ws.image(image_id)
        mask_version_id, mask = _existing_mask(ws, image_id)
        bank = image_id not in self.wanted
        wanted = self._bank(ws, image_id, cfg.samples) if bank else self.wanted[image_id]
        image = ws.read_image(rec)
        out = []
        for series, w in enumerate(wanted):
            small, united, small_wanted = with_wanted(image, mask, w.mask, size)
            if not small_wanted.any():
                raise BadInputError(
                    f"image {rec.name}: the wanted mask {w.path} vanishes at the model's {size} px; draw a larger polyp"
                )
            region = cfg.region(small_wanted)
            provenance: dict[str, Any] = {"wanted_mask": w.path, "wanted_how": w.how, "wanted_detail": w.detail}
            provenance["wanted_pixels"] = int((small_wanted > 0).sum())
            out.append(
                Source(
                    image_id, rec.name, mask_version_id, (rec.width, rec.height), rec.sha256, small, united, region,
                    mask_known=True, series=series, samples=1 if bank else None, provenance=provenance,
                )
            )  # fmt: skip
            self.small_wanted[out[-1].key] = small_wanted
        return out

    def more_gates(self, src: Source, image: np.ndarray, thresholds: GateConfig) -> list[GateScore]:
        """Adherence: the judge's polyp against the wanted mask (when the workspace has a judge)."""
        if self.judge is None:
            return []
        return [score_adherence(self.judge, image, self.small_wanted[src.key], thresholds)]

    def _bank(self, ws: Workspace, image_id: int, count: int) -> list[StoredWanted]:
        from backend.synthesis.bank import bank_masks  # the training role's masks, transformed and placed

        p = self.params
        masks: list[WantedMask] = bank_masks(
            ws, image_id, count, p.polyps, p.beside_polyps, sample_seed(self.run_seed, image_id, 0)
        )
        rec = ws.image(image_id)
        out = []
        for m in masks:
            binary = check_wanted(m.mask, (rec.width, rec.height), f"a bank mask for image {rec.name}")
            out.append(StoredWanted(binary, ws.rel(store_wanted(ws, image_id, binary, "bank")), "bank", dict(m.detail)))
        return out

    def base_set_name(self, target: str | None) -> str:
        return SET_NAME


@dataclass(frozen=True)
class SynthesizeResult(GenerationResult):
    """A synthesis run's result: the generation layer's, under the job kind's own name."""


def run_synthesize(ws: Workspace, params: SynthesizeParams, ctx: JobContext) -> SynthesizeResult:
    """Synthesise polyps where the wanted masks say on the chosen images; counts, sample ids,
    skipped images and messages as inpainting's. With ``params.shard``: a bundle."""
    if params.set_name is not None:
        check_name(params.set_name, "set name")
    if params.seed is None:  # the bank draws its masks from the run seed: fixed before planning
        params = dataclasses.replace(params, seed=secrets.randbits(31))
    assert params.seed is not None
    judge = None if params.shard else current_judge(ws, device=str(pick_device(params.device)))
    generator = SynthesisGenerator(params, wanted_masks(ws, params, params.image_ids(ws)), params.seed, judge)
    run = generate(ws, generator, params, ctx)
    caveat = None if judge is None else judge_caveat(judge)
    if caveat:
        run.messages.append(caveat)
    if judge is None and not params.shard:
        run.messages.append(
            "adherence not scored: no judge of these training images yet; train one with 'diffgen judge train' "
            "(then 'diffgen synthesize' scores each sample's polyp against its wanted mask)"
        )
    result: SynthesizeResult = SynthesizeResult.of(run, "mask-guided sample")
    return result
