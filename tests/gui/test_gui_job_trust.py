"""Issue 29 offscreen: the Generate form asks about a training name clash when the job is queued
(item 5), and a queued inpaint job's row names the model it will use (item 1)."""

from __future__ import annotations

import pytest

from tests.test_job_trust import _model


@pytest.fixture
def view(state, job_queue, qtbot):
    from diffgen_gui.generate_view import GenerateView

    job_queue.poll.stop()
    job_queue.wake = lambda: None  # the jobs stay queued: only queueing is under test
    v = GenerateView(state, job_queue)
    qtbot.addWidget(v)
    v.show()
    return v


def _train_form(v) -> None:
    v.form.kind.setCurrentIndex(v.form.kind.findData("train"))
    v.form.preset.setCurrentText("tiny")
    v.form.train_target.setCurrentIndex(v.form.train_target.findData("full"))


@pytest.mark.parametrize(
    "answer, stored",
    [({"resume": True}, {"resume": True, "name": None}), ({"name": "full-tiny-2"}, {"resume": False, "name": "full-tiny-2"})],
)
def test_a_taken_model_name_is_asked_when_queued(view, job_queue, answer, stored):
    """It failed 29 s after the start with CLI advice (--resume / --overwrite / --name)."""
    _model(job_queue.ws, "full-tiny", 20)
    _train_form(view)
    asked = []
    view.ask_name_taken = lambda names: asked.append(names) or answer
    job_id = view.queue_from_form()
    assert asked == [["full-tiny"]] and job_id is not None
    params = job_queue.store.get(job_id).params
    assert {k: params[k] for k in stored} == stored and params["overwrite"] is False


def test_saying_no_to_the_name_question_queues_nothing(view, job_queue):
    _model(job_queue.ws, "full-tiny", 20)
    _train_form(view)
    view.ask_name_taken = lambda names: None
    assert view.queue_from_form() is None
    assert job_queue.store.list() == []
    assert view.form.form_error.text() == "Not queued: a model named full-tiny already exists"


def test_the_row_of_an_inpaint_job_names_its_model(view, job_queue):
    _model(job_queue.ws, "full-a", 100)
    view.form.kind.setCurrentIndex(view.form.kind.findData("inpaint"))
    job_id = view.queue_from_form()
    assert view.table.item(view._rows[job_id], 1).text().endswith("· model full-a (step 100)")
