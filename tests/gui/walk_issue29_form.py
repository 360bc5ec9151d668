"""Issue 29 item 4 walked in a real window: a model that appears while the user fills in the
Generate form changes none of the values set there (preset, samples, dilation), and the hint it
raises ("trained with the tiny preset") does not move "Add to queue" under the pointer.

As a pytest module (slow) it starts ``diffgen gui`` under ``xvfb-run`` with this file as
``DIFFGEN_GUI_HOOK``; inside the app a model is registered as a finished training does and the
window is told. Screenshots go to ``$DIFFGEN_WALK_KEEP`` (else the test's temporary folder):
look at them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from walk_support import demo_workspace, run_walk, start_walk

TIMEOUT_S = 120

pytestmark = pytest.mark.slow


def test_walk_issue29_form(tmp_path):
    demo_workspace(tmp_path, count=3, size=64, seed=5).close()
    out = run_walk(__file__, "1", tmp_path / "ws", tmp_path, TIMEOUT_S)
    assert sorted(p.name for p in out.glob("p1-*.png")) == ["p1-01-form-set.png", "p1-02-model-appeared.png"]


# -- inside the app ----------------------------------------------------------------------------
def start(win) -> None:
    start_walk(win, steps)


def steps(j) -> Iterator:
    from issue20_support import shot, wait
    from PySide6.QtCore import QTimer

    from backend.diffusion.registry import register_model

    w = j.win
    f = w.generate_view.form
    w.activateWindow()
    yield wait("the window active", w.isActiveWindow)
    w.tabs.setCurrentWidget(w.generate_view)
    f.kind.setCurrentIndex(f.kind.findData("inpaint"))
    f.model.setCurrentIndex(f.model.findData("full"))
    f.preset.setCurrentText("paper")
    f.spins["samples"].setValue(5)
    f.spins["dilate"].setValue(7)
    yield shot("form-set")
    button_at = f.queue_btn.mapTo(w, f.queue_btn.rect().topLeft())
    register_model(w.workspace, "full-tiny", "full", "tiny", {}, w.workspace.path("models/full-tiny"))
    w.state.modelsChanged.emit()  # what a finished training says
    yield wait("the model in the form's list", lambda: f.model.findData(str(w.workspace.path("models/full-tiny"))) >= 0)
    yield shot("model-appeared")
    values = (f.preset.currentText(), f.spins["samples"].value(), f.spins["dilate"].value(), f.model.currentData())
    assert values == ("paper", 5, 7, "full"), f"the form changed the user's values: {values}"  # was ('tiny', 3, 3, ...)
    assert f.preset_warning.isVisible() and "trained with the tiny preset" in f.preset_warning.text(), f.preset_warning.text()
    moved_to = f.queue_btn.mapTo(w, f.queue_btn.rect().topLeft())
    assert moved_to == button_at, f"'Add to queue' moved from {button_at} to {moved_to}"
    QTimer.singleShot(200, w.close)  # the walk ends with the app (no job runs: nothing to ask)
