"""Issue 29 items 1, 2, 3 and 5 walked in a real window, over two starts of the app.

As a pytest module (slow) it trains a micro model ``full-tiny`` and inpaints one image with it
(a ``Full-Diff`` set), then starts ``diffgen gui`` under ``xvfb-run`` twice with this file as
``DIFFGEN_GUI_HOOK``. Inside the app, phase 1 queues a training from the form (the name is
taken: the real dialog is answered "New name…"), queues an inpaint behind it (its row names
the model it waits for), cancels the training (the inpaint refuses the half-trained model and
the other one), follows both logs, queues the training again (it resumes) and quits while it
runs (the real question is answered "Stop, resume at next start"; the window closes at once).
Phase 2 is the next start: the training resumes from its checkpoint and finishes, the logs of
phase 1 are read back, the inpaint runs again on the finished model into a set of its own.
Screenshots go to ``$DIFFGEN_WALK_KEEP`` (else the test's temporary folder): look at them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from walk_support import demo_workspace, run_walk, start_walk

from tests.diffusion_micro import MICRO_OVERRIDES

TIMEOUT_S = 420
STEPS = 120
OVERRIDES = [*MICRO_OVERRIDES, "train.save_interval=5", "train.sample_count=0", f"train.steps={STEPS}"]
WALK_MODEL = "full-walk"

pytestmark = pytest.mark.slow


def test_walk_issue29(tmp_path):
    from backend.diffusion.train_params import TrainParams
    from backend.diffusion.training import run_train
    from backend.inpaint.job import run_inpaint
    from backend.inpaint.params import InpaintParams
    from backend.jobs.context import JobContext
    from backend.jobs.queue import JobStore
    from backend.workspace import Workspace
    from backend.workspace.selection import ImageSelection

    ws = demo_workspace(tmp_path, count=3, size=64, seed=5)
    run_train(ws, TrainParams(preset="tiny", steps=2, overrides=(*OVERRIDES[:-1],)), JobContext())  # full-tiny
    first = InpaintParams(
        selection=ImageSelection(all=True), model="full", preset="tiny", samples=1, respacing=4, jump_length=2, jump_n_sample=1
    )
    run_inpaint(ws, first, JobContext())  # a Full-Diff set made by full-tiny
    ws.close()
    out = run_walk(__file__, "1", tmp_path / "ws", tmp_path, TIMEOUT_S)
    ws = Workspace.open(tmp_path / "ws")
    train = next(j for j in JobStore(ws).list() if j.kind == "train")
    deadline = time.monotonic() + 60  # the job's process stops at its next step, alone
    while JobStore(ws).get(train.id).status != "queued" and time.monotonic() < deadline:
        time.sleep(0.2)
    stopped = JobStore(ws).get(train.id)
    assert stopped.status == "queued" and "stopped when the app closed" in stopped.message, stopped.message
    assert stopped.params["resume"] is True
    quit_s = float((out / "quit-seconds.txt").read_text())
    assert quit_s < 1.5, f"the window took {quit_s:.1f} s to close"
    ws.close()
    run_walk(__file__, "2", tmp_path / "ws", tmp_path, TIMEOUT_S)
    assert len(list(out.glob("p*-*.png"))) >= 8


# -- inside the app ----------------------------------------------------------------------------
def start(win) -> None:
    from journey_hook import PHASE

    start_walk(win, phase_one if PHASE == 1 else phase_two)


def _box(cls):
    from PySide6.QtWidgets import QApplication

    return lambda: isinstance(QApplication.activeModalWidget(), cls)


def _press(text: str) -> None:
    """Click the button labelled ``text`` of the open question box."""
    from journey_hook import click
    from PySide6.QtWidgets import QApplication

    box = QApplication.activeModalWidget()
    button = next(b for b in box.buttons() if b.text() == text)
    click(button)


def _job(w, kind: str):
    return next(j for j in w.queue.store.list() if j.kind == kind)


def _select(v, job_id: int) -> None:
    v.table.selectRow(v._rows[job_id])


def phase_one(j) -> Iterator:
    from issue20_support import shot, wait
    from journey_hook import OUT, click, menu_action
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QDialogButtonBox, QInputDialog, QMessageBox

    w = j.win
    v = w.generate_view
    f = v.form
    made_before = len(w.workspace.samples())
    w.activateWindow()
    yield wait("the window active", w.isActiveWindow)
    w.tabs.setCurrentWidget(v)
    f.kind.setCurrentIndex(f.kind.findData("train"))
    f.preset.setCurrentText("tiny")
    f.train_target.setCurrentIndex(f.train_target.findData("full"))
    f.overrides.setPlainText("\n".join(OVERRIDES))
    QTimer.singleShot(0, lambda: click(f.queue_btn))  # the question blocks in its own loop
    yield wait("the name question", _box(QMessageBox))
    assert "full-tiny already exists" in QApplication.activeModalWidget().text()
    yield shot("name-taken-question")
    _press("New name…")
    yield wait("the new-name field", _box(QInputDialog))
    name_box = QApplication.activeModalWidget()
    name_box.setTextValue(WALK_MODEL)
    yield shot("new-name")
    click(name_box.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok))
    yield wait("the training queued", lambda: any(x.kind == "train" for x in w.queue.store.list()))
    train = _job(w, "train")
    assert train.params["name"] == WALK_MODEL and f.form_error.text() == ""
    assert v.table.item(v._rows[train.id], 1).text().endswith(f"· model {WALK_MODEL}")
    f.kind.setCurrentIndex(f.kind.findData("inpaint"))
    f.model.setCurrentIndex(f.model.findData("full"))
    f.preset.setCurrentText("tiny")
    for spin, value in (("samples", 1), ("respacing", 4), ("jump_length", 2), ("jump_n_sample", 1), ("dilate", 2)):
        f.spins[spin].setValue(value)
    click(f.queue_btn)
    inpaint = _job(w, "inpaint")
    row = v.table.item(v._rows[inpaint.id], 1).text()
    assert row.endswith(f"model {WALK_MODEL} (from job {train.id})"), row
    j.note(f"inpaint row: {row}")
    yield wait("the training past its first checkpoint", lambda: w.queue.store.get(train.id).progress_done >= 7, 120)
    _select(v, train.id)
    yield wait("the training's log in the pane", lambda: f"/{STEPS} loss" in v.log_view.toPlainText())
    yield shot("training-log")
    v.ask_cancel = lambda job: True
    click(v.btn["cancel"])
    yield wait("the training cancelled", lambda: w.queue.store.get(train.id).status == "cancelled", 60)
    yield wait("the inpaint ended", lambda: w.queue.store.get(inpaint.id).status not in ("queued", "running"), 120)
    refused = w.queue.store.get(inpaint.id)
    assert refused.status == "failed", refused.message
    assert f"queued to use {WALK_MODEL} (from job {train.id}), but the model now chosen is full-tiny" in refused.message
    assert made_before > 0 and len(w.workspace.samples()) == made_before  # nothing new made
    _select(v, inpaint.id)
    yield wait("the inpaint's error in its log", lambda: "failed: this job was queued to use" in v.log_view.toPlainText())
    yield shot("inpaint-refused")
    _select(v, train.id)
    click(v.btn["requeue"])
    yield wait("the training resumed", lambda: "resumed full-walk from" in v.log_view.toPlainText(), 120)
    yield wait("the training running on", lambda: w.queue.store.get(train.id).progress_done >= 12, 120)
    yield shot("training-resumed")

    def record_quit() -> None:
        (OUT / "quit-seconds.txt").write_text(f"{time.monotonic() - j.answered:.3f}")

    QApplication.instance().aboutToQuit.connect(record_quit)
    QTimer.singleShot(0, menu_action(w, "&File", "&Quit").trigger)
    yield wait("the quit question", _box(QMessageBox))
    assert "is running" in QApplication.activeModalWidget().text()
    yield shot("quit-question")
    j.note("journey phase done")  # the app ends with the answer
    j.answered = time.monotonic()
    _press("Stop, resume at next start")


def phase_two(j) -> Iterator:
    from issue20_support import shot, wait
    from journey_hook import click, menu_action

    w = j.win
    v = w.generate_view
    w.activateWindow()
    w.tabs.setCurrentWidget(v)
    train, inpaint = _job(w, "train"), _job(w, "inpaint")
    yield wait("the training resumed at the start", lambda: w.queue.store.get(train.id).status != "queued", 30)
    _select(v, train.id)
    text = v.log_view.toPlainText()
    assert "cancelled by the user" in text and "stopped when the app closed" in text, text  # phase 1's log, from disk
    yield wait("the training done", lambda: w.queue.store.get(train.id).status == "done", 300)
    log = v.log_view.toPlainText()
    assert log.count("resumed full-walk from") == 2 and f"{STEPS}/{STEPS}" in log
    yield shot("training-done-log-after-restart")
    _select(v, inpaint.id)
    click(v.btn["requeue"])
    yield wait("the inpaint done", lambda: w.queue.store.get(inpaint.id).status in ("done", "failed"), 240)
    done = w.queue.store.get(inpaint.id)
    assert done.status == "done", done.message
    assert f"models: {WALK_MODEL} step {STEPS}" in done.result["messages"]
    assert {s.set_name for s in w.workspace.samples()} == {"Full-Diff", f"Full-Diff-{WALK_MODEL}"}
    yield wait("the inpaint's log", lambda: "done:" in v.log_view.toPlainText())
    yield shot("inpaint-done")
    yield wait("the queue idle", lambda: not w.queue.busy())  # the job's process has ended too
    menu_action(w, "&File", "&Quit").trigger()
