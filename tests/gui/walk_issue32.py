"""Rater mode is a closed room (issue 32 item 1), walked in a real window.

Two faces in one file, like ``walk_issue20.py``. As a pytest module it starts ``diffgen gui``
(and then the kiosk form, ``diffgen survey rate``) under Xvfb with this file as
``DIFFGEN_GUI_HOOK``. Inside the app: the Survey tab's "Start rating" leaves the rater window
as the only window on screen; the app's keys (Ctrl+4 to Review, Ctrl+Q) do nothing there;
Esc asks before it ends the session (No keeps rating), and only once it has ended does the
app come back. In the kiosk form, ending the session quits the process. Before the fix, Esc
closed the rater window at once and left the whole app, its samples and sources, on screen.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest
from walk_support import HERE, ROOT, demo_workspace, run_walk, start_walk

TIMEOUT_S = 180

pytestmark = pytest.mark.slow


def test_rater_mode_is_a_closed_room(tmp_path):
    from backend import survey as sv

    ws = demo_workspace(tmp_path, count=4, size=64, seed=0)
    sv.add_rater(ws, sv.create_survey(ws, sv.SurveyConfig("closed", {"real": 3})), "dr-a")
    ws.close()
    out = run_walk(__file__, "32", tmp_path / "ws", tmp_path, TIMEOUT_S)
    assert len(list(out.glob("p32-*.png"))) >= 4

    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    env.update(
        DIFFGEN_GUI_HOOK=__file__,
        DIFFGEN_JOURNEY_OUT=str(out),
        DIFFGEN_JOURNEY_PHASE="33",
        QT_QPA_PLATFORM="xcb",
        PYTHONPATH=os.pathsep.join([str(ROOT), str(HERE)]),
    )
    cmd = ["diffgen_gui", "survey", "rate", "-w", str(tmp_path / "ws"), "--survey", "closed", "--rater", "dr-a"]
    xvfb = shutil.which("xvfb-run")
    assert xvfb is not None, "xvfb-run is missing (apt-get install xvfb)"
    proc = subprocess.run(
        [xvfb, "-a", "-s", "-screen 0 1280x800x24", sys.executable, "-m", *cmd],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        cwd=ROOT,
    )
    log = (out / "journey-phase33.log").read_text()
    assert proc.returncode == 0 and not (out / "journey-error.txt").exists(), proc.stderr[-3000:] + log
    assert "ok: asked before ending" in log and "ending the session quits" in log, log


# -- inside the app ----------------------------------------------------------------------------
def start(win) -> None:
    if type(win).__name__ == "RaterWindow":
        start_walk(win, kiosk)
    else:
        start_walk(win, walk)


def _shown_windows() -> list:
    from PySide6.QtWidgets import QApplication

    return [w for w in QApplication.topLevelWidgets() if w.isVisible()]


def walk(j) -> Iterator:
    from issue20_support import shot, wait
    from journey_hook import choose, click, key, press, quit_app
    from PySide6.QtCore import Qt

    w = j.win
    sv = w.survey_view
    w.tabs.setCurrentWidget(sv)
    choose(sv.survey_combo, text="closed")
    yield wait("the rater listed", lambda: sv.rater_list.count() == 1)
    sv.rater_list.setCurrentRow(0)
    click(sv.rate_button)
    yield wait("the rater window open", lambda: sv.rater_window is not None and sv.rater_window.isVisible())
    rw = sv.rater_window
    yield shot("rater-alone")
    assert rw.scale_label.text().startswith("Items are 64 × 64 px, enlarged")
    rw.overlay.setValue(50)
    yield shot("mask-over-image")
    assert _shown_windows() == [rw], _shown_windows()  # the app is out of sight and out of reach
    assert not w.isVisible()
    review_tab = w.tabs.indexOf(w.review_view)
    for k, mod in ((Qt.Key.Key_4, Qt.KeyboardModifier.ControlModifier), (Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)):
        press(rw, k, mod)
    yield wait("the app's keys did nothing", lambda: _shown_windows() == [rw] and w.tabs.currentIndex() != review_tab)
    key(rw, Qt.Key.Key_Escape)
    yield wait("asked before ending", lambda: rw.leave_box is not None and rw.leave_box.isVisible())
    assert "End this rating session" in rw.leave_box.text()
    yield shot("leave-asks")
    key(rw.leave_box, Qt.Key.Key_N)
    yield wait("still rating after No", lambda: rw.leave_box is None and rw.isVisible() and not w.isVisible())
    rw.close()  # the window manager's close button asks the same question
    yield wait("asked again on close", lambda: rw.leave_box is not None and rw.leave_box.isVisible())
    key(rw.leave_box, Qt.Key.Key_Y)
    yield wait("the session ended and the app back", lambda: not rw.isVisible() and w.isVisible())
    yield shot("app-back")
    yield from quit_app(j)


def kiosk(j) -> Iterator:
    from issue20_support import shot, wait
    from journey_hook import OUT, key
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    rw = j.win

    def fail(text: str) -> None:  # the journey's fail stops the job queue: the kiosk has none
        j.note("FAILED\n" + text)
        (OUT / "journey-error.txt").write_text(text)
        QApplication.exit(3)

    j.fail = fail
    assert _shown_windows() == [rw]
    key(rw, Qt.Key.Key_Escape)
    yield wait("asked before ending", lambda: rw.leave_box is not None and rw.leave_box.isVisible())
    yield shot("kiosk-leave-asks")
    j.note("ending the session quits")
    key(rw.leave_box, Qt.Key.Key_Y)
