"""Issue 35 walked in one real window: a clinician reviews 30 samples of 10 images by keyboard.

Two faces in one file, like ``walk_issue20.py``. As a pytest module (slow) it builds a
workspace of 10 images with 3 samples each and starts ``diffgen gui`` under Xvfb with this
file as its hook (``test_journey.run_phase``); inside the app :func:`start` presses keys the
way the keyboard does (to the window, which hands them to the focused widget: ``press``),
checks the database after each step and photographs the screen. Pictures land in
``$DIFFGEN_WALK_KEEP`` (else the test's temporary folder): look at them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

PHASE = 35
IMAGES, PER_IMAGE = 10, 3

pytestmark = pytest.mark.slow


# -- the test: a workspace, then the app with this file as its hook -----------------------------
def test_walk_issue35(tmp_path):
    from test_journey import run_phase

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
    keep = os.environ.get("DIFFGEN_WALK_KEEP")
    out = Path(keep) if keep else tmp_path / "walk"
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob(f"p{PHASE}-*.png"):
        old.unlink()
    (out / "journey-error.txt").unlink(missing_ok=True)
    proc = run_phase(PHASE, tmp_path / "ws", out, {}, hook=Path(__file__).resolve())
    error = out / "journey-error.txt"
    detail = (
        f"rc={proc.returncode}\n--- walk error:\n{error.read_text() if error.exists() else '(none)'}"
        f"\n--- stderr tail:\n{proc.stderr[-3000:]}"
    )
    assert not error.exists(), detail
    assert proc.returncode == 0, detail
    assert "journey phase done" in (out / f"journey-phase{PHASE}.log").read_text(), detail
    ws = Workspace.open(tmp_path / "ws")
    notes = dict(ws.query("SELECT sample_id, note FROM reviews WHERE note != ''"))
    assert list(notes.values()) == ["seam at the border"], notes  # no note leaked onto another sample


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
    from journey_hook import Wait, menu_action

    w = j.win
    w.activateWindow()
    yield Wait("the window active", w.isActiveWindow, 5)
    yield from note_stays_on_its_sample(j)
    j.note("quitting with File > Quit")
    menu_action(w, "&File", "&Quit").trigger()


def note_stays_on_its_sample(j) -> Iterator:
    """Item 1: a note typed for one sample never reaches another (PgDn then K, a K typed in
    the note field, a click on another sample)."""
    from journey_hook import Shot, Wait, click, press
    from PySide6.QtCore import Qt

    w = j.win
    ws, rv = w.workspace, w.review_view
    w.tabs.setCurrentWidget(rv)
    yield Wait("ten sources listed", lambda: rv.sources.count() == IMAGES, 10)
    first = rv.sample_ids()
    click(next(t for t in rv.tiles if t.sample_id == first[0]).canvas)
    click(rv.note)  # an explicit click into the note field
    typed(w, "seam at the border")
    press(w, Qt.Key.Key_Return)
    assert ws.review(first[0]) == ("undecided", "seam at the border"), ws.review(first[0])
    yield Shot("note-stored")
    press(w, Qt.Key.Key_PageDown)
    second = rv.focus_sample
    assert second not in first and rv.note.text() == "", (second, rv.note.text())
    press(w, Qt.Key.Key_K)
    assert ws.review(second) == ("keep", ""), ws.review(second)
    press(w, Qt.Key.Key_PageDown)
    press(w, Qt.Key.Key_R)
    click(rv.note)  # in the note field K is a letter: typed, never stored by itself
    press(w, Qt.Key.Key_K)
    assert rv.note.text() == "k", rv.note.text()
    press(w, Qt.Key.Key_PageDown)  # another image: the field shows that sample's own (empty) note
    assert rv.note.text() == "", rv.note.text()
    press(w, Qt.Key.Key_K)
    click(rv.tiles[-1].canvas)  # another sample by a click: its own note shows, the decision keeps it
    assert rv.focus_sample == rv.tiles[-1].sample_id and rv.note.text() == ""
    press(w, Qt.Key.Key_R)
    assert [ws.review(t.sample_id)[0] for t in rv.tiles[1:]] == ["keep", "undecided", "reject"]
    notes = dict(ws.query("SELECT sample_id, note FROM reviews WHERE note != ''"))
    assert notes == {first[0]: "seam at the border"}, notes
    yield Shot("no-leaked-note")
