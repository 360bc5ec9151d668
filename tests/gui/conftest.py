"""GUI fixtures: the workspace state and a job queue (with test stages) that is always shut down."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from backend.jobs import queue as jobs


@pytest.fixture
def window(demo_ws, qtbot):
    from diffgen_gui.main_window import MainWindow

    """The real main window on the demo workspace (unsaved edits are discarded at the end)."""
    w = MainWindow(demo_ws)
    w.ask_unsaved = lambda n: "discard"
    qtbot.addWidget(w)
    w.show()
    yield w
    w.close()


@pytest.fixture
def state(demo_ws, qapp):
    from diffgen_gui.state import WorkspaceState

    return WorkspaceState(demo_ws)


STAGES_CHILD = Path(__file__).with_name("stages_child.py")


@pytest.fixture
def launcher() -> list[str]:
    """Job children that also know the test stages ``slow`` and ``misbehave``."""
    return [sys.executable, str(STAGES_CHILD)]


@pytest.fixture
def job_queue(demo_ws, qapp, launcher, monkeypatch):
    from stages_child import register

    from diffgen_gui.worker import JobQueue

    # the parent checks kinds and parameters when queueing; the stages themselves run in the child
    for kind, spec in register("stages_child").items():
        monkeypatch.setitem(jobs.REGISTRY, kind, spec)
    q = JobQueue(demo_ws, launcher=launcher)
    yield q
    assert q.shutdown(10000)
