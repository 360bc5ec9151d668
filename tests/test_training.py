"""Training runs end to end on the demo workspace with the micro config: folders, database
rows, exact resume, cancel, per-cluster targets, and the data pipeline."""

from __future__ import annotations

import errno
import json
import os
import re

import cv2
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from backend.diffusion import train_io
from backend.diffusion.checkpoint import load_model
from backend.diffusion.registry import resolve_model
from backend.diffusion.sample_params import SampleParams
from backend.diffusion.sampling import run_sample
from backend.diffusion.train_data import draw_step, global_batch_indices, load_pairs, make_batch, resize_pair
from backend.diffusion.train_params import TrainParams
from backend.diffusion.training import run_train
from backend.errors import Cancelled, DiffGenError
from backend.io import files
from backend.jobs.context import JobContext
from backend.jobs.queue import JobStore
from backend.jobs.runner import run_job
from backend.workspace import now
from tests.diffusion_micro import MICRO_OVERRIDES


def _params(**kw) -> TrainParams:
    return TrainParams.from_dict({"preset": "tiny", "target": "full", "device": "cpu", "overrides": MICRO_OVERRIDES, **kw})


def test_full_run_writes_loadable_model_records_and_pictures(demo_ws):
    calls = []
    result = run_train(demo_ws, _params(steps=4), JobContext(progress=lambda d, t, m: calls.append((d, t, m))))
    info = result.models[0]
    folder = demo_ws.path(f"models/{info['name']}")
    assert info["steps"] == 4 and info["folder"] == str(folder)
    model, diff_cfg, cfg = load_model(folder)  # the folder alone is enough
    assert model.cfg.image_size == 16 and diff_cfg.timestep_respacing == "4"
    assert cfg["preset"] == "tiny" and cfg["target"] == "full" and cfg["steps"] == 4
    assert cfg["final_loss"] == pytest.approx(info["final_loss"])
    rows = demo_ws.query("SELECT step, loss, path FROM checkpoints ORDER BY step")
    assert [r["step"] for r in rows] == [2, 4]
    assert all((demo_ws.path(r["path"]) / "ema.safetensors").exists() for r in rows)
    assert demo_ws.query("SELECT target, preset FROM models")[0][:] == ("full", "tiny")
    for png in ("loss.png", "samples.png"):
        img = cv2.imread(str(folder / png))
        assert img is not None and img.std() > 0
    assert [c[0] for c in calls if "loss" in c[2]] == [1, 2, 3, 4]
    assert "it/s" in calls[0][2] and "ETA" not in calls[0][2]  # the app's bar adds its own estimate: one, not two
    assert resolve_model(demo_ws, demo_ws.image_ids()[0]).folder == folder
    # by name, by a path relative to the workspace, by absolute path: the same registered model
    for choice in (info["name"], f"models/{info['name']}", str(folder)):
        ref = resolve_model(demo_ws, None, choice)
        assert (ref.id, ref.folder) == (info["model_id"], folder), choice
    with pytest.raises(DiffGenError, match=rf"model of this workspace \({info['name']}\)"):
        resolve_model(demo_ws, None, "no-such-model")
    sampled = run_sample(demo_ws, SampleParams(model="full", count=2, seed=3, sheet=str(folder / "s.png")), JobContext())
    recs = [demo_ws.sample(i) for i in sampled.sample_ids]
    assert [r.model_id for r in recs] == [info["model_id"]] * 2 and recs[0].kind == "unconditional"
    img, mask = demo_ws.read_sample(recs[0])
    assert img.shape == (16, 16, 3) and set(np.unique(mask)) <= {0, 255}


def test_resume_is_bit_identical_to_a_straight_run(demo_ws):
    run_train(demo_ws, _params(steps=4, name="straight"), JobContext())
    run_train(demo_ws, _params(steps=2, name="split"), JobContext())
    with pytest.raises(DiffGenError, match="--resume"):
        run_train(demo_ws, _params(steps=4, name="split"), JobContext())
    run_train(demo_ws, _params(steps=4, name="split", resume=True), JobContext())
    for f in ("model.safetensors", "ema.safetensors"):
        a = load_file(demo_ws.path(f"models/straight/{f}"))
        b = load_file(demo_ws.path(f"models/split/{f}"))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    losses = [np.loadtxt(demo_ws.path(f"models/{n}/loss.csv"), delimiter=",", skiprows=1) for n in ("straight", "split")]
    np.testing.assert_array_equal(losses[0], losses[1])


def test_cancel_saves_a_valid_checkpoint_and_resumes(demo_ws):
    polls = iter([False, False, False, True])
    with pytest.raises(Cancelled, match="step 3"):
        run_train(demo_ws, _params(steps=10, name="c"), JobContext(cancel=lambda: next(polls)))
    folder = demo_ws.path("models/c")
    assert json.loads((folder / "config.json").read_text())["steps"] == 3
    assert (folder / "checkpoints/step-0000003/train_state.pt").exists()
    assert not list(folder.glob("checkpoints/.*"))
    load_model(folder)
    result = run_train(
        demo_ws, _params(steps=4, name="c", resume=True, overrides=MICRO_OVERRIDES + ["train.sample_count=0"]), JobContext()
    )
    assert result.models[0]["steps"] == 4


def _cluster(ws, assignment: dict[int, int]) -> int:
    with ws.transaction() as c:
        cid = c.execute(
            "INSERT INTO clusterings (k, seed, extractor, is_current, created_at) VALUES (?,?,?,?,?)",
            (len(set(assignment.values())), 0, "test", 1, now()),
        ).lastrowid
        c.executemany("INSERT INTO cluster_assignments VALUES (?,?,?)", [(cid, i, k) for i, k in assignment.items()])
    return cid


def test_clusters_target_trains_one_model_per_cluster(demo_ws):
    with pytest.raises(DiffGenError, match="clustering"):
        run_train(demo_ws, _params(steps=1, target="clusters"), JobContext())
    ids = demo_ws.image_ids()
    cid = _cluster(demo_ws, {i: (0 if n < 5 else 1) for n, i in enumerate(ids)})
    with pytest.raises(DiffGenError, match="cluster 7"):
        run_train(demo_ws, _params(steps=1, target="cluster:7"), JobContext())
    result = run_train(
        demo_ws, _params(steps=1, target="clusters", overrides=MICRO_OVERRIDES + ["train.sample_count=0"]), JobContext()
    )
    models = result.models
    assert [(m["cluster"], m["name"]) for m in models] == [(0, f"c{cid}-tiny-k0"), (1, f"c{cid}-tiny-k1")]
    flagged = {r.id for r in demo_ws.images("flagged = 1")}
    assert models[0]["images"] == len(set(ids[:5]) - flagged)
    cfg = json.loads((demo_ws.path(models[1]["folder"]) / "config.json").read_text())
    assert cfg["cluster"] == 1 and cfg["clustering_id"] == cid and cfg["target"] == "cluster"
    assert resolve_model(demo_ws, ids[-1]).cluster == 1


def test_pairs_are_resized_binary_and_flipped_together(demo_ws):
    image = np.zeros((40, 60, 3), np.uint8)
    image[:, :30] = 200
    mask = np.zeros((40, 60), np.uint8)
    mask[:, :20] = 255
    pair = resize_pair(image, mask, 16)
    assert pair.shape == (4, 16, 16) and set(np.unique(pair[3])) <= {0, 255}
    np.testing.assert_array_equal(pair[0], cv2.resize(image, (16, 16), interpolation=cv2.INTER_AREA)[..., 0])
    cache = load_pairs(demo_ws, demo_ws.image_ids(), 16)
    draw = draw_step(0, 0, 4, len(cache), 1000, 16, hflip=True)
    draw.flips[:] = torch.tensor([True, False, True, False])
    batch = make_batch(cache, draw)
    raw = cache.pixels[torch.as_tensor(draw.indices)].float() / 127.5 - 1
    assert torch.equal(batch[0], raw[0].flip(-1)) and torch.equal(batch[1], raw[1])
    assert batch.min() >= -1 and batch.max() <= 1


def test_train_resize_reaches_the_data_and_the_saved_config(demo_ws, monkeypatch):
    import backend.diffusion.training as training

    seen = []
    real = training.load_pairs
    monkeypatch.setattr(training, "load_pairs", lambda *a, **k: seen.append(k["resize"]) or real(*a, **k))
    result = run_train(
        demo_ws, _params(steps=1, overrides=MICRO_OVERRIDES + ["train.resize=center_crop", "train.sample_count=0"]), JobContext()
    )
    assert seen == ["center_crop"]
    cfg = json.loads((demo_ws.path(result.models[0]["folder"]) / "config.json").read_text())
    assert cfg["train"]["resize"] == "center_crop"
    image_id = demo_ws.image_ids()[0]
    cache = load_pairs(demo_ws, [image_id], 16, resize="center_crop")
    pair = resize_pair(demo_ws.read_image(image_id), demo_ws.read_mask(demo_ws.current_mask(image_id)), 16, "center_crop")
    assert torch.equal(cache.pixels[0], torch.from_numpy(pair))


def test_data_order_visits_every_image_once_per_epoch():
    n, batch = 7, 3
    stream = np.concatenate([global_batch_indices(5, s, batch, n) for s in range(7)])  # 21 = 3 epochs
    for epoch in range(3):
        assert sorted(stream[epoch * n : (epoch + 1) * n]) == list(range(n))
    assert not np.array_equal(stream[:n], stream[n : 2 * n])  # reshuffled each epoch


def test_ema_follows_the_recurrence_with_and_without_warmup():
    from backend.diffusion.training import EMA

    layer = torch.nn.Linear(1, 1, bias=False)
    values = [1.0, 3.0, -2.0, 5.0]
    for warmup in (False, True):
        with torch.no_grad():
            layer.weight.fill_(0.0)
        ema, expected = EMA(layer, 0.9, warmup=warmup), 0.0
        for n, v in enumerate(values):
            with torch.no_grad():
                layer.weight.fill_(v)
            ema.update(layer, n)
            rate = min(0.9, (1 + n) / (10 + n)) if warmup else 0.9
            expected = rate * expected + (1 - rate) * v
        assert ema.state["weight"].item() == pytest.approx(expected, rel=1e-6)


def test_disk_full_at_a_checkpoint_fails_the_job_clearly_and_keeps_the_earlier_one(demo_ws, monkeypatch):
    """No space left while step 4's checkpoint is written (its last file, train_state.pt):
    the job fails saying so, no temp file stays, step 2 stays whole and resumable."""
    real, armed, writes = files._write_and_sync, [False], []

    def full_disk(fd, data):
        if armed[0]:
            writes.append(len(data))
            if len(writes) == 4:  # model, ema, config.json, then the training state
                os.write(fd, data[: len(data) // 2])
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd, data)

    def arm(done, total, message):  # called after step 2's checkpoint is complete
        armed[0] = armed[0] or done == 2

    monkeypatch.setattr(files, "_write_and_sync", full_disk)
    store = JobStore(demo_ws)
    job_id = store.enqueue("train", _params(steps=6, name="d"))
    job = run_job(demo_ws, job_id, progress=arm)
    assert job.status == "failed" and len(writes) == 4
    assert job.message.startswith("disk full while writing ") and "/checkpoints/.step-" in job.message  # the file
    assert re.search(r"it needs \d+(\.\d)? (kB|MB|GB), \d+(\.\d)? (kB|MB|GB) free there", job.message)
    assert "checkpoint step-0000002 is intact; continue from it with --resume" in job.message
    run = demo_ws.path("models/d")
    assert [p.name for p in run.rglob("*") if p.name.startswith(".")] == []  # no temp file or folder
    assert sorted(p.name for p in run.glob("checkpoints/*")) == ["step-0000002"]
    assert [r["step"] for r in demo_ws.query("SELECT step FROM checkpoints")] == [2]
    assert (run / "checkpoints/step-0000002/train_state.pt").exists()
    assert json.loads((run / "config.json").read_text())["steps"] == 2
    monkeypatch.setattr(files, "_write_and_sync", real)
    result = run_train(
        demo_ws, _params(steps=4, name="d", resume=True, overrides=MICRO_OVERRIDES + ["train.sample_count=0"]), JobContext()
    )
    assert result.models[0]["steps"] == 4


def test_a_run_killed_before_its_first_checkpoint_registers_no_model(demo_ws, monkeypatch):
    """kill -9 during the first save (simulated by an exception there): no model row points at
    an empty folder, so 'inpaint --model full' is never sent to it; the run starts again."""

    def killed(*a, **k):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(train_io, "save_checkpoint", killed)
        with pytest.raises(KeyboardInterrupt):
            run_train(demo_ws, _params(steps=4, name="k"), JobContext())
    assert demo_ws.query("SELECT COUNT(*) FROM models")[0][0] == 0
    with pytest.raises(DiffGenError, match="no trained diffusion model"):
        resolve_model(demo_ws, None, "full")
    result = run_train(demo_ws, _params(steps=2, name="k", overrides=MICRO_OVERRIDES + ["train.sample_count=0"]), JobContext())
    assert resolve_model(demo_ws, None, "full").id == result.models[0]["model_id"]


def test_models_without_weights_are_skipped_with_a_note(demo_ws):
    """Workspaces from before the fix may hold a model row whose folder is empty."""
    result = run_train(demo_ws, _params(steps=2, name="good", overrides=MICRO_OVERRIDES + ["train.sample_count=0"]), JobContext())
    good = result.models[0]["model_id"]
    with demo_ws.transaction() as c:
        c.execute(
            "INSERT INTO models (name, target, preset, config_json, path, created_at)"
            " VALUES ('empty', 'full', 'tiny', '{}', 'models/empty', ?)",
            (now(),),
        )
    ref = resolve_model(demo_ws, demo_ws.image_ids()[0], "full")
    assert ref.id == good and "model empty (models/empty) has no saved weights" in ref.note
    with demo_ws.transaction() as c:
        c.execute("DELETE FROM checkpoints")
        c.execute("DELETE FROM models WHERE id = ?", (good,))
    with pytest.raises(DiffGenError, match=r"no trained diffusion model in this workspace \(model empty"):
        resolve_model(demo_ws, None, "full")
