"""Fixtures of the survey and web rater tests: a workspace with samples, and a survey on it."""

from __future__ import annotations

import pytest
from survey_support import add_flipped_samples, make_survey


@pytest.fixture
def ws(demo_ws):
    """The demo workspace with 12 inpainted (6 kept) and 12 styled samples."""
    add_flipped_samples(demo_ws)
    return demo_ws


@pytest.fixture
def survey(ws):
    return make_survey(ws)


@pytest.fixture
def job_queue(ws, qapp):
    """The app's job queue on ``ws`` (the Survey tab's jobs run in its child processes), shut down at the end."""
    from diffgen_gui.worker import JobQueue

    q = JobQueue(ws)
    yield q
    assert q.shutdown(10000)
