"""Issue 29, items 1, 2 and 5 at the back end: a job's log on disk, the models a job is queued
with (and refuses others), unfinished training never a fallback, one set name per model, a
training name clash refused when queued."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from backend.diffusion.registry import INCOMPLETE, record_checkpoint, register_model, resolve_model
from backend.diffusion.train_params import ModelNameTaken
from backend.errors import DiffGenError
from backend.jobs import joblog
from backend.jobs.queue import JobStore
from backend.jobs.runner import run_job
from backend.workspace import Workspace
from tests.test_inpainting import FAST, _save_tiny


def _model(ws: Workspace, name: str, step: int, seed: int = 0) -> int:
    folder = _save_tiny(ws.root / "models" / name, seed=seed)
    model_id = register_model(ws, name, "full", "tiny", {}, folder)
    record_checkpoint(ws, model_id, step, 0.5, folder / "model.safetensors")
    return model_id


# -- item 2: the log --------------------------------------------------------------------------
def test_a_job_writes_its_log_as_it_runs_progress_and_end(demo_ws):
    """``logs/job-N.log`` was 0 bytes for every job: the stages report progress, not log lines,
    and the end was only shown in the app's memory."""
    store = JobStore(demo_ws)
    job_id = store.enqueue("masks", {"operation": "dilate", "op_params": {"pixels": 1}, "all": True})
    run_job(demo_ws, job_id)
    lines = [line.split("  ", 1)[1] for line in joblog.log_path(demo_ws, job_id).read_text().splitlines()]
    n = len(demo_ws.image_ids())
    assert lines[0].startswith("started: masks · all images · dilate")
    assert lines[1].startswith(f"1/{n} ") and lines[-2].startswith(f"{n}/{n} ")  # the first progress line, the last
    assert len(lines) <= 5, lines  # throttled: not one line per image
    assert lines[-1] == f"done: {store.get(job_id).message}"


def test_a_failed_job_logs_its_error_and_the_log_reads_back_in_pieces(demo_ws):
    store = JobStore(demo_ws)
    job_id = store.enqueue("masks", {"operation": "dilate", "images": [1]})  # its parameters are checked when queued
    lost = demo_ws.root / demo_ws.current_mask(1).path  # the workspace's copy, not the dataset's
    lost.unlink()  # the mask file goes missing before the job runs
    rec = run_job(demo_ws, job_id)
    assert rec.status == "failed"
    text, offset = joblog.read(demo_ws, job_id)
    assert text.splitlines()[-1].endswith(f"failed: {rec.message}") and lost.name in rec.message
    assert joblog.read(demo_ws, job_id, offset) == ("", offset)  # nothing new
    joblog.append(demo_ws, job_id, "queued again")
    more, _ = joblog.read(demo_ws, job_id, offset)
    assert more.endswith("  queued again\n") and more.count("\n") == 1
    assert joblog.read(demo_ws, 999) == ("", 0)


# -- item 1: the models a job uses ---------------------------------------------------------------
def test_unfinished_training_is_never_a_fallback(demo_ws):
    old = _model(demo_ws, "old", 100)
    new = _model(demo_ws, "half", 14, seed=1)
    assert resolve_model(demo_ws, None, "full").id == new  # the newest
    (demo_ws.root / "models" / "half" / INCOMPLETE).write_text("training to step 20 started")
    ref = resolve_model(demo_ws, demo_ws.image_ids()[0], "cluster")
    assert ref.id == old and "model half (training not finished) was skipped: its training was cancelled" in ref.note
    assert resolve_model(demo_ws, None, "half").id == new  # named on purpose: used


def test_an_inpaint_job_shows_its_model_and_refuses_another(demo_ws):
    full_a = _model(demo_ws, "full-a", 100)
    store = JobStore(demo_ws)
    job_id = store.enqueue("inpaint", {**FAST, "seed": None, "images": demo_ws.image_ids()[:1], "samples": 1})
    job = store.get(job_id)
    assert job.params["pinned_models"] == ["full-a@step-100"] and isinstance(job.params["seed"], int)
    assert job.describe().endswith("· model full-a (step 100)")
    _model(demo_ws, "full-b", 50, seed=1)  # a newer full-set model appears before the job starts
    rec = run_job(demo_ws, job_id)
    assert rec.status == "failed" and "queued to use full-a (step 100), but the model now chosen is full-b" in rec.message
    with demo_ws.transaction() as c:
        c.execute("DELETE FROM checkpoints WHERE model_id = (SELECT id FROM models WHERE name = 'full-b')")
        c.execute("DELETE FROM models WHERE name = 'full-b'")
    record_checkpoint(demo_ws, full_a, 120, 0.4, demo_ws.root / "models" / "full-a" / "model.safetensors")  # trained on
    store.requeue(job_id)
    rec = run_job(demo_ws, job_id)
    assert (
        rec.status == "failed"
        and "full-a changed since this job was queued (it was at step 100, it is at step 120" in rec.message
    )
    shutil.rmtree(demo_ws.root / "models" / "full-a")  # gone
    store.requeue(job_id)
    rec = run_job(demo_ws, job_id)
    assert rec.status == "failed" and "no trained diffusion model" in rec.message and "full-a" in rec.message
    assert demo_ws.samples() == []


def test_a_job_queued_behind_a_training_refuses_its_half_trained_model(demo_ws):
    """The issue's case: Train (demo), then Inpaint; the training is cancelled at step 14."""
    store = JobStore(demo_ws)
    train = store.enqueue("train", {"preset": "tiny", "target": "full"})
    inpaint = store.enqueue("inpaint", {**FAST, "images": demo_ws.image_ids()[:1], "samples": 1})
    assert store.get(inpaint).params["pinned_models"] == [f"full-tiny@job-{train}"]
    assert f"model full-tiny (from job {train})" in store.get(inpaint).describe()
    _model(demo_ws, "full-tiny", 14)  # what the cancelled training left
    (demo_ws.root / "models" / "full-tiny" / INCOMPLETE).write_text("training to step 20 started")
    store.finish(train, "cancelled", "cancelled by the user")
    assert store.claim_next().id == inpaint
    rec = run_job(demo_ws, inpaint)
    assert rec.status == "failed" and "no trained diffusion model" in rec.message and "full-tiny" in rec.message
    (demo_ws.root / "models" / "full-tiny" / INCOMPLETE).unlink()  # as if it finished, but its job says cancelled
    store.requeue(inpaint)
    rec = run_job(demo_ws, inpaint)
    assert rec.status == "failed" and f"trained by job {train}, which ended cancelled" in rec.message
    store.finish(train, "done", "trained")
    store.requeue(inpaint)
    rec = run_job(demo_ws, inpaint)
    assert rec.status == "done", rec.message
    assert any(m == "models: full-tiny step 14" for m in rec.result["messages"])
    assert "  models: full-tiny step 14\n" in joblog.log_path(demo_ws, inpaint).read_text()


def test_sets_of_different_models_never_share_a_name(demo_ws):
    _model(demo_ws, "full-a", 100)
    first = run_job(demo_ws, JobStore(demo_ws).enqueue("inpaint", {**FAST, "images": demo_ws.image_ids()[:1], "samples": 1}))
    assert first.status == "done", first.message
    _model(demo_ws, "full-b", 100, seed=1)
    second = run_job(demo_ws, JobStore(demo_ws).enqueue("inpaint", {**FAST, "images": demo_ws.image_ids()[:1], "samples": 1}))
    assert second.status == "done", second.message
    by_set = {(s.set_name, s.model_id) for s in demo_ws.samples()}
    assert by_set == {("Full-Diff", 1), ("Full-Diff-full-b", 2)}
    third = run_job(demo_ws, JobStore(demo_ws).enqueue("inpaint", {**FAST, "images": demo_ws.image_ids()[1:2], "samples": 1}))
    assert third.status == "done", third.message
    assert sorted(s.set_name for s in demo_ws.samples()) == ["Full-Diff", "Full-Diff-full-b", "Full-Diff-full-b"]


# -- item 5: a training name clash -----------------------------------------------------------
def test_a_training_name_clash_is_refused_when_queued(demo_ws):
    _model(demo_ws, "full-tiny", 20)
    store = JobStore(demo_ws)
    with pytest.raises(ModelNameTaken, match="a model named full-tiny already exists") as e:
        store.enqueue("train", {"preset": "tiny", "target": "full"})
    assert e.value.names == ["full-tiny"] and store.list() == []
    resumed = store.enqueue("train", {"preset": "tiny", "target": "full", "resume": True})
    renamed = store.enqueue("train", {"preset": "tiny", "target": "full", "name": "full-tiny-2"})
    replaced = store.enqueue("train", {"preset": "tiny", "target": "full", "overwrite": True})
    assert [store.get(j).params["resume"] for j in (resumed, renamed, replaced)] == [True, False, False]
    with pytest.raises(DiffGenError, match="full-tiny already exists"):
        store.enqueue("train", {"preset": "tiny", "target": "full", "name": "full-tiny"})


# -- item 3: a job the app stopped resumes ---------------------------------------------------
def test_an_inpaint_job_stopped_by_the_app_resumes_skipping_the_images_it_finished(demo_ws):
    _model(demo_ws, "full-a", 100)
    store = JobStore(demo_ws)
    ids = demo_ws.image_ids()[:2]
    job_id = store.enqueue("inpaint", {**FAST, "seed": None, "images": ids, "samples": 1, "batch": 1})
    queued = store.get(job_id).params
    rec = run_job(demo_ws, job_id, cancel=lambda: bool(demo_ws.samples()), resume_later=lambda: True)
    assert rec.status == "queued" and rec.message.startswith("stopped when the app closed")
    assert rec.params == queued and isinstance(queued["seed"], int) and len(demo_ws.samples()) == 1
    assert store.claim_next().id == job_id  # first in the queue
    rec = run_job(demo_ws, job_id)
    assert rec.status == "done" and rec.result["already_done"] == [demo_ws.samples()[0].source_image_id]
    assert sorted(s.source_image_id for s in demo_ws.samples()) == sorted(ids)  # one each, none twice


def test_a_stopped_or_cancelled_training_is_queued_again_to_resume(demo_ws):
    store = JobStore(demo_ws)
    job_id = store.enqueue("train", {"preset": "tiny", "overwrite": True})
    store.claim_next()
    rec = store.resume_later(job_id, "at step 14")
    assert rec.status == "queued" and rec.params["resume"] is True and rec.params["overwrite"] is False
    store.claim_next()
    store.finish(job_id, "cancelled", "cancelled by the user")
    with demo_ws.transaction() as c:
        c.execute("UPDATE jobs SET params_json = ? WHERE id = ?", (json.dumps({"preset": "tiny"}), job_id))
    store.requeue(job_id)
    assert store.get(job_id).params["resume"] is True


def test_the_app_starts_no_job_while_another_process_runs_one(demo_ws):
    """A job left to finish in the background is still running at the next start."""
    store = JobStore(demo_ws)
    job_id = store.enqueue("masks", {"operation": "fill_holes", "all": True})
    store.claim_next()
    assert store.running_elsewhere() == []  # this process runs it
    with demo_ws.transaction() as c:
        c.execute("UPDATE jobs SET pid = ? WHERE id = ?", (os.getppid(), job_id))
    assert store.running_elsewhere() == [job_id]


def test_a_second_training_of_the_same_name_is_refused_when_queued(demo_ws):
    """Two trainings of full-tiny queued one after the other: the second failed when it started."""
    store = JobStore(demo_ws)
    first = store.enqueue("train", {"preset": "tiny", "target": "full"})
    with pytest.raises(ModelNameTaken, match="full-tiny"):
        store.enqueue("train", {"preset": "tiny", "target": "full"})
    store.finish(first, "failed", "out of memory")
    assert store.enqueue("train", {"preset": "tiny", "target": "full"}) > first  # nothing makes it now
