"""Main window: tabs, dataset grid (lazy, filters, navigation), import, export, close guard, reports."""

from __future__ import annotations

import json

import numpy as np
from PySide6.QtWidgets import QMessageBox, QPushButton

from backend.data.demo import write_demo_dataset
from backend.exporters.params import ExportParams
from backend.jobs.joblog import log_path


def test_tabs_and_survey_placeholder(window):
    from diffgen_gui.survey_view import SurveyView

    names = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert names == ["Dataset", "Clusters", "Generate", "Review", "Survey", "Reports"]
    assert isinstance(window.survey_view, SurveyView)
    assert "diffgen cluster" in window.clusters_view.welcome.command.text()  # no clustering yet: what to do


def test_dataset_grid_filters_and_navigation(window, demo_ws, qtbot):
    dv = window.dataset_view
    assert len(dv.model.rows) == 12
    qtbot.waitUntil(lambda: len(dv.model._cache) > 0, timeout=5000)  # thumbnails load in the background
    dv.search.setText("0003")
    assert [r.name for r in dv.model.rows] == ["demo_0003"]
    dv.search.setText("")
    demo_ws.set_flag(demo_ws.image_ids()[5], True, "check")
    dv.refresh()
    dv.flagged.setChecked(True)
    assert demo_ws.image_ids()[5] in [r.image_id for r in dv.model.rows]
    assert all(r.flagged for r in dv.model.rows)
    dv.flagged.setChecked(False)
    dv.select_row(0)
    from PySide6.QtCore import Qt

    qtbot.keyClick(dv.editor, Qt.Key.Key_Right)
    assert window.state.current_image_id == dv.model.rows[1].image_id
    assert dv.editor.session.image_id == dv.model.rows[1].image_id
    qtbot.keyClick(dv.editor, Qt.Key.Key_Left)
    assert window.state.current_image_id == dv.model.rows[0].image_id


def test_close_prompts_for_unsaved_edits(window, demo_ws):
    ed = window.dataset_view.editor
    ed.paint_stroke([(5, 5), (20, 20)])
    image_id = ed.session.image_id
    n_versions = len(demo_ws.mask_versions(image_id))
    window.ask_unsaved = lambda n: "cancel"
    assert not window.close()
    assert window.isVisible()
    window.ask_unsaved = lambda n: "save"
    assert window.close()
    assert len(demo_ws.mask_versions(image_id)) == n_versions + 1


def test_import_folder_with_progress_and_report(window, tmp_path, qtbot, demo_ws):
    extra = write_demo_dataset(tmp_path / "more", count=3, size=48, seed=5)
    (extra / "images" / "broken.jpg").write_bytes(b"not a jpeg")
    (extra / "masks" / "broken.png").write_bytes(b"nope")
    window.import_folder(str(extra))
    qtbot.waitUntil(lambda: window.last_import is not None, timeout=20000)
    assert window.last_import["imported"] == 3 and window.last_import["rejected"] == 1
    (job,) = [j for j in window.queue.store.list() if j.kind == "import"]
    assert job.status == "done" and "4/4 " in log_path(demo_ws, job.id).read_text()
    assert len(window.dataset_view.model.all_rows) == 15
    assert "broken.jpg" in window.report_dialog.findChild(type(window.generate_view.details)).toPlainText()


def test_export_from_the_window(window, demo_ws, tmp_path, qtbot):
    i = demo_ws.image_ids()[0]
    s = demo_ws.add_sample(
        "inpainted",
        "Diff",
        demo_ws.read_image(i)[:, ::-1].copy(),
        demo_ws.read_mask(demo_ws.current_mask(i))[:, ::-1].copy(),
        source_image_id=i,
    )
    demo_ws.set_review(s.id, "keep")
    window.export_to(str(tmp_path / "out"))
    qtbot.waitUntil(lambda: window.last_export is not None, timeout=20000)
    assert window.last_export["samples"] == 1
    assert len(list((tmp_path / "out" / "images").iterdir())) == 1
    # issue 29: an export is a job like any other: its row, its log with its progress, its result in the dialog
    (job,) = [j for j in window.queue.store.list() if j.kind == "export"]
    assert job.status == "done" and job.result["out"] == str((tmp_path / "out").resolve())
    log = log_path(demo_ws, job.id).read_text()
    assert "1/1 inpainted_" in log and "done: Exported 1 kept sample" in log
    assert window.report_dialog.text().startswith("Exported 1 kept sample to ")


def _keep_a_sample(ws) -> None:
    i = ws.image_ids()[0]
    s = ws.add_sample("inpainted", "Diff", ws.read_image(i), ws.read_mask(ws.current_mask(i)), source_image_id=i)
    ws.set_review(s.id, "keep")


def test_cancelling_an_export_ends_its_job_and_writes_nothing(window, demo_ws, tmp_path, qtbot, monkeypatch):
    _keep_a_sample(demo_ws)
    warned = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a: warned.append(a))
    watch = window.export_to(str(tmp_path / "out"))
    watch.dialog.findChild(QPushButton).click()  # the progress dialog's Cancel
    qtbot.waitUntil(lambda: window.queue.store.get(watch.job_id).status == "cancelled", timeout=20000)
    qtbot.waitUntil(lambda: not window.queue.busy(), timeout=20000)
    assert window.last_export is None and not (tmp_path / "out").exists()
    assert not warned  # the user asked for it: no failure box
    assert "cancelled" in log_path(demo_ws, watch.job_id).read_text()


def test_an_export_starts_at_once_beside_a_running_gpu_job(job_queue, demo_ws, tmp_path, qtbot):
    """Issue 29: an export from a button must not wait (hours) behind a training: it runs in the
    queue's CPU lane, beside the job that holds the GPU lane."""
    _keep_a_sample(demo_ws)
    with qtbot.waitSignal(job_queue.started, timeout=10000):
        slow = job_queue.enqueue("slow", {"steps": 2000, "step_s": 0.01})  # a GPU-lane kind, 20 s
    with qtbot.waitSignal(job_queue.finished, timeout=30000, check_params_cb=lambda j, s, m: j != slow) as ended:
        export = job_queue.enqueue("export", ExportParams(str(tmp_path / "out")))
    assert ended.args[:2] == [export, "done"] and job_queue.store.get(slow).status == "running"
    assert job_queue.running_jobs() == [slow]
    job_queue.cancel(slow)


def test_reports_and_clusters_views_show_workspace_content(demo_ws, qtbot, state):
    from diffgen_gui.clusters_view import ClustersView
    from diffgen_gui.reports_view import ReportsView

    reports = demo_ws.path("reports")
    (reports / "fid").mkdir(parents=True)
    (reports / "summary.md").write_text("# Summary\n\nFID table here\n")
    from backend.io.files import write_png

    write_png(reports / "fid" / "curve.png", np.full((20, 30, 3), 200, np.uint8))
    rv = ReportsView(state)
    qtbot.addWidget(rv)
    assert [rv.files.item(i).text() for i in range(rv.files.count())] == ["summary.md", "fid/curve.png"]
    rv.files.setCurrentRow(0)
    assert "FID table here" in rv.text.toPlainText()
    rv.files.setCurrentRow(1)
    assert rv.stack.currentIndex() == 1 and rv.picture.pixmap().width() == 30

    ids = demo_ws.image_ids()
    with demo_ws.transaction() as c:
        cid = c.execute(
            "INSERT INTO clusterings (k, seed, extractor, params_json, is_current, created_at) VALUES (3, 0, 'test', ?, 1, ?)",
            (json.dumps({"k": 3, "min_cluster_size": 2, "inception_weights": "/data/w/inception_v3.pth"}), "2024-01-01T00:00:00"),
        ).lastrowid
        c.executemany("INSERT INTO cluster_assignments VALUES (?,?,?)", [(cid, i, i % 3) for i in ids])
    cv = ClustersView(state)
    qtbot.addWidget(cv)
    assert "k = 3" in cv.header.text()
    assert "2024-01-01 00:00:00 UTC · min cluster size 2 · inception weights inception_v3.pth</p>" in cv.header.text()
    assert "/data/w/inception_v3.pth" in cv.header.toolTip()  # the whole path, where the text has the file name
    assert [len(m.rows) for m in cv.models] == [sum(1 for i in ids if i % 3 == k) for k in range(3)]
