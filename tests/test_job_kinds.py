"""The one table of job kinds (backend.jobs.kinds.REGISTRY) and the declarations the faces read."""

from __future__ import annotations

import dataclasses

import pytest

from backend.config.fields import FORM, HELP, LABEL, RANGE, UNIT, label_of
from backend.inpaint.config import InpaintConfig
from backend.inpaint.params import InpaintParams
from backend.jobs import queue as jobs
from backend.jobs.kinds import CHANGES, REGISTRY


def test_the_queue_reads_the_one_table():
    assert jobs.JOB_KINDS is REGISTRY and list(REGISTRY)


@pytest.mark.parametrize("kind", list(REGISTRY))
def test_every_kind_is_declared_with_a_label_rows_and_known_changes(kind):
    spec = REGISTRY[kind]
    assert spec.label and set(spec.changes) <= set(CHANGES), kind
    form = [f for f in dataclasses.fields(jobs.params_class(kind)) if f.metadata.get(FORM)]
    assert bool(form) == spec.in_form, kind  # a kind in the form has rows, one outside it none
    for f in form:  # what a row shows: its label and, as a tooltip, its help
        assert f.metadata[LABEL] and f.metadata[HELP], (kind, f.name)
    if spec.in_form:
        assert spec.fields == tuple(dict.fromkeys(f.name if f.metadata[FORM] is True else f.metadata[FORM] for f in form))


def test_the_inpainting_flags_and_rows_allow_what_the_preset_allows():
    """A job's explicit value replaces the preset's, so both declarations bound it alike."""
    config = {f.name: f for f in dataclasses.fields(InpaintConfig)}
    aliases = {"batch": "batch_size"}
    checked = []
    for f in dataclasses.fields(InpaintParams):
        if RANGE in f.metadata:
            twin = config[aliases.get(f.name, f.name)]
            assert (f.metadata[RANGE], f.metadata[UNIT]) == (twin.metadata[RANGE], twin.metadata[UNIT]), f.name
            checked.append(f.name)
    assert {"samples", "dilate", "respacing", "jump_length", "jump_n_sample", "batch"} <= set(checked)
    assert label_of(dataclasses.fields(InpaintParams)[0]) == "Images"
