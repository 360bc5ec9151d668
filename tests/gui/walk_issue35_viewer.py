"""Issue 35 items 5 and 6 walked in a real window: Review's large view and its overlays.

As a pytest module (slow, ``pytest tests/gui/walk_issue35_viewer.py``) it builds a workspace with
samples and starts ``diffgen gui`` under ``xvfb-run`` with ``DIFFGEN_GUI_HOOK`` naming this file;
inside the app :func:`start` clicks a sample, presses Space, O, L, +, K, Esc as a user does
(each key to the widget that has the keyboard focus, where X delivers it), asserts what the
user would see and photographs the screen after each step into ``$DIFFGEN_WALK_KEEP`` (else
the test's temporary folder): look at them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
TIMEOUT_S = 240
SETTLE_MS = 250

pytestmark = pytest.mark.slow


def test_walk_issue35_viewer(tmp_path):
    from backend.data.demo import write_demo_dataset
    from backend.data.importer import import_dataset
    from backend.workspace import Workspace

    xvfb = shutil.which("xvfb-run")
    if xvfb is None:
        pytest.fail("xvfb-run is missing: .ci/run installs it (apt-get install xvfb)")
    data = write_demo_dataset(tmp_path / "data", count=3, size=160, seed=3)
    ws = Workspace.create(tmp_path / "ws")
    import_dataset(ws, data)
    for i in ws.image_ids()[:2]:  # two samples per image, at half size, the mask moved a little
        img, mask = ws.read_image(i)[::2, ::2], ws.read_mask(ws.current_mask(i))[::2, ::2]
        for k in range(2):
            ws.add_sample(
                "inpainted", "Half", np.roll(img, 2 + k, 1).copy(), np.roll(mask, 4 + 2 * k, 0).copy(), source_image_id=i, seed=k
            )
    ws.close()
    keep = os.environ.get("DIFFGEN_WALK_KEEP")
    out = Path(keep) if keep else tmp_path / "walk"
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("p35-*.png"):
        old.unlink()
    (out / "journey-error.txt").unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    env.update(
        DIFFGEN_GUI_HOOK=str(Path(__file__).resolve()),
        DIFFGEN_JOURNEY_OUT=str(out),
        DIFFGEN_JOURNEY_PHASE="35",
        QT_QPA_PLATFORM="xcb",
        PYTHONPATH=os.pathsep.join([str(ROOT), str(HERE)]),
    )
    cmd = [
        xvfb,
        "-a",
        "-s",
        "-screen 0 1600x1000x24",
        sys.executable,
        "-m",
        "diffgen_gui",
        "gui",
        "--workspace",
        str(tmp_path / "ws"),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, cwd=ROOT)
    error, log = out / "journey-error.txt", out / "journey-phase35.log"
    said = error.read_text() if error.exists() else "(none)"
    detail = f"rc={proc.returncode}\n--- walk error:\n{said}\n--- stderr tail:\n{proc.stderr[-3000:]}"
    assert proc.returncode == 0 and not error.exists(), detail
    assert "journey phase done" in log.read_text(), detail
    assert len(list(out.glob("p35-*.png"))) >= 7


# -- inside the app ----------------------------------------------------------------------------
def start(win) -> None:
    from journey_hook import Journey, QTimer

    class Walk(Journey):
        def screenshot(self, name: str) -> None:
            from PySide6.QtTest import QTest

            QTest.qWait(SETTLE_MS)
            super().screenshot(name)

    win.journey = Walk(win, walk)
    QTimer.singleShot(500, win.journey.tick)


def press(k) -> None:
    """A key press where the keyboard focus is, as X delivers it."""
    from journey_hook import key
    from PySide6.QtWidgets import QApplication

    key(QApplication.focusWidget() or QApplication.activeWindow(), k)


def walk(j) -> Iterator:
    from issue20_support import shot, wait
    from journey_hook import click, menu_action
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    w = j.win
    rv = w.review_view
    w.activateWindow()  # Xvfb has no window manager to do it
    yield wait("the window active", w.isActiveWindow)
    w.tabs.setCurrentWidget(rv)
    yield wait("two sources with samples listed", lambda: rv.sources.count() == 2 and len(rv.sample_ids()) == 2)
    first, second = rv.sample_ids()
    click(next(t for t in rv.tiles if t.sample_id == first).canvas)
    assert rv.focus_sample == first and QApplication.focusWidget() is rv, QApplication.focusWidget()
    yield shot("grid")
    press(Qt.Key.Key_Space)
    v = rv.viewer
    yield wait("the large view open", v.isVisible)
    assert v.sample_id == first and QApplication.focusWidget() is v, QApplication.focusWidget()
    assert v.width() >= rv.width() - 1 and v.source.width() > 500, (v.width(), rv.width(), v.source.width())
    yield shot("large-view-overlay")
    press(Qt.Key.Key_O)
    assert v.style_.mode == "mask"
    yield shot("large-view-mask")
    press(Qt.Key.Key_O)
    press(Qt.Key.Key_O)
    press(Qt.Key.Key_L)
    assert v.style_.mode == "overlay" and v.style_.outlines and "source" in v.bar.legend.text()
    for _ in range(3):
        press(Qt.Key.Key_Plus)
    assert v.source._transform() == v.sample._transform() and v.source.scale > 2
    yield shot("large-view-outlines-zoomed")
    press(Qt.Key.Key_K)
    assert w.workspace.review(first)[0] == "keep" and v.sample_id == rv.focus_sample == second
    assert v.isVisible() and QApplication.focusWidget() is v
    yield shot("large-view-after-keep")
    press(Qt.Key.Key_Escape)
    yield wait("back to the grid", lambda: not v.isVisible())
    assert QApplication.focusWidget() is rv, QApplication.focusWidget()
    press(Qt.Key.Key_R)  # the grid has the keys again
    assert w.workspace.review(second)[0] == "reject"
    assert {t.canvas.mode for t in rv.tiles} == {"fill"} and all(t.canvas.outlines for t in rv.tiles)  # as the large view
    yield shot("grid-after")
    press(Qt.Key.Key_O)  # the grid flips too
    assert {t.canvas.mode for t in rv.tiles} == {"mask"}
    yield shot("grid-mask")
    j.note("quitting with File > Quit")
    menu_action(w, "&File", "&Quit").trigger()
