"""GUI fixtures: the workspace state and a job queue that is always shut down."""

from __future__ import annotations

import sys
import time
import types

import pytest

from backend import jobs
from backend.errors import Cancelled


@pytest.fixture
def state(demo_ws, qapp):
    from diffgen_gui.state import WorkspaceState

    return WorkspaceState(demo_ws)


@pytest.fixture
def job_queue(demo_ws, qapp):
    from diffgen_gui.worker import JobQueue

    q = JobQueue(demo_ws)
    yield q
    assert q.shutdown(10000)


def _slow(ws, params, progress=None, cancel=None):
    """A pure-Python stage (holds the GIL as much as any stage can) with progress and cancel."""
    steps = int(params.get("steps", 100))
    for i in range(steps):
        t_end = time.perf_counter() + float(params.get("step_s", 0.01))
        x = 0
        while time.perf_counter() < t_end:
            x += sum(range(200))
        if cancel and cancel():
            raise Cancelled(f"at step {i}")
        if progress:
            progress(i + 1, steps, f"step {i + 1}")
    return {"summary": f"{steps} steps"}


@pytest.fixture
def slow_stage(monkeypatch):
    """Registers job kind 'slow' (a fake stage module), for cancel and responsiveness tests."""
    mod = types.ModuleType("fake_slow_stage")
    mod.run_slow = _slow
    monkeypatch.setitem(sys.modules, "fake_slow_stage", mod)
    monkeypatch.setitem(jobs.REGISTRY, "slow", "fake_slow_stage:run_slow")
    return "slow"
