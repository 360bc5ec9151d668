"""Issue 35 items 5 and 6 walked in a real window: Review's large view and its overlays.

As a pytest module (slow, ``pytest tests/gui/walk_issue35_viewer.py``) it builds a workspace with
samples and starts ``diffgen gui`` under ``xvfb-run`` with ``DIFFGEN_GUI_HOOK`` naming this file;
inside the app :func:`start` clicks a sample, presses Space, O, L, +, K, Esc as a user does
(each key to the widget that has the keyboard focus, where X delivers it), asserts what the
user would see and photographs the screen after each step into ``$DIFFGEN_WALK_KEEP`` (else
the test's temporary folder): look at them.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from walk_support import demo_workspace, run_walk, start_walk

TIMEOUT_S = 240

pytestmark = pytest.mark.slow


def test_walk_issue35_viewer(tmp_path):
    ws = demo_workspace(tmp_path, count=3, size=160, seed=3)
    for i in ws.image_ids()[:2]:  # two samples per image, at half size, the mask moved a little
        img, mask = ws.read_image(i)[::2, ::2], ws.read_mask(ws.current_mask(i))[::2, ::2]
        for k in range(2):
            ws.add_sample(
                "inpainted", "Half", np.roll(img, 2 + k, 1).copy(), np.roll(mask, 4 + 2 * k, 0).copy(), source_image_id=i, seed=k
            )
    ws.close()
    out = run_walk(__file__, "35", tmp_path / "ws", tmp_path, TIMEOUT_S)
    assert len(list(out.glob("p35-*.png"))) >= 7


# -- inside the app ----------------------------------------------------------------------------
def start(win) -> None:
    start_walk(win, walk)


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
