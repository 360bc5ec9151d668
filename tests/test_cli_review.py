"""``diffgen review``: the review record without the window. Listing shows gates and decisions;
decisions are the rows the app's Review tab writes and reads; unknown ids, double decisions
and notes are handled without a question and without silently losing a note."""

from __future__ import annotations

import json
import sqlite3

import pytest

from backend.cli import main as cli_main
from backend.exporters.job import export_kept
from backend.gates import GateScore
from backend.workspace.review_queue import review_items
from backend.workspace.reviews import parse_ids

PASS = [GateScore("no_polyp", 0.9, 0.15, True), GateScore("seam", 0.01, 0.08, True)]
FAIL = [GateScore("no_polyp", 0.9, 0.15, True), GateScore("seam", 0.3, 0.08, False)]


@pytest.fixture
def ws(demo_ws):
    """Four inpainted samples: passed, passed, failed the seam gate, not scored."""
    made = []
    for i in demo_ws.image_ids()[:4]:
        img, mask = demo_ws.read_image(i), demo_ws.read_mask(demo_ws.current_mask(i))
        made.append(demo_ws.add_sample("inpainted", "Diff", img[:, ::-1].copy(), mask[:, ::-1].copy(), source_image_id=i).id)
    for sid, scores in zip(made, (PASS, PASS, FAIL)):
        demo_ws.set_gates(sid, scores)
    return demo_ws, made


def run(ws, *args) -> int:
    return cli_main(["review", "-w", str(ws.root), *args])


def stored(ws) -> dict[int, tuple[str, str]]:
    """The reviews table read straight from the database file (not through the back end)."""
    with sqlite3.connect(ws.root / "workspace.sqlite") as db:
        return {sid: (d, n) for sid, d, n in db.execute("SELECT sample_id, decision, note FROM reviews")}


def test_list_shows_gates_decisions_and_notes(ws, capsys):
    ws, (a, b, c, d) = ws
    ws.set_review(b, "reject", "seam visible")
    assert run(ws) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["id", "set", "kind", "source", "gates", "decision", "note"]
    rows = {int(line.split()[0]): line for line in out[1:5]}
    assert "passed" in rows[a] and "undecided" in rows[a]
    assert "reject" in rows[b] and rows[b].endswith("seam visible")
    assert "failed seam" in rows[c] and "not scored" in rows[d]
    assert "Listed: 4 samples: 0 kept · 1 rejected · 3 undecided." in out
    assert out[-1].startswith("2 passed every quality gate, 1 failed one, 1 not scored.")
    assert run(ws, "--undecided", "--gates", "passed", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["sample_id"] for r in listed] == [a] and listed[0]["source_name"] == ws.images()[0].name
    assert run(ws, "--kept") == 0
    assert capsys.readouterr().out.startswith("no sample matches these filters\n0 of 4 listed: 4 samples:")
    assert run(ws, "--set", "GAN") == 0
    assert capsys.readouterr().out == "no samples in set 'GAN' ('diffgen gates -w WS' lists the sets)\n"


def test_keep_reject_undecide_store_the_rows_the_app_stores(ws, capsys):
    from diffgen_gui.state import WorkspaceState

    ws, (a, b, c, d) = ws
    assert run(ws, "--keep", f"{a},{b}", "--reject", str(c), "--note", "checked by JS") == 0
    out = capsys.readouterr().out
    assert f"sample {a}: undecided -> keep; note 'checked by JS'" in out
    assert f"sample {c}: undecided -> reject; note 'checked by JS'" in out
    assert "Stored 3 decisions (2 keep, 1 reject)." in out
    assert "Review now: 4 samples: 2 kept · 1 rejected · 1 undecided." in out
    WorkspaceState(ws).set_review(d, "keep", "checked by JS")  # the app's own call
    rows = stored(ws)
    assert rows == {a: ("keep", "checked by JS"), b: ("keep", "checked by JS"), c: ("reject", "checked by JS"), d: rows[d]}
    assert rows[d] == rows[a]  # the app's row and the command's row are the same
    # what the Review tab reads
    assert {i.sample_id: i.decision for i in review_items(ws)} == {a: "keep", b: "keep", c: "reject", d: "keep"}
    assert run(ws, "--undecide", str(a)) == 0  # no --note: the note stays, as in the app
    assert f"sample {a}: keep -> undecided" in capsys.readouterr().out and stored(ws)[a] == ("undecided", "checked by JS")


def test_a_replaced_note_is_said_and_a_decision_without_note_keeps_it(ws, capsys):
    ws, (a, b, c, d) = ws
    ws.set_review(a, "keep", "polyp texture fine")
    assert run(ws, "--reject", str(a)) == 0
    assert f"sample {a}: keep -> reject\n" in capsys.readouterr().out and stored(ws)[a] == ("reject", "polyp texture fine")
    assert run(ws, "--reject", str(a), "--note", "seam at 3 o'clock") == 0
    out = capsys.readouterr().out
    assert f"sample {a}: already reject; note 'polyp texture fine' replaced by \"seam at 3 o'clock\"" in out
    assert "Stored 1 decision (1 reject); 1 note replaced." in out
    assert stored(ws)[a] == ("reject", "seam at 3 o'clock")


def test_keep_passed_keeps_undecided_samples_that_passed_every_gate(ws, capsys):
    ws, (a, b, c, d) = ws
    ws.set_review(b, "reject", "looks fake")
    assert run(ws, "--keep-passed", "--note", "gates passed") == 0
    out = capsys.readouterr().out
    assert (
        "--keep-passed: 2 samples passed every quality gate; 1 undecided kept now, "
        "1 already decided left as it is (--keep IDS changes them)." in out
    )
    assert stored(ws) == {a: ("keep", "gates passed"), b: ("reject", "looks fake")}  # c failed, d not scored
    report = export_kept(ws, ws.root.parent / "export")  # the README's flow: review headless, then export
    assert report.samples == 1
    assert run(ws, "--keep-passed", "--set", "Styled-Diff") == 0
    out = capsys.readouterr().out
    assert "--keep-passed: 0 samples of set Styled-Diff passed every quality gate; 0 undecided kept now (no samples)." in out
    assert "\nNothing stored.\n" in out
    for sid in (a, b):
        ws.set_gates(sid, FAIL)
    assert run(ws, "--undecide", str(a), "--keep-passed") == 0  # none passed: where to look instead
    assert "'diffgen review -w WS --gates failed' lists the others; --keep IDS keeps the ones you choose." in (
        capsys.readouterr().out
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--keep", "1,999,1000"], "no sample with id 999, 1000 in "),
        (["--keep", "3x"], "'3x' is not a sample id or a range of them (e.g. 3,5,7-9)"),
        (["--keep", "5-2"], "'5-2' is not a range of sample ids"),
        (["--keep", "1", "--reject", "1-2"], "sample 1 is given two decisions; give each sample one"),
        (["--note", "x"], "--note goes with a decision"),
        (["--keep", "1", "--note", "a\nb"], "the note has a line break"),
        (["--keep", "1", "--note", "x" * 501], "the note has 501 characters; a review note takes at most 500"),
    ],
)
def test_bad_input_is_refused_with_a_message_and_nothing_is_stored(ws, capsys, args, message):
    ws, made = ws
    assert run(ws, *args) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err
    assert stored(ws) == {}


def test_parse_ids():
    assert parse_ids("3,5, 7-9 3") == [3, 5, 7, 8, 9]


def test_list_of_a_workspace_without_samples(demo_ws, capsys):
    assert run(demo_ws) == 0
    assert capsys.readouterr().out == "no samples yet: inpaint some first ('diffgen inpaint')\n"


def test_a_read_only_workspace_lists_and_refuses_decisions(ws, monkeypatch, capsys):
    from backend.workspace import Workspace, access

    ws, (a, *_) = ws
    ws.close()
    monkeypatch.setattr(access, "writable", lambda root, db: False)
    assert Workspace.open(ws.root).read_only
    assert run(ws, "--keep", "1-2", "--keep", "2") == 1
    err = capsys.readouterr().err
    assert "is read-only" in err and "'diffgen review' lists its samples, but a decision writes to it" in err, err
    assert run(ws) == 0 and "Listed: 4 samples: 0 kept" in capsys.readouterr().out
    assert stored(ws) == {}


def test_an_id_given_twice_to_one_decision_is_decided_once(ws, capsys):
    ws, (a, b, *_) = ws
    assert run(ws, "--keep", f"{a}-{b}", "--keep", str(b)) == 0
    assert "Stored 2 decisions (2 keep)." in capsys.readouterr().out


def test_many_decisions_are_summed_up_but_every_replaced_note_is_listed(ws, capsys, monkeypatch):
    import backend.cli.review as review_cli

    ws, (a, b, c, d) = ws
    ws.set_review(d, "undecided", "look again")
    monkeypatch.setattr(review_cli, "SHOWN_CHANGES", 1)
    assert run(ws, "--reject", f"{a}-{d}", "--note", "blurred") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:3] == [
        f"sample {a}: undecided -> reject; note 'blurred'",
        f"sample {d}: undecided -> reject; note 'look again' replaced by 'blurred'",
        "... and 2 more decisions like these",
    ]
    assert out[3] == "Stored 4 decisions (4 reject); 1 note replaced."
