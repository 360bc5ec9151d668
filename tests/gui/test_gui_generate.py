"""Generate view and worker: queue a real job, progress, cancel, failures, interruption, heartbeat."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from scipy import ndimage

from backend.masks.ops import disk
from backend.workspace import Workspace
from diffgen_gui.widgets.heartbeat import Heartbeat


def make_view(state, job_queue, qtbot):
    from diffgen_gui.generate_view import GenerateView

    v = GenerateView(state, job_queue)
    qtbot.addWidget(v)
    v.show()
    return v


def wait_finished(qtbot, job_queue, job_id, timeout=15000):
    with qtbot.waitSignal(job_queue.finished, timeout=timeout, check_params_cb=lambda j, s, m: j == job_id) as blocker:
        pass
    return blocker.args


def test_queue_masks_job_from_the_form(state, job_queue, qtbot, demo_ws):
    v = make_view(state, job_queue, qtbot)
    ids = demo_ws.image_ids()[:4]
    state.set_selection(ids)
    v.form.kind.setCurrentIndex(v.form.kind.findData("masks"))
    assert v.form.target.currentData() == ("images", ids)
    v.form.mask_op.setCurrentText("dilate")
    v.form.mask_value.setValue(2)
    before = {i: demo_ws.read_mask(demo_ws.current_mask(i)) for i in ids}
    progress = []
    job_queue.progress.connect(lambda j, d, t, m, eta: progress.append((d, t)))
    with qtbot.waitSignal(job_queue.finished, timeout=15000) as blocker:
        job_id = v.queue_from_form()
    assert blocker.args[0] == job_id and blocker.args[1] == "done", blocker.args
    qtbot.waitUntil(lambda: progress and progress[-1] == (4, 4))
    assert all(t == 4 for _d, t in progress)
    for i in ids:
        ref = ndimage.binary_dilation(before[i] > 0, structure=disk(2).astype(bool))
        np.testing.assert_array_equal(demo_ws.read_mask(demo_ws.current_mask(i)) > 0, ref)
    qtbot.waitUntil(lambda: v.table.item(v._rows[job_id], 2).text() == "done")
    v.table.selectRow(v._rows[job_id])
    assert "4 new mask versions" in v.details.toPlainText()


def test_bad_override_is_refused_before_queueing(state, job_queue, qtbot):
    v = make_view(state, job_queue, qtbot)
    v.form.kind.setCurrentIndex(v.form.kind.findData("style"))
    v.form.overrides.setPlainText("style.no_such_field=3")
    assert v.queue_from_form() is None
    assert "no field 'no_such_field'" in v.form.form_error.text()
    assert job_queue.store.list() == []


def test_a_selection_of_no_images_is_refused_in_the_form(state, job_queue, qtbot, demo_ws):
    for i in demo_ws.image_ids():
        demo_ws.set_flag(i, True, "bad mask")
    v = make_view(state, job_queue, qtbot)
    v.form.kind.setCurrentIndex(v.form.kind.findData("masks"))
    v.form.target.setCurrentIndex(v.form.target.count() - 1)  # "All images", the last choice
    assert v.form.target.currentData() == ("all", None)
    assert v.queue_from_form() is None
    assert "all images selects no images" in v.form.form_error.text()
    assert job_queue.store.list() == []


def test_cancel_running_job_and_failures_do_not_stop_the_queue(state, job_queue, qtbot):
    v = make_view(state, job_queue, qtbot)
    with qtbot.waitSignal(job_queue.started, timeout=10000):
        slow = job_queue.enqueue("slow", {"steps": 1000, "step_s": 0.01})
    failing = job_queue.enqueue(
        "masks", {"operation": "dilate", "op_params": {"pixels": 10**6}, "all": True}
    )  # fails when it runs
    ok = job_queue.enqueue("masks", {"operation": "fill_holes", "all": True})
    qtbot.waitUntil(lambda: job_queue.store.get(slow).progress_done > 0, timeout=10000)
    v.table.selectRow(v._rows[slow])
    v.ask_cancel = lambda job: True  # the user confirms
    with qtbot.waitSignal(job_queue.finished, timeout=60000, check_params_cb=lambda j, s, m: j == ok):
        v.btn["cancel"].click()
    assert job_queue.store.get(slow).status == "cancelled"
    assert job_queue.store.get(slow).progress_done < 1000
    assert job_queue.store.get(failing).status == "failed"
    assert "mask dilate.pixels = 1000000 is out of bounds" in job_queue.store.get(failing).message
    assert job_queue.store.get(ok).status == "done"


def test_the_cancel_question_counts_as_the_bar_does(state, job_queue, qtbot, monkeypatch):
    """It said "8/200 done" beside a bar at 12/200: it read the database's copy, written less often."""
    from PySide6.QtWidgets import QMessageBox

    v = make_view(state, job_queue, qtbot)
    with qtbot.waitSignal(job_queue.started, timeout=10000):
        slow = job_queue.enqueue("slow", {"steps": 1000, "step_s": 0.01})
    qtbot.waitUntil(lambda: v.progress.value() > 1, timeout=10000)
    asked = []

    def question(_parent, _title, text):
        asked.append(text)
        return QMessageBox.StandardButton.No

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    v.table.selectRow(v._rows[slow])
    job_queue.store.set_progress(slow, 1, 1000, "")  # the stored copy lags the bar (for sure here)
    v.btn["cancel"].click()
    assert len(asked) == 1 and f"({v.progress.value()}/1000 done)" in asked[0], (asked, v.progress.value())
    v.ask_cancel = lambda job: True
    v.btn["cancel"].click()
    assert wait_finished(qtbot, job_queue, slow)[1] == "cancelled"


def test_interrupted_job_is_shown_and_can_be_requeued(demo_ws, qapp, qtbot):
    from diffgen_gui.state import WorkspaceState
    from diffgen_gui.worker import JobQueue

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    from backend.jobs.queue import JobStore

    job_id = JobStore(demo_ws).enqueue("masks", {"operation": "smooth", "op_params": {"radius": 1}, "all": True})
    demo_ws.execute("UPDATE jobs SET status = 'running', pid = ? WHERE id = ?", (dead.pid, job_id))
    ws = Workspace.open(demo_ws.root)  # the app restarts
    q = JobQueue(ws)
    try:
        v = make_view(WorkspaceState(ws), q, qtbot)
        assert v.table.item(v._rows[job_id], 2).text() == "interrupted"
        v.table.selectRow(v._rows[job_id])
        assert v.btn["requeue"].isEnabled()
        with qtbot.waitSignal(q.finished, timeout=10000):
            v.btn["requeue"].click()
        assert q.store.get(job_id).status == "done"
    finally:
        assert q.shutdown(10000)


def _heartbeat_during_a_job(job_queue, qtbot) -> tuple[float, float, int]:
    """(max lateness of a 20 ms GUI timer during a GIL-heavy job, the same over an idle half
    second just before, ticks during the job)."""
    idle = Heartbeat(0.020)
    idle.start()
    qtbot.wait(500)
    baseline = max(idle.stop())
    beat = Heartbeat(0.020)
    with qtbot.waitSignal(job_queue.started, timeout=10000):
        job_id = job_queue.enqueue("slow", {"steps": 150, "step_s": 0.01})
    beat.start()
    status = wait_finished(qtbot, job_queue, job_id)[1]
    late = beat.stop()
    assert status == "done"
    return max(late), baseline, len(late)


def test_gui_heartbeat_is_never_late_during_a_job(state, job_queue, qtbot):
    """A 20 ms timer in the GUI thread keeps firing on time while a GIL-heavy job runs. The
    machine's own load is measured just before with the same timer, and allowed for. Other
    processes on a loaded machine can still stall this one once in a while; a GUI that waits
    for the job stalls every time, so the check passes when one of three tries is on time."""
    make_view(state, job_queue, qtbot)
    tries = []
    for _ in range(3):
        worst, baseline, ticks = _heartbeat_during_a_job(job_queue, qtbot)
        assert ticks > 40
        tries.append((worst, baseline))
        if worst < 0.100 + baseline:
            return
    raise AssertionError(
        "GUI heartbeat late in every try: " + "; ".join(f"{w * 1000:.0f} ms (idle: {b * 1000:.0f} ms)" for w, b in tries)
    )


def _run_one(job_queue, qtbot, params, timeout=30000):
    with qtbot.waitSignal(job_queue.finished, timeout=timeout) as blocker:
        job_id = job_queue.enqueue("misbehave", params)
    assert blocker.args[0] == job_id
    return job_queue.store.get(job_id)


def test_a_job_that_crashes_in_native_code_fails_alone(state, job_queue, qtbot):
    """A segfault in a stage ends its child process only: the job fails with the reason and the
    stage's last output, the next job runs, the app (this process) is still here."""
    make_view(state, job_queue, qtbot)
    rec = _run_one(job_queue, qtbot, {"how": "segfault"})
    assert rec.status == "failed"
    assert "crashed (SIGSEGV)" in rec.message and "stage output before the end" in rec.message
    assert (demo_log := (job_queue.ws.path("logs") / f"job-{rec.id}.log")).exists()
    assert "stage output before the end" in demo_log.read_text()
    assert _run_one(job_queue, qtbot, {"how": "behave"}).status == "done"


def test_a_job_raising_any_error_fails_with_its_message(state, job_queue, qtbot):
    rec = _run_one(job_queue, qtbot, {"how": "raise"})
    assert rec.status == "failed"
    assert rec.message == "RuntimeError: CUDA error: an illegal memory access was encountered"
    assert "Traceback" in rec.result["traceback"]


def test_a_job_child_killed_with_sigkill_is_reported_interrupted(state, job_queue, qtbot):
    rec = _run_one(job_queue, qtbot, {"how": "sigkill"})
    assert rec.status == "interrupted"
    assert "killed (SIGKILL)" in rec.message and "re-queue" in rec.message


def test_killing_the_child_from_outside_mid_job(state, job_queue, qtbot):
    """SIGKILL sent by someone else (the OOM killer) while the job runs: interrupted, app up."""
    import os
    import signal

    v = make_view(state, job_queue, qtbot)
    with qtbot.waitSignal(job_queue.started, timeout=10000):
        job_id = job_queue.enqueue("slow", {"steps": 3000, "step_s": 0.01})
    qtbot.waitUntil(lambda: job_queue.store.get(job_id).progress_done > 0, timeout=15000)
    child = job_queue.store.get(job_id).pid
    assert child != os.getpid()
    with qtbot.waitSignal(job_queue.finished, timeout=10000):
        os.kill(child, signal.SIGKILL)
    rec = job_queue.store.get(job_id)
    assert rec.status == "interrupted", rec.message
    qtbot.waitUntil(lambda: v.table.item(v._rows[job_id], 2).text() == "interrupted")


def test_a_job_that_ignores_cancel_is_stopped_hard(state, job_queue, qtbot, monkeypatch):
    from backend.jobs import process as job_process

    monkeypatch.setattr(job_process, "CANCEL_GRACE_S", 1.0)
    with qtbot.waitSignal(job_queue.started, timeout=10000):
        job_id = job_queue.enqueue("misbehave", {"how": "hang"})
    qtbot.waitUntil(lambda: job_queue.store.get(job_id).progress_done == 1, timeout=15000)
    with qtbot.waitSignal(job_queue.finished, timeout=10000):
        job_queue.cancel(job_id)
    rec = job_queue.store.get(job_id)
    assert rec.status == "cancelled" and "stopped hard" in rec.message
