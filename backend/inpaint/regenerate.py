"""``diffgen regenerate SAMPLE_ID``: draw an inpainted sample again from its provenance and
compare it with the stored one, pixel for pixel.

A sample depends on more than its seed: the rows that shared its model call (a batched
convolution rounds differently from a single one) and, on a CPU, torch's thread count at each
model evaluation (the split of every reduction). The inpainting job records both in the
sample's ``batch`` entry (:mod:`backend.generate.draw`); this replays that batch with the same
rows, seeds, settings and thread counts. Samples recorded before that entry existed are drawn
alone (batch of one), which may differ by a grey level here and there, and the result says so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from backend.config import threads
from backend.config.device import pick_device
from backend.diffusion.checkpoint import load_model, read_config
from backend.diffusion.config import DiffusionConfig
from backend.diffusion.registry import latest_checkpoint_id
from backend.diffusion.samplers import SETTINGS
from backend.diffusion.samplers.base import sample_batch
from backend.errors import BadInputError
from backend.generate.config import WEIGHT_FILES
from backend.generate.draw import Source
from backend.generate.pixels import postprocess, to_model_resolution
from backend.inpaint.config import InpaintConfig, resolve_config
from backend.workspace import Workspace


@dataclass(frozen=True)
class Regenerated:
    sample_id: int
    identical: bool  # image and mask equal the stored ones pixel for pixel
    image_pixels_differ: int
    max_grey_difference: int
    mask_pixels_differ: int
    batch_rows: int
    threads: tuple[tuple[int, int], ...]  # [threads, evaluations] as replayed; () = not recorded
    notes: tuple[str, ...]

    @property
    def summary(self) -> str:
        if self.identical:
            head = f"sample {self.sample_id}: regenerated identically (image and mask, pixel for pixel)"
        else:
            head = (
                f"sample {self.sample_id}: differs from the stored sample in {self.image_pixels_differ} image "
                f"pixel(s) (at most {self.max_grey_difference} grey levels) and {self.mask_pixels_differ} mask pixel(s)"
            )
        return head + f"; batch of {self.batch_rows}" + "".join(f"; {n}" for n in self.notes)


def _config(record: dict[str, Any]) -> InpaintConfig:
    """The run's inpainting settings from what the sample recorded (the preset fills the rest)."""
    post = record.get("postprocess", {})
    recorded = {
        "respacing": record["respacing"],
        "jump_length": record["jump_length"],
        "jump_n_sample": record["jump_n_sample"],
        "clip_denoised": record.get("clip_denoised", True),
        "channels_last": record.get("channels_last", False),
        "dilate": record["dilation"],
        "dilate_shape": record.get("dilation_shape", "disk"),
        "mask_cleanup": post.get("cleanup", "islands"),
        "weights": record.get("weights", "ema"),
    }
    recorded.update({k: post[k] for k in ("min_island", "fill_holes", "opening_kernel") if k in post})
    sampler = record.get("sampler", "repaint")  # samples from before the fast samplers: RePaint
    own = SETTINGS.get(sampler, {})  # an unknown name is refused by InpaintConfig
    recorded.update({"sampler": sampler, **{f: record[kw] for f, kw in own.items() if kw in record}})
    return dataclasses.replace(resolve_config({}, record.get("preset") or "paper"), **recorded)


def _source(ws: Workspace, image_id: int, mask_version_id: int, size: int, cfg: InpaintConfig) -> Source:
    rec = ws.image(image_id)
    mv = ws.mask_version(mask_version_id)
    image, mask = to_model_resolution(ws.read_image(rec), ws.read_mask(mv), size)
    return Source(image_id, rec.name, mv.id, (rec.width, rec.height), rec.sha256, image, mask, cfg.region(mask))


@contextmanager
def _thread_schedule(schedule: list[list[int]]) -> Iterator[Any]:
    """Torch's thread count set as recorded, advanced after each model evaluation; restored after."""
    before = torch.get_num_threads()
    counts = [int(t) for t, n in schedule for _ in range(int(n))]
    step = [0]

    def advance(_n: int) -> None:
        step[0] += 1
        if step[0] < len(counts):
            torch.set_num_threads(counts[step[0]])

    threads.hold()
    if counts:
        torch.set_num_threads(counts[0])
    try:
        yield advance if counts else None
    finally:
        torch.set_num_threads(before)


def regenerate(ws: Workspace, sample_id: int, device: str | None = "cpu") -> Regenerated:
    """Draw ``sample_id`` again as its run did and compare; nothing is written."""
    sample = ws.sample(sample_id)
    record = sample.params
    if sample.kind != "inpainted" or "run_seed" not in record:
        raise BadInputError(f"sample {sample_id} is a {sample.kind} sample: regenerate draws inpainted samples again")
    notes: list[str] = []
    folder = ws.stored(record["model_folder"], "samples", sample_id, "params_json.model_folder")
    if sample.model_id is not None:
        made_with = ws.query("SELECT checkpoint_id FROM samples WHERE id = ?", (sample_id,))[0][0]
        if made_with != latest_checkpoint_id(ws, sample.model_id):
            notes.append("the model was trained further after this sample: its weights are not the sample's")
    cfg = _config(record)
    batch = record.get("batch") or {}
    rows = batch.get("rows") or [[sample.source_image_id, sample.mask_version_id, record["sample_index"], sample.seed]]
    position = int(batch.get("position", 0))
    if not batch:
        notes.append("no batch recorded (a sample from before batch records): drawn alone, which may change rounding")
    if record.get("device") != "cpu":
        precision = "fp16 autocast" if record.get("autocast_fp16") else "fp32"
        notes.append(f"drawn on {record.get('device')} with {precision}; replayed on the CPU in fp32")
    dev = pick_device(device)
    saved = read_config(folder)
    size = int(saved["model"]["image_size"])
    sampler = cfg.make_sampler()
    diffusion = sampler.set_timesteps(DiffusionConfig.from_dict(saved["diffusion"]))
    model, _, _ = load_model(folder, weights=WEIGHT_FILES[cfg.weights], device=dev)
    sources = [_source(ws, int(i), int(mv), size, cfg) for i, mv, _, _ in rows]
    sample_rows = [s.row(int(seed)) for s, (_, _, _, seed) in zip(sources, rows)]
    schedule = batch.get("threads") or []
    with _thread_schedule(schedule) as advance:
        x0 = sample_batch(
            model,
            sampler,
            diffusion,
            sample_rows,
            dev,
            autocast=False,
            on_step=advance,
            channels_last=cfg.channels_last,
        )[position]
    src = sources[position]
    image, mask = postprocess(x0, src.image, src.mask, src.region, cfg)
    stored_image, stored_mask = ws.read_sample(sample)
    diff = np.abs(image.astype(np.int16) - stored_image.astype(np.int16))
    mask_diff = int(((mask > 0) != (stored_mask > 0)).sum())
    image_pixels = int(diff.any(axis=-1).sum())
    return Regenerated(
        sample_id,
        image_pixels == 0 and mask_diff == 0,
        image_pixels,
        int(diff.max()) if diff.size else 0,
        mask_diff,
        len(rows),
        tuple((int(t), int(n)) for t, n in schedule),
        tuple(notes),
    )
