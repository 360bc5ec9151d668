"""Survey back end: blinded creation, per-rater order, answers, CSV, Table 7, report, CLI."""

import csv
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import pytest
from survey_support import _png_chunks, paper_answer

from backend import survey as sv
from backend.cli import main as cli_main
from backend.errors import BadInputError, Cancelled, WorkspaceError
from backend.jobs.context import JobContext
from backend.survey.report import TABLE7_HEADER, compute_results, results_markdown, write_report

ROOT = Path(__file__).resolve().parents[2]


def test_items_are_normalised_copies_that_reveal_nothing(ws, survey):
    its = sv.items(ws, survey)
    assert sorted(i["truth"] for i in its).count("real") == 10 and len(its) == 30
    assert {i["truth"] for i in its} == {"real", "inpainted", "styled"}
    sources = {ws.path(p) for r in ws.samples() for p in (r.image_path, r.mask_path)}
    for it in its:
        for rel, channels in ((it["image_path"], 3), (it["mask_path"], 1)):
            path = ws.path(rel)
            assert path not in sources and rel.startswith(survey.params["folder"])
            data = path.read_bytes()
            assert data[:8] == b"\x89PNG\r\n\x1a\n"
            assert set(_png_chunks(data)) <= {b"IHDR", b"IDAT", b"IEND"}  # no text/EXIF/time chunks
            arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            assert arr.shape[:2] == (64, 64) and (arr.ndim == 3) == (channels == 3)
        name = Path(it["image_path"]).name.lower()
        assert not any(w in name for w in ("real", "inpaint", "styl", "diff", "sample"))
        assert it["code"] in name.upper()
    # the id order does not group items by kind (shuffled before insertion)
    truths = [i["truth"] for i in its]
    assert truths != sorted(truths, key=["real", "inpainted", "styled"].index)


def test_not_enough_items_is_a_clear_error_and_stores_nothing(ws):
    with pytest.raises(BadInputError, match=r"needs 10 'inpainted' samples marked keep in review but the workspace has 6"):
        sv.create_survey(ws, sv.SurveyConfig("kept", {"real": 10, "inpainted": 10}, only_kept=True))
    with pytest.raises(BadInputError, match=r"needs 13 real images"):
        sv.create_survey(ws, sv.SurveyConfig("many", {"real": 13}))
    assert sv.surveys(ws) == [] and not (ws.root / "surveys").exists()
    s = sv.create_survey(ws, sv.SurveyConfig("kept", {"real": 5, "inpainted": 6}, only_kept=True))
    kept = {r[0] for r in ws.query("SELECT sample_id FROM reviews WHERE decision = 'keep'")}
    assert {i["sample_id"] for i in sv.items(ws, s) if i["sample_id"]} == kept


def test_each_rater_has_a_reproducible_order_of_their_own(ws, survey):
    a, b = sv.add_rater(ws, survey, "dr-a"), sv.add_rater(ws, survey, "dr-b")
    oa, ob = sv.rater_order(ws, survey, a), sv.rater_order(ws, survey, b)
    assert sorted(oa) == sorted(ob) == sorted(i["id"] for i in sv.items(ws, survey))
    assert oa != ob
    assert sv.rater_order(ws, survey, sv.get_rater(ws, survey, "dr-a")) == oa
    with pytest.raises(BadInputError, match="already has a rater"):
        sv.add_rater(ws, survey, "dr-a")


def test_session_answers_resume_and_submit(ws, survey):
    sv.add_rater(ws, survey, "dr-a")
    s = sv.RaterSession.open(ws, "pilot", "dr-a")
    assert s.index == 0 and s.progress_text() == "1 / 30"
    for q, v in (("image_quality", "good"), ("mask_quality", "Moderate"), ("real_fake", "synthetic")):
        s.give(q, v)
    assert s.next() and s.index == 1
    s.give("image_quality", "poor")
    assert not s.next()  # incomplete: stays
    again = sv.RaterSession.open(ws, "pilot", "dr-a")
    assert again.index == 1 and again.answer().values.get("image_quality") == "poor"
    assert again.answers[s.items[0].item_id] == paper_answer("good", "moderate", "fake", "")
    with pytest.raises(BadInputError, match="not a valid answer"):
        again.give("real_fake", "maybe")
    with pytest.raises(BadInputError, match="still need an answer"):
        again.submit()
    for _ in range(29):
        for q, v in (("image_quality", "good"), ("mask_quality", "good"), ("real_fake", "real")):
            again.give(q, v)
        again.next()
    assert again.finished() and again.resume_index() == 30
    again.submit()
    with pytest.raises(WorkspaceError, match="submitted"):
        sv.record_answer(ws, again.rater, again.items[0].item_id, "image_quality", "poor")


# Paper Table 7 (one radiologist): rows Real, Diff, Styled-Diff.
PAPER_TABLE7 = {
    "real": ([10, 0, 0], [8, 2, 0], [4, 6]),
    "inpainted": ([10, 0, 0], [10, 0, 0], [3, 7]),
    "styled": ([10, 0, 0], [9, 1, 0], [3, 7]),
}


def _answers_from_table(table):
    """Expand per-kind counts into one answer list per kind (hand-made, order irrelevant)."""
    out = {}
    for kind, (iq, mq, rf) in table.items():
        expand = lambda counts, cats: [c for c, n in zip(cats, counts) for _ in range(n)]  # noqa: E731
        out[kind] = list(zip(expand(iq, sv.QUALITY), expand(mq, sv.QUALITY), expand(rf, sv.REAL_FAKE)))
    return out


def test_table7_is_reproduced_from_stored_answers(ws, survey):
    rater = sv.add_rater(ws, survey, "radiologist")
    planned = _answers_from_table(PAPER_TABLE7)
    for it in sv.items(ws, survey):
        iq, mq, rf = planned[it["truth"]].pop()
        for q, v in (("image_quality", iq), ("mask_quality", mq), ("real_fake", rf)):
            sv.record_answer(ws, rater, it["id"], q, v)
    res = compute_results(ws, survey, n_boot=200)
    rows = res.tables["radiologist"]
    assert [r.label for r in rows] == ["Real", "Diff", "Styled-Diff"]
    for r in rows:
        iq, mq, rf = PAPER_TABLE7[r.kind]
        assert r.cells() == iq + mq + rf
    combined = next(b for name, c, b in res.detection if c == "All synthetic vs Real")
    assert (combined.tp, combined.fn, combined.fp, combined.tn) == (14, 6, 6, 4)
    assert combined.kappa.kappa == pytest.approx((18 / 30 - 500 / 900) / (1 - 500 / 900))
    assert [c for _, c, _ in res.detection] == ["All synthetic vs Real", "Diff vs Real", "Styled-Diff vs Real"]
    md = results_markdown(res)
    assert "| Real | 10 | 0 | 0 | 8 | 2 | 0 | 4 | 6 |" in md and "simulated" not in md.lower()


def _write_csv(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(sv.CSV_FIELDS)
        w.writerows(rows)
    return path


def test_import_validates_everything_and_is_all_or_nothing(ws, survey, tmp_path):
    codes = [i["code"] for i in sv.items(ws, survey)]
    good = [["ext-1", c, "Good", "moderate", "Fake", "ok"] for c in codes[:5]]
    bad = good + [
        ["ext-1", "NOPE42", "good", "good", "real", ""],
        ["ext-2", codes[0], "excellent", "good", "real", ""],
        ["ext-1", codes[1], "good", "good", "real", ""],
    ]
    with pytest.raises(BadInputError) as e:
        sv.import_answers_csv(ws, survey, _write_csv(tmp_path / "bad.csv", bad))
    msg = str(e.value)
    assert "3 problem(s), nothing imported" in msg and "line 7: unknown item 'NOPE42'" in msg
    assert "line 8: 'excellent' is not a valid answer to image_quality" in msg
    assert "line 9: duplicate answer of rater 'ext-1'" in msg
    assert ws.query("SELECT COUNT(*) FROM survey_answers")[0][0] == 0 and sv.raters(ws, survey) == []
    r = sv.import_answers_csv(ws, survey, _write_csv(tmp_path / "good.csv", good))
    assert r == {"answers": 5, "raters": ["ext-1"], "new_raters": ["ext-1"], "skipped": 0, "note": None}
    with pytest.raises(BadInputError, match="already has an answer"):
        sv.import_answers_csv(ws, survey, _write_csv(tmp_path / "good.csv", good))
    exported = list(csv.DictReader(sv.export_answers(ws, survey).splitlines()))
    assert [(x["item"], x["image_quality"], x["real_fake"], x["comment"]) for x in exported] == [
        (c, "good", "fake", "ok") for c in sorted(codes[:5], key=codes.index)
    ]
    assert "truth" not in exported[0]


def test_simulated_raters_are_labelled_and_report_files_are_written(ws, survey, tmp_path):
    made = sv.simulate_raters(ws, survey, n_raters=3, seed=4, accuracy=0.8)
    assert [r.name for r in made] == ["simulated-1", "simulated-2", "simulated-3"]
    assert all(r.simulated and r.submitted_at for r in made)
    assert all(sv.RaterSession.open(ws, "pilot", r.name).resume_index() == 30 for r in made)
    files = write_report(ws, survey, tmp_path / "rep", n_boot=200)
    assert set(files) == {
        "report.md",
        "table7.csv",
        "detection.csv",
        "agreement.csv",
        "answers.csv",
        "order.csv",
        "timing.csv",
        "confusion.png",
        "ratings_by_kind.png",
    }
    md = files["report.md"].read_text()
    assert "**Simulated raters.**" in md and "simulated-2 (simulated)" in md and "Fleiss" in md
    for png in ("confusion.png", "ratings_by_kind.png"):
        assert cv2.imread(str(files[png])) is not None
    rows = list(csv.DictReader(files["table7.csv"].read_text().splitlines()))
    assert list(rows[0]) == ["rater"] + TABLE7_HEADER and len(rows) == 4 * 3  # 3 raters + pooled
    pooled = [r for r in rows if r["rater"].startswith("All raters")]
    assert sum(int(r["Real"]) + int(r["Synthetic"]) for r in pooled) == 90
    agreement = list(csv.DictReader(files["agreement.csv"].read_text().splitlines()))
    assert len([a for a in agreement if a["statistic"] == "cohen"]) == 3 * 7
    assert len([a for a in agreement if a["statistic"] == "fleiss"]) == 3
    assert ws.query("SELECT key FROM results WHERE kind = 'survey_report'")[0][0] == "pilot"


def test_cli_round_trip(ws, tmp_path, capsys):
    w = str(ws.root)
    assert (
        cli_main(
            [
                "survey",
                "create",
                "-w",
                w,
                "--name",
                "cli",
                "--real",
                "4",
                "--set",
                "inpainted:3",
                "--set",
                "styled:3",
                "--seed",
                "2",
            ]
        )
        == 0
    )
    assert cli_main(["survey", "add-rater", "-w", w, "--survey", "cli", "--rater", "dr-x"]) == 0
    assert cli_main(["survey", "simulate", "-w", w, "--survey", "cli", "--raters", "2"]) == 0
    out = tmp_path / "answers.csv"
    assert cli_main(["survey", "export-answers", "-w", w, "--survey", "cli", str(out), "--with-truth"]) == 0
    assert cli_main(["survey", "report", "-w", w, "--survey", "cli", "--out", str(tmp_path / "r"), "--bootstrap", "100"]) == 0
    assert cli_main(["survey", "list", "-w", w]) == 0
    text = capsys.readouterr().out
    assert "4 Real, 3 Diff, 3 Styled-Diff" in text and "simulated-1 (simulated): 10 / 10 answered" in text
    assert "dr-x: 0 / 10 answered, in progress" in text and (tmp_path / "r" / "report.md").exists()
    assert cli_main(["survey", "create", "-w", w, "--name", "big", "--set", "styled:50"]) == 1
    assert "needs 50 'styled' samples but the workspace has 12" in capsys.readouterr().err
    assert cli_main(["survey", "create", "-w", w, "--name", "x", "--set", "styled"]) == 1


ANSWERING = textwrap.dedent("""
    import sys, time
    from backend.workspace import Workspace
    from backend.survey import RaterSession
    s = RaterSession.open(Workspace.open(sys.argv[1]), "pilot", "dr-k")
    values = [("image_quality", "good"), ("mask_quality", "poor"), ("real_fake", "fake")]
    while not s.finished():
        for q, v in values:
            s.give(q, v)
            print("given", s.current.item_id, q, v, flush=True)
        s.next()
        time.sleep(0.01)
    time.sleep(60)
""")


def test_kill_9_while_answering_loses_no_given_answer(ws, survey, tmp_path):
    sv.add_rater(ws, survey, "dr-k")
    script = tmp_path / "answer.py"
    script.write_text(ANSWERING)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, str(script), str(ws.root)], stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    given = []
    try:
        while len(given) < 20:  # 6 complete items and 2 answers of the 7th
            line = proc.stdout.readline()
            assert line, "the answering process died early"
            given.append(line.split()[1:])
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    rater = sv.get_rater(ws, survey, "dr-k")
    stored = sv.answers_of(ws, rater)
    for item, q, v in given:
        assert stored[int(item)].values.get(q) == v
    s = sv.RaterSession.open(ws, "pilot", "dr-k")
    first_incomplete = next(i for i, it in enumerate(s.items) if not s.complete(it.item_id))
    assert s.index == first_incomplete >= 6


def test_cancelled_creation_leaves_nothing(ws):
    calls = []
    with pytest.raises(Cancelled):
        sv.run_survey_create(
            ws,
            sv.SurveyParams("c", {"real": 5, "styled": 5}),
            JobContext(progress=lambda d, t, m: calls.append(d), cancel=lambda: len(calls) >= 3),
        )
    assert calls == [1, 2, 3] and sv.surveys(ws) == []
    assert not any((ws.root / "surveys").glob("*/*.png"))


def test_the_report_names_the_sets_a_label_covers(demo_ws):
    """The demo's survey said "10 Diff, 10 Styled-Diff" with a Styled-Diff set of 6: each label
    covers every set of its kind (Diff and Full-Diff are both inpainted), and the report says so."""
    for n, rec in enumerate(demo_ws.images()):
        img, mask = demo_ws.read_image(rec), demo_ws.read_mask(rec.current_mask_id)
        demo_ws.add_sample("inpainted", "Diff" if n % 2 else "Full-Diff", img[:, ::-1].copy(), mask, source_image_id=rec.id)
        demo_ws.add_sample("styled", "Styled-Diff", img[::-1].copy(), mask[::-1].copy(), source_image_id=rec.id)
    survey = sv.create_survey(demo_ws, sv.SurveyConfig("sets", {"real": 4, "inpainted": 10, "styled": 4}, seed=2))
    drawn = {"Diff": 0, "Full-Diff": 0}
    for item in sv.items(demo_ws, survey):
        if item["truth"] == "inpainted":
            drawn[demo_ws.sample(item["sample_id"]).set_name] += 1
    assert sum(drawn.values()) == 10 and min(drawn.values()) > 0
    md = results_markdown(compute_results(demo_ws, survey, n_boot=0))
    assert f"(4 Real, 10 Diff ({drawn['Diff']} from Diff, {drawn['Full-Diff']} from Full-Diff), 4 Styled-Diff)" in md
    base, size = survey.params["base"], survey.params["size"]
    assert base == size and f"(squared to {size} px, one PNG encoding" in md  # not "squared to 64 px, then 64 px"
