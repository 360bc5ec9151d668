"""Issue 20 walked as a person uses the app: every item, in order, in one real window.

Two faces in one file. As a pytest module (slow, like the journey: ``pytest tests/gui/walk_issue20.py``)
it builds a small workspace and starts ``diffgen gui`` in a real X server (Xvfb) with
``DIFFGEN_GUI_HOOK`` naming this file; inside the app :func:`start` walks the issue's items
with real key presses and mouse clicks (the journey's helpers), answers every question box
by clicking its button, asserts what a user would see (widget state, files, database rows)
and photographs the whole screen after each step. The pictures land in ``$DIFFGEN_WALK_KEEP``
(else the test's temporary folder): look at them, in both palettes.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator

import pytest
from issue20_support import answer_box, same_width, shot, wait
from walk_support import demo_workspace, run_walk, start_walk

TIMEOUT_S = 420

pytestmark = pytest.mark.slow


# -- the test: a workspace, then the app with this file as its hook -----------------------------
def test_walk_issue20(tmp_path):
    from backend.demo.standins import weights_or_standin
    from backend.masks import edit_session

    ws = demo_workspace(tmp_path, count=6, size=64, seed=0)
    last = ws.image_ids()[-1]  # unsaved edits left by a "crash": the recovery banner's text
    crashed = edit_session.EditSession(ws, last)
    crashed.apply(crashed.mask[:, ::-1].copy(), "brush", counted=True)
    crashed.autosave()
    ws.close()
    out = run_walk(
        __file__,
        "20",
        tmp_path / "ws",
        tmp_path,
        TIMEOUT_S,
        {"DIFFGEN_INCEPTION_WEIGHTS": weights_or_standin("inception", tmp_path / "weights")[0]},
    )
    assert len(list(out.glob("p20-*.png"))) >= 40


# -- inside the app ----------------------------------------------------------------------------
def start(win) -> None:
    start_walk(win, walk)


def walk(j) -> Iterator:
    from issue20_editor import editor_polygon_and_menus, editor_search_and_status, editor_tools, editor_versions

    w = j.win
    w.walk_width = w.width()  # what no hint or banner may change
    yield from first_start(j)
    yield from editor_tools(j)
    yield from editor_search_and_status(j)
    yield from editor_versions(j)
    yield from editor_polygon_and_menus(j)
    yield from generate_form(j)
    yield from generate_jobs(j)
    yield from review(j)
    yield from survey(j)
    yield from reports_and_export(j)
    yield from look(j)
    yield from quit_walk(j)


def first_start(j) -> Iterator:
    """Look: the window fits the screen; the empty Review and Clusters tabs say what to do next."""
    from PySide6.QtGui import QGuiApplication

    w = j.win
    avail = QGuiApplication.primaryScreen().availableGeometry()
    assert w.width() <= avail.width() and w.height() <= avail.height(), (w.size(), avail)
    yield shot("start")
    for view, title in ((w.review_view, "No samples to review yet"), (w.clusters_view, "No clustering yet")):
        w.tabs.setCurrentWidget(view)
        yield wait(f"{title} shown", lambda v=view: v.welcome.isVisible())
        assert title in view.welcome.text.text() and "diffgen" in view.welcome.command.text()
        yield shot("welcome-" + ("review" if view is w.review_view else "clusters"))


def generate_form(j) -> Iterator:
    """The form shows a kind's fields only; the welcome's button opens the cluster form."""
    from journey_hook import click, queue_job

    from backend.jobs.queue import JOB_KINDS

    w = j.win
    f = w.generate_view.form
    w.tabs.setCurrentWidget(w.clusters_view)
    click(w.clusters_view.welcome.button)
    assert w.tabs.currentWidget() is w.generate_view and f.kind.currentData() == "cluster"
    shown = {n for n, wd in f.rows.items() if f.form.isRowVisible(wd)}
    assert shown == set(JOB_KINDS["cluster"].fields), shown
    yield shot("cluster-form")
    cluster = queue_job(j, "cluster", "", ["cluster.k=2", "cluster.min_cluster_size=1"], preset="tiny")
    assert "images" not in w.queue.store.get(cluster).params
    from journey_hook import job_done

    yield wait("clustering done", job_done(w, cluster), 120)
    w.tabs.setCurrentWidget(w.clusters_view)
    yield wait("the clusters shown", lambda: w.clusters_view.header.isVisible())
    yield shot("clusters-shown")
    w.tabs.setCurrentWidget(w.generate_view)
    f.kind.setCurrentIndex(f.kind.findData("inpaint"))
    shown = {n for n, wd in f.rows.items() if f.form.isRowVisible(wd)}
    assert {"samples", "dilate", "model", "respacing", "jumps"} <= shown, shown
    assert "No trained model yet" in f.preset_warning.text() and f.preset_warning.isVisible()
    yield shot("inpaint-form-no-model")


def generate_jobs(j) -> Iterator:
    """Train (log pane, finished notice), the preset stays the user's, estimate, cancel asks,
    the form remembers."""
    from journey_hook import click, job_done, queue_job, running_with_progress
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QMessageBox

    from backend.diffusion.samplers.schedule import RepaintSchedule
    from diffgen_gui.job_form import JobForm

    w = j.win
    g = w.generate_view
    f = g.form
    train = queue_job(
        j, "train", "All images", ["train.steps=30", "train.save_interval=30", "train.sample_count=4", "train.batch_size=8"]
    )
    g.table.selectRow(g._rows[train])
    yield wait("the log pane follows the training", lambda: "loss" in g.log_view.toPlainText(), 120)
    yield shot("train-log-pane")
    yield wait("training done", job_done(w, train), 240)
    assert w.statusBar().currentMessage().startswith(f"Job {train} (train) done"), w.statusBar().currentMessage()
    yield shot("train-finished-notice")
    f.kind.setCurrentIndex(f.kind.findData("inpaint"))
    # the preset chosen for the training (tiny) stays: a finished model changes no value of the form
    yield wait("the preset still the one chosen", lambda: f.preset.currentText() == "tiny")
    assert not f.preset_warning.isVisible(), f.preset_warning.text()
    assert f.spins["dilate"].value() == 3 and f.spins["respacing"].value() == 50
    ed = w.dataset_view.editor  # the editor's Dilate (untouched: 20, the paper's) follows the tiny model
    assert ed.op_combo.currentText() == "Dilate" and ed.op_value.value() == 3, ed.op_value.value()
    # the selection made in the Dataset tab becomes the target: three images
    dv = w.dataset_view
    w.tabs.setCurrentWidget(dv)
    click(dv.grid.viewport(), dv.grid.visualRect(dv.model.index(0, 0)).center())
    from PySide6.QtTest import QTest

    QTest.mouseClick(
        dv.grid.viewport(),
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.ShiftModifier,
        dv.grid.visualRect(dv.model.index(2, 0)).center(),
    )
    assert len(w.state.selected_ids) == 3, w.state.selected_ids
    w.tabs.setCurrentWidget(g)
    f.spins["samples"].setValue(2)
    per = RepaintSchedule(50, 5, 2).evaluations()
    assert f.target.currentText().startswith("Selected images (3)"), f.target.currentText()
    assert f"3 images × 2 samples × {per} evaluations = {3 * 2 * per:,} evaluations" in f.estimate.text(), f.estimate.text()
    yield shot("inpaint-form-estimate")
    long = queue_job(j, "inpaint", "All images", [], samples=40)
    yield wait("the long job running", running_with_progress(w, long), 120)
    g.table.selectRow(g._rows[long])
    answer_box(j, "cancel-asks", QMessageBox.StandardButton.No)
    click(g.btn["cancel"])
    assert j.asked[-1].startswith(f"Job {long}"), j.asked
    assert w.queue.store.get(long).status == "running", "a refused cancel stopped the job"
    answer_box(j, "cancel-confirmed", QMessageBox.StandardButton.Yes)
    click(g.btn["cancel"])
    yield wait("the long job cancelled", job_done(w, long, ("cancelled",)), 60)
    inpaint = queue_job(j, "inpaint", "Selected images", [], samples=2)
    params = w.queue.store.get(inpaint).params
    assert params["preset"] == "tiny" and params["samples"] == 2 and len(params["images"]) == 3, params
    again = JobForm(w.state)  # a new form (the app restarted): the values queued last time
    assert again.kind.currentData() == "inpaint" and again.spins["samples"].value() == 2, (
        again.kind.currentData(),
        again.spins["samples"].value(),
    )
    again.deleteLater()
    yield wait("inpainting done", job_done(w, inpaint), 240)
    assert len(w.workspace.samples()) == 6
    g.table.selectRow(g._rows[inpaint])
    yield shot("inpaint-done")


def review(j) -> Iterator:
    """Next / previous source, next undecided, live counts, focus keeps the decision colour,
    seeds in tooltips, packed tiles under the Kept filter, gate badges."""
    from journey_hook import choose, click, key
    from PySide6.QtCore import Qt

    from diffgen_gui.theme import status_colour

    w = j.win
    rv = w.review_view
    w.tabs.setCurrentWidget(rv)
    yield wait("three sources listed", lambda: rv.sources.count() == 3)
    rv.sources.setCurrentRow(0)
    yield wait("the first source's tiles", lambda: len(rv.sample_ids()) == 2)
    first = rv.sample_ids()
    click(next(t for t in rv.tiles if t.sample_id == first[0]).canvas)
    key(rv, Qt.Key.Key_K)
    assert w.workspace.review(first[0])[0] == "keep" and rv.focus_sample == first[1]
    kept = next(t for t in rv.tiles if t.sample_id == first[0])
    assert status_colour("keep").name() in kept.styleSheet(), kept.styleSheet()
    key(rv, Qt.Key.Key_Left)  # back onto the kept tile: focused, its border still says kept
    assert rv.focus_sample == first[0] and status_colour("keep").name() in kept.styleSheet()
    assert rv.sources.item(0).text().endswith("1 kept · 0 rejected"), rv.sources.item(0).text()
    for t in rv.tiles:
        assert not re.search(r"\d{8,}", t.label.text()), t.label.text()
        if t.sample_id is not None:
            assert "seed" in t.toolTip() and "Quality gates" in t.toolTip(), t.toolTip()
    yield shot("review-kept-focused")
    key(rv, Qt.Key.Key_PageDown)
    assert rv.sources.currentRow() == 1
    key(rv, Qt.Key.Key_PageUp)
    assert rv.sources.currentRow() == 0
    key(rv, Qt.Key.Key_N)  # next undecided: the second sample here
    assert rv.focus_sample == first[1]
    key(rv, Qt.Key.Key_R)  # every sample of this image decided: on to the next image's first undecided
    assert rv.sources.currentRow() == 1 and rv.focus_sample == rv.sample_ids()[0]
    key(rv, Qt.Key.Key_K)
    assert rv.sources.item(0).text().endswith("1 kept · 1 rejected")
    assert rv.sources.item(1).text().endswith("1 kept · 0 rejected"), rv.sources.item(1).text()
    assert "2 kept" in rv.counts.text(), rv.counts.text()
    yield shot("review-next-image")
    badges = [b for t in rv.tiles for b in t.badges]
    failures = w.workspace.query("SELECT COUNT(*) FROM sample_gates WHERE passed = 0")[0][0]
    j.note(f"gate badges on this source: {len(badges)}; failed gates in the workspace: {failures}")
    choose(rv.filter, text="Kept")
    yield wait("only kept samples", lambda: len(rv.sample_ids()) == 1)
    for t in rv.tiles:
        assert t.height() <= t.sizeHint().height() + 1, (t.height(), t.sizeHint())
    yield shot("review-kept-filter")
    choose(rv.filter, text="All samples")


def survey(j) -> Iterator:
    """Create, rate (window as large as the screen), submit asks, the rater stays selected,
    results computed off the GUI thread, Write report in view, one word: Synthetic."""
    from journey_hook import _button, click, key
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QMessageBox

    from diffgen_gui.widgets.heartbeat import Heartbeat

    w = j.win
    sv = w.survey_view
    w.tabs.setCurrentWidget(sv)
    sv.name_edit.setText("walk")
    sv.real_spin.setValue(2)
    for kind, spin in sv.kind_spins.items():
        spin.setValue(2 if kind == "inpainted" else 0)
    click(_button(sv, "Create survey"))
    yield wait("the survey created", lambda: sv.survey_combo.currentText() == "walk", 30)
    for name in ("dr-a", "dr-b"):
        sv.rater_edit.setText(name)
        click(_button(sv, "Add rater"))
    yield wait("two raters listed", lambda: sv.rater_list.count() == 2)
    sv.rater_list.setCurrentRow(1)
    click(sv.rate_button)
    yield wait("the rater window open", lambda: sv.rater_window is not None and sv.rater_window.isVisible())
    rw = sv.rater_window
    screen = QGuiApplication.primaryScreen().geometry()
    assert rw.geometry().size() == screen.size(), (rw.geometry(), screen)
    yield shot("rater-window")
    for _ in range(rw.session.total):
        for k in (Qt.Key.Key_1, Qt.Key.Key_4, Qt.Key.Key_8):
            key(rw, k)
        key(rw, Qt.Key.Key_Right)
    key(rw, Qt.Key.Key_S)
    yield wait("the submit question", lambda: rw.confirm is not None and rw.confirm.isVisible())
    assert "final" in rw.confirm.text()
    yield shot("submit-asks")
    click(rw.confirm.button(QMessageBox.StandardButton.Yes))
    yield wait("submitted", lambda: rw.session.submitted)
    key(rw, Qt.Key.Key_Escape)
    yield wait("the question to end the session", lambda: rw.leave_box is not None and rw.leave_box.isVisible())
    key(rw.leave_box, Qt.Key.Key_Y)
    yield wait("the rater window closed", lambda: not rw.isVisible())
    yield wait(
        "the rater still selected",
        lambda: sv.rater_list.currentRow() == 1 and "submitted" in sv.rater_list.currentItem().text(),
        5,
    )
    beat = Heartbeat(0.02)
    beat.start()
    click(sv.compute_button)
    yield wait("results computed", lambda: sv.results is not None, 60)
    late = beat.stop()
    assert late and max(late) < 0.5, f"the window froze {max(late):.2f} s while computing"
    j.note(f"compute: {len(late)} heartbeats, worst {max(late) * 1000:.0f} ms late")
    t7 = sv.table7
    words = {t7.item(r, c).text() for r in range(t7.rowCount()) for c in range(t7.columnCount()) if t7.item(r, c)}
    assert "Synthetic" in words and "Fake" not in words and "Fake" not in sv.details.text(), words
    assert t7.verticalScrollBarPolicy() == Qt.ScrollBarPolicy.ScrollBarAlwaysOff
    assert not sv.scroll_area.widget().isAncestorOf(sv.report_button)
    sv.scroll_area.verticalScrollBar().setValue(sv.scroll_area.verticalScrollBar().maximum())
    assert sv.report_button.isVisible() and sv.report_button.visibleRegion().boundingRect().width() > 20
    yield shot("survey-results-scrolled")


def reports_and_export(j) -> Iterator:
    """Reports appear without Refresh and CSVs are tables; export to a new typed folder, a short
    result line with Open folder."""
    from journey_hook import OUT, click, menu_action
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QDialogButtonBox, QMessageBox, QPushButton

    w = j.win
    sv, rv = w.survey_view, w.reports_view
    before = rv.files.count()
    click(sv.report_button)
    yield wait("the new report listed without Refresh", lambda: rv.files.count() > before, 30)
    w.tabs.setCurrentWidget(rv)
    csvs = [i for i in range(rv.files.count()) if rv.files.item(i).text().endswith("table7.csv")]
    assert csvs, [rv.files.item(i).text() for i in range(rv.files.count())]
    rv.files.setCurrentRow(csvs[0])
    click(rv.files.viewport(), rv.files.visualItemRect(rv.files.item(csvs[0])).center())
    assert rv.stack.currentWidget() is rv.table and rv.table.rowCount() > 0 and rv.table.columnCount() > 1
    yield shot("reports-csv-table")
    out = OUT / "walk-export" / "new" / "folder"
    shutil.rmtree(OUT / "walk-export", ignore_errors=True)
    menu_action(w, "&File", "&Export Kept Samples…").trigger()
    yield wait("the export dialog", lambda: w.export_form.isVisible())
    QTest.keyClicks(w.export_form.path, str(out))
    yield shot("export-typed-new-folder")
    click(w.export_form.buttons.button(QDialogButtonBox.StandardButton.Ok))
    yield wait("exported", lambda: w.last_export is not None, 60)
    yield wait("the result box", lambda: w.report_dialog.isVisible())
    box = w.report_dialog
    assert out.is_dir() and any((out / "images").iterdir())
    assert isinstance(box, QMessageBox) and "\n" not in box.text() and len(box.text()) < 160, box.text()
    assert f' to "{out.name}" as ' in box.text() and f"Folder: {out}" in box.detailedText(), box.detailedText()
    assert any(b.text() == "Open folder" for b in box.findChildren(QPushButton))
    assert box.width() < 700, box.width()
    yield shot("export-result")
    box.close()


def look(j) -> Iterator:
    """Light and dark: every tab photographed; hints and banners never widen the window."""
    from journey_hook import click, menu_action
    from PySide6.QtGui import QPalette

    from diffgen_gui.theme import contrast

    w = j.win
    dv = w.dataset_view
    same_width(w)
    w.tabs.setCurrentWidget(dv)
    click(dv.grid.viewport(), dv.grid.visualRect(dv.model.index(5, 0)).center())
    yield wait("the recovery banner", lambda: dv.editor.banner.isVisible())
    yield shot("recovery-banner")
    same_width(w)
    for theme in ("light", "dark"):
        menu_action(w, "&View", "&Theme")  # the submenu exists
        w.theme_actions[theme].trigger()
        for i in range(w.tabs.count()):
            w.tabs.setCurrentIndex(i)
            yield shot(f"{theme}-{w.tabs.tabText(i).lower()}")
            same_width(w)
        tile = next(t for t in w.review_view.tiles if t.sample_id == w.review_view.focus_sample)
        background = re.search(r"background: (#[0-9a-f]{6})", tile.styleSheet()).group(1)
        from PySide6.QtGui import QColor

        assert contrast(tile.label.palette().color(QPalette.ColorRole.WindowText), QColor(background)) >= 4.5
        for label in (w.info, dv.count, dv.editor.title, dv.editor.status.tool_label, dv.editor.status.hint):
            pal = label.palette()
            fg, bg = pal.color(QPalette.ColorRole.WindowText), pal.color(QPalette.ColorRole.Window)
            assert contrast(fg, bg) >= 4.5, (theme, label.objectName(), fg.name(), bg.name())
    w.theme_actions["light"].trigger()
    click(dv.editor.banner.findChildren(type(dv.editor.save_btn))[-1])  # Discard


def quit_walk(j) -> Iterator:
    from journey_hook import menu_action

    same_width(j.win)
    yield shot("before-quit")
    j.note("quitting with File > Quit")
    menu_action(j.win, "&File", "&Quit").trigger()
