"""Raters and their answers: registration, per-rater order, answers committed one by one."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

import numpy as np

from backend.errors import BadInputError, WorkspaceError
from backend.survey.model import (
    Answer,
    BlindItem,
    Rater,
    Survey,
    answers_of,
    get_rater,
    get_survey,
    survey_by_id,
    template_of,
)
from backend.survey.template import Template
from backend.workspace.store import Workspace, now


def new_order_seed() -> int:
    """A rater's order seed: from :mod:`secrets` (nobody can work out a rater's order from
    their name), recorded with the rater so the order can be shown and repeated."""
    return secrets.randbits(31)


def add_rater(ws: Workspace, survey: Survey, name: str, seed: int | None = None, simulated: bool = False) -> Rater:
    """Register a rater; their item order is seeded by ``seed`` (default: a random one, recorded)."""
    name = name.strip()
    if not name:
        raise BadInputError("a rater needs a name")
    if ws.query("SELECT 1 FROM raters WHERE survey_id = ? AND name = ?", (survey.id, name)):
        raise BadInputError(f"survey {survey.name!r} already has a rater named {name!r}")
    seed = new_order_seed() if seed is None else int(seed)
    with ws.transaction() as c:
        c.execute(
            "INSERT INTO raters (survey_id, name, seed, simulated) VALUES (?,?,?,?)", (survey.id, name, seed, int(simulated))
        )
    return get_rater(ws, survey, name)


def rater_order(ws: Workspace, survey: Survey, rater: Rater) -> list[int]:
    """The item ids in the order this rater sees them (same every time).

    Item ids follow the random codes, not the kind, so this order reveals nothing either.
    With repeats, the first showings of the repeated items fall in the first half, their
    repeats in the second, each half shuffled: the two showings of an item are apart.
    Calibration items come before all of them.
    """
    every = ws.query("SELECT id, repeat_of, calibration FROM survey_items WHERE survey_id = ? ORDER BY id", (survey.id,))
    rng = np.random.default_rng([survey.seed, rater.seed])
    calibration = [r[0] for r in every if r[2]]
    opening = [calibration[i] for i in rng.permutation(len(calibration))]  # calibration items open the order
    rows = [r for r in every if not r[2]]
    repeat_of = {r[0]: r[1] for r in rows if r[1] is not None}
    if not repeat_of:
        return opening + [rows[i][0] for i in rng.permutation(len(rows))]
    firsts = set(repeat_of.values())
    others = [r[0] for r in rows if r[0] not in firsts and r[0] not in repeat_of]
    others = [others[i] for i in rng.permutation(len(others))]
    half = max(len(firsts), (len(rows) + 1) // 2)
    front = sorted(firsts) + others[: half - len(firsts)]
    front = [front[i] for i in rng.permutation(len(front))]
    back = others[half - len(firsts) :] + sorted(repeat_of)
    back = [back[i] for i in rng.permutation(len(back))]
    # the repeats keep the back half's slots they drew, in the order of their first showings:
    # the earliest first showing gets the earliest repeat slot, which spreads the gaps out
    slots = [n for n, item in enumerate(back) if item in repeat_of]
    by_first = {first: again for again, first in repeat_of.items()}
    for slot, first in zip(slots, [item for item in front if item in firsts]):
        back[slot] = by_first[first]
    return opening + front + back


def _ensure_open(ws: Workspace, rater_id: int) -> None:
    row = ws.query("SELECT name, submitted_at FROM raters WHERE id = ?", (rater_id,))
    if not row:
        raise WorkspaceError(f"no rater with id {rater_id}")
    if row[0]["submitted_at"]:
        raise WorkspaceError(f"rater {row[0]['name']!r} has submitted; answers can no longer change")


def record_answer(
    ws: Workspace,
    rater: Rater,
    item_id: int,
    question: str,
    value: str | None,
    shown_at: str | None = None,
    template: Template | None = None,
) -> None:
    """Store one answer (or clear it with None) and commit before returning. ``shown_at``:
    when the item was first shown (kept from the first answer on). The question and answer
    are checked against the survey's template (read when not given)."""
    template = template or template_of(ws, survey_by_id(ws, rater.survey_id))
    value = template.check(question, value)
    # the path names a question of the template: a-z, 0-9 and _ only (checked when it was read)
    path = f"$.{template.question(question).name}"
    stamp = now()
    with ws.transaction() as c:
        _ensure_open(ws, rater.id)
        c.execute(
            "INSERT INTO survey_answers (rater_id, item_id, answers_json, answered_at, shown_at, first_answered_at)"
            " VALUES (?,?,json_object(?, ?),?,?,?) ON CONFLICT(rater_id, item_id) DO UPDATE SET"
            " changes = changes + (json_extract(answers_json, ?) IS NOT NULL"
            " AND json_extract(answers_json, ?) IS NOT json_extract(excluded.answers_json, ?)),"
            " answers_json = json_set(answers_json, ?, json_extract(excluded.answers_json, ?)),"
            " answered_at = excluded.answered_at, shown_at = COALESCE(shown_at, excluded.shown_at),"
            " first_answered_at = COALESCE(first_answered_at, excluded.first_answered_at)",
            (rater.id, item_id, question, value, stamp, shown_at, stamp if value is not None else None, *[path] * 5),
        )


def record_comment(ws: Workspace, rater: Rater, item_id: int, comment: str, shown_at: str | None = None) -> None:
    with ws.transaction() as c:
        _ensure_open(ws, rater.id)
        c.execute(
            "INSERT INTO survey_answers (rater_id, item_id, comment, answered_at, shown_at) VALUES (?,?,?,?,?)"
            " ON CONFLICT(rater_id, item_id) DO UPDATE SET comment = excluded.comment, answered_at = excluded.answered_at,"
            " shown_at = COALESCE(shown_at, excluded.shown_at)",
            (rater.id, item_id, comment.strip(), now(), shown_at),
        )


def submit(ws: Workspace, rater: Rater) -> None:
    """Make a rater's answers final; refused while any item is incomplete. Submitting again
    (a second device, a repeated request) changes nothing."""
    if ws.query("SELECT submitted_at FROM raters WHERE id = ?", (rater.id,))[0][0]:
        return
    survey = survey_by_id(ws, rater.survey_id)
    answers, template = answers_of(ws, rater), template_of(ws, survey)
    missing = [i for i in rater_order(ws, survey, rater) if not template.complete(answers.get(i, Answer()).values)]
    if missing:
        raise BadInputError(f"{len(missing)} items still need an answer to every question")
    with ws.transaction() as c:
        c.execute("UPDATE raters SET submitted_at = ? WHERE id = ?", (now(), rater.id))


def calibration_truth(survey: Survey, truth: str) -> str:
    """What a rater is told of a calibration item once they have called it."""
    return "real" if truth == "real" else f"synthetic ({survey.labels.get(truth, truth)})"


@dataclass
class RaterSession:
    """One rater working through a survey: blinded items in their order, position, answers.

    The GUI's rater window is a face on this; it never sees an item's truth or source.
    """

    ws: Workspace
    survey: Survey
    rater: Rater
    template: Template
    items: list[BlindItem] = field(default_factory=list)
    answers: dict[int, Answer] = field(default_factory=dict)
    index: int = 0
    shown: dict[int, str] = field(default_factory=dict)  # item id -> when first shown here

    @classmethod
    def open(cls, ws: Workspace, survey_name: str, rater_name: str) -> "RaterSession":
        survey = get_survey(ws, survey_name)
        rater = get_rater(ws, survey, rater_name)
        rows = {
            r["id"]: r
            for r in ws.query(
                "SELECT id, image_path, mask_path, calibration, truth FROM survey_items WHERE survey_id = ?", (survey.id,)
            )
        }
        blind = [
            BlindItem(
                i,
                ws.stored(rows[i]["image_path"], "survey_items", i, "image_path"),
                ws.stored(rows[i]["mask_path"], "survey_items", i, "mask_path"),
                calibration_truth(survey, rows[i]["truth"]) if rows[i]["calibration"] else None,
            )
            for i in rater_order(ws, survey, rater)
        ]
        s = cls(ws, survey, rater, template_of(ws, survey), blind, answers_of(ws, rater))
        s.index = s.resume_index()
        return s

    @property
    def total(self) -> int:
        return len(self.items)

    @property
    def submitted(self) -> bool:
        return self.rater.submitted_at is not None

    @property
    def current(self) -> BlindItem:
        return self.items[min(self.index, self.total - 1)]

    def reload(self) -> None:
        """Re-read answers and the submitted state (another window or device may have
        answered meanwhile) and move to the first unanswered item."""
        self.rater = get_rater(self.ws, self.survey, self.rater.name)
        self.answers = answers_of(self.ws, self.rater)
        self.index = self.resume_index()

    def select(self, position: int) -> None:
        """Make the item at ``position`` (0-based, in this rater's order) the current one."""
        if not 0 <= position < self.total:
            raise BadInputError(f"no item at position {position} (this rater has {self.total})")
        self.index = position

    def answer(self) -> Answer:
        return self.answers.get(self.current.item_id, Answer())

    def complete(self, item_id: int | None = None) -> bool:
        """Whether every question of the item (default: the current one) is answered."""
        return self.template.complete(self.answers.get(self.current.item_id if item_id is None else item_id, Answer()).values)

    def resume_index(self) -> int:
        """Position of the first item not fully answered (``total`` when all are)."""
        for pos, it in enumerate(self.items):
            if not self.complete(it.item_id):
                return pos
        return self.total

    @property
    def complete_count(self) -> int:
        return sum(self.complete(it.item_id) for it in self.items)

    def progress_text(self) -> str:
        return f"{min(self.index + 1, self.total)} / {self.total}"

    def feedback(self, position: int | None = None) -> str:
        """On a calibration item (default: the current one), what it is and, once called real
        or synthetic (once answered, in a template without that question), its truth;
        nothing on the other items."""
        if position is None and self.finished():
            return ""
        item = self.current if position is None else self.items[position]
        if item.calibration_truth is None:
            return ""
        truth = self.template.truth_question
        values = self.answers.get(item.item_id, Answer()).values
        if values.get(truth.name) is None if truth else not self.template.complete(values):
            return "Calibration item (not counted): its truth is shown after your call."
        return f"Calibration item (not counted): this one was {item.calibration_truth}."

    def mark_shown(self, position: int | None = None) -> None:
        """Note when the item at ``position`` (default: the current one) was first shown; it
        is stored with the first answer (the time per item of the report)."""
        item = self.items[position].item_id if position is not None else self.current.item_id
        self.shown.setdefault(item, now())

    def give(self, question: str, value: str) -> None:
        """Record an answer for the current item (committed before returning)."""
        item = self.current.item_id
        record_answer(self.ws, self.rater, item, question, value, self.shown.get(item), self.template)
        ans = self.answers.setdefault(item, Answer())
        checked = self.template.check(question, value)
        if checked is None:
            ans.values.pop(question, None)
        else:
            ans.values[question] = checked

    def comment(self, text: str) -> None:
        item = self.current.item_id
        record_comment(self.ws, self.rater, item, text, self.shown.get(item))
        self.answers.setdefault(item, Answer()).comment = text.strip()

    def next(self) -> bool:
        """Move on if the current item is complete; False (and stay) otherwise."""
        if not self.complete():
            return False
        self.index = min(self.index + 1, self.total)
        return True

    def back(self) -> None:
        self.index = max(0, min(self.index, self.total) - 1)

    def finished(self) -> bool:
        return self.index >= self.total

    def submit(self) -> None:
        submit(self.ws, self.rater)
        self.rater = get_rater(self.ws, self.survey, self.rater.name)
