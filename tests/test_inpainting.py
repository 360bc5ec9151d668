"""The inpainting stage on the demo workspace with a tiny random-weight model saved and
loaded through the real checkpoint and registry code."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy import ndimage

from backend.cli import main
from backend.diffusion.checkpoint import save_model
from backend.diffusion.config import DiffusionConfig, ModelConfig
from backend.diffusion.model import build_model
from backend.diffusion.registry import record_checkpoint, register_model
from backend.errors import Cancelled, DiffGenError
from backend.generate.draw import sample_seed
from backend.generate.pixels import postprocess, to_model_resolution
from backend.inpaint.config import InpaintConfig, resolve_config
from backend.inpaint.job import run_inpaint
from backend.inpaint.params import InpaintParams
from backend.jobs.context import JobContext
from backend.jobs.runner import run_job
from backend.masks import ops as masks
from backend.workspace import now, queries
from backend.workspace.selection import ImageSelection

FAST = {"respacing": 10, "jump_length": 5, "jump_n_sample": 2, "dilate": 2, "min_island": 2, "preset": "tiny", "seed": 3}


def _run(ws, params, **ctx):
    """run_inpaint with params as a job stores them and the context's callbacks."""
    return run_inpaint(ws, InpaintParams.from_dict(params), JobContext(**ctx))


def _save_tiny(folder, seed=0):
    torch.manual_seed(seed)
    cfg = ModelConfig(
        image_size=16, num_channels=32, num_res_blocks=1, channel_mult=(1,), attention_resolutions=(), num_head_channels=32
    )
    return save_model(folder, build_model(cfg), DiffusionConfig(timestep_respacing="10"))


@pytest.fixture
def ws(demo_ws):
    folder = _save_tiny(demo_ws.root / "models" / "full")
    model_id = register_model(demo_ws, "full", "full", "tiny", {}, folder)
    record_checkpoint(demo_ws, model_id, 100, 0.5, folder / "model.safetensors")
    return demo_ws


def _resized(ws, image_id, size=16):
    return to_model_resolution(ws.read_image(image_id), ws.read_mask(ws.current_mask(image_id)), size)


def test_samples_keep_the_source_outside_the_region_and_carry_provenance(ws):
    result = _run(ws, {**FAST, "images": [1, 2], "samples": 3, "batch": 6})
    assert result.images == 2 and result.samples == 6 and not result.skipped
    assert "not clustered" in result.messages[0]
    for image_id in (1, 2):
        samples = ws.samples(kind="inpainted", source_image_id=image_id)
        assert len(samples) == 3
        src_img, src_mask = _resized(ws, image_id)
        region = masks.dilate(src_mask, 2) > 0
        outs = [ws.read_sample(s) for s in samples]
        for (img, mask), s in zip(outs, samples):
            assert img.shape == (16, 16, 3) and set(np.unique(mask)) <= {0, 255}
            assert np.array_equal(img[~region], src_img[~region])  # exactly, after the last step
            assert np.array_equal(mask[~region], src_mask[~region])
            assert not np.array_equal(img[region], src_img[region])
            assert s.set_name == "Full-Diff" and s.mask_version_id == ws.current_mask(image_id).id
            assert s.model_id == 1 and s.seed == sample_seed(3, image_id, s.params["sample_index"])
            row = ws.query("SELECT checkpoint_id FROM samples WHERE id = ?", (s.id,))[0]
            assert row[0] is not None
            p = s.params
            assert (p["respacing"], p["jump_length"], p["jump_n_sample"], p["dilation"]) == (10, 5, 2, 2)
            assert p["evaluations"] == 15 and p["model_target"] == "full" and p["resolution"] == 16
            assert p["postprocess"] == {"threshold": 0.0, "cleanup": "islands", "min_island": 2, "fill_holes": True}
            assert (p["dilation_shape"], p["clip_denoised"], p["weights"]) == ("disk", True, "ema")
        assert not np.array_equal(outs[0][0][region], outs[1][0][region])  # samples differ
    assert result.sheet is None  # only when asked

    drawn = sum(1 + len(s.params.get("redraws", ())) for i in (1, 2) for s in ws.samples(kind="inpainted", source_image_id=i))
    (speed,) = [json.loads(r["value_json"]) for r in ws.query("SELECT value_json FROM results WHERE kind = 'inpaint_speed'")]
    assert speed["evaluations"] == 15 * drawn and (speed["device"], speed["resolution"], speed["kind"]) == ("cpu", 16, "inpaint")
    assert queries.seconds_per_evaluation(ws, "tiny", "cpu") == pytest.approx(speed["seconds"] / speed["evaluations"])
    assert queries.seconds_per_evaluation(ws, "tiny", "cuda") is None and queries.seconds_per_evaluation(ws, "paper") is None
    (rate,) = queries.gate_pass_rates(ws)  # what the run says of its gates is what the workspace stored
    assert (result.passed, result.gate_failures) == (rate.passed, {g: n for g, n in rate.failed.items() if n})


def test_cluster_model_serves_its_cluster_and_others_fall_back(ws):
    with ws.transaction() as c:
        cid = c.execute(
            "INSERT INTO clusterings (k, seed, extractor, is_current, created_at) VALUES (2, 0, 'test', 1, ?)", (now(),)
        ).lastrowid
        c.executemany("INSERT INTO cluster_assignments VALUES (?, ?, ?)", [(cid, 1, 0), (cid, 2, 1)])
    folder = _save_tiny(ws.root / "models" / "c0", seed=1)
    register_model(ws, "c0", "cluster", "tiny", {}, folder, clustering_id=cid, cluster=0)
    result = _run(ws, {**FAST, "cluster": 0, "samples": 1})
    assert result.samples == 1 and ws.samples(source_image_id=1)[0].set_name == "Diff"
    assert ws.samples(source_image_id=1)[0].params["cluster"] == 0
    result = _run(ws, {**FAST, "images": [2], "samples": 1, "weights": "raw"})
    assert ws.samples(source_image_id=2)[0].set_name == "Full-Diff"
    assert ws.samples(source_image_id=2)[0].params["weights"] == "raw"
    assert any("no model for cluster 1" in m for m in result.messages)


def test_diffuse_gen_preset_samples_as_the_author_code(ws, monkeypatch):
    """Under diffuse-gen: the raw weights by default, an elliptical-kernel region, no x0 clip,
    the opening clean-up; each recorded in the sample's provenance."""
    import backend.generate.draw as draw
    import backend.generate.run as inpainting

    loaded, clips = [], []
    real_load, real_rows = inpainting.load_model, draw.sample_rows
    monkeypatch.setattr(inpainting, "load_model", lambda *a, **k: loaded.append(k["weights"]) or real_load(*a, **k))
    monkeypatch.setattr(draw, "sample_rows", lambda *a, **k: clips.append(a[1].clip_denoised) or real_rows(*a, **k))
    run = {**FAST, "preset": "diffuse-gen", "images": [1], "samples": 1, "dilate": 6, "overrides": ["inpaint.opening_kernel=4"]}
    assert _run(ws, run).samples == 1 and loaded == ["model"] and clips == [False]
    s = ws.samples(source_image_id=1)[0]
    p = s.params
    assert (p["preset"], p["weights"], p["dilation_shape"], p["clip_denoised"]) == ("diffuse-gen", "raw", "ellipse_kernel", False)
    assert p["postprocess"] == {"threshold": 0.0, "cleanup": "opening", "opening_kernel": 4}
    src_img, src_mask = _resized(ws, 1)
    region = masks.dilate_ellipse_kernel(src_mask, 6) > 0
    assert p["region_pixels"] == region.sum() < (masks.dilate(src_mask, 6) > 0).sum()
    img, mask = ws.read_sample(s)
    assert np.array_equal(img[~region], src_img[~region]) and np.array_equal(mask[~region], src_mask[~region])
    _run(ws, {**run, "images": [2], "weights": "ema"})  # an explicit choice wins
    assert loaded[-1] == "ema" and ws.samples(source_image_id=2)[0].params["weights"] == "ema"


def test_cancel_writes_no_sample(ws):
    calls = []

    def progress(done, total, message):
        calls.append(done)

    with pytest.raises(Cancelled):
        _run(ws, {**FAST, "images": [1, 2], "samples": 3, "batch": 6}, progress=progress, cancel=lambda: len(calls) >= 5)
    assert ws.samples() == []
    assert not (ws.root / "samples").exists() or not any((ws.root / "samples").rglob("*.png"))


def test_rerun_of_an_interrupted_run_adds_no_duplicate_rows(ws):
    """An interrupted --seed run (stopped after its first image) run again: the finished image
    is skipped, the others are made, and every file has exactly one row."""
    run = {**FAST, "images": [1, 2, 4], "samples": 2, "batch": 2}
    stop = []
    with pytest.raises(Cancelled):
        _run(ws, run, progress=lambda d, t, m: stop.append(m.startswith("1/")), cancel=lambda: any(stop))
    first = [(s.id, s.image_path) for s in ws.samples()]
    assert {s.source_image_id for s in ws.samples()} == {1} and len(first) == 2
    again = _run(ws, run)
    assert again.already_done == (1,) and again.images == 2 and again.samples == 4
    assert "skipped 1 image(s) that already have these samples" in " ".join(again.messages)
    rows = ws.query("SELECT image_path, COUNT(*) FROM samples GROUP BY image_path")
    assert len(rows) == 6 and all(n == 1 for _, n in rows)
    assert [(s.id, s.image_path) for s in ws.samples(source_image_id=1)] == first
    assert _run(ws, run).samples == 0 and len(ws.samples()) == 6  # a full re-run adds nothing
    assert _run(ws, {**run, "dilate": 3}).samples == 6  # other settings: new samples


def test_samples_stored_before_the_sampler_key_still_count_as_finished(ws):
    """Samples made before provenance named the sampler (RePaint was the only one) are this
    run's samples: a re-run with the same seed skips their image; another sampler would not."""
    run = {**FAST, "images": [1], "samples": 2}
    _run(ws, run)
    with ws.transaction() as c:
        for s in ws.samples():
            old = {k: v for k, v in s.params.items() if k != "sampler"}
            c.execute("UPDATE samples SET params_json = ? WHERE id = ?", (json.dumps(old), s.id))
    assert all("sampler" not in s.params for s in ws.samples())
    again = _run(ws, run)
    assert again.already_done == (1,) and again.samples == 0 and len(ws.samples()) == 2


def test_bad_images_are_skipped_and_the_rest_goes_on(ws):
    ws.add_mask_version(3, np.zeros((64, 64), np.uint8), "edit")
    result = _run(ws, {**FAST, "images": [3, 4], "samples": 1})
    assert result.samples == 1 and result.skipped[0]["image_id"] == 3
    assert "empty" in result.skipped[0]["reason"]
    with pytest.raises(DiffGenError, match="999"):
        ImageSelection.from_params({"images": [999]}).resolve(ws)
    with pytest.raises(DiffGenError, match="choose images"):
        ImageSelection.from_params({}).resolve(ws)
    with pytest.raises(DiffGenError, match="exceeds the 1000"):
        _run(ws, {**FAST, "images": [4], "respacing": 5000})
    with pytest.raises(DiffGenError, match=r"inpaint\.jump_length = 0 is out of bounds: it must be an integer in 1\.\."):
        resolve_config({"jump_length": 0}, "tiny")


def test_a_job_as_early_forms_stored_it_runs_with_its_preset_overrides(ws):
    """Early desktop forms stored ``overrides`` and a device with every job (the stage ignored
    them); the overrides now set the [inpaint] values, and the job's samples name the job."""
    old = {
        "device": "auto",
        "images": [1],
        "preset": "tiny",
        "seed": 3,
        "overrides": ["inpaint.samples=2", "inpaint.respacing=10", "inpaint.dilate=2"],
    }
    with ws.transaction() as c:
        job_id = c.execute(
            "INSERT INTO jobs (kind, status, params_json, position, created_at) VALUES ('inpaint', 'queued', ?, 1, ?)",
            (json.dumps(old), now()),
        ).lastrowid
    rec = run_job(ws, job_id)
    assert rec.status == "done" and rec.message.startswith("2 inpainted samples from 1 image "), rec.message
    rows = ws.query("SELECT job_id, params_json FROM samples WHERE kind = 'inpainted'")
    assert [r["job_id"] for r in rows] == [job_id, job_id]
    assert {(json.loads(r["params_json"])["respacing"], json.loads(r["params_json"])["dilation"]) for r in rows} == {
        (10, 2)
    }  # the tiny preset's own values are 50 and 3
    assert rec.result["sample_ids"] == {"1": [s.id for s in ws.samples(source_image_id=1)]}


def test_progress_counts_every_model_evaluation_of_every_sample(ws):
    seen = []
    _run(ws, {**FAST, "images": [1], "samples": 2, "batch": 1}, progress=lambda d, t, m: seen.append((d, t)))
    assert seen[-2:] == [(2 * 15, 2 * 15)] * 2  # the last evaluation, then the run's end


def test_progress_text_moves_within_a_batch(ws):
    """Images finish together at a batch's end, so the text names the batch's step: it moves on
    every evaluation, starts again with the next batch, and counts the images already done."""
    texts = []
    _run(ws, {**FAST, "images": [1, 2], "samples": 1, "batch": 1}, progress=lambda d, t, m: texts.append(m))
    steps = [f"1 sample at step {k}/15" for k in range(1, 16)]
    assert texts == [f"0/2 images done; {s}" for s in steps] + [f"1/2 images done; {s}" for s in steps] + ["2/2 images done"]


def test_postprocess_against_scipy():
    rng = np.random.default_rng(0)
    size = 48
    src_img = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    src_mask = np.zeros((size, size), np.uint8)
    src_mask[10:30, 10:30] = 255
    region = masks.dilate(src_mask, 4)
    gen = torch.rand(4, size, size) * 2 - 1
    gen[3] = -1
    gen[3, 12:28, 12:28] = 1  # a generated polyp with a hole and a speck
    gen[3, 18:21, 18:21] = -1
    gen[3, 8, 33] = 1
    img, mask = postprocess(gen, src_img, src_mask, region, InpaintConfig(min_island=4, fill_holes=True))
    inside = region > 0
    thresholded = np.where(inside, (gen[3] >= 0).numpy(), src_mask > 0)
    labels, n = ndimage.label(thresholded, structure=np.ones((3, 3)))
    sizes = ndimage.sum(thresholded, labels, range(1, n + 1))
    kept = np.isin(labels, 1 + np.flatnonzero(sizes >= 4))
    reference = np.where(inside, ndimage.binary_fill_holes(kept), src_mask > 0)
    assert np.array_equal(mask > 0, reference) and set(np.unique(mask)) <= {0, 255}
    assert mask[19, 19] == 255 and mask[8, 33] == 0
    assert np.array_equal(img[~inside], src_img[~inside])
    expected = ((gen[:3].clamp(-1, 1) + 1) * 127.5).round().permute(1, 2, 0).numpy().astype(np.uint8)
    assert np.array_equal(img[inside], expected[inside])


def test_config_precedence_and_seeds():
    cfg = resolve_config({"samples": 5, "batch": 2, "dilate": None}, "paper")
    assert (cfg.samples, cfg.batch_size, cfg.dilate, cfg.respacing) == (5, 2, 20, 200)
    assert (cfg.jump_length, cfg.jump_n_sample, cfg.schedule().evaluations()) == (10, 5, 960)
    seeds = {sample_seed(0, i, k) for i in range(20) for k in range(3)}
    assert len(seeds) == 60 and sample_seed(0, 1, 0) == sample_seed(0, 1, 0)
    assert all(0 <= s < 2**63 for s in seeds)


def test_cli_inpaint_writes_samples_and_a_contact_sheet(ws, capsys):
    rc = main(
        [
            "inpaint",
            "--workspace",
            str(ws.root),
            "--images",
            "1",
            "--samples",
            "2",
            "--dilate",
            "2",
            "--respacing",
            "10",
            "--jump-length",
            "5",
            "--jump-n-sample",
            "2",
            "--seed",
            "1",
            "--model",
            str(ws.root / "models" / "full"),
            "--json",
        ]
    )
    assert rc == 0
    result = json.loads(capsys.readouterr().out)
    assert result["samples"] == 2 and (ws.root / result["sheet"]).exists()
    assert ws.samples()[0].params["preset"] == "tiny"  # the registered model's preset
    assert ws.query("SELECT COUNT(*) FROM results WHERE kind = 'report'")[0][0] == 1


def test_held_out_test_images_are_never_inpainted(ws):
    ws.set_role([1, 2], "test")
    result = _run(ws, {**FAST, "all": True, "samples": 1, "batch": 12})
    made = {s.source_image_id for s in ws.samples(kind="inpainted")}
    unflagged_training = {r.id for r in ws.images() if not r.flagged} - {1, 2}
    assert made == unflagged_training and result.images == len(unflagged_training)
    with pytest.raises(DiffGenError, match=r"image 2 \(.*\) is a held-out test image"):
        _run(ws, {**FAST, "images": [4, 2]})
    assert {s.source_image_id for s in ws.samples(kind="inpainted")} == made  # nothing more made


def test_every_sample_is_scored_when_made_as_a_rescore_scores_it(ws):
    """The scores stored at creation equal a later rescore from the provenance alone (same
    source, region and thresholds), so the two paths cannot drift apart."""
    from backend.inpaint.quality import gate_config, score_sample

    result = _run(ws, {**FAST, "images": [1, 2], "samples": 2})
    for sid in (i for ids in result.sample_ids.values() for i in ids):
        stored = ws.gates(sid)
        assert [g.gate for g in stored] == sorted(["no_polyp", "cut_off", "copy", "seam", "colour"])
        again = sorted(score_sample(ws, ws.sample(sid), gate_config("tiny")), key=lambda g: g.gate)
        assert [(g.gate, g.passed, g.threshold) for g in again] == [(g.gate, g.passed, g.threshold) for g in stored]
        assert all(abs(a.value - b.value) < 1e-9 for a, b in zip(again, stored))


def test_a_sample_failing_a_retry_gate_is_redrawn_and_every_attempt_is_recorded(ws):
    never = ["gates.min_area_ratio=1000.0"]  # no generated mask can be 1000x the source's: every draw fails
    seen = []
    result = _run(
        ws, {**FAST, "images": [1], "samples": 2, "retries": 2, "overrides": never}, progress=lambda d, t, m: seen.append(t)
    )
    samples = ws.samples(source_image_id=1)
    assert result.samples == 2 and len(samples) == 2 and "4 redrawn" in result.summary
    for s in samples:
        k = s.params["sample_index"]
        # two rejected attempts (0 and 1), then attempt 2 is kept whatever its gates say
        assert [r["seed"] for r in s.params["redraws"]] == [sample_seed(3, 1, k, 0), sample_seed(3, 1, k, 1)]
        assert all(r["failed"] == ["no_polyp"] for r in s.params["redraws"])
        assert s.seed == sample_seed(3, 1, k, 2) and s.params["retries"] == 2
        assert not {g.gate: g.passed for g in ws.gates(s.id)}["no_polyp"]  # kept, and shown as failed
    assert seen[0] == 2 * 15 and seen[-1] == 2 * 15 * 3  # the total grew by one sample's evaluations per redraw
    again = _run(ws, {**FAST, "images": [1], "samples": 2, "retries": 2, "overrides": never})
    assert again.already_done == (1,) and len(ws.samples(source_image_id=1)) == 2  # a re-run adds nothing


def test_without_retries_the_first_draw_is_kept_and_seeds_are_unchanged(ws):
    result = _run(ws, {**FAST, "images": [1], "samples": 1, "overrides": ["gates.min_area_ratio=1000.0"]})
    s = ws.samples(source_image_id=1)[0]
    assert "redraws" not in s.params and s.seed == sample_seed(3, 1, 0) and "redrawn" not in result.summary
    assert sample_seed(3, 1, 0) == sample_seed(3, 1, 0, attempt=0) != sample_seed(3, 1, 0, attempt=1)
