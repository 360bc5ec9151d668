"""The survey report's statistics as a journal reviewer reads them (issue 32 items 4, 5, 7)."""

from __future__ import annotations

import csv
import math
import re
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from backend import survey as sv
from backend.survey.report import compute_results, results_markdown, write_report

QUESTIONS = ("image_quality", "mask_quality", "real_fake")


def _answer_all(ws, survey, rater: sv.Rater, wrong: int) -> None:
    """Answers that follow the truth, except the real/fake call of the first ``wrong`` items."""
    for n, item in enumerate(sv.items(ws, survey)):
        synthetic = item["truth"] != "real"
        call = "fake" if synthetic != (n < wrong) else "real"
        for q, v in (("image_quality", "good" if synthetic else "moderate"), ("mask_quality", "good"), ("real_fake", call)):
            sv.record_answer(ws, rater, item["id"], q, v)


def test_kappa_intervals_stay_inside_minus_one_one_and_the_method_is_stated(ws, survey):
    """Near-perfect agreement, where kappa +- 1.96 SE passes 1 (the Survey tab showed
    [0.104, 1.096]): every interval of the report is a seeded bootstrap over items, in [-1, 1]."""
    for name, wrong in (("dr-a", 1), ("dr-b", 2)):
        _answer_all(ws, survey, sv.add_rater(ws, survey, name), wrong)
    res = compute_results(ws, survey, n_boot=500, seed=11)
    kappas = [b.kappa for _, _, b in res.detection] + [k for *_, k in res.pairwise] + [k for _, _, k in res.fleiss]
    assert any(k.kappa + 1.96 * k.se > 1 for k in kappas)  # the case where the Wald interval fails
    for k in kappas:  # kappa is undefined (NaN, interval too) where every answer is the same
        lo, hi = k.ci_bootstrap
        assert -1 <= lo <= hi <= 1 or (math.isnan(k.kappa) and math.isnan(lo) and math.isnan(hi)), k
    md = results_markdown(res)
    intervals = [(float(a), float(b)) for a, b in re.findall(r"\[(-?[\d.]+), (-?[\d.]+)\]", md)]
    assert intervals and all(-1 <= a <= b <= 1 for a, b in intervals), intervals
    assert "percentile bootstrap" in md and "500 resamples of the items" in md and "seeded with 11" in md
    again = compute_results(ws, survey, n_boot=500, seed=11)  # seeded: the same intervals again
    assert [str(k.ci_bootstrap) for *_, k in again.pairwise] == [str(k.ci_bootstrap) for *_, k in res.pairwise]


# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", section C: 4 observers,
# 12 units, values 1-5, None where an observer gave none. Published: nominal 0.743, ordinal 0.815.
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]


def _alpha_by_pairs(ratings, categories, level: str) -> float:
    """Alpha straight from its definition, pair by pair (no coincidence matrix): 1 - D_o / D_e."""
    units = [[v for v in unit if v is not None] for unit in zip(*ratings)]
    units = [u for u in units if len(u) >= 2]
    values = [v for u in units for v in u]
    n_g = {c: values.count(c) for c in categories}
    rank = {c: i for i, c in enumerate(categories)}

    def delta(a, b) -> float:
        if level == "nominal":
            return float(a != b)
        lo, hi = sorted((rank[a], rank[b]))
        between = sum(n_g[categories[g]] for g in range(lo, hi + 1))
        return (between - (n_g[a] + n_g[b]) / 2) ** 2

    n = len(values)
    d_o = sum(delta(u[i], u[j]) / (len(u) - 1) for u in units for i in range(len(u)) for j in range(len(u)) if i != j) / n
    d_e = sum(delta(values[i], values[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    return 1 - d_o / d_e


def test_krippendorff_alpha_matches_the_published_example_and_its_definition():
    from backend.metrics.agreement import krippendorff_alpha

    cats = [1, 2, 3, 4, 5]
    assert round(krippendorff_alpha(KRIPPENDORFF_2011, cats, "nominal"), 3) == 0.743
    assert round(krippendorff_alpha(KRIPPENDORFF_2011, cats, "ordinal"), 3) == 0.815
    rng = np.random.default_rng(5)
    for _ in range(30):
        labels = ["good", "moderate", "poor"]
        table = [[labels[v] if v < 3 else None for v in row] for row in rng.integers(0, 4, (3, 9))]
        for level in ("nominal", "ordinal"):
            ours, ref = krippendorff_alpha(table, labels, level), _alpha_by_pairs(table, labels, level)
            assert (math.isnan(ours) and math.isnan(ref)) or ours == pytest.approx(ref, abs=1e-12)


def test_krippendorff_alpha_agrees_with_the_krippendorff_package():
    """The independent implementation (the ``krippendorff`` package, tests only) on random
    tables with missing ratings, nominal and ordinal."""
    import krippendorff

    from backend.metrics.agreement import krippendorff_alpha

    labels = ["good", "moderate", "poor"]
    rng = np.random.default_rng(11)
    compared = 0
    for _ in range(40):
        codes = rng.integers(0, 4, (4, 12))  # 3: not rated
        table = [[labels[v] if v < 3 else None for v in row] for row in codes]
        numeric = np.where(codes < 3, codes.astype(float), np.nan)
        for level in ("nominal", "ordinal"):
            ours = krippendorff_alpha(table, labels, level)
            if math.isnan(ours):
                continue
            ref = krippendorff.alpha(reliability_data=numeric, level_of_measurement=level, value_domain=[0.0, 1.0, 2.0])
            assert ours == pytest.approx(ref, abs=1e-9)
            compared += 1
    assert compared >= 60


def test_each_rater_gets_a_random_recorded_order_and_repeats_far_apart(ws, tmp_path):
    """Order seeds from `secrets` (the same name no longer gives the same order), recorded and
    listed; a share of the items shown twice, the first showing in the first half of the
    order and the repeat in the second (issue 32 item 4)."""
    counts = {"real": 10, "inpainted": 10}
    a, b = (sv.create_survey(ws, sv.SurveyConfig(n, counts, seed=1, repeat_share=0.3)) for n in ("rep-a", "rep-b"))
    ra, rb = sv.add_rater(ws, a, "dr-a"), sv.add_rater(ws, b, "dr-a")
    assert ra.seed != rb.seed  # before: the crc32 of the name, the same in every survey
    items = sv.items(ws, a)
    repeats = {i["id"]: i["repeat_of"] for i in items if i["repeat_of"] is not None}
    assert len(items) == 26 and len(repeats) == 6 and a.params["repeats"] == 6
    by_id = {i["id"]: i for i in items}
    for again, first in repeats.items():  # the same picture, the same truth, a code of its own
        assert by_id[again]["truth"] == by_id[first]["truth"] and by_id[again]["code"] != by_id[first]["code"]
        assert ws.path(by_id[again]["image_path"]).read_bytes() == ws.path(by_id[first]["image_path"]).read_bytes()
    order = sv.rater_order(ws, a, ra)
    assert sorted(order) == sorted(by_id) and order == sv.rater_order(ws, a, sv.get_rater(ws, a, "dr-a"))
    for again, first in repeats.items():
        assert order.index(first) < 13 <= order.index(again)
    assert sv.summary(ws, a)["per_kind"] == counts and sv.summary(ws, a)["items"] == 26
    files = write_report(ws, a, tmp_path / "rep", n_boot=50)
    rows = list(csv.DictReader(files["order.csv"].open()))
    assert [r["item"] for r in rows] == [by_id[i]["code"] for i in order] and {r["order_seed"] for r in rows} == {str(ra.seed)}
    assert sum(r["second_showing"] == "True" for r in rows) == 6


def test_intra_rater_kappa_from_repeats_and_repeats_out_of_the_other_statistics(ws):
    survey = sv.create_survey(ws, sv.SurveyConfig("intra", {"real": 10, "inpainted": 10}, seed=1, repeat_share=0.5))
    rater = sv.add_rater(ws, survey, "dr-a")
    items = {i["id"]: i for i in sv.items(ws, survey)}
    flip = sorted(i for i, it in items.items() if it["repeat_of"] is not None)[:2]  # 2 of 10 repeats answered otherwise
    truth_call = lambda it: "real" if it["truth"] == "real" else "fake"  # noqa: E731
    for item_id, it in items.items():
        call = truth_call(it)
        if item_id in flip:
            call = "fake" if call == "real" else "real"
        for q, v in (("image_quality", "good"), ("mask_quality", "poor" if item_id in flip else "good"), ("real_fake", call)):
            sv.record_answer(ws, rater, item_id, q, v)
    res = compute_results(ws, survey, n_boot=200, seed=3)
    intra = {q: (gap, k) for r, q, gap, k in res.intra}
    firsts = [items[items[i]["repeat_of"]] for i in flip]
    # by hand: 10 pairs, 8 the same; real/fake table of first vs second showing
    table = np.zeros((2, 2), int)
    for again, it in items.items():
        if it["repeat_of"] is not None:
            first = truth_call(items[it["repeat_of"]])
            second = truth_call(it) if again not in flip else ("fake" if truth_call(it) == "real" else "real")
            table[("real", "fake").index(first), ("real", "fake").index(second)] += 1
    po, pe = np.trace(table) / 10, (table.sum(1) @ table.sum(0)) / 100
    gap, kappa = intra["real_fake"]
    assert kappa.n == 10 and kappa.kappa == pytest.approx((po - pe) / (1 - pe)) and gap >= 1
    assert len(firsts) == 2 and math.isnan(intra["image_quality"][1].kappa)  # all 'good': undefined
    assert (
        sum(row.counts["real_fake"]["real"] + row.counts["real_fake"]["fake"] for row in res.tables["dr-a"]) == 20
    )  # repeats left out
    md = results_markdown(res)
    assert "Agreement of each rater with themselves" in md and "10 items were shown twice" in md


def test_time_per_item_is_stored_and_fast_raters_are_flagged(ws, survey):
    """First shown, first answered, changed: stored per item; the report gives each rater's
    median and flags a median under the floor (issue 32 item 7)."""
    for name in ("dr-slow", "dr-fast"):
        sv.add_rater(ws, survey, name)
    slow = sv.RaterSession.open(ws, "pilot", "dr-slow")
    for _ in range(3):
        shown = datetime.now(UTC) - timedelta(seconds=10)  # the clock, not a sleep: shown 10 s ago
        slow.shown[slow.current.item_id] = shown.isoformat(timespec="milliseconds")
        for q, v in (("image_quality", "good"), ("mask_quality", "good"), ("real_fake", "real")):
            slow.give(q, v)
        slow.give("real_fake", "fake")  # a changed answer
        slow.give("image_quality", "good")  # the same answer again: no change
        assert slow.next()
    fast = sv.RaterSession.open(ws, "pilot", "dr-fast")
    for _ in range(3):
        fast.mark_shown()
        for q, v in (("image_quality", "good"), ("mask_quality", "good"), ("real_fake", "real")):
            fast.give(q, v)
        assert fast.next()
    row = ws.query(
        "SELECT shown_at, first_answered_at, answered_at, changes FROM survey_answers WHERE rater_id = ?", (slow.rater.id,)
    )
    assert all(r["shown_at"] and r["first_answered_at"] and r["changes"] == 1 for r in row)
    res = compute_results(ws, survey, n_boot=20)
    timed = {t.rater: t for t in res.timing}
    assert (
        timed["dr-slow"].median_s == pytest.approx(10.0, abs=1.0)
        and not timed["dr-slow"].too_fast
        and timed["dr-slow"].changed == 3
    )
    assert timed["dr-fast"].timed == 3 and timed["dr-fast"].median_s < 3 and timed["dr-fast"].too_fast
    md = results_markdown(res)
    assert "| dr-fast | 3 |" in md and "YES: check" in md and re.search(r"\| dr-slow \| 3 \| (9|10)\.\d \| 3 \| no \|", md)


def test_a_workspace_from_before_the_reader_study_step_upgrades_with_its_answers(tmp_path, monkeypatch, demo_dataset):
    """The schema step 'survey reader study' (times per item, repeats) upgrades an old
    workspace in place: its answers stay, without times; its items are all first showings."""
    from backend.data.importer import import_dataset
    from backend.workspace import Workspace
    from backend.workspace import store as store_mod
    from backend.workspace.schema import MIGRATIONS

    step = next(n for n, sql in enumerate(MIGRATIONS) if "repeat_of" in sql)
    monkeypatch.setattr(store_mod, "MIGRATIONS", MIGRATIONS[:step])
    monkeypatch.setattr(store_mod, "SCHEMA_VERSION", step)
    old = Workspace.create(tmp_path / "ws")
    import_dataset(old, demo_dataset)
    with old.transaction() as c:
        c.execute("INSERT INTO surveys (name, seed, params_json, created_at) VALUES ('old', 1, '{}', 'then')")
        c.execute(
            "INSERT INTO survey_items (survey_id, truth, image_id, image_path, mask_path, code)"
            " VALUES (1, 'real', 1, 'a', 'b', 'C')"
        )
        c.execute("INSERT INTO raters (survey_id, name, seed) VALUES (1, 'dr-old', 5)")
        c.execute("INSERT INTO survey_answers (rater_id, item_id, real_fake, answered_at) VALUES (1, 1, 'real', 'then')")
    old.close()
    monkeypatch.undo()
    ws = Workspace.open(tmp_path / "ws")
    assert ws.schema_version == len(MIGRATIONS) > step
    row = ws.query("SELECT real_fake, shown_at, first_answered_at, changes FROM survey_answers")[0]
    assert tuple(row) == ("real", None, None, 0)
    survey = sv.get_survey(ws, "old")
    assert compute_results(ws, survey, n_boot=10).timing[0].timed == 0
    assert sv.rater_order(ws, survey, sv.get_rater(ws, survey, "dr-old")) == [1]


def test_calibration_items_come_first_tell_their_truth_and_count_nowhere(ws, tmp_path):
    """Calibration items (issue 32 item 6): drawn beyond the counted ones, first in every
    order, their truth told once called, left out of every statistic, marked in the exports."""
    survey = sv.create_survey(ws, sv.SurveyConfig("calib", {"real": 6, "inpainted": 6}, seed=2, calibration=3))
    items = {i["id"]: i for i in sv.items(ws, survey)}
    calib = {i for i, it in items.items() if it["calibration"]}
    assert len(items) == 15 and len(calib) == 3 and survey.params["calibration"] == 3
    assert sorted(items[i]["truth"] for i in calib) == ["inpainted", "real", "real"]  # kinds in turn
    assert sv.summary(ws, survey)["per_kind"] == {"real": 6, "inpainted": 6}
    for name in ("dr-a", "dr-b"):
        sv.add_rater(ws, survey, name)
        session = sv.RaterSession.open(ws, "calib", name)
        assert {it.item_id for it in session.items[:3]} == calib
        for pos in range(session.total):
            session.select(pos)
            it = session.current
            assert (it.calibration_truth is not None) == (it.item_id in calib)
            if it.item_id in calib:
                assert session.feedback() == "Calibration item (not counted): its truth is shown after your call."
            for q, v in (("image_quality", "poor"), ("mask_quality", "poor"), ("real_fake", "real")):
                session.give(q, v)
            if it.item_id in calib:
                told = "real" if items[it.item_id]["truth"] == "real" else "synthetic (Diff)"
                assert session.feedback() == f"Calibration item (not counted): this one was {told}."
            else:
                assert session.feedback() == ""
    res = compute_results(ws, survey, n_boot=20)
    assert sum(sum(row.counts["image_quality"].values()) for row in res.tables["dr-a"]) == 12  # the 3 calibration items left out
    assert all(t.timed == 0 or t.timed == 12 for t in res.timing)
    files = write_report(ws, survey, tmp_path / "rep", n_boot=20)
    answers = list(csv.DictReader(files["answers.csv"].open()))
    assert sum(r["calibration"] == "1" for r in answers) == 6 and "3 calibration items opened" in files["report.md"].read_text()
    order = list(csv.DictReader(files["order.csv"].open()))
    assert [r["calibration"] for r in order[:4]] == ["True", "True", "True", "False"]
