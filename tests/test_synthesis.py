"""Mask-guided synthesis (issue 34) on the generation layer: the known values per channel, the
stored wanted masks, skip-finished, shards, the bank's seam, bad input, style and gates of
synthesized samples, the job kind and the CLI. A tiny random-weight model, the demo images."""

from __future__ import annotations

import dataclasses
import sys
import types

import numpy as np
import pytest
import torch

from backend.cli import main
from backend.diffusion.checkpoint import save_model
from backend.diffusion.config import DiffusionConfig, ModelConfig
from backend.diffusion.registry import record_checkpoint, register_model
from backend.errors import BadInputError
from backend.exporters.job import export_kept
from backend.generate.draw import sample_seed
from backend.generate.pixels import to_model_resolution
from backend.inpaint import quality
from backend.io.files import write_png
from backend.io.images import read_png_fast
from backend.jobs.bundles import import_bundles
from backend.jobs.context import JobContext
from backend.jobs.queue import JobStore
from backend.jobs.runner import run_job
from backend.masks import ops as masks
from backend.style.job import styled_set_name, unstyled_samples
from backend.synthesis.generator import run_synthesize
from backend.synthesis.params import SynthesizeParams
from backend.synthesis.wanted import WantedMask, save_drawn
from backend.workspace.selection import ImageSelection

FAST = {"respacing": 10, "jump_length": 5, "jump_n_sample": 2, "min_island": 2}
SIZE = 16


@pytest.fixture
def ws(demo_ws):
    torch.manual_seed(0)
    cfg = ModelConfig(
        image_size=SIZE, num_channels=32, num_res_blocks=1, channel_mult=(1,), attention_resolutions=(), num_head_channels=32
    )
    folder = save_model(demo_ws.root / "models" / "full", build_model(cfg), DiffusionConfig(timestep_respacing="10"))
    record_checkpoint(
        demo_ws, register_model(demo_ws, "full", "full", "tiny", {}, folder), 100, 0.5, folder / "model.safetensors"
    )
    return demo_ws


def build_model(cfg):
    from backend.diffusion.model import build_model as build

    return build(cfg)


def _params(images, masks, more=(), **kw):
    overrides = tuple(f"inpaint.{k}={v}" for k, v in FAST.items()) + tuple(more)
    return SynthesizeParams(
        ImageSelection(images=tuple(images)), masks=tuple(masks), preset="tiny", overrides=overrides, **{"seed": 3, **kw}
    )


def _disk(ws, image_id, centre=(0.25, 0.25), radius=0.12):
    """A wanted disk at the image's resolution, away from the demo polyp (which sits near the middle)."""
    rec = ws.image(image_id)
    yy, xx = np.mgrid[: rec.height, : rec.width]
    cy, cx, r = centre[0] * rec.height, centre[1] * rec.width, radius * min(rec.width, rec.height)
    return np.where((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r, 255, 0).astype(np.uint8)


def _expected(ws, image_id, wanted, dilate):
    """Independent of the generator: the resized source, the united mask and the region."""
    image = ws.read_image(image_id)
    src_img, src_mask = to_model_resolution(image, ws.read_mask(ws.current_mask(image_id)), SIZE)
    _, small_wanted = to_model_resolution(image, wanted, SIZE)
    united = np.maximum(src_mask, small_wanted)
    return src_img, src_mask, united, masks.dilate(small_wanted, dilate) > 0, small_wanted


def test_drawn_masks_are_known_everywhere_and_the_source_is_kept_outside_the_dilated_region(ws):
    wanted = _disk(ws, 1)
    drawn = save_drawn(ws, 1, wanted, (ws.image(1).width, ws.image(1).height))
    result = run_synthesize(ws, _params([1], ["drawn"], samples=2, dilate=2), JobContext())
    assert result.samples == 2 and result.images == 1 and not result.skipped
    src_img, src_mask, united, region, small_wanted = _expected(ws, 1, wanted, 2)
    assert united.any() and (united != src_mask).any()  # the wanted polyp is new
    outs = []
    for s in ws.samples(kind="synthesized"):
        img, mask = ws.read_sample(s)
        outs.append(img)
        assert s.set_name == "Mask-Diff" and s.source_image_id == 1 and s.mask_version_id == ws.current_mask(1).id
        assert np.array_equal(img[~region], src_img[~region])  # every pixel outside, exactly
        assert np.array_equal(mask[~region], united[~region])  # existing polyp stays
        cleaned = masks.fill_holes(masks.remove_small_islands(united, 2))
        assert np.array_equal(mask[region], cleaned[region])  # the wanted mask, cleaned as inpainting cleans
        assert not np.array_equal(img[region], src_img[region])
        p = s.params
        assert p["wanted_mask"] == ws.rel(drawn) and p["wanted_how"] == "drawn" and p["wanted_detail"] == {}
        assert p["region_pixels"] == region.sum() and p["wanted_pixels"] == (small_wanted > 0).sum() > 0
        assert p["sampler"] == "repaint" and p["dilation"] == 2 and p["resolution"] == SIZE
        assert {g.gate for g in ws.gates(s.id)} >= {"no_polyp", "seam"}  # scored when made
    assert not np.array_equal(outs[0], outs[1])
    again = run_synthesize(ws, _params([1], ["drawn"], samples=2, dilate=2), JobContext())  # idempotent re-run
    assert again.samples == 0 and again.already_done == (1,) and len(ws.samples(kind="synthesized")) == 2


def test_each_drawn_mask_is_a_series_with_its_own_seeds(ws):
    size = (ws.image(2).width, ws.image(2).height)
    paths = sorted([save_drawn(ws, 2, _disk(ws, 2), size), save_drawn(ws, 2, _disk(ws, 2, (0.75, 0.7)), size)])
    result = run_synthesize(ws, _params([2], ["drawn"], samples=1), JobContext())
    samples = ws.samples(kind="synthesized")
    assert result.samples == 2 and sorted(s.params["wanted_mask"] for s in samples) == [ws.rel(p) for p in paths]
    assert len({s.seed for s in samples}) == 2


def test_a_sample_failing_a_retry_gate_is_redrawn_with_its_series_seeds(ws):
    size = (ws.image(2).width, ws.image(2).height)
    paths = sorted([save_drawn(ws, 2, _disk(ws, 2), size), save_drawn(ws, 2, _disk(ws, 2, (0.75, 0.7)), size)])
    never = ["gates.min_area_ratio=1000.0"]  # no mask is 1000x the wanted one: every draw fails no_polyp
    result = run_synthesize(ws, _params([2], ["drawn"], more=never, samples=1, retries=1), JobContext())
    assert result.samples == 2 and "2 redrawn" in result.summary
    for s in ws.samples(kind="synthesized"):
        series = [ws.rel(p) for p in paths].index(s.params["wanted_mask"])
        assert [r["seed"] for r in s.params["redraws"]] == [sample_seed(3, 2, 0, 0, series)]
        assert s.seed == sample_seed(3, 2, 0, 1, series) and s.params["redraws"][0]["failed"] == ["no_polyp"]


def test_mask_files_are_stored_in_the_workspace_one_for_all_images(ws, tmp_path):
    want = _disk(ws, 1, (0.7, 0.3))
    good = write_png(tmp_path / "want.png", want)
    result = run_synthesize(ws, _params([1, 2], [str(good)], samples=1), JobContext())  # one file for both images
    assert result.samples == 2 and not result.skipped
    for s in ws.samples(kind="synthesized"):
        stored = ws.path(s.params["wanted_mask"])
        assert stored.parent == ws.path(f"wanted/image-{s.source_image_id}") and s.params["wanted_how"] == "file"
        assert np.array_equal(read_png_fast(stored, grey=True), want)
        assert s.params["wanted_detail"] == {"file": str(good.resolve())}


def test_bad_masks_are_refused_with_a_message_naming_them(ws, tmp_path):
    rec = ws.image(1)
    size = (rec.width, rec.height)
    with pytest.raises(BadInputError, match="no drawn wanted mask.*Place polyp"):
        run_synthesize(ws, _params([1], ["drawn"]), JobContext())
    with pytest.raises(BadInputError, match="empty"):
        save_drawn(ws, 1, np.zeros((rec.height, rec.width), np.uint8), size)
    other = write_png(tmp_path / "small.png", np.full((8, 8), 255, np.uint8))
    with pytest.raises(BadInputError, match=r"small\.png.*draw it on this image"):
        run_synthesize(ws, _params([1], [str(other)]), JobContext())
    grey = _disk(ws, 1)
    grey[grey == 0] = 60  # anti-aliased / grey levels: not a binary mask
    grey_file = write_png(tmp_path / "grey.png", grey)
    with pytest.raises(BadInputError, match=r"grey\.png.*not binary.*black \(0\) and white \(255\)"):
        run_synthesize(ws, _params([1], [str(grey_file)]), JobContext())
    empty = write_png(tmp_path / "empty.png", np.zeros((rec.height, rec.width), np.uint8))
    with pytest.raises(BadInputError, match=r"empty\.png.*empty"):
        run_synthesize(ws, _params([1], [str(empty)]), JobContext())
    with pytest.raises(BadInputError, match="drawn stands alone"):
        run_synthesize(ws, _params([1], ["drawn", str(empty)]), JobContext())
    with pytest.raises(BadInputError, match="set name '../x' cannot be used"):
        run_synthesize(ws, _params([1], ["drawn"], set_name="../x"), JobContext())
    with pytest.raises(BadInputError, match="2 mask files for 3 images"):
        run_synthesize(ws, _params([1, 2, 3], [str(empty), str(other)]), JobContext())
    assert not ws.samples()


def test_the_bank_is_called_by_its_signature_and_each_sample_gets_its_own_mask(ws, monkeypatch):
    calls = []

    def bank_masks(ws_, image_id, count, polyps, beside_polyps, seed):
        calls.append((image_id, count, polyps, beside_polyps, seed))
        return [WantedMask(_disk(ws_, image_id, (0.2 + 0.2 * k, 0.3)), "bank", {"k": k}) for k in range(count)]

    monkeypatch.setitem(sys.modules, "backend.synthesis.bank", types.SimpleNamespace(bank_masks=bank_masks))
    result = run_synthesize(ws, _params([1], ["bank"], samples=3, polyps=(1, 2)), JobContext())
    assert result.samples == 3 and [c[:4] for c in calls] == [(1, 3, (1, 2), False)]
    samples = ws.samples(kind="synthesized")
    assert sorted(s.params["wanted_detail"]["k"] for s in samples) == [0, 1, 2]
    assert len({s.params["wanted_mask"] for s in samples}) == 3 and {s.params["wanted_how"] for s in samples} == {"bank"}
    again = run_synthesize(ws, _params([1], ["bank"], samples=3, polyps=(1, 2)), JobContext())
    assert again.samples == 0 and calls[1] == calls[0]  # the same masks from the same run seed: finished


def test_a_synthesized_sample_is_gated_and_stylable(ws):
    wanted = _disk(ws, 1)
    save_drawn(ws, 1, wanted, (ws.image(1).width, ws.image(1).height))
    run_synthesize(ws, _params([1], ["drawn"], samples=1, dilate=2), JobContext())
    (s,) = ws.samples(kind="synthesized")
    src_img, _, united, region, _ = _expected(ws, 1, wanted, 2)
    image, mask, around = quality.source_context(ws, s)
    assert np.array_equal(image, src_img) and np.array_equal(mask, united) and np.array_equal(around > 0, region)
    rescored = quality.score_sample(ws, s, quality.gate_config("tiny"))
    stored = {g.gate: (g.value, g.passed) for g in ws.gates(s.id)}
    assert {g.gate: (pytest.approx(g.value), g.passed) for g in rescored or []} == stored  # rescoring from the provenance agrees
    assert [u.id for u in unstyled_samples(ws)] == [s.id]
    assert styled_set_name("Mask-Diff") == "Styled-Mask-Diff" and styled_set_name("Full-Diff") == "Full-Styled-Diff"


def test_a_kept_synthesized_sample_exports_with_its_kind_described(ws, tmp_path):
    save_drawn(ws, 1, _disk(ws, 1), (ws.image(1).width, ws.image(1).height))
    run_synthesize(ws, _params([1], ["drawn"], samples=1), JobContext())
    (s,) = ws.samples(kind="synthesized")
    ws.set_review(s.id, "keep")
    assert export_kept(ws, tmp_path / "out").samples == 1
    card = (tmp_path / "out" / "README.md").read_text()
    assert "**synthesized** (1): a real image with new polyps where a wanted mask says" in card


def test_a_shard_bundles_synthesized_samples_that_import_as_the_workspace_stores_them(ws):
    save_drawn(ws, 1, _disk(ws, 1), (ws.image(1).width, ws.image(1).height))
    result = run_synthesize(ws, _params([1], ["drawn"], samples=1, shard="0/1"), JobContext())
    assert result.bundle and not ws.samples()
    import_bundles(ws, [result.bundle])
    (s,) = ws.samples(kind="synthesized")
    assert s.set_name == "Mask-Diff" and s.params["wanted_how"] == "drawn" and ws.gates(s.id)


def test_the_synthesize_job_kind_runs_from_the_queue(ws):
    save_drawn(ws, 1, _disk(ws, 1), (ws.image(1).width, ws.image(1).height))
    job_id = JobStore(ws).enqueue("synthesize", _params([1], ["drawn"], samples=1))
    rec = run_job(ws, job_id)
    assert rec.status == "done" and rec.message.startswith("1 mask-guided sample from 1 image"), rec.message
    assert [s.id for s in ws.samples(kind="synthesized")] == list(rec.result["sample_ids"]["1"])


def test_cli_synthesize_with_a_mask_file(ws, tmp_path, capsys):
    good = write_png(tmp_path / "want.png", _disk(ws, 1))
    args = ["synthesize", "-w", str(ws.root), "--images", "1", "--masks", str(good), "--samples", "1", "--seed", "5"]
    assert main([*args, "--preset", "tiny", "--device", "cpu", "--contrast", "0.25"]) == 0
    out = capsys.readouterr().out
    assert "1 mask-guided sample from 1 image (seed 5)" in out
    (s,) = ws.samples(kind="synthesized")
    assert s.params["wanted_how"] == "file" and s.seed is not None
    assert s.params["contrast"] == 0.25  # the flag reaches the sampler (it was once read and dropped)
    assert main(["synthesize", "-w", str(ws.root), "--images", "1", "--masks", "drawn", "--device", "cpu"]) == 1
    assert "no drawn wanted mask" in capsys.readouterr().err


def test_the_adherence_gate_is_scored_with_the_workspaces_judge_and_redraws(ws, monkeypatch):
    """With a judge, each sample gets the adherence gate (judge IoU against the wanted mask at the
    sample's size) and a failing one is redrawn; without one, the run says how to get one."""
    from backend.synthesis import generator as gen
    from backend.synthesis.judge import Judge, JudgeSettings, judge_config

    save_drawn(ws, 1, _disk(ws, 1), (ws.image(1).width, ws.image(1).height))
    plain = run_synthesize(ws, _params([1], ["drawn"], samples=1, dilate=2), JobContext())
    assert any("adherence not scored" in m and "diffgen judge train" in m for m in plain.messages)
    assert "adherence" not in {g.gate for g in ws.gates(plain.sample_ids["1"][0])}

    class Blind(torch.nn.Module):  # sees no polyp anywhere: IoU 0 against any wanted mask
        def __init__(self):
            super().__init__()
            self.bias = torch.nn.Parameter(torch.tensor(-8.0), requires_grad=False)

        def forward(self, x):
            return self.bias.expand(x.shape[0], 1, *x.shape[2:])

    judge = Judge(Blind(), judge_config(JudgeSettings(image_size=32)), "blind", ws.root / "judge.safetensors", {})
    monkeypatch.setattr(gen, "current_judge", lambda ws, device="cpu": judge)
    retry = ('inpaint.retry_gates=["adherence"]',)
    run = run_synthesize(ws, _params([1], ["drawn"], more=retry, samples=1, dilate=2, seed=4, retries=1), JobContext())
    (sid,) = run.sample_ids["1"]
    scores = {g.gate: g for g in ws.gates(sid)}
    assert scores["adherence"].value == 0.0 and not scores["adherence"].passed
    assert run.gate_failures.get("adherence") == 1
    assert [r["failed"] for r in ws.sample(sid).params["redraws"]] == [["adherence"]]
    assert not any("adherence judge sees" in m for m in run.messages)  # validation IoU not measured: no claim
    weak = dataclasses.replace(judge, info={"validation_iou": 0.6, "settings": {"steps": 200}})
    monkeypatch.setattr(gen, "current_judge", lambda ws, device="cpu": weak)
    again = run_synthesize(ws, _params([1], ["drawn"], samples=1, dilate=2, seed=5), JobContext())
    assert any("IoU 0.60 only" in m and "diffgen judge train --steps 1000" in m for m in again.messages), again.messages


def test_backgrounds_choose_every_background_image_and_nothing_else(ws, tmp_path):
    from PIL import Image

    from backend.data.importer import import_dataset

    folder = tmp_path / "normal"
    folder.mkdir()
    frame = ws.read_image(1).copy()
    frame[:] = (120, 60, 50)
    Image.fromarray(frame).save(folder / "normal_0.png")
    import_dataset(ws, folder, role="background")
    (bg,) = [r.id for r in ws.images("role = 'background'")]
    params = SynthesizeParams(backgrounds=True, masks=("bank",))
    assert params.image_ids(ws) == [bg]
    with pytest.raises(BadInputError, match="leave out --images"):
        SynthesizeParams(ImageSelection(images=(1,)), backgrounds=True).image_ids(ws)


def test_a_named_drawn_file_is_that_drawn_mask_alone(ws):
    """The editor queues the shape it saved by its path: that one mask, recorded as drawn (not
    copied as a file), and not the image's earlier drawn shapes."""
    size = (ws.image(1).width, ws.image(1).height)
    save_drawn(ws, 1, _disk(ws, 1), size)
    second = save_drawn(ws, 1, _disk(ws, 1, centre=(0.3, 0.7)), size)
    run = run_synthesize(ws, _params([1], [str(second)], samples=1, dilate=2), JobContext())
    (sid,) = run.sample_ids["1"]
    p = ws.sample(sid).params
    assert p["wanted_mask"] == ws.rel(second) and p["wanted_how"] == "drawn"
    assert sorted(f.name for f in second.parent.iterdir()) == sorted(f.name for f in second.parent.glob("drawn-*.png"))
