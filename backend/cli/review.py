"""``diffgen review``: the Review tab without the window: list samples with their gates and
decisions, and keep / reject / undecide them by id (stored as the app stores them)."""

from __future__ import annotations

import argparse
from collections import Counter
from typing import TYPE_CHECKING

from backend.cli.common import add_workspace, open_workspace

if TYPE_CHECKING:  # the workspace modules load numpy and OpenCV: only when the command runs
    from backend.workspace import Workspace
    from backend.workspace.review_queue import ReviewItem
    from backend.workspace.reviews import Change

SHOWN_CHANGES = 20  # decisions listed one per line; beyond, a count (a changed note is always listed)
GATE_FILTERS = ("passed", "failed", "unscored")  # review_queue.GATE_GROUPS (not imported: --help stays light)
COLUMNS = (("id", 6), ("set", 20), ("kind", 12), ("source", 24), ("gates", 34), ("decision", 9), ("note", 48))  # widest shown


def register(sub) -> None:
    p = sub.add_parser(
        "review",
        help="list samples with their quality gates and review decisions; keep, reject or undecide them by id",
        description="Without a decision it lists the samples (filters combine). --keep, --reject and "
        "--undecide take ids such as 3,5,7-9 and may be given together; --keep-passed keeps every undecided "
        "sample (of --set) that passed every quality gate. A decision keeps the sample's note unless --note "
        "gives one, and every replaced note is printed. Decisions are the ones the app's Review tab makes.",
    )
    add_workspace(p)
    show = p.add_mutually_exclusive_group()
    for flag, decision in (("--kept", "keep"), ("--rejected", "reject"), ("--undecided", "undecided")):
        show.add_argument(flag, dest="decision", action="store_const", const=decision, help=f"list only {flag[2:]} samples")
    p.add_argument("--set", dest="set_name", metavar="NAME", help="only the samples of this set (e.g. Diff, Styled-Diff)")
    p.add_argument(
        "--gates", choices=GATE_FILTERS, help="list only samples that passed every gate, failed one, or were not scored"
    )
    p.add_argument("--json", action="store_true", help="print the listed samples as JSON")
    p.add_argument("--keep", action="append", default=[], metavar="IDS", help="keep these samples (e.g. 3,5,7-9)")
    p.add_argument("--reject", action="append", default=[], metavar="IDS", help="reject these samples")
    p.add_argument("--undecide", action="append", default=[], metavar="IDS", help="take back the decision on these samples")
    p.add_argument(
        "--keep-passed",
        action="store_true",
        help="keep every undecided sample (of --set) that passed every quality gate; decided ones are left as they are",
    )
    p.add_argument("--note", help="the note stored with each decision of this call (replaces the sample's note)")
    p.set_defaults(func=cmd_review)


def cmd_review(a: argparse.Namespace) -> int:
    from backend.errors import BadInputError
    from backend.workspace import reviews
    from backend.workspace.access import read_only_error

    reviews.check_note(a.note)
    asked = {
        decision: list(dict.fromkeys(i for text in texts for i in reviews.parse_ids(text)))
        for decision, texts in (("keep", a.keep), ("reject", a.reject), ("undecided", a.undecide))
    }
    named = Counter(i for ids in asked.values() for i in ids)
    twice = sorted(i for i, n in named.items() if n > 1)
    if twice:
        which = f"sample {twice[0]} is" if len(twice) == 1 else f"samples {', '.join(map(str, twice))} are"
        raise BadInputError(f"{which} given two decisions; give each sample one")
    deciding = bool(named) or a.keep_passed
    if a.note is not None and not deciding:
        raise BadInputError("--note goes with a decision: --keep IDS, --reject IDS, --undecide IDS or --keep-passed")
    ws = open_workspace(a)
    if not deciding:
        return _list(ws, a)
    if ws.read_only:
        raise read_only_error(ws.root, "'diffgen review' lists its samples, but a decision writes to it")
    reviews.check_ids(ws, sorted(named))
    if a.keep_passed:
        asked["keep"] += _passed_undecided(_items(ws, a.set_name), set(named), a.set_name)
    changes = [c for decision, ids in asked.items() for c in reviews.decide(ws, ids, decision, a.note)]
    _print_changes(changes)
    _print_counts(_items(ws), "Review now")
    return 0


def _items(ws: Workspace, set_name: str | None = None) -> list[ReviewItem]:
    """Every sample (of ``set_name``) as the Review tab sees it, by id."""
    from backend.workspace.review_queue import ReviewFilter, review_items

    return sorted((i for i in review_items(ws) if ReviewFilter(set_name=set_name).matches(i)), key=lambda i: i.sample_id)


def _passed_undecided(rows: list[ReviewItem], named: set[int], set_name: str | None) -> list[int]:
    """The ids --keep-passed keeps; says what it found and what it left as it was."""
    passed = [r for r in rows if r.passed and r.sample_id not in named]
    todo = [r.sample_id for r in passed if r.decision == "undecided"]
    where = f" of set {set_name}" if set_name else ""
    decided = len(passed) - len(todo)
    print(
        f"--keep-passed: {len(passed)} sample{'s' * (len(passed) != 1)}{where} passed every quality gate; "
        f"{len(todo)} undecided kept now"
        + (
            f", {decided} already decided left as {'it is' if decided == 1 else 'they are'} (--keep IDS changes them)"
            if decided
            else ""
        )
        + ("" if rows else " (no samples)")
        + "."
        + (
            " 'diffgen review -w WS --gates failed' lists the others; --keep IDS keeps the ones you choose."
            if rows and not passed
            else ""
        )
    )
    return todo


def _print_changes(changes: list[Change]) -> None:
    notes = [c for c in changes if c.before[1] != c.after[1] and c.before[1]]
    rest = [c for c in changes if c not in notes]
    for c in rest[:SHOWN_CHANGES] + notes:
        print(c.describe())
    if len(rest) > SHOWN_CHANGES:
        print(f"... and {len(rest) - SHOWN_CHANGES} more decisions like these")
    stored = Counter(c.after[0] for c in changes)
    if not changes:
        print("Nothing stored.")
        return
    print(
        f"Stored {len(changes)} decision{'s' * (len(changes) != 1)}"
        + f" ({', '.join(f'{n} {d}' for d, n in sorted(stored.items()))})"
        + (f"; {len(notes)} note{'s' * (len(notes) != 1)} replaced" if notes else "")
        + "."
    )


def _print_counts(rows: list[ReviewItem], title: str) -> None:
    from backend.words import counted

    n = Counter(r.decision for r in rows)
    print(f"{title}: {counted(len(rows), 'sample')}: {n['keep']} kept · {n['reject']} rejected · {n['undecided']} undecided.")


def _gates(item: ReviewItem) -> str:
    if not item.scored:
        return "not scored"
    return f"failed {', '.join(item.failed_gates)}" if item.failed_gates else "passed"


def _cell(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _list(ws: Workspace, a: argparse.Namespace) -> int:
    import json

    from backend.workspace import reviews
    from backend.workspace.review_queue import ReviewFilter

    every = _items(ws, a.set_name)
    rows = [r for r in every if ReviewFilter(decision=a.decision, gates=a.gates).matches(r)]
    notes = reviews.notes(ws, (r.sample_id for r in rows))
    if a.json:
        fields = ("sample_id", "set_name", "kind", "source_name", "model", "cluster", "scored", "decision")
        listed = [
            {**{f: getattr(r, f) for f in fields}, "failed": list(r.failed_gates), "passed": r.passed, "note": notes[r.sample_id]}
            for r in rows
        ]
        print(json.dumps(listed, indent=2))
        return 0
    if not every:
        print(
            f"no samples in set {a.set_name!r} ('diffgen gates -w WS' lists the sets)"
            if a.set_name
            else "no samples yet: inpaint some first ('diffgen inpaint')"
        )
        return 0
    if not rows:
        print("no sample matches these filters")
    table = [
        (str(r.sample_id), r.set_name, r.kind, r.source_name or "-", _gates(r), r.decision, notes[r.sample_id]) for r in rows
    ]
    widths = [min(cap, max([len(name), *(len(row[k]) for row in table)])) for k, (name, cap) in enumerate(COLUMNS)]
    for cells in [tuple(name for name, _ in COLUMNS)] * bool(table) + table:
        print(
            "  ".join(
                f"{_cell(c, w):>{w}}" if k == 0 else f"{_cell(c, w):<{w}}" for k, (c, w) in enumerate(zip(cells, widths))
            ).rstrip()
        )
    filtered = len(rows) != len(every)
    _print_counts(every, f"{len(rows)} of {len(every)} listed" if filtered else "Listed")
    print(
        f"{sum(r.passed for r in every)} passed every quality gate, {sum(bool(r.failed_gates) for r in every)} failed one, "
        f"{sum(not r.scored for r in every)} not scored. Decide with --keep IDS, --reject IDS or --keep-passed [--note TEXT]."
    )
    return 0
