"""The review record without the window: decisions by sample id and their notes (``diffgen
review``; the samples with their gates and decisions are :mod:`backend.workspace.review_queue`'s).

Every decision goes through ``Workspace.set_review``, the one call the app's Review tab makes
(through ``WorkspaceState.set_review``), so a decision made here is the same row the app reads
and makes. A decision given without a note keeps the sample's note, as the app does when its
note field is empty; a note given replaces the old one, and :class:`Change` says so.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from backend.errors import BadInputError
from backend.workspace import queries
from backend.workspace.store import Workspace

NOTE_MAX_CHARS = 500  # a review note is a remark, not a report
MAX_IDS = 100_000  # ids one argument may name ("1-100000"): far above any review, far below a memory problem


def notes(ws: Workspace, ids: Iterable[int]) -> dict[int, str]:
    """Each sample's review note ("" without one), in one query."""
    wanted = list(dict.fromkeys(int(i) for i in ids))
    stored: dict[int, str] = {
        int(sid): str(note) for sid, note in ws.query("SELECT sample_id, note FROM reviews WHERE note IS NOT NULL AND note != ''")
    }
    return {sid: stored.get(sid, "") for sid in wanted}


def parse_ids(text: str) -> list[int]:
    """Sample ids from ``"3,5,7-9"`` (commas and/or spaces; ranges inclusive), in the order given."""
    ids: list[int] = []
    for part in text.replace(",", " ").split():
        low, dash, high = part.partition("-")
        try:
            first, last = (int(low), int(high)) if dash else (int(part), int(part))
        except ValueError:
            raise BadInputError(f"{part!r} is not a sample id or a range of them (e.g. 3,5,7-9)") from None
        if first < 1 or last < first or last - first >= MAX_IDS:
            raise BadInputError(f"{part!r} is not a range of sample ids: write FIRST-LAST with 1 <= FIRST <= LAST")
        ids.extend(range(first, last + 1))
    return list(dict.fromkeys(ids))


@dataclass(frozen=True)
class Change:
    """One decision as it was stored: the sample's (decision, note) before and after."""

    sample_id: int
    before: tuple[str, str]
    after: tuple[str, str]

    def describe(self) -> str:
        (was, old), (now, new) = self.before, self.after
        text = f"sample {self.sample_id}: " + (f"already {now}" if was == now else f"{was} -> {now}")
        if old != new:
            text += f"; note {old!r} replaced by {new!r}" if old else f"; note {new!r}"
        return text


def check_note(note: str | None) -> None:
    """A note is one line (as the app's note field takes it) of at most ``NOTE_MAX_CHARS``."""
    if note is None:
        return
    if len(note) > NOTE_MAX_CHARS:
        raise BadInputError(f"the note has {len(note)} characters; a review note takes at most {NOTE_MAX_CHARS}")
    if any(not c.isprintable() for c in note):
        raise BadInputError("the note has a line break or a control character; write it on one line")


def check_ids(ws: Workspace, ids: Iterable[int]) -> None:
    """Refuse ids that name no sample, all of them in one message."""
    known = {s.id for s in ws.samples()}
    unknown = [i for i in ids if i not in known]
    if unknown:
        shown = ", ".join(map(str, unknown[:10])) + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
        raise BadInputError(
            f"no sample with id {shown} in {ws.root}: nothing was decided. 'diffgen review -w WS' lists the samples"
        )


def decide(ws: Workspace, ids: Iterable[int], decision: str, note: str | None = None) -> list[Change]:
    """Store ``decision`` for each sample (ids checked first by :func:`check_ids`); ``note``
    None keeps each sample's note, a text replaces it."""
    if decision not in queries.DECISIONS:
        raise BadInputError(f"unknown decision {decision!r}: use one of {', '.join(queries.DECISIONS)}")
    changes = []
    for sid in ids:
        before = ws.review(sid)
        after = (decision, before[1] if note is None else note)
        ws.set_review(sid, *after)
        changes.append(Change(sid, before, after))
    return changes
