"""Survey questions from a template (issue 32 item 10): checked like any input from outside,
asked by the session, stored, exported, imported and counted as the template says; a survey
made before templates (no questions.toml, answers in the old columns) keeps working."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from backend import survey as sv
from backend.errors import BadInputError
from backend.survey.report import compute_results, table_header, write_report
from backend.survey.template import DEFAULT, KEY_POOL, TEMPLATE_FILE, parse_template, read_template

ROOT = Path(__file__).resolve().parents[2]
CEMIS = ROOT / "docs" / "survey-questions.toml"

GOOD = """
[[question]]
name = "realism"
title = "How realistic?"
likert = 5
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[question]\nname = 1", "not valid TOML"),
        ("title = 'x'", "unknown field(s) title"),
        ("", "give 1 to 8 questions"),
        ("[[question]]\nname = 'Bad Name'\ntitle = 't'\nlikert = 3", "question 1: field 'name' is 'Bad Name'"),
        ("[[question]]\nname = 'comment'\ntitle = 't'\nlikert = 3", "question 1 (comment): field 'name' 'comment' is reserved"),
        (GOOD + GOOD, "question 2 (realism): field 'name' 'realism' is used twice"),
        ("[[question]]\nname = 'q'\ntitle = ''\nlikert = 3", "question 1 (q): field 'title' must be non-empty text"),
        ("[[question]]\nname = 'q'\ntitle = '" + "x" * 81 + "'\nlikert = 3", "field 'title' is 81 characters long (at most 80)"),
        ('[[question]]\nname = "q"\ntitle = "a\\u0007b"\nlikert = 3', "field 'title' holds a control character"),
        (
            "[[question]]\nname = 'q'\ntitle = 't'\nlikert = 2\nlabels = ['a', 'b|c']",
            "field 'labels[1]' holds a control character or '|'",
        ),
        ("[[question]]\nname = 'q'\ntitle = 't'\nlikert = 11", "field 'likert' must be a whole number from 2 to 10"),
        ("[[question]]\nname = 'q'\ntitle = 't'\nlikert = 3\nlabels = ['a']", "field 'labels' must list 3 labels"),
        ("[[question]]\nname = 'q'\ntitle = 't'", "give either field 'answers' or field 'likert'"),
        ("[[question]]\nname = 'q'\ntitle = 't'\nscale = 'ratio'\nlikert = 3", "field 'scale' must be one of ordinal, nominal"),
        ("[[question]]\nname = 'q'\ntitle = 't'\nlikert = 3\ncolour = 'red'", "question 1: unknown field(s) colour"),
        (
            "[[question]]\nname = 'q'\ntitle = 't'\nanswers = [{value = 'a', label = 'A'}, {value = 'a', label = 'B'}]",
            "field 'answers' gives a value twice",
        ),
        (
            "[[question]]\nname = 'q'\ntitle = 'T'\nanswers = [{value = 'a', label = 'A', key = 'k'}, {value = 'b', label = 'b'}]"
            "",
            "answers[0]: field 'key' is 'k'",
        ),
        (
            "[[question]]\nname = 'q'\ntitle = 't'\nanswers = [{value = 'A b', label = 'A'}, {value = 'b', label = 'B'}]",
            "answers[0]: field 'value' is 'A b'",
        ),
        (
            "[[question]]\nname = 'q'\ntitle = 't'\nscale = 'nominal'\ntruth = true\n"
            "answers = [{value = 'yes', label = 'Y'}, {value = 'no', label = 'N'}]",
            "a truth question is nominal with exactly the values 'real' and 'fake'",
        ),
        (
            "\n".join(f"[[question]]\nname = 'q{i}'\ntitle = 't'\nlikert = 10" for i in range(3)),
            "30 answers in all but only 21 keys",
        ),
        ("\n".join(f"[[question]]\nname = 'q{i}'\ntitle = 't'\nlikert = 2" for i in range(9)), "give 1 to 8 questions"),
    ],
)
def test_a_template_from_outside_is_checked_field_by_field(tmp_path, text, message):
    path = tmp_path / "mine.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BadInputError) as e:
        read_template(path)
    assert str(e.value).startswith(str(path)) and message in str(e.value)


def test_a_huge_or_binary_template_is_refused_before_it_is_parsed(tmp_path):
    big = tmp_path / "big.toml"
    big.write_bytes(b"#" * (64 * 1024 + 1))
    with pytest.raises(BadInputError, match="a questions template is at most 65536 bytes"):
        read_template(big)
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(BadInputError, match="not UTF-8"):
        read_template(binary)


def test_the_default_and_the_example_templates():
    assert [q.name for q in DEFAULT.questions] == ["image_quality", "mask_quality", "real_fake"]
    assert [a.key for q in DEFAULT.questions for a in q.answers] == list("12345678")  # the keys raters know
    cemis = read_template(CEMIS)
    assert cemis.names == ("realism", "clinical_utility", "real_fake") and cemis.truth_question.name == "real_fake"
    keys = [a.key for q in cemis.questions for a in q.answers]
    assert keys == list("1234567890ad") and set(keys) <= set(KEY_POOL)
    assert (
        cemis.check("realism", "FULLY") == "5"
        and cemis.check("realism", "4") == "4"
        and cemis.check("real_fake", "Synthetic") == "fake"
    )
    with pytest.raises(BadInputError, match="'6' is not a valid answer to realism"):
        cemis.check("realism", "6")
    assert parse_template(sv.template.template_toml(cemis), "again") == cemis  # written and read back as it was


@pytest.fixture
def cemis_survey(ws):
    return sv.create_survey(
        ws, sv.SurveyConfig("cemis", {"real": 6, "inpainted": 6}, seed=3, repeat_share=0.25, questions=str(CEMIS))
    )


def test_a_template_survey_is_rated_stored_and_counted_by_its_questions(ws, cemis_survey, tmp_path):
    survey = cemis_survey
    assert (ws.path(survey.params["folder"]) / TEMPLATE_FILE).is_file()
    assert sv.template_of(ws, survey) == read_template(CEMIS)
    sv.add_rater(ws, survey, "dr-a")
    s = sv.RaterSession.open(ws, "cemis", "dr-a")
    s.give("realism", "4")
    assert not s.next()  # two questions still open
    s.give("clinical_utility", "2")
    s.give("real_fake", "real")
    assert s.next() and s.index == 1
    with pytest.raises(BadInputError, match="unknown question 'image_quality'"):
        s.give("image_quality", "good")
    stored = sv.answers_of(ws, s.rater)[s.items[0].item_id]
    assert stored == sv.Answer({"realism": "4", "clinical_utility": "2", "real_fake": "real"}, "")
    assert sv.summary(ws, survey)["raters"][0]["complete"] == 1

    sv.simulate_raters(ws, survey, 3, seed=2)
    res = compute_results(ws, survey, n_boot=50)
    assert table_header(res.template)[1:6] == [
        "Realism not at all",
        "Realism slightly",
        "Realism moderately",
        "Realism very",
        "Realism fully",
    ]
    assert table_header(res.template)[-2:] == ["Real", "Synthetic"]
    assert {q for _, _, q, _ in res.pairwise} == {"realism", "clinical_utility", "real_fake"}
    assert {(q, level) for q, level, _, _ in res.alphas} == {
        ("realism", "ordinal"),
        ("clinical_utility", "ordinal"),
        ("real_fake", "nominal"),
    }
    assert res.detection and {q for q, _, _ in res.fleiss} == {"realism", "clinical_utility", "real_fake"}
    assert {q for _, q, _, _ in res.intra} == {"realism", "clinical_utility", "real_fake"}

    files = write_report(ws, survey, tmp_path / "rep", n_boot=50)
    md = files["report.md"].read_text(encoding="utf-8")
    assert "How realistic is the image? (ordinal: 1 < 2 < 3 < 4 < 5)" in md and "Image quality" not in md
    with files["answers.csv"].open(encoding="utf-8") as f:
        header = next(csv.reader(f))
    assert header[:6] == ["rater", "item", "realism", "clinical_utility", "real_fake", "comment"]


def test_statistics_of_a_template_agree_with_independent_references(ws, cemis_survey):
    """Krippendorff's alpha (the ``krippendorff`` package) and Cohen's kappa (scikit-learn) on
    the Likert answers, as the report computes them."""
    import krippendorff
    from sklearn.metrics import cohen_kappa_score

    survey = cemis_survey
    sv.simulate_raters(ws, survey, 3, seed=5)
    res = compute_results(ws, survey, n_boot=0)
    counted = [
        r["id"] for r in sv.items(ws, survey) if r["repeat_of"] is None and not r["calibration"]
    ]  # the items the report counts
    table = {r.name: sv.answers_of(ws, r) for r in sv.raters(ws, survey)}
    for question in ("realism", "clinical_utility"):
        data = np.array([[float(table[r][i].values[question]) for i in counted] for r in sorted(table)])
        ref = krippendorff.alpha(reliability_data=data, level_of_measurement="ordinal", value_domain=[1.0, 2, 3, 4, 5])
        ours = next(a for q, _, _, a in res.alphas if q == question)
        assert ours == pytest.approx(ref, abs=1e-9)
        a, b = sorted(table)[:2]
        ref_kappa = cohen_kappa_score(  # weights over the whole scale: a level nobody chose still counts in distances
            [int(table[a][i].values[question]) for i in counted],
            [int(table[b][i].values[question]) for i in counted],
            labels=[1, 2, 3, 4, 5],
            weights="linear",
        )
        ours_kappa = next(
            k.kappa
            for ra, rb, q, k in res.pairwise
            if q == question and k.weights == "linear" and {ra, rb} == {f"{a} (simulated)", f"{b} (simulated)"}
        )
        assert ours_kappa == pytest.approx(ref_kappa, abs=1e-9)


def test_answer_sheets_and_the_rater_pack_follow_the_template(ws, cemis_survey, tmp_path):
    survey = cemis_survey
    pack = sv.export_rater_pack(ws, survey, tmp_path / "pack", rater="dr-far")
    with pack["sheet"].open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    readme = (pack["folder"] / "README.txt").read_text(encoding="utf-8")
    assert "realism        not at all, slightly, moderately, very or fully: How realistic is the image?" in readme
    assert "image_quality" not in readme and list(rows[0]) == list(sv.csv_fields(sv.template_of(ws, survey)))
    rows[0].update(realism="5", clinical_utility="4", real_fake="synthetic")
    rows[1].update(realism="good")
    bad = tmp_path / "bad.csv"
    with bad.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    with pytest.raises(BadInputError, match="'good' is not a valid answer to realism"):
        sv.import_answers_csv(ws, survey, bad)
    rows[1].update(realism="2")
    with bad.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    assert sv.import_answers_csv(ws, survey, bad)["answers"] == 2
    got = sv.answers_of(ws, sv.get_rater(ws, survey, "dr-far"))
    assert sorted(a.values.get("realism") for a in got.values()) == ["2", "5"]


def test_a_damaged_template_in_the_survey_folder_is_a_message(ws, cemis_survey):
    path = ws.path(cemis_survey.params["folder"]) / TEMPLATE_FILE
    path.write_text("[[question]]\nname = 'x'\ntitle = 't'\nlikert = 99\n", encoding="utf-8")
    sv.add_rater(ws, cemis_survey, "dr-a")
    with pytest.raises(BadInputError, match=f"{path}: question 1 \\(x\\): field 'likert'"):
        sv.RaterSession.open(ws, "cemis", "dr-a")


def test_a_survey_made_before_templates_keeps_its_questions_and_answers(tmp_path, monkeypatch, demo_dataset):
    """A schema-7 workspace (answers in the three columns, no questions.toml) opened now."""
    import backend.workspace.store as store_mod
    from backend.data.importer import import_dataset
    from backend.workspace.schema import MIGRATIONS

    monkeypatch.setattr(store_mod, "MIGRATIONS", MIGRATIONS[:7])
    monkeypatch.setattr(store_mod, "SCHEMA_VERSION", 7)
    ws = store_mod.Workspace.create(tmp_path / "ws")
    import_dataset(ws, demo_dataset)
    survey = sv.create_survey(ws, sv.SurveyConfig("old", {"real": 4}, seed=1))
    (ws.path(survey.params["folder"]) / TEMPLATE_FILE).unlink()  # made before templates
    rater = sv.add_rater(ws, survey, "dr-old")
    first = sv.rater_order(ws, survey, rater)[0]
    with ws.transaction() as c:
        c.execute(
            "INSERT INTO survey_answers (rater_id, item_id, image_quality, mask_quality, real_fake, comment, answered_at)"
            " VALUES (?, ?, 'good', 'poor', 'fake', 'old', 'then')",
            (rater.id, first),
        )
    ws.close()
    monkeypatch.undo()
    ws = store_mod.Workspace.open(tmp_path / "ws")
    assert ws.schema_version == len(MIGRATIONS)
    survey = sv.get_survey(ws, "old")
    assert sv.template_of(ws, survey) == DEFAULT
    s = sv.RaterSession.open(ws, "old", "dr-old")
    assert s.answers[first] == sv.Answer({"image_quality": "good", "mask_quality": "poor", "real_fake": "fake"}, "old")
    assert s.index == 1  # resumes after the item answered under the old schema
    s.select(0)
    s.give("image_quality", "moderate")
    assert sv.answers_of(ws, rater)[first].values["image_quality"] == "moderate"
    assert compute_results(ws, survey, n_boot=0).tables["dr-old"][0].counts["image_quality"]["moderate"] == 1
