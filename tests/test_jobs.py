"""Job queue: persistence, order, interruption, the runner's error handling, the masks stage."""

from __future__ import annotations

import subprocess
import sys
import types
from dataclasses import dataclass

import numpy as np
import pytest
from scipy import ndimage

from backend.errors import BadInputError, DiffGenError, WorkspaceError
from backend.jobs import queue as jobs
from backend.jobs.kinds import JobSpec
from backend.jobs.params import JobParams
from backend.jobs.queue import JobStore
from backend.jobs.runner import run_job, run_queue
from backend.jobs.throttle import Throttle
from backend.masks.ops import disk
from backend.workspace import Workspace


def test_queue_order_move_remove_and_persistence(demo_ws):
    store = JobStore(demo_ws)
    a = store.enqueue("masks", {"operation": "dilate", "op_params": {"pixels": 1}, "all": True})
    b = store.enqueue("train", {"preset": "tiny"})
    c = store.enqueue("style", {"preset": "tiny"})
    assert store.queued_ids() == [a, b, c]
    store.move(c, -2)
    assert store.queued_ids() == [c, a, b]
    store.move(c, +1)
    assert store.queued_ids() == [a, c, b]
    store.remove(b)
    # a second handle on the same folder (a restarted app) sees the same queue
    assert JobStore(Workspace.open(demo_ws.root)).queued_ids() == [a, c]
    with pytest.raises(DiffGenError, match="unknown job kind"):
        store.enqueue("nonsense", {})


def test_masks_job_matches_scipy_dilation_and_keeps_originals(demo_ws):
    ids = demo_ws.image_ids()[:3]
    before = {i: demo_ws.current_mask(i) for i in ids}
    store = JobStore(demo_ws)
    job_id = store.enqueue("masks", {"operation": "dilate", "op_params": {"pixels": 2}, "images": ids})
    seen = []
    rec = run_job(demo_ws, job_id, progress=lambda d, t, m: seen.append((d, t)))
    assert rec.status == "done", rec.message
    assert seen == [(1, 3), (2, 3), (3, 3)]
    assert (rec.progress_done, rec.progress_total) == (3, 3)
    for i in ids:
        cur = demo_ws.current_mask(i)
        assert cur.version == before[i].version + 1 and cur.parent_id == before[i].id
        old = demo_ws.read_mask(before[i]) > 0
        ref = ndimage.binary_dilation(old, structure=disk(2).astype(bool))
        np.testing.assert_array_equal(demo_ws.read_mask(cur) > 0, ref)
        assert demo_ws.mask_versions(i)[0].operation == "original"
    assert sorted(rec.result["mask_versions"]) == sorted(demo_ws.current_mask(i).id for i in ids)


def test_cancel_leaves_no_mask_version(demo_ws):
    store = JobStore(demo_ws)
    job_id = store.enqueue("masks", {"operation": "erode", "op_params": {"pixels": 1}, "all": True})
    n_before = len(demo_ws.query("SELECT id FROM mask_versions"))
    calls = []
    rec = run_job(demo_ws, job_id, progress=lambda d, t, m: calls.append(d), cancel=lambda: len(calls) >= 2)
    assert rec.status == "cancelled" and "no mask was changed" in rec.message
    assert len(demo_ws.query("SELECT id FROM mask_versions")) == n_before


@dataclass(frozen=True)
class NoParams(JobParams):
    pass


def test_failures_are_per_job_and_the_queue_goes_on(demo_ws, monkeypatch):
    fake = types.ModuleType("fake_stage")

    def oom(ws, params, ctx):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2 GiB")

    fake.run_oom, fake.NoParams = oom, NoParams
    monkeypatch.setitem(sys.modules, "fake_stage", fake)
    monkeypatch.setitem(jobs.REGISTRY, "oom", JobSpec("fake_stage:run_oom", "fake_stage:NoParams"))
    # its parameters are light and importable, its heavy module is not installed
    monkeypatch.setitem(jobs.REGISTRY, "gone", JobSpec("backend.no_such_stage:run", "fake_stage:NoParams"))
    monkeypatch.setitem(jobs.REGISTRY, "absent", JobSpec("backend.no_such_stage:run", "backend.no_such:P"))
    store = JobStore(demo_ws)
    with pytest.raises(DiffGenError, match=r"'absent' stage is not available .*backend.no_such is not installed"):
        store.enqueue("absent", {})
    j_missing = store.enqueue("gone", {})
    j_oom = store.enqueue("oom", {})
    with pytest.raises(DiffGenError, match="mask.operation = 'explode' is not a choice: it must be one of dilate, erode,"):
        store.enqueue("masks", {"operation": "explode", "all": True})  # declared choices: refused before the queue
    j_ok = store.enqueue("masks", {"operation": "fill_holes", "images": demo_ws.image_ids()[:2]})
    done = {r.id: r for r in run_queue(demo_ws)}
    assert done[j_missing].status == "failed" and "backend.no_such_stage is not installed" in done[j_missing].message
    assert done[j_oom].status == "failed" and done[j_oom].message.startswith("out of memory")
    assert done[j_ok].status == "done"
    assert store.queued_ids() == []


def test_running_job_of_a_dead_process_is_interrupted_and_can_be_requeued(demo_ws):
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    store = JobStore(demo_ws)
    job_id = store.enqueue("masks", {"operation": "smooth", "all": True})
    demo_ws.execute("UPDATE jobs SET status = 'running', pid = ? WHERE id = ?", (proc.pid, job_id))
    live = store.enqueue("masks", {"operation": "smooth", "all": True})
    demo_ws.execute("UPDATE jobs SET status = 'running', pid = ? WHERE id = ?", (__import__("os").getpid(), live))
    reopened = JobStore(Workspace.open(demo_ws.root))
    assert reopened.get(job_id).status == "interrupted"
    assert reopened.get(live).status == "running"  # its process is alive: left alone
    reopened.requeue(job_id)
    assert reopened.get(job_id).status == "queued" and job_id in reopened.queued_ids()
    with pytest.raises(WorkspaceError, match="running"):
        reopened.remove(live)


def test_one_image_selection_rule_for_every_job(demo_ws):
    """Named ids are used as named (flagged too); a cluster or all leaves flagged images out;
    naming nothing is an error (no stage falls back to every image)."""
    from backend.errors import DiffGenError
    from backend.workspace.selection import ImageSelection

    ids = demo_ws.image_ids()
    with demo_ws.transaction() as c:
        cid = c.execute(
            "INSERT INTO clusterings (k, seed, extractor, is_current, created_at) VALUES (2, 0, 'test', 1, 'now')"
        ).lastrowid
        c.executemany("INSERT INTO cluster_assignments VALUES (?,?,?)", [(cid, i, i % 2) for i in ids])
    demo_ws.set_flag(ids[1], True, "bad mask")
    flagged = {r.id for r in demo_ws.images("flagged = 1")}
    assert ids[1] in flagged
    assert ImageSelection.from_params({"cluster": 1}).resolve(demo_ws) == [i for i in ids if i % 2 == 1 and i not in flagged]
    assert ImageSelection.from_params({"all": True}).resolve(demo_ws) == [i for i in ids if i not in flagged]
    assert ImageSelection.from_params({"images": [ids[1], ids[0]]}).resolve(demo_ws) == [ids[1], ids[0]]
    with pytest.raises(DiffGenError, match="choose images"):
        ImageSelection.from_params({}).resolve(demo_ws)
    store = JobStore(demo_ws)
    with pytest.raises(DiffGenError, match="choose images"):  # the masks job follows the rule, when queued
        store.enqueue("masks", {"operation": "fill_holes"})
    assert store.list() == []


@pytest.mark.parametrize(
    "kind, params", [("masks", {"operation": "fill_holes"}), ("inpaint", {"preset": "tiny", "pinned_models": ["m@step-1"]})]
)
def test_a_selection_of_no_images_is_refused_when_queued_and_when_run(demo_ws, kind, params):
    """A cluster whose images are all flagged selects nothing: refused at enqueue, naming the
    selection; a job queued before its images were flagged fails when it runs, changing nothing."""
    ids = demo_ws.image_ids()
    with demo_ws.transaction() as c:
        cid = c.execute(
            "INSERT INTO clusterings (k, seed, extractor, is_current, created_at) VALUES (2, 0, 'test', 1, 'now')"
        ).lastrowid
        c.executemany("INSERT INTO cluster_assignments VALUES (?,?,?)", [(cid, i, i % 2) for i in ids])
    store = JobStore(demo_ws)
    queued = store.enqueue(kind, {**params, "cluster": 1})
    for i in (i for i in ids if i % 2 == 1):
        demo_ws.set_flag(i, True, "bad mask")
    with pytest.raises(DiffGenError, match=r"cluster 1 selects no images in .*flagged"):
        store.enqueue(kind, {**params, "cluster": 1})
    assert store.queued_ids() == [queued]
    masks_before = demo_ws.query("SELECT COUNT(*) FROM mask_versions")[0][0]
    rec = run_job(demo_ws, queued)
    assert rec.status == "failed" and "cluster 1 selects no images" in rec.message
    assert demo_ws.query("SELECT COUNT(*) FROM mask_versions")[0][0] == masks_before and demo_ws.samples() == []


def test_cancel_of_a_job_claimed_meanwhile_changes_nothing(demo_ws):
    """Cancel and claim race: the guarded update loses cleanly instead of marking a job cancelled
    that the worker then runs (the row used to show cancelled, later done)."""
    store = JobStore(demo_ws)
    job_id = store.enqueue("masks", {"operation": "fill_holes", "all": True})
    assert store.claim_next().id == job_id
    assert store.cancel_queued(job_id) is False
    assert store.get(job_id).status == "running"
    other = store.enqueue("masks", {"operation": "fill_holes", "all": True})
    assert store.cancel_queued(other) is True
    assert store.get(other).status == "cancelled"


def test_a_cancel_is_not_a_user_input_error(demo_ws, monkeypatch, capsys):
    """A broad ``except DiffGenError`` must not swallow a cancel; the CLI says 'cancelled'."""
    from backend import cli
    from backend.errors import Cancelled, DiffGenError

    assert not issubclass(Cancelled, DiffGenError)

    def cancelled(_args):
        raise Cancelled("at step 3")

    monkeypatch.setattr(cli, "build_parser", lambda *a, **k: _parser_running(cancelled))
    assert cli.main(["anything"]) == 130
    assert "cancelled: at step 3" in capsys.readouterr().err


def _parser_running(func):
    import argparse

    p = argparse.ArgumentParser()
    p.add_argument("command")
    p.set_defaults(func=func)
    return p


def test_a_survey_is_created_as_a_queued_job(demo_ws):
    """The job id goes in the job's context, never into the survey's config (that failed every
    survey job); a device older forms sent is read and ignored; an unknown key is refused, by
    name, before the job is queued."""
    from backend.survey import get_survey

    store = JobStore(demo_ws)
    ok = store.enqueue("survey", {"name": "queued-1", "counts": {"real": 3}, "device": "auto"})
    rec = run_job(demo_ws, ok)
    assert rec.status == "done", rec.message
    assert rec.result["items"] == 3 and get_survey(demo_ws, "queued-1").name == "queued-1"
    assert rec.message == "survey 'queued-1': 3 blinded items"
    with pytest.raises(BadInputError, match="unknown survey parameter 'images'; known: name, counts"):
        store.enqueue("survey", {"name": "queued-2", "counts": {"real": 1}, "images": [1]})


def test_one_throttle_passes_the_first_and_last_report_and_one_per_interval():
    """The database row, the job's log, the child's events and the app's signals all use it."""
    clock = iter([0.0, 0.1, 0.4, 0.5, 0.6, 0.7])
    throttle = Throttle(0.5, clock=lambda: next(clock))
    assert [throttle.due(d, 10) for d in (1, 2, 3, 4, 5)] == [True, False, False, True, False]
    assert throttle.due(10, 10)  # the last, 0.2 s after the one before
    assert throttle.due(7, 10, now=5.0) and not throttle.due(8, 10, now=5.1)  # the caller's own clock reading
