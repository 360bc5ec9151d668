"""Issue 35 walked in one real window: a clinician reviews 30 samples of 10 images by keyboard.

Two faces in one file, like ``walk_issue20.py``. As a pytest module (slow) it builds a
workspace of 10 images with 3 samples each and starts ``diffgen gui`` under Xvfb with this
file as its hook (``walk_support.launch``); inside the app :func:`start` presses keys the
way the keyboard does (to the window, which hands them to the focused widget: ``press``),
checks the database after each step and photographs the screen. Pictures land in
``$DIFFGEN_WALK_KEEP`` (else the test's temporary folder): look at them.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator

import numpy as np
import pytest

PHASE = 35
IMAGES, PER_IMAGE = 10, 3

pytestmark = pytest.mark.slow


# -- the test: a workspace, then the app with this file as its hook -----------------------------
def test_walk_issue35(tmp_path):
    from test_journey import PHASE_TIMEOUT_S
    from walk_support import launch, walk_detail, walk_folder

    from backend.data.demo import write_demo_dataset
    from backend.data.importer import import_dataset
    from backend.workspace import Workspace

    ws = Workspace.create(tmp_path / "ws")
    import_dataset(ws, write_demo_dataset(tmp_path / "data", count=IMAGES, size=64, seed=0))
    for i in ws.image_ids():
        img, mask = ws.read_image(i), ws.read_mask(ws.current_mask(i))
        for k in range(PER_IMAGE):
            ws.add_sample("inpainted", "Diff", np.roll(img, 5 * (k + 1), 1).copy(), mask, source_image_id=i, seed=k)
    ws.close()
    out = walk_folder(str(PHASE), tmp_path)
    proc = launch(__file__, str(PHASE), tmp_path / "ws", out, PHASE_TIMEOUT_S)
    detail = walk_detail(proc, out)
    assert not (out / "journey-error.txt").exists(), detail
    log = (out / f"journey-phase{PHASE}.log").read_text()
    killed = re.search(r"kill -9 after U on sample (\d+)", log)
    assert proc.returncode == 128 + signal.SIGKILL and killed, detail  # the app ended by kill -9 after a U
    ws = Workspace.open(tmp_path / "ws")
    assert ws.review(int(killed.group(1)))[0] == "undecided"  # the last decision was stored before the kill
    notes = dict(ws.query("SELECT sample_id, note FROM reviews WHERE note != ''"))
    assert list(notes.values()) == ["seam at the border"], notes  # no note leaked onto another sample
    per_decision = re.search(r"keys per decision: (\d+) keys, (\d+) decisions", log)
    assert per_decision, log
    keys, decisions = map(int, per_decision.groups())
    assert decisions == IMAGES * PER_IMAGE and keys <= decisions + 2, (keys, decisions)


# -- inside the app ----------------------------------------------------------------------------
def start(win) -> None:
    from journey_hook import Journey, QTimer

    win.journey = Journey(win, walk)
    QTimer.singleShot(500, win.journey.tick)


def typed(win, text: str) -> None:
    """Letters and spaces typed on the keyboard (to whichever widget has the focus)."""
    from journey_hook import press
    from PySide6.QtCore import Qt

    for ch in text:
        press(win, Qt.Key.Key_Space if ch == " " else Qt.Key(ord(ch.upper())))


def walk(j) -> Iterator:
    from journey_hook import Wait

    w = j.win
    w.activateWindow()
    yield Wait("the window active", w.isActiveWindow, 5)
    yield from keys_go_to_the_samples(j)
    yield from one_key_per_decision(j)
    yield from note_stays_on_its_sample(j)
    yield from kill_after_a_decision(j)


def focused(w):
    from PySide6.QtWidgets import QApplication

    return QApplication.focusWidget()


def keys_go_to_the_samples(j) -> Iterator:
    """Item 3: a click on the Review tab puts the keys on the samples (K decides at once);
    item 10: Ctrl+Z undoes that decision."""
    from journey_hook import Shot, Wait, click, press
    from PySide6.QtCore import Qt

    w = j.win
    ws, rv = w.workspace, w.review_view
    assert w.tabs.currentWidget() is not rv
    bar = w.tabs.tabBar()
    click(bar, bar.tabRect(w.tabs.indexOf(rv)).center())
    yield Wait("the samples have the keys", lambda: focused(w) is rv, 5)
    first = rv.focus_sample
    press(w, Qt.Key.Key_K)
    assert ws.review(first)[0] == "keep" and rv.focus_sample != first
    yield Shot("tab-click-then-k")
    press(w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert ws.review(first)[0] == "undecided" and rv.focus_sample == first
    press(w, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    yield Wait("the Dataset tab", lambda: w.tabs.currentIndex() == 0, 5)


def one_key_per_decision(j) -> Iterator:
    """Item 4: from another tab, Ctrl+4 then one key per sample decides all 30 samples of the
    10 images; the key presses the window receives are counted (and match the walk's own count)."""
    from journey_hook import Shot, Wait, press
    from PySide6.QtCore import QEvent, QObject, Qt

    w = j.win
    ws, rv = w.workspace, w.review_view
    keys = 0

    class KeyCounter(QObject):
        """Key presses arriving at the window, before it hands them to a widget."""

        seen = 0

        def eventFilter(self, obj, e) -> bool:  # noqa: N802 - Qt API
            if e.type() == QEvent.Type.KeyPress:
                self.seen += 1
            return False

    counter = KeyCounter()
    w.windowHandle().installEventFilter(counter)

    def key(k, modifier=Qt.KeyboardModifier.NoModifier) -> None:
        nonlocal keys
        keys += 1
        press(w, k, modifier)

    key(Qt.Key.Key_4, Qt.KeyboardModifier.ControlModifier)
    yield Wait("Review shown with the keys on the samples", lambda: w.tabs.currentWidget() is rv and focused(w) is rv, 5)

    def undecided() -> int:
        return ws.query(
            "SELECT COUNT(*) FROM samples s LEFT JOIN reviews r ON r.sample_id = s.id"
            " WHERE COALESCE(r.decision, 'undecided') = 'undecided'"
        )[0][0]

    while undecided() and keys < 3 * IMAGES * PER_IMAGE:
        key(Qt.Key.Key_R if keys % 4 == 0 else Qt.Key.Key_K)
        if keys == 12:
            yield Shot("reviewing-by-keyboard")
    w.windowHandle().removeEventFilter(counter)
    assert counter.seen == keys, (counter.seen, keys)
    decisions = ws.query("SELECT COUNT(*) FROM reviews WHERE decision != 'undecided'")[0][0]
    j.note(f"keys per decision: {counter.seen} keys, {decisions} decisions")
    assert undecided() == 0, undecided()
    assert rv.filters.current().decision is None  # no decision key changed a filter
    yield Shot("all-decided")


def note_stays_on_its_sample(j) -> Iterator:
    """Item 1: a note typed for one sample never reaches another (PgDn then K, a K typed in
    the note field, a click on another sample)."""
    from journey_hook import Shot, click, press
    from PySide6.QtCore import Qt

    w = j.win
    ws, rv = w.workspace, w.review_view
    rv.sources.setCurrentRow(0)
    first = rv.sample_ids()
    click(next(t for t in rv.tiles if t.sample_id == first[0]).canvas)
    click(rv.note)  # an explicit click into the note field
    typed(w, "seam at the border")
    press(w, Qt.Key.Key_Return)
    assert ws.review(first[0])[1] == "seam at the border", ws.review(first[0])
    assert focused(w) is rv  # Enter gave the keys back
    yield Shot("note-stored")
    press(w, Qt.Key.Key_PageDown)
    second = rv.focus_sample
    assert second not in first and rv.note.text() == "", (second, rv.note.text())
    press(w, Qt.Key.Key_U)
    assert ws.review(second) == ("undecided", ""), ws.review(second)
    press(w, Qt.Key.Key_PageDown)
    press(w, Qt.Key.Key_R)
    click(rv.note)  # in the note field K is a letter: typed, never stored by itself
    press(w, Qt.Key.Key_K)
    assert rv.note.text() == "k", rv.note.text()
    press(w, Qt.Key.Key_PageDown)  # another image: the field shows that sample's own (empty) note
    assert rv.note.text() == "" and focused(w) is rv, rv.note.text()
    press(w, Qt.Key.Key_K)
    click(rv.tiles[-1].canvas)  # another sample by a click: its own note shows
    assert rv.focus_sample == rv.tiles[-1].sample_id and rv.note.text() == ""
    press(w, Qt.Key.Key_Slash)  # / opens the note field, Esc leaves it without storing
    typed(w, "r")
    assert focused(w) is rv.note and rv.note.text() == "r"
    press(w, Qt.Key.Key_Escape)
    assert focused(w) is rv and rv.note.text() == ""
    press(w, Qt.Key.Key_R)
    assert ws.review(rv.tiles[-1].sample_id) == ("reject", "")
    notes = dict(ws.query("SELECT sample_id, note FROM reviews WHERE note != ''"))
    assert notes == {first[0]: "seam at the border"}, notes
    yield Shot("no-leaked-note")


def kill_after_a_decision(j) -> Iterator:
    """Item 10: every decision is stored when it is made: U, then the app is killed (-9)."""
    from journey_hook import Shot, click, press
    from PySide6.QtCore import Qt

    w = j.win
    rv = w.review_view
    yield Shot("before-kill")
    click(next(t for t in rv.tiles[1:] if w.workspace.review(t.sample_id)[0] != "undecided").canvas)
    sid = rv.focus_sample
    press(w, Qt.Key.Key_U)
    j.note(f"kill -9 after U on sample {sid}")
    os.kill(os.getpid(), signal.SIGKILL)
