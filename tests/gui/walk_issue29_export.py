"""Issue 29, one background mechanism, walked in a real window: an export and a survey's results
started from their buttons while a training holds the GPU lane start at once (the queue's CPU
lane), each with a job row and a log, and their results reach the dialog and the Survey tab.

As a pytest module (slow) it makes a workspace with a kept sample and a survey with simulated
raters, then starts ``diffgen gui`` under ``xvfb-run`` with this file as ``DIFFGEN_GUI_HOOK``.
Inside the app a long micro training is queued, then File > Export Kept Samples… and the Survey
tab's Compute results are pressed; the training is cancelled at the end. Screenshots go to
``$DIFFGEN_WALK_KEEP`` (else the test's temporary folder): look at them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from walk_support import demo_workspace, run_walk, start_walk

TIMEOUT_S = 240
EXPORT = "walk-export"

pytestmark = pytest.mark.slow


def test_walk_issue29_export(tmp_path):
    from backend import survey as sv
    from backend.jobs.joblog import log_path
    from backend.jobs.queue import JobStore
    from backend.workspace import Workspace

    ws = demo_workspace(tmp_path, count=3, size=64, seed=5)
    i = ws.image_ids()[0]
    flipped = ws.add_sample(
        "inpainted", "Diff", ws.read_image(i)[:, ::-1].copy(), ws.read_mask(ws.current_mask(i))[:, ::-1].copy(), source_image_id=i
    )
    ws.set_review(flipped.id, "keep")
    sv.simulate_raters(ws, sv.create_survey(ws, sv.SurveyConfig("pilot", {"real": 2, "inpainted": 1})), 2, seed=1)
    ws.close()
    out = run_walk(__file__, "1", tmp_path / "ws", tmp_path, TIMEOUT_S, {"DIFFGEN_WALK_EXPORT": str(tmp_path / EXPORT)})
    ws = Workspace.open(tmp_path / "ws")
    jobs = {j.kind: j for j in JobStore(ws).list()}
    assert jobs["export"].status == "done" and jobs["survey-results"].status == "done"
    assert jobs["train"].status == "cancelled"
    assert "1/1 " in log_path(ws, jobs["export"].id).read_text()
    assert (tmp_path / EXPORT / "provenance.csv").is_file()
    assert len(list(out.glob("p1-*.png"))) == 3


# -- inside the app ----------------------------------------------------------------------------
def start(win) -> None:
    start_walk(win, steps)


def steps(j) -> Iterator:
    import os

    from issue20_support import shot, wait
    from journey_hook import click, menu_action
    from PySide6.QtCore import QTimer
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QDialogButtonBox

    from backend.diffusion.train_params import TrainParams
    from tests.diffusion_micro import MICRO_OVERRIDES

    w = j.win
    v = w.generate_view
    w.activateWindow()
    yield wait("the window active", w.isActiveWindow)
    w.tabs.setCurrentWidget(v)
    micro = (*MICRO_OVERRIDES, "train.sample_count=0", "train.save_interval=100000")
    train = w.queue.enqueue("train", TrainParams(steps=100_000, overrides=micro, name="walk-long"))
    yield wait("the training running", lambda: w.queue.store.get(train).progress_done > 0, 120)

    def training() -> bool:
        return w.queue.store.get(train).status == "running"

    menu_action(w, "&File", "&Export Kept Samples…").trigger()
    yield wait("the export dialog", lambda: w.export_form.isVisible())
    QTest.keyClicks(w.export_form.path, os.environ["DIFFGEN_WALK_EXPORT"])
    click(w.export_form.buttons.button(QDialogButtonBox.StandardButton.Ok))
    yield wait("exported while the training runs", lambda: w.last_export is not None, 60)
    assert training(), "the export waited for the training"
    yield wait("the result box", lambda: w.report_dialog.isVisible())
    yield shot("export-done-beside-training")
    assert w.report_dialog.text().startswith("Exported 1 kept sample to "), w.report_dialog.text()
    w.report_dialog.close()
    yield wait("the export's row done", lambda: v.table.item(v._rows[w.watch.job_id], 2).text() == "done")
    yield shot("jobs-list-export-beside-training")

    s = w.survey_view
    w.tabs.setCurrentWidget(s)
    s.survey_combo.setCurrentText("pilot")
    click(s.compute_button)
    yield wait("the survey's results while the training runs", lambda: s.results is not None, 60)
    assert training(), "the survey's results waited for the training"
    yield shot("survey-results-beside-training")

    w.queue.cancel(train)
    yield wait("the training cancelled", lambda: not w.queue.busy(), 60)
    QTimer.singleShot(200, w.close)  # no job runs: nothing to ask
