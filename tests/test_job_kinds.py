"""The one description of job kinds that forms use: it matches the registry."""

from __future__ import annotations

from backend.jobs import queue as jobs


def test_every_registered_kind_is_described_and_nothing_else():
    assert list(jobs.JOB_KINDS) and set(jobs.JOB_KINDS) == set(jobs.REGISTRY)


def test_kinds_name_known_fields_and_changes():
    for kind, spec in jobs.JOB_KINDS.items():
        assert spec.label and set(spec.fields) <= set(jobs.FORM_FIELDS), kind
        assert set(spec.changes) <= set(jobs.CHANGES), kind
