"""The New job form: fields per kind, the model's preset, the cost before queueing, remembered
values; the queue: confirmed cancel, live log, "what changed" signals, finish notification."""

from __future__ import annotations

import pytest

from backend.clustering.job import ClusterConfig
from backend.clustering.params import ClusterParams
from backend.diffusion.registry import register_model
from backend.diffusion.samplers.schedule import RepaintSchedule
from backend.workspace import queries
from diffgen_gui.job_form import duration


def make_view(state, job_queue, qtbot):
    from diffgen_gui.generate_view import GenerateView

    v = GenerateView(state, job_queue)
    qtbot.addWidget(v)
    v.show()
    return v


def _visible_rows(form) -> set[str]:
    return {name for name, w in form.rows.items() if form.form.isRowVisible(w)}


def test_the_cluster_form_sends_only_what_clustering_takes(state, job_queue, qtbot):
    v = make_view(state, job_queue, qtbot)
    f = v.form
    f.kind.setCurrentIndex(f.kind.findData("cluster"))
    assert _visible_rows(f) == {"preset", "overrides", "device"}
    f.overrides.setPlainText("cluster.k=3")
    kind, params = f.job_params()
    assert kind == "cluster" and "images" not in params and "all" not in params
    cfg = ClusterConfig.from_params(ClusterParams.from_dict(params))  # was: "unknown clustering parameters: all"
    assert cfg.k == 3


def test_fields_follow_the_kind(state, job_queue, qtbot):
    f = make_view(state, job_queue, qtbot).form
    expected = {
        "inpaint": {"images", "model", "preset", "samples", "dilate", "sampler", "respacing", "jumps", "device"},
        "masks": {"images", "operation"},
        "train": {"train_target", "preset", "overrides", "device"},
    }
    for kind, rows in expected.items():
        f.kind.setCurrentIndex(f.kind.findData(kind))
        assert _visible_rows(f) == rows, kind
    f.kind.setCurrentIndex(f.kind.findData("train"))
    assert f.job_params()[1]["target"] == "full"


def test_the_first_preset_is_the_newest_models_and_the_cost_is_shown(state, job_queue, qtbot, demo_ws):
    register_model(demo_ws, "full-tiny", "full", "tiny", {}, demo_ws.path("models/full-tiny"))
    f = make_view(state, job_queue, qtbot).form
    f.kind.setCurrentIndex(f.kind.findData("inpaint"))
    assert f.preset.currentText() == "tiny"  # the only model's preset, not the paper's
    spins = {name: s.value() for name, s in f.spins.items()}
    assert spins == {"samples": 3, "respacing": 50, "dilate": 3, "jump_length": 5, "jump_n_sample": 2}  # tiny.toml
    f.spins["samples"].setValue(2)
    n = len(demo_ws.image_ids())
    per = RepaintSchedule(50, 5, 2).evaluations()
    assert f"{n} images × 2 samples × {per:,} evaluations = {n * 2 * per:,} evaluations" in f.estimate.text()
    assert "no finished tiny inpaint run" in f.estimate.text()
    demo_ws.add_result(queries.INPAINT_SPEED, "tiny", {"seconds": 1.0, "evaluations": 100, "device": "cuda"})
    f.on_devices(["cpu"], "")
    assert "no finished tiny inpaint run on the CPU yet" in f.estimate.text()  # a GPU's speed is no guide
    demo_ws.add_result(queries.INPAINT_SPEED, "tiny", {"seconds": 600.0, "evaluations": n * 2 * per, "device": "cpu"})
    state.samplesChanged.emit()  # what a finished inpainting job says: the estimate follows at once
    assert "about 10 min at the last tiny inpaint run's speed on the CPU" in f.estimate.text()
    f.spins["samples"].setValue(4)  # twice the evaluations measured: twice the time
    assert "about 20 min at the last tiny inpaint run's speed on the CPU" in f.estimate.text()
    f.spins["samples"].setValue(2)
    assert f.preset_warning.isHidden()
    f.preset.setCurrentText("paper")
    assert not f.preset_warning.isHidden() and "trained with the tiny preset" in f.preset_warning.text()
    assert f.spins["respacing"].value() == 200
    kind, params = f.job_params()
    assert (params["samples"], params["respacing"], params["jump_length"], params["jump_n_sample"], params["model"]) == (
        3,
        200,
        10,
        5,
        "cluster",
    )


def test_the_form_remembers_the_last_queued_values(state, job_queue, qtbot):
    v = make_view(state, job_queue, qtbot)
    f = v.form
    f.kind.setCurrentIndex(f.kind.findData("masks"))
    f.mask_op.setCurrentText("erode")
    f.mask_value.setValue(7)
    assert v.queue_from_form() is not None
    again = make_view(state, job_queue, qtbot).form
    assert (again.kind.currentData(), again.mask_op.currentText(), again.mask_value.value()) == ("masks", "erode", 7)


def test_cancelling_a_running_job_asks_first(state, job_queue, qtbot):
    v = make_view(state, job_queue, qtbot)
    with qtbot.waitSignal(job_queue.started, timeout=10000):
        job_id = job_queue.enqueue("slow", {"steps": 2000, "step_s": 0.01})
    qtbot.waitUntil(lambda: job_queue.store.get(job_id).progress_done > 0, timeout=10000)
    v.table.selectRow(v._rows[job_id])
    asked = []
    v.ask_cancel = lambda job: asked.append(job.id) or False  # the user says no
    v.btn["cancel"].click()
    assert asked == [job_id]
    qtbot.wait(300)
    assert job_queue.store.get(job_id).status == "running"
    v.ask_cancel = lambda job: True
    with qtbot.waitSignal(job_queue.finished, timeout=15000):
        v.btn["cancel"].click()
    assert job_queue.store.get(job_id).status == "cancelled"


def test_the_log_pane_follows_the_selected_job_live_from_its_file(state, job_queue, qtbot):
    """The pane reads ``logs/job-N.log`` (which the job's process writes), so a new view, as after
    a restart, shows the same log; it used to show "(no log in this session)"."""
    v = make_view(state, job_queue, qtbot)
    with qtbot.waitSignal(job_queue.started, timeout=10000):
        job_id = job_queue.enqueue("slow", {"steps": 60, "step_s": 0.02})
    v.table.selectRow(v._rows[job_id])
    qtbot.waitUntil(lambda: "started: slow" in v.log_view.toPlainText(), timeout=5000)
    with qtbot.waitSignal(job_queue.finished, timeout=15000):
        pass
    qtbot.waitUntil(lambda: "done:" in v.log_view.toPlainText(), timeout=5000)  # without selecting again
    on_disk = (job_queue.ws.path("logs") / f"job-{job_id}.log").read_text().rstrip("\n")
    assert v.log_view.toPlainText() == on_disk
    assert "60/60" in on_disk  # progress lines too
    again = make_view(state, job_queue, qtbot)  # the pane of a restarted app
    again.table.selectRow(again._rows[job_id])
    assert again.log_view.toPlainText() == on_disk


def test_a_started_job_is_never_shown_as_idle(state, job_queue, qtbot):
    v = make_view(state, job_queue, qtbot)
    assert v.eta.text() == "idle" and v.progress.text() == ""  # no "0 / 1" beside "idle"
    with qtbot.waitSignal(job_queue.started, timeout=10000):
        job_id = job_queue.enqueue("slow", {"steps": 40, "step_s": 0.05})
    assert v.eta.text() != "idle" and v.eta.text().startswith(f"job {job_id}"), v.eta.text()
    job_queue.cancel(job_id)


def test_progress_shows_the_whole_message_and_a_readable_time_left(state, job_queue, qtbot):
    """The walk's picture showed "12 samples at · ETA 4402 s": a message cut at 30 characters
    and seconds by the thousand. The label elides to its width; the Message column follows."""
    v = make_view(state, job_queue, qtbot)
    with qtbot.waitSignal(job_queue.started, timeout=10000):
        job_id = job_queue.enqueue("slow", {"steps": 400, "step_s": 0.05})
    message = "0/6 images done; 12 samples at step 3/95"
    v._on_progress(job_id, 36, 22800, message, 4402.0)
    assert v.eta.text() == f"job {job_id}: {message} · about 73 min left"
    cell = v.table.item(v._rows[job_id], 4)
    assert cell.text() == message and cell.toolTip() == message
    assert v.table.item(v._rows[job_id], 3).text() == "36/22800" and v.progress.text() == "36 / 22800"
    v._on_progress(job_id, 40, 22800, "", -1.0)  # no message, no estimate yet: the last message stays
    assert v.eta.text() == f"job {job_id}" and cell.text() == message
    job_queue.cancel(job_id)


def test_the_queue_says_what_a_finished_job_changed(job_queue, qtbot):
    with qtbot.waitSignal(job_queue.workspaceChanged, timeout=15000) as blocker:
        job_queue.enqueue("masks", {"operation": "fill_holes", "all": True})
    assert blocker.args == [["masks"]]


def test_a_finished_job_refreshes_the_views_and_says_so(window, qtbot, demo_ws):
    image_id = demo_ws.image_ids()[0]
    with qtbot.waitSignal(window.state.maskChanged, timeout=15000):
        job_id = window.queue.enqueue("masks", {"operation": "dilate", "op_params": {"pixels": 1}, "images": [image_id]})
    assert window.statusBar().currentMessage().startswith(f"Job {job_id} (masks) done")
    assert image_id in queries.edited_image_ids(demo_ws)
    assert window.dataset_view.model.all_rows[0].edited  # the grid was refreshed by the queue's signal


def test_the_status_bar_counts_follow_finished_jobs(window, qtbot, demo_ws):
    before = window.info.text()
    with qtbot.waitSignal(window.state.maskChanged, timeout=15000):
        window.queue.enqueue("masks", {"operation": "dilate", "op_params": {"pixels": 1}, "all": True})
    n = demo_ws.info()["mask_versions"]
    assert f"{n} mask versions" in window.info.text() and window.info.text() != before


def test_a_model_appearing_changes_no_value_and_moves_no_button(state, job_queue, qtbot, demo_ws):
    """Issue 29 item 4: a finished training switched the preset, the samples and the dilation the
    user had set, and the warning line it raised pushed "Add to queue" down under the pointer."""
    v = make_view(state, job_queue, qtbot)
    v.resize(900, 900)
    f = v.form
    f.kind.setCurrentIndex(f.kind.findData("inpaint"))
    f.preset.setCurrentText("paper")  # no model yet: the paper's preset
    f.spins["samples"].setValue(5)
    f.spins["dilate"].setValue(7)
    f.model.setCurrentIndex(f.model.findData("full"))
    qtbot.wait(50)
    button_at = f.queue_btn.mapTo(v, f.queue_btn.rect().topLeft())
    register_model(demo_ws, "full-tiny", "full", "tiny", {}, demo_ws.path("models/full-tiny"))
    state.modelsChanged.emit()  # what a finished training says
    qtbot.wait(50)
    assert (f.preset.currentText(), f.spins["samples"].value(), f.spins["dilate"].value()) == ("paper", 5, 7)
    assert f.model.currentData() == "full"
    assert f.preset_warning.isVisible() and "trained with the tiny preset" in f.preset_warning.text()  # a hint, not a change
    assert f.queue_btn.mapTo(v, f.queue_btn.rect().topLeft()) == button_at
    f.model.setCurrentIndex(f.model.findData(str(demo_ws.path("models/full-tiny"))))  # choosing the model itself
    assert (f.preset.currentText(), f.spins["samples"].value(), f.spins["dilate"].value()) == ("paper", 5, 7)
    f.device_warning.setText("No GPU found: a long warning that wraps over more than one line " * 3)
    f.device_warning.setVisible(True)
    qtbot.wait(50)
    assert f.queue_btn.mapTo(v, f.queue_btn.rect().topLeft()) == button_at


def test_the_form_and_the_running_job_give_one_estimate_the_same_way(state, job_queue, qtbot, demo_ws):
    """The form said "about 3 min", the running job "about 11 min left": the job spread its start
    (process, model) over the work done. Both are now evaluations left x seconds per evaluation."""
    f = make_view(state, job_queue, qtbot).form
    f.kind.setCurrentIndex(f.kind.findData("inpaint"))
    f.preset.setCurrentText("tiny")
    f.spins["samples"].setValue(1)
    f.on_devices(["cpu"], "")
    total = len(demo_ws.image_ids()) * RepaintSchedule(50, 5, 2).evaluations()
    demo_ws.add_result(queries.INPAINT_SPEED, "tiny", {"seconds": 0.1 * 1000, "evaluations": 1000, "device": "cpu"})
    state.samplesChanged.emit()
    expected = duration(0.1 * total)
    assert f"about {expected} at the last tiny inpaint run's speed on the CPU" in f.estimate.text(), f.estimate.text()
    clock = iter([60.0, 60.0 + 0.1 * 100])  # 60 s to start, then 100 evaluations at 0.1 s each
    seen = []
    job_queue.worker.progress.connect(lambda j, d, t, m, eta: seen.append(eta))
    emit = job_queue.worker._progress_emitter(7, clock=lambda: next(clock))
    emit(0, total, "")
    emit(100, total, "")
    qtbot.waitUntil(lambda: len(seen) == 2, timeout=2000)  # the worker's signal: queued to this thread
    assert seen[0] == -1.0  # nothing measured yet: no estimate rather than a wrong one
    assert seen[1] == pytest.approx(0.1 * (total - 100))  # was (70 s / 100) x the rest: the start counted as work
    assert duration(seen[1] + 0.1 * 100) == expected  # the same figure as the form's for the same run


def test_an_ended_jobs_estimate_leaves_the_bar(state, job_queue, qtbot):
    """A cancelled job's "about 2 min left" stayed on the bar while the next job ran."""
    v = make_view(state, job_queue, qtbot)
    with qtbot.waitSignal(job_queue.started, timeout=10000):
        first = job_queue.enqueue("slow", {"steps": 2000, "step_s": 0.01})
    second = job_queue.enqueue("slow", {"steps": 2000, "step_s": 0.01})
    v._on_progress(first, 10, 2000, "step 10", 120.0)
    assert v.eta.text() == f"job {first}: step 10 · about 2 min left"
    with qtbot.waitSignal(job_queue.started, timeout=15000):
        job_queue.cancel(first)
    qtbot.waitUntil(lambda: job_queue.store.get(first).status == "cancelled", timeout=5000)
    assert "left" not in v.eta.text() and not v.eta.text().startswith(f"job {first}"), v.eta.text()
    v._on_progress(first, 11, 2000, "step 11", 100.0)  # a report of the ended job arriving late
    assert f"job {first}" not in v.eta.text(), v.eta.text()
    with qtbot.waitSignal(job_queue.finished, timeout=15000):
        job_queue.cancel(second)
    qtbot.waitUntil(lambda: v.eta.text() == "idle", timeout=5000)
