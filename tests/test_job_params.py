"""Typed job parameters and results: one mechanism for every kind of the registry, the JSON a
job stores, and jobs stored by older versions."""

from __future__ import annotations

import dataclasses
import json
import types
from typing import Any, Union, get_args, get_origin, get_type_hints

import pytest

from backend.cli import main
from backend.config.fields import RANGE, choices_of
from backend.errors import BadInputError, Cancelled, DiffGenError
from backend.inpaint.params import InpaintParams
from backend.jobs import queue as jobs
from backend.jobs.context import JobContext
from backend.jobs.params import JobParams, JobResult
from backend.jobs.queue import JobStore, MaskParams
from backend.jobs.runner import resolve, run_job
from backend.workspace import now
from backend.workspace.selection import ImageSelection

KINDS = sorted(jobs.REGISTRY)


def _sample(hint: Any, salt: int) -> Any:
    """A value of type ``hint`` that differs from any field default (None, 0, "", (), False)."""
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        return _sample(next(a for a in args if a is not type(None)), salt)
    if origin is tuple:
        return (_sample(args[0], salt), _sample(args[0], salt + 1))
    if origin is dict:
        return {f"key{salt}": _sample(args[1], salt)}
    if dataclasses.is_dataclass(hint):
        return hint(
            **{
                f.name: _sample(t, salt + i)
                for i, (f, t) in enumerate(zip(dataclasses.fields(hint), get_type_hints(hint).values()))
            }
        )
    return {bool: True, int: 7 + salt, float: 0.25 + salt, str: f"text{salt}"}.get(hint, f"any{salt}")


def _example(cls: type[JobParams]) -> JobParams:
    """Every field set to a non-default value of its type (the low end of a declared range, the
    last of its declared choices)."""
    hints = get_type_hints(cls)

    def value(f: dataclasses.Field, i: int) -> Any:
        many = get_origin(hints[f.name]) is tuple
        if RANGE in f.metadata and f.metadata[RANGE][0] is not None:
            return (f.metadata[RANGE][0],) * 2 if many else f.metadata[RANGE][0]
        choices = choices_of(f)
        if choices is not None:
            return (choices[-1],) * 2 if many else choices[-1]
        return _sample(hints[f.name], i)

    return cls(**{f.name: value(f, i) for i, f in enumerate(dataclasses.fields(cls))})


@pytest.mark.parametrize("kind", KINDS)
def test_params_round_trip_through_json_for_every_kind(kind):
    cls = jobs.params_class(kind)
    assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen
    params = _example(cls)
    stored = json.loads(json.dumps(params.to_dict()))  # plain JSON: no default= needed
    assert set(stored) == set(cls.known_keys())
    assert cls.from_dict(stored) == params
    assert cls.from_dict(stored).to_dict() == stored


@pytest.mark.parametrize("kind", KINDS)
def test_an_unknown_key_is_refused_by_name_with_the_known_ones(kind):
    cls = jobs.params_class(kind)
    valid = _example(cls).to_dict()
    with pytest.raises(BadInputError, match=r"unknown \w+ parameter 'sampels'; known: ") as err:
        cls.from_dict({**valid, "sampels": 3})
    assert all(k in str(err.value) for k in cls.known_keys())


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_returns_a_result_with_a_summary(kind):
    result = get_type_hints(resolve(kind))["return"]
    assert issubclass(result, JobResult) and result is not JobResult
    assert dataclasses.fields(result)[0].name == "summary" and result.__dataclass_params__.frozen
    assert get_type_hints(resolve(kind))["params"] is jobs.params_class(kind)


def test_values_are_checked_and_lists_become_tuples():
    p = InpaintParams.from_dict({"images": [3, 1], "overrides": ["inpaint.samples=2"], "samples": 2})
    assert p.selection == ImageSelection(images=(3, 1)) and p.overrides == ("inpaint.samples=2",)
    with pytest.raises(BadInputError, match="samples must be an integer, not 'three'"):
        InpaintParams.from_dict({"samples": "three"})
    with pytest.raises(BadInputError, match=r"images\[1\] must be an integer, not 'b'"):
        InpaintParams.from_dict({"images": [1, "b"]})
    with pytest.raises(BadInputError, match="fill_holes must be true or false, not 1"):
        InpaintParams.from_dict({"fill_holes": 1})
    with pytest.raises(BadInputError, match="a mask job needs 'operation'"):
        MaskParams.from_dict({"all": True})


def test_none_means_not_given_and_the_selection_may_come_nested():
    assert InpaintParams.from_dict({"samples": None, "model": None, "images": None}) == InpaintParams()
    flat = InpaintParams.from_dict({"cluster": 2, "samples": 1})
    assert InpaintParams.from_dict({"selection": {"cluster": 2}, "samples": 1}) == flat
    stored = flat.to_dict()
    assert (stored["images"], stored["cluster"], stored["all"]) == ([], 2, False) and "selection" not in stored


def test_a_bare_context_reports_nothing_and_is_never_cancelled():
    ctx = JobContext()
    ctx.report(1, 2, "x")
    ctx.log("a line")
    ctx.check_cancel("never")
    assert ctx.job_id is None and not ctx.cancelled()
    seen: list = []
    live = JobContext(7, lambda d, t, m: seen.append((d, t, m)), lambda: True, seen.append)
    live.report(1, 2)
    live.log("note")
    assert seen == [(1, 2, ""), "note"] and live.cancelled()
    with pytest.raises(Cancelled, match="after 3 images"):
        live.check_cancel("after 3 images")


def test_enqueue_refuses_bad_params_before_anything_is_queued(demo_ws):
    store = JobStore(demo_ws)
    with pytest.raises(BadInputError, match="unknown inpaint parameter 'sampels'"):
        store.enqueue("inpaint", {"sampels": 3, "all": True})
    with pytest.raises(BadInputError, match="dilate must be an integer"):
        store.enqueue("inpaint", {"dilate": "wide", "all": True})
    with pytest.raises(DiffGenError, match="a masks job takes MaskParams, not InpaintParams"):
        store.enqueue("masks", InpaintParams())
    assert store.list() == []
    job_id = store.enqueue("masks", MaskParams("dilate", {"pixels": 1}, ImageSelection(all=True)))
    assert store.get(job_id).params == {
        "operation": "dilate",
        "op_params": {"pixels": 1},
        "images": [],
        "cluster": None,
        "all": True,
    }
    assert store.get(job_id).describe() == "masks · all images · dilate"


def test_a_job_stored_by_an_older_version_still_runs(demo_ws):
    """The row as the first desktop forms wrote it (a device with every job), put straight into
    the table: it is read through the dataclass and runs; its mask versions name the job."""
    ids = demo_ws.image_ids()[:2]
    old = {"device": "auto", "images": ids, "operation": "dilate", "op_params": {"pixels": 1}}
    with demo_ws.transaction() as c:
        job_id = c.execute(
            "INSERT INTO jobs (kind, status, params_json, position, created_at) VALUES ('masks', 'queued', ?, 1, ?)",
            (json.dumps(old), now()),
        ).lastrowid
    rec = run_job(demo_ws, job_id)
    assert rec.status == "done", rec.message
    assert rec.message == "dilate {'pixels': 1}: 2 new mask versions"
    assert rec.result["mask_versions"] == [demo_ws.current_mask(i).id for i in ids] and rec.result["skipped"] == []
    assert all(demo_ws.current_mask(i).params["job_id"] == job_id for i in ids)


def test_the_cli_queues_only_valid_jobs(demo_ws, capsys):
    w = str(demo_ws.root)
    assert main(["jobs", "add", "-w", w, "inpaint", "-p", "sampels=3", "-p", "all=true"]) == 1
    assert "error: unknown inpaint parameter 'sampels'; known: images, cluster, all," in capsys.readouterr().err
    assert main(["jobs", "add", "-w", w, "masks", "-p", "operation=erode", "-p", "images=[1,2]"]) == 0
    (job,) = JobStore(demo_ws).list()
    assert job.params["images"] == [1, 2] and job.params["operation"] == "erode"
