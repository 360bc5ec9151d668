"""Issue 29 item 3 offscreen: quitting while a job runs asks, returns at once, and the job
finishes alone, resumes at the next start, or is cancelled, as the user chose."""

from __future__ import annotations

import time

import pytest

from backend.jobs import joblog


def _running(job_queue, qtbot, steps: int, step_s: float = 0.02) -> int:
    with qtbot.waitSignal(job_queue.started, timeout=10000):
        job_id = job_queue.enqueue("slow", {"steps": steps, "step_s": step_s})
    qtbot.waitUntil(lambda: job_queue.store.get(job_id).progress_done > 0, timeout=10000)
    return job_id


def _quit(job_queue, how: str) -> float:
    t0 = time.monotonic()
    assert job_queue.shutdown(how=how)
    return time.monotonic() - t0


def test_stop_on_quit_queues_the_job_again_to_resume_at_the_next_start(demo_ws, qapp, launcher, job_queue, qtbot):
    """It was recorded "cancelled by the user" after a freeze of seconds, and never resumed."""
    from diffgen_gui.worker import JobQueue

    job_id = _running(job_queue, qtbot, steps=100, step_s=1.5)  # the window does not wait for its next step
    assert _quit(job_queue, "stop") < 1.0
    qtbot.waitUntil(lambda: job_queue.store.get(job_id).status == "queued", timeout=10000)
    rec = job_queue.store.get(job_id)
    assert rec.message.startswith("stopped when the app closed (at step") and "resumes at the next start" in rec.message
    again = JobQueue(demo_ws, launcher=launcher)  # the next start
    try:
        with qtbot.waitSignal(again.started, timeout=10000) as started:
            pass
        assert started.args == [job_id]
        again.cancel(job_id)
    finally:
        assert again.shutdown(10000, how="cancel")


def test_finish_in_background_on_quit_lets_the_job_end_alone(job_queue, qtbot):
    job_id = _running(job_queue, qtbot, steps=60)
    assert _quit(job_queue, "detach") < 1.0
    qtbot.waitUntil(lambda: job_queue.store.get(job_id).status == "done", timeout=20000)
    log = joblog.log_path(job_queue.ws, job_id).read_text()
    assert "60/60 step 60" in log and log.rstrip().endswith("done: 60 steps")


def test_cancel_on_quit_cancels_without_waiting_for_the_stage_to_stop(job_queue, qtbot):
    job_id = _running(job_queue, qtbot, steps=100, step_s=2.0)  # it looks at cancel every 2 s
    assert _quit(job_queue, "cancel") < 1.0
    qtbot.waitUntil(lambda: job_queue.store.get(job_id).status == "cancelled", timeout=10000)


@pytest.mark.parametrize("answer, closes", [(None, False), ("stop", True)])
def test_closing_the_window_asks_what_becomes_of_a_running_job(window, monkeypatch, answer, closes):
    import diffgen_gui.main_window as main_window

    asked = []
    monkeypatch.setattr(window.queue, "running_job", lambda: 1)
    monkeypatch.setattr(window.queue.store, "get", lambda job_id: f"job {job_id}")
    monkeypatch.setattr(main_window, "ask_leave_job", lambda parent, job: asked.append(job) or answer)
    window.close()
    assert asked == ["job 1"] and window.isVisible() is not closes
    monkeypatch.setattr(window.queue, "running_job", lambda: None)  # the fixture closes it
