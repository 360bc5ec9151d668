"""The user's journey, driven inside the real app process (``DIFFGEN_GUI_HOOK``).

Loaded by ``diffgen gui`` when the environment names this file; it drives the real
MainWindow, its real worker thread and real jobs with QTest input (clicks, keys, drags),
saves a screenshot of the whole X screen after every step and ends the app by quitting it
as a user does. ``DIFFGEN_JOURNEY_PHASE`` 1 runs up to the middle of the survey and quits;
phase 2 reopens, finishes the survey and computes results. A failure writes
``journey-error.txt`` and exits with code 3.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QEvent, QPointF, Qt, QTimer
from PySide6.QtGui import QGuiApplication, QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialogButtonBox

OUT = Path(os.environ["DIFFGEN_JOURNEY_OUT"])
PHASE = int(os.environ.get("DIFFGEN_JOURNEY_PHASE", "1"))
TICK_MS = 100


@dataclass
class Wait:
    what: str
    until: Callable[[], bool]
    timeout_s: float


@dataclass
class Shot:
    name: str


class Journey:
    """Runs a generator of steps on the GUI thread's event loop, one tick at a time."""

    def __init__(self, win, steps: Callable[["Journey"], Iterator]):
        self.win = win
        self.steps = steps(self)
        self.waiting: Wait | None = None
        self.deadline = 0.0
        self.n = 0
        self.log = (OUT / f"journey-phase{PHASE}.log").open("w")

    def note(self, text: str) -> None:
        self.log.write(f"{time.strftime('%H:%M:%S')}  {text}\n")
        self.log.flush()

    def tick(self) -> None:
        try:
            if self.waiting is not None:
                if not self.waiting.until():
                    if time.monotonic() > self.deadline:
                        raise TimeoutError(f"timed out after {self.waiting.timeout_s:.0f} s: {self.waiting.what}")
                    QTimer.singleShot(TICK_MS, self.tick)
                    return
                self.note(f"ok: {self.waiting.what}")
                self.waiting = None
            item = next(self.steps)
        except StopIteration:
            self.note("journey phase done")
            return
        except Exception:  # noqa: BLE001 - reported to the test, which fails on it
            self.fail(traceback.format_exc())
            return
        if isinstance(item, Shot):
            self.screenshot(item.name)
        elif isinstance(item, Wait):
            self.waiting, self.deadline = item, time.monotonic() + item.timeout_s
        QTimer.singleShot(TICK_MS if isinstance(item, Wait) else 50, self.tick)

    def screenshot(self, name: str) -> None:
        self.n += 1
        QApplication.processEvents()
        pix = QGuiApplication.primaryScreen().grabWindow(0)
        pix.save(str(OUT / f"p{PHASE}-{self.n:02d}-{name}.png"))
        self.note(f"screenshot {name}")

    def fail(self, text: str) -> None:
        self.note("FAILED\n" + text)
        (OUT / "journey-error.txt").write_text(text)
        try:
            self.screenshot("failure")
        finally:
            self.win.queue.shutdown(2000)
            QApplication.exit(3)


# -- input helpers ----------------------------------------------------------------------------
def click(widget, pos=None) -> None:
    QTest.mouseClick(
        widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pos if pos is not None else widget.rect().center()
    )


def key(widget, k, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    QTest.keyClick(widget, k, modifier)


def press(win, k, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    """A key as the keyboard sends it: to the window, which hands it to whichever widget has
    the focus (shortcuts first), unlike :func:`key`, which names the receiving widget."""
    QTest.keyClick(win.windowHandle(), k, modifier)


def drag(widget, points: list[QPointF]) -> None:
    """A left-button drag through ``points`` (widget coordinates) as real mouse events."""

    def send(kind, p, button, buttons):
        QApplication.sendEvent(
            widget, QMouseEvent(kind, p, widget.mapToGlobal(p), button, buttons, Qt.KeyboardModifier.NoModifier)
        )

    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    send(QEvent.Type.MouseButtonPress, points[0], left, left)
    for p in points[1:]:
        send(QEvent.Type.MouseMove, p, none, left)
    send(QEvent.Type.MouseButtonRelease, points[-1], left, none)


def answer_modal(j: "Journey", name: str, k=Qt.Key.Key_Return, tries: int = 100) -> None:
    """Arrange for the next modal dialog to be photographed and answered with ``k`` (Enter:
    its default button), as a user reading it would. Call it just before the click that opens
    it: the click only returns once the dialog is closed."""

    def answer(left: int = tries) -> None:
        dialog = QApplication.activeModalWidget()
        if dialog is None:
            if left <= 0:
                j.note(f"no dialog appeared for {name}")
                return
            QTimer.singleShot(100, lambda: answer(left - 1))
            return
        j.screenshot(name)
        key(dialog, k)

    QTimer.singleShot(100, answer)


def menu_action(win, menu: str, text: str):
    """The action a user picks from the menu bar (shortcuts need an active window, and Xvfb
    without a window manager activates none)."""
    for top in win.menuBar().actions():
        if top.text() == menu:
            for a in top.menu().actions():
                if a.text() == text:
                    return a
    raise AssertionError(f"no menu item {menu} > {text}")


def choose(combo, data=None, text=None) -> None:
    i = combo.findData(data) if data is not None else combo.findText(text)
    assert i >= 0, f"{data or text!r} not offered in {[combo.itemText(k) for k in range(combo.count())]}"
    combo.setCurrentIndex(i)


def job_done(win, job_id: int, statuses=("done",)) -> Callable[[], bool]:
    """True once the Generate table shows the job ended as one of ``statuses`` (what the user
    sees, after the app has handled the end of the job); another end is a failure."""

    def check() -> bool:
        g = win.generate_view
        row = g._rows.get(job_id)
        shown = g.table.item(row, 2).text() if row is not None and g.table.item(row, 2) else ""
        if shown in ("done", "failed", "cancelled", "interrupted") and shown not in statuses:
            raise AssertionError(f"job {job_id} ended {shown}: {win.queue.store.get(job_id).message}")
        return shown in statuses and win.queue.worker.current != job_id

    return check


def running_with_progress(win, job_id: int, shown: Callable[[], bool] | None = None) -> Callable[[], bool]:
    """True once the job reports progress (and ``shown`` holds); an early end is a failure."""

    def check() -> bool:
        rec = win.queue.store.get(job_id)
        if rec.status not in ("queued", "running"):
            raise AssertionError(f"job {job_id} ended {rec.status} before reporting progress: {rec.message}")
        return rec.progress_done > 0 and (shown is None or shown())

    return check


# -- the journey --------------------------------------------------------------------------------
def queue_job(j: Journey, kind: str, target: str, overrides: list[str], preset: str = "tiny", samples: int | None = None) -> int:
    """Fill the New job form as a user does: only the fields the kind's form shows."""
    from backend.jobs.queue import JOB_KINDS

    g = j.win.generate_view
    f = g.form
    choose(f.kind, data=kind)
    fields = JOB_KINDS[kind].fields
    if "images" in fields:
        choose(
            f.target,
            data=None,
            text=next(f.target.itemText(i) for i in range(f.target.count()) if f.target.itemText(i).startswith(target)),
        )
    if "preset" in fields:
        choose(f.preset, text=preset)
    if "overrides" in fields:
        f.overrides.setPlainText("\n".join(overrides))
    if samples is not None:
        f.spins["samples"].setValue(samples)
    before = {r.id for r in g.queue.store.list()}
    click(f.queue_btn)
    assert not f.form_error.text(), f.form_error.text()
    (job_id,) = {r.id for r in g.queue.store.list()} - before
    j.note(f"queued {kind} job {job_id}: {g.queue.store.get(job_id).params}")
    return job_id


def edit_mask(j: Journey) -> Iterator:
    w = j.win
    dv = w.dataset_view
    w.tabs.setCurrentWidget(dv)
    yield Wait("thumbnails laid out", lambda: dv.grid.visualRect(dv.model.index(0, 0)).isValid(), 10)
    since = time.monotonic()
    w.activateWindow()  # without a window manager nothing activates it; shortcuts need an active window
    yield Wait("the window active (or 3 s)", lambda: w.isActiveWindow() or time.monotonic() - since > 3, 5)
    click(dv.grid.viewport(), dv.grid.visualRect(dv.model.index(0, 0)).center())
    image_id = dv.model.rows[0].image_id
    ed = dv.editor
    yield Wait("the first image open in the editor", lambda: ed.session is not None and ed.session.image_id == image_id, 10)
    yield Shot("image-open")
    if w.isActiveWindow():  # the tool keys work with the focus in the grid (window-wide shortcuts)
        key(dv.grid, Qt.Key.Key_F)
        assert ed.tool == "fill", ed.tool
        key(dv.grid, Qt.Key.Key_B)
        assert ed.tool == "brush", ed.tool
        j.note("tool keys B and F worked with the focus in the thumbnail grid")
    else:
        j.note("no active window (no window manager): tool keys through the grid not tried")
    click(ed.tool_buttons["brush"])
    assert ed.tool == "brush"
    before = ed.session.mask.copy()
    h, wd = before.shape
    to_widget = ed.canvas._transform()
    pts = [to_widget.map(QPointF(wd * f, h * (0.2 + 0.1 * f))) for f in (0.15, 0.3, 0.45, 0.6)]
    drag(ed.canvas, pts)
    assert (ed.session.mask != before).any(), "the brush stroke changed nothing"
    yield Shot("brush-stroke")
    choose(ed.op_combo, text="Dilate")
    ed.op_value.setValue(20)
    click(ed.preview_check)
    yield Wait("dilation preview shown", lambda: ed.preview_check.isChecked(), 5)
    yield Shot("dilate-preview")
    click(ed.apply_btn)
    n_versions = len(w.workspace.mask_versions(image_id))
    key(ed, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    yield Wait("a new mask version saved", lambda: len(w.workspace.mask_versions(image_id)) == n_versions + 1, 5)
    yield Shot("version-saved")


def generate(j: Journey) -> Iterator:
    w = j.win
    w.tabs.setCurrentWidget(w.generate_view)
    g = w.generate_view
    choose(g.form.mask_op, text="fill_holes")
    masks = queue_job(j, "masks", "All images", [])
    yield Wait("the mask job done", job_done(w, masks), 60)
    yield Shot("masks-job-done")
    train = queue_job(
        j, "train", "All images", ["train.steps=30", "train.save_interval=30", "train.sample_count=4", "train.batch_size=8"]
    )
    yield Wait("training reports progress", running_with_progress(w, train, lambda: w.generate_view.progress.value() > 0), 120)
    yield Shot("train-progress")
    yield Wait("the training job done", job_done(w, train), 240)
    long = queue_job(j, "inpaint", "All images", [], samples=50)
    yield Wait("the long job running with progress", running_with_progress(w, long), 120)
    g.table.selectRow(g._rows[long])
    answer_modal(j, "cancel-confirmation")  # the real question box, answered with Enter (Yes)
    click(g.btn["cancel"])
    yield Wait("the long job cancelled", job_done(w, long, ("cancelled",)), 60)
    yield Shot("job-cancelled")
    inpaint = queue_job(j, "inpaint", "Selected images", [], samples=2)
    assert g.queue.store.get(inpaint).params["preset"] == "tiny"  # the model's preset, not paper's
    yield Wait("inpainting done", job_done(w, inpaint), 240)
    assert (w.queue.store.get(inpaint).result or {}).get("samples"), "the inpaint job made no sample"
    style = queue_job(j, "style", "Selected images", [])
    yield Wait("style reports progress", running_with_progress(w, style), 180)
    yield Shot("style-progress")
    yield Wait("style done", job_done(w, style), 300)
    made = w.queue.store.get(style).result or {}
    assert made.get("styled"), f"the style job made no sample: {made.get('errors')}"
    g.table.selectRow(g._rows[style])
    yield Shot("style-done")


def review(j: Journey) -> Iterator:
    w = j.win
    rv = w.review_view
    w.tabs.setCurrentWidget(rv)
    yield Wait("review lists the source", lambda: rv.sources.count() > 0, 10)
    rv.sources.setCurrentRow(0)
    yield Wait("sample tiles shown", lambda: len(rv.sample_ids()) >= 3, 10)
    ids = rv.sample_ids()
    click(next(t for t in rv.tiles if t.sample_id == ids[0]).canvas)
    for k in (Qt.Key.Key_K, Qt.Key.Key_R, Qt.Key.Key_U):
        key(rv, k)
    decisions = [w.workspace.review(i)[0] for i in ids[:3]]
    assert decisions == ["keep", "reject", "undecided"], decisions
    click(next(t for t in rv.tiles if t.sample_id == ids[2]).canvas)
    key(rv, Qt.Key.Key_K)  # keep the third after all: the export has two samples
    # the source list counts follow at once (a reviewer reads them to see what is left)
    yield Wait("source list counts the decisions", lambda: rv.sources.item(0).text().endswith("2 kept · 1 rejected"), 5)
    yield Shot("review-decided")


def export(j: Journey) -> Iterator:
    w = j.win
    out = OUT / "export"  # typed, not there yet: created when the user confirms
    menu_action(w, "&File", "&Export Kept Samples…").trigger()
    yield Wait("the export dialog open", lambda: w.export_form.isVisible(), 10)
    w.export_form.path.setText(str(out))
    w.export_form.with_real.setChecked(True)
    yield Shot("export-form")
    click(w.export_form.buttons.button(QDialogButtonBox.StandardButton.Ok))
    yield Wait("export finished", lambda: w.last_export is not None, 60)
    yield Shot("export-done")
    w.report_dialog.close()


def survey_start(j: Journey) -> Iterator:
    w = j.win
    sv = w.survey_view
    w.tabs.setCurrentWidget(sv)
    sv.name_edit.setText("journey")
    sv.real_spin.setValue(2)
    assert {"inpainted", "styled"} <= set(sv.kind_spins), f"the form offers {list(sv.kind_spins)}"
    for kind, spin in sv.kind_spins.items():
        spin.setValue({"inpainted": 2, "styled": 1}.get(kind, 0))
    yield Shot("survey-form")
    click(_button(sv, "Create survey"))
    yield Wait("the survey created", lambda: sv.survey_combo.currentText() == "journey", 30)
    sv.rater_edit.setText("dr-a")
    click(_button(sv, "Add rater"))
    yield Wait("the rater listed", lambda: sv.rater_list.count() == 1, 10)
    yield from rate(j, answers=2, then_quit=True)


def _button(parent, text: str):
    from PySide6.QtWidgets import QPushButton

    for b in parent.findChildren(QPushButton):
        if b.text() == text:
            return b
    raise AssertionError(f"no button {text!r}")


ANSWERS = [
    (Qt.Key.Key_1, Qt.Key.Key_4, Qt.Key.Key_7),
    (Qt.Key.Key_2, Qt.Key.Key_5, Qt.Key.Key_8),
    (Qt.Key.Key_3, Qt.Key.Key_6, Qt.Key.Key_8),
]


def rate(j: Journey, answers: int | None, then_quit: bool) -> Iterator:
    """Open the rater window for the one rater and answer ``answers`` items (None: all, then submit)."""
    sv = j.win.survey_view
    sv.rater_list.setCurrentRow(0)
    click(sv.rate_button)
    yield Wait("the rater window open", lambda: sv.rater_window is not None and sv.rater_window.isVisible(), 10)
    rw = sv.rater_window
    yield Shot("rater-window")
    total = rw.session.total
    start = rw.session.complete_count
    todo = total - start if answers is None else answers
    for n in range(todo):
        for k in ANSWERS[n % len(ANSWERS)]:
            key(rw, k)
        key(rw, Qt.Key.Key_Right)
        if n == 0:
            yield Shot("rated-one")
    assert rw.session.complete_count == start + todo, (rw.session.complete_count, start, todo)
    if answers is None:
        key(rw, Qt.Key.Key_S)
        yield Shot("submit-confirmation")
        key(rw.confirm, Qt.Key.Key_Return)  # Enter = Yes
        assert rw.session.submitted
        yield Shot("survey-submitted")
    key(rw, Qt.Key.Key_Escape)
    yield Wait("the question to end the session", lambda: rw.leave_box is not None and rw.leave_box.isVisible(), 10)
    key(rw.leave_box, Qt.Key.Key_Y)
    yield Wait("the rater window closed", lambda: not rw.isVisible(), 10)


def survey_finish(j: Journey) -> Iterator:
    w = j.win
    sv = w.survey_view
    w.tabs.setCurrentWidget(sv)
    choose(sv.survey_combo, text="journey")
    yield Wait("the rater listed", lambda: sv.rater_list.count() == 1, 10)
    yield Shot("survey-reopened")
    yield from rate(j, answers=None, then_quit=False)
    click(_button(sv, "Compute results"))
    yield Wait("results computed", lambda: sv.results is not None, 60)
    yield Shot("survey-results")
    click(_button(sv, "Write report (Markdown + CSV + PNG)"))
    # its job's end, not its first file: report.md is there before the CSVs (a quit then asks about the job)
    yield Wait("report written", lambda: sv.status.text().startswith("Report written:"), 60)


def quit_app(j: Journey) -> Iterator:
    yield Shot("before-quit")
    j.note("quitting with File > Quit")
    j.log.flush()
    menu_action(j.win, "&File", "&Quit").trigger()


def phase_1(j: Journey) -> Iterator:
    yield Shot("start")
    yield from edit_mask(j)
    yield from generate(j)
    yield from review(j)
    yield from export(j)
    yield from survey_start(j)
    yield from quit_app(j)


def phase_2(j: Journey) -> Iterator:
    yield Shot("reopened")
    yield from survey_finish(j)
    yield from quit_app(j)


def start(win) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    win.journey = Journey(win, phase_1 if PHASE == 1 else phase_2)
    QTimer.singleShot(500, win.journey.tick)
