"""The review queue: every sample with what the Review filters ask of it, in review order.

Read in two queries for the whole workspace (a thousand samples in milliseconds), so that the
Review tab filters, counts and finds "the next undecided sample" in memory, and a decision
changes one item instead of asking the database again. Qt-free: the CLI can share it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from backend.workspace.queries import DECISIONS, gate_order
from backend.workspace.store import Workspace

GATE_GROUPS = ("passed", "failed", "unscored")  # besides a gate's name: "failed this gate"


@dataclass(frozen=True)
class ReviewItem:
    """One sample as the review sees it (``cluster``: its source image's, in the current
    clustering; ``source_image_id`` None and ``source_name`` "" for a sample imported without
    a workspace image, e.g. another generator's set)."""

    sample_id: int
    source_image_id: int | None
    source_name: str
    parent_sample_id: int | None
    set_name: str
    kind: str
    model: str  # the model's name; "" for a sample made without a workspace model
    cluster: int | None
    decision: str
    failed_gates: tuple[str, ...]
    scored: bool

    @property
    def passed(self) -> bool:
        """Scored, and passed every gate."""
        return self.scored and not self.failed_gates


@dataclass(frozen=True)
class ReviewFilter:
    """What the reviewer asked to see; every field set narrows it (they combine with AND).

    ``gates``: "passed" (scored, passed every gate), "failed" (failed at least one),
    "unscored" (no gate scored) or a gate's name (failed that gate)."""

    decision: str | None = None
    gates: str | None = None
    set_name: str | None = None
    model: str | None = None
    cluster: int | None = None

    def matches(self, item: ReviewItem) -> bool:
        if self.decision is not None and item.decision != self.decision:
            return False
        if self.gates == "passed" and not item.passed:
            return False
        if self.gates == "failed" and not item.failed_gates:
            return False
        if self.gates == "unscored" and item.scored:
            return False
        if self.gates not in (None, *GATE_GROUPS) and self.gates not in item.failed_gates:
            return False
        if self.set_name is not None and item.set_name != self.set_name:
            return False
        if self.model is not None and item.model != self.model:
            return False
        return self.cluster is None or item.cluster == self.cluster


def review_items(ws: Workspace) -> list[ReviewItem]:
    """Every sample, in review order (:func:`in_review_order`)."""
    cid = ws.current_clustering_id()
    rows = ws.query(
        "SELECT s.id, s.source_image_id, COALESCE(i.name, ''), s.parent_sample_id, s.set_name, s.kind,"
        " COALESCE(m.name, ''), c.cluster, COALESCE(r.decision, 'undecided')"
        " FROM samples s LEFT JOIN images i ON i.id = s.source_image_id"
        " LEFT JOIN models m ON m.id = s.model_id"
        " LEFT JOIN cluster_assignments c ON c.image_id = s.source_image_id AND c.clustering_id = ?"
        " LEFT JOIN reviews r ON r.sample_id = s.id ORDER BY s.source_image_id, s.id",
        (cid if cid is not None else -1,),
    )
    failed: dict[int, list[str]] = {}
    scored: set[int] = set()
    for sid, gate, passed in ws.query("SELECT sample_id, gate, passed FROM sample_gates"):
        scored.add(sid)
        if not passed:
            failed.setdefault(sid, []).append(gate)
    items = [
        ReviewItem(
            sid, image_id, name, parent, set_name, kind, model, cluster, decision, _ordered(failed.get(sid, [])), sid in scored
        )
        for sid, image_id, name, parent, set_name, kind, model, cluster, decision in rows
    ]
    return in_review_order(items)


def _ordered(gates: list[str]) -> tuple[str, ...]:
    return tuple(sorted(gates, key=gate_order))


def in_review_order(items: Iterable[ReviewItem]) -> list[ReviewItem]:
    """By source image; within one, rows of [a sample, its children...] (a sample whose parent
    is not among them starts a row): the order of the Review tab's tiles, row by row. Samples
    without a source image come first, as one group."""
    by_source: dict[int | None, list[ReviewItem]] = {}
    for it in sorted(items, key=lambda i: (i.source_image_id or 0, i.sample_id)):
        by_source.setdefault(it.source_image_id, []).append(it)
    out: list[ReviewItem] = []
    for group in by_source.values():
        out += [it for row in review_rows(group) for it in row]
    return out


def review_rows(items: list[ReviewItem]) -> list[list[ReviewItem]]:
    """One source's samples as rows of [sample, its children...], by sample id."""
    ids = {i.sample_id for i in items}
    rows = {i.sample_id: [i] for i in items if i.parent_sample_id not in ids}
    for i in items:
        if i.parent_sample_id in rows:
            rows[i.parent_sample_id].append(i)
    return list(rows.values())


def decided(item: ReviewItem, decision: str) -> ReviewItem:
    """The item after a decision (the queue follows a decision without reading it back)."""
    if decision not in DECISIONS:
        raise ValueError(f"decision {decision!r}: one of {', '.join(DECISIONS)}")
    return replace(item, decision=decision)


def next_undecided(items: list[ReviewItem], after: int | None) -> int | None:
    """The first undecided sample after ``after`` in ``items`` (wrapping around; from the start
    when ``after`` is not there); None when every one is decided."""
    ids = [i.sample_id for i in items]
    start = ids.index(after) + 1 if after in ids else 0
    for it in items[start:] + items[:start]:
        if it.decision == "undecided" and it.sample_id != after:
            return it.sample_id
    return None


def counts(items: Iterable[ReviewItem]) -> dict[str, int]:
    """Decision -> how many of ``items``."""
    out = dict.fromkeys(DECISIONS, 0)
    for it in items:
        out[it.decision] += 1
    return out
