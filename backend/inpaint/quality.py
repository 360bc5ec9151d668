"""Quality gates of stored samples: the source and region a sample was made from, recomputed
from its provenance, and (re)scoring of samples already in a workspace.

Inpainting scores its samples while it still holds the arrays; styled samples and samples
made before gates existed are scored here, with the same functions of :mod:`backend.gates`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from backend import gates
from backend.config.presets import load_preset
from backend.errors import DiffGenError
from backend.generate.palette import training_colours
from backend.generate.pixels import to_model_resolution, with_wanted
from backend.inpaint.config import dilate_region
from backend.inpaint.quality_params import GatesParams
from backend.io.images import read_png_fast
from backend.jobs.context import JobContext
from backend.jobs.params import JobResult
from backend.jobs.sample_row import GENERATED_KINDS
from backend.reports.tiles import captioned, tile
from backend.workspace import SampleRecord, Workspace, queries

Progress = Callable[[int, int, str], None]


def gate_config(preset: str | dict | None) -> gates.GateConfig:
    """The thresholds of a preset's ``[gates]`` section (defaults where it has none)."""
    section = (load_preset(preset) if isinstance(preset, str) else preset or {}).get("gates")
    return gates.GateConfig.from_section(section)


def _generated_ancestor(ws: Workspace, sample: SampleRecord) -> SampleRecord | None:
    """The generated sample (inpainted, synthesized) a (styled) sample descends from; its
    provenance says how the region was made."""
    seen = set()
    while sample.kind not in GENERATED_KINDS:
        if sample.parent_sample_id is None or sample.id in seen:
            return None
        seen.add(sample.id)
        sample = ws.sample(sample.parent_sample_id)
    return sample


def source_context(ws: Workspace, sample: SampleRecord) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(source RGB, source mask, regenerated region) at the sample's resolution, or None for a
    sample that was not generated from a workspace image (e.g. an imported GAN set). A
    mask-guided sample's source mask is the image's mask united with its wanted mask (the file
    its provenance names), and its region is the wanted mask dilated."""
    base = _generated_ancestor(ws, sample)
    if base is None or base.source_image_id is None:
        return None
    p = base.params
    if "resolution" not in p or "dilation" not in p or (base.mask_version_id is None and "wanted_mask" not in p):
        return None
    image = ws.read_image(base.source_image_id)
    mask = ws.read_mask(base.mask_version_id) if base.mask_version_id is not None else np.zeros(image.shape[:2], np.uint8)
    if "wanted_mask" in p:
        wanted = read_png_fast(ws.stored(p["wanted_mask"], "samples", base.id, "params_json.wanted_mask"), grey=True)
        small, small_mask, around = with_wanted(image, mask, wanted, int(p["resolution"]))
    else:
        small, small_mask = to_model_resolution(image, mask, int(p["resolution"]))
        around = small_mask
    return small, small_mask, dilate_region(around, int(p["dilation"]), p.get("dilation_shape", "disk"))


def score_sample(ws: Workspace, sample: SampleRecord, cfg: gates.GateConfig) -> list[gates.GateScore] | None:
    context = source_context(ws, sample)
    return None if context is None else _score(ws, context, *ws.read_sample(sample), cfg)


def score_child(
    ws: Workspace, parent: SampleRecord, rgb: np.ndarray, mask: np.ndarray, cfg: gates.GateConfig
) -> list[gates.GateScore] | None:
    """:func:`score_sample` of a sample made from ``parent`` before it is stored (a child has
    its parent's source and region); ``mask`` is binarized as the workspace stores it."""
    context = source_context(ws, parent)
    return None if context is None else _score(ws, context, rgb, np.where(mask > 0, 255, 0).astype(np.uint8), cfg)


def _score(
    ws: Workspace, context: tuple[np.ndarray, np.ndarray, np.ndarray], rgb: np.ndarray, mask: np.ndarray, cfg: gates.GateConfig
) -> list[gates.GateScore]:
    """:func:`backend.gates.score` with the training palette at the context's resolution: the
    one the generation run that made the sample judged it by."""
    return gates.score(*context, rgb, mask, cfg, training=training_colours(ws, context[0].shape[0]))


def _config_of(preset: str, cache: dict[str, gates.GateConfig]) -> gates.GateConfig:
    """A sample's preset's thresholds; the defaults when that preset file is gone."""
    if preset not in cache:
        try:
            cache[preset] = gate_config(preset)
        except DiffGenError:
            cache[preset] = gates.GateConfig()
    return cache[preset]


def rescore(
    ws: Workspace, samples: list[SampleRecord], cfg: gates.GateConfig | None = None, progress: Progress | None = None
) -> dict[str, int]:
    """Score ``samples`` and store the scores; ``cfg`` None uses each sample's own preset.
    Returns counts of scored, passed and unscorable samples."""
    counts = {"scored": 0, "passed": 0, "unscorable": 0}
    configs: dict[str, gates.GateConfig] = {}
    for i, s in enumerate(samples):
        use = cfg or _config_of(str(s.params.get("preset") or "paper"), configs)
        scores = score_sample(ws, s, use)
        if scores is None:
            counts["unscorable"] += 1
        else:
            ws.set_gates(s.id, scores)
            counts["scored"] += 1
            counts["passed"] += not gates.failed(scores)
        if progress:
            progress(i + 1, len(samples), f"sample {s.id}")
    return counts


@dataclass(frozen=True, kw_only=True)
class GatesResult(JobResult):
    """How many samples this run scored, how many of them passed every gate, and how many cannot
    be scored (not generated from a workspace image)."""

    scored: int
    passed: int
    unscorable: int


def run_gates(ws: Workspace, params: GatesParams, ctx: JobContext) -> GatesResult:
    """Score the samples without scores (made before gates existed, or by a run that could not
    score them), or every sample with ``params.rescore``; thresholds of ``params.preset`` or of
    each sample's own preset."""
    scored = queries.scored_sample_ids(ws, gates.SCORED_WHEN_MADE)  # an audit's memorised score alone is not a scoring
    todo = [s for s in ws.samples() if params.rescore or s.id not in scored]
    counts = {"scored": 0, "passed": 0, "unscorable": 0}
    if todo:
        counts = rescore(ws, todo, gate_config(params.preset) if params.preset else None, ctx.report)
    summary = (
        f"Scored {counts['scored']} samples ({counts['passed']} passed every gate scored here; "
        "adherence and memorised keep their scores)."
        if counts["scored"]
        else "No sample to score" + (" (every sample has its scores)." if not todo else ".")
    )
    return GatesResult(summary=summary, **counts)


def gate_sheet(ws: Workspace, sources: int = 6, per_source: int = 6, size: int = 96) -> str | None:
    """Write ``reports/gate_sheet.png``: one row per source image (the first ``sources`` with
    generated samples), the source then its samples, each captioned with the gates it failed
    (red) or "ok"; returns the workspace-relative path, or None without samples."""

    failures = queries.gate_failures(ws)
    scored = queries.scored_sample_ids(ws)
    by_source: dict[int, list[SampleRecord]] = {}
    for s in (s for s in ws.samples() if s.kind in GENERATED_KINDS):
        if s.source_image_id is not None and (s.source_image_id in by_source or len(by_source) < sources):
            by_source.setdefault(s.source_image_id, []).append(s)
    if not by_source:
        return None
    rows = []
    for image_id, samples in by_source.items():
        mv = ws.current_mask(image_id)
        cells = [captioned(tile(ws.read_image(image_id), size, ws.read_mask(mv) if mv else None), "source")]
        for s in samples[:per_source]:
            rgb, mask = ws.read_sample(s)
            failed = failures.get(s.id, [])
            text = (", ".join(gates.LABELS.get(g, g) for g in failed) if failed else "ok") if s.id in scored else "not scored"
            cells.append(captioned(tile(rgb, size, mask), f"{s.set_name}: {text}", (200, 0, 0) if failed else (0, 0, 0)))
        cells += [np.full_like(cells[0], 255)] * (per_source + 1 - len(cells))
        rows.append(np.concatenate(cells, axis=1))
    sheet = np.concatenate(rows, axis=0)
    cv2.line(sheet, (size, 0), (size, sheet.shape[0]), (0, 0, 0), 1)
    return ws.write_png("reports/gate_sheet.png", sheet)
