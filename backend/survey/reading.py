"""How the rating was done, for the reader-study part of the report (issue 32 items 4, 7).

Each rater's order (from their recorded seed), the time they took per item, their agreement
with themselves on repeated items, and Krippendorff's alpha across raters. Kept apart from
``report`` (which turns these into Markdown and CSV) so each module holds one thing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from statistics import median

import numpy as np

from backend.metrics.agreement import KappaResult, cohen_kappa_result, krippendorff_alpha
from backend.survey.model import Rater, Survey, raters, stored_values, template_of
from backend.survey.sessions import rater_order
from backend.workspace.store import Workspace

SPEED_FLOOR_S = 3.0  # median seconds per item below which a rater is flagged as too fast
# Krippendorff's alpha is at each question's level (its template's scale: ordinal or nominal);
# the intra-rater Cohen's kappa is linearly weighted on an ordinal scale
INTRA_WEIGHTS = {"ordinal": "linear", "nominal": None}


def _seconds(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


@dataclass(frozen=True)
class RaterTiming:
    """One rater's pace: seconds from an item's first showing to its first answer."""

    rater: str
    timed: int  # items with both times
    median_s: float  # NaN when none
    changed: int  # answers changed after being given
    too_fast: bool  # median under the floor


def timing(ws: Workspace, survey: Survey, floor_s: float = SPEED_FLOOR_S) -> list[RaterTiming]:
    out = []
    for r in raters(ws, survey):
        rows = ws.query(
            "SELECT a.shown_at, a.first_answered_at, a.changes FROM survey_answers a"
            " JOIN survey_items i ON i.id = a.item_id WHERE a.rater_id = ? AND i.calibration = 0",
            (r.id,),
        )
        if not rows:
            continue
        times = [t for t in (_seconds(row[0], row[1]) for row in rows) if t is not None]
        med = float(median(times)) if times else float("nan")
        out.append(RaterTiming(r.display_name, len(times), med, sum(row[2] for row in rows), bool(times) and med < floor_s))
    return out


def timing_rows(ws: Workspace, survey: Survey) -> list[list]:
    """rater, item code, shown, first answered, last answered, changes, seconds to answer."""
    rows = ws.query(
        "SELECT ra.name, ra.simulated, i.code, a.shown_at, a.first_answered_at, a.answered_at, a.changes"
        " FROM survey_answers a JOIN raters ra ON ra.id = a.rater_id JOIN survey_items i ON i.id = a.item_id"
        " WHERE ra.survey_id = ? ORDER BY ra.id, i.code",
        (survey.id,),
    )
    return [[Rater(0, 0, r[0], 0, None, bool(r[1])).display_name, *r[2:], _seconds(r[3], r[4])] for r in rows]


def order_rows(ws: Workspace, survey: Survey) -> list[list]:
    """rater, order seed, position (1-based), item code, whether it is a second showing, a calibration item."""
    rows = ws.query("SELECT id, code, repeat_of, calibration FROM survey_items WHERE survey_id = ?", (survey.id,))
    items = {r[0]: (r[1], r[2], bool(r[3])) for r in rows}
    out = []
    for r in raters(ws, survey):
        for pos, item in enumerate(rater_order(ws, survey, r), start=1):
            out.append([r.display_name, r.seed, pos, items[item][0], items[item][1] is not None, items[item][2]])
    return out


def _answer_table(ws: Workspace, survey: Survey) -> dict[tuple[int, int], dict[str, str]]:
    rows = ws.query(
        "SELECT a.rater_id, a.item_id, a.answers_json FROM survey_answers a"
        " JOIN survey_items i ON i.id = a.item_id WHERE i.survey_id = ?",
        (survey.id,),
    )
    return {(r[0], r[1]): stored_values(ws, r) for r in rows}


def intra_rater(ws: Workspace, survey: Survey, n_boot: int = 2000, seed: int = 0) -> list[tuple[str, str, int, KappaResult]]:
    """(rater, question, min gap in positions, Cohen's kappa of first vs second showing)."""
    pairs = ws.query("SELECT id, repeat_of FROM survey_items WHERE survey_id = ? AND repeat_of IS NOT NULL", (survey.id,))
    if not pairs:
        return []
    answers, template = _answer_table(ws, survey), template_of(ws, survey)
    out = []
    for r in raters(ws, survey):
        place = {item: n for n, item in enumerate(rater_order(ws, survey, r))}
        gap = min(place[p[0]] - place[p[1]] for p in pairs)
        for q in template.questions:
            both = [
                (answers[(r.id, first)].get(q.name), answers[(r.id, again)].get(q.name))
                for again, first in pairs
                if (r.id, first) in answers and (r.id, again) in answers
            ]
            both = [(a, b) for a, b in both if a is not None and b is not None]
            if both:
                first_calls, second_calls = zip(*both)
                kappa = cohen_kappa_result(first_calls, second_calls, q.values, INTRA_WEIGHTS[q.scale], n_boot, seed)
                out.append((r.display_name, q.name, gap, kappa))
    return out


def alphas(ws: Workspace, survey: Survey) -> list[tuple[str, str, int, float]]:
    """(question, level, raters, Krippendorff's alpha) over first showings, raters with answers."""
    counted = "SELECT id FROM survey_items WHERE survey_id = ? AND repeat_of IS NULL AND calibration = 0"
    items = [r[0] for r in ws.query(counted, (survey.id,))]
    answers = _answer_table(ws, survey)
    active = [r for r in raters(ws, survey) if any((r.id, i) in answers for i in items)]
    if len(active) < 2:
        return []
    out = []
    for q in template_of(ws, survey).questions:
        table = np.array([[answers.get((r.id, i), {}).get(q.name) for i in items] for r in active], dtype=object)
        out.append((q.name, q.scale, len(active), krippendorff_alpha(table, q.values, q.scale)))
    return out
