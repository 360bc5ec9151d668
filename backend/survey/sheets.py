"""Answers as CSV (export, import) and the rater pack for raters on another machine.

Every CSV goes through :mod:`backend.reports.csvio`: text that a spreadsheet would run as
a formula is written with a leading quote, and reading a sheet back undoes exactly that
escape (a rater's comment "=blurry" returns as "=blurry", not "'=blurry").
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from pathlib import Path

from backend.errors import BadInputError
from backend.io.files import atomic_write_bytes, atomic_write_text, refuse_overwrite
from backend.reports.csvio import csv_text, read_csv, write_csv
from backend.survey.model import Survey, csv_fields, raters, stored_values, template_of
from backend.survey.sessions import new_order_seed
from backend.survey.template import Template
from backend.workspace.store import Workspace, inserted_id, now


def answer_rows(ws: Workspace, survey: Survey, with_truth: bool = False) -> tuple[list[str], list[list]]:
    """(header, rows) of every answer (item = the blinded code); ``with_truth`` adds the kind,
    whether the rater was simulated and whether the item was a calibration item (not counted)."""
    template = template_of(ws, survey)
    header = list(csv_fields(template)) + (["truth", "simulated", "calibration"] if with_truth else [])
    rows = []
    for r in ws.query(
        "SELECT ra.name AS rater, ra.simulated, a.rater_id, a.item_id, i.code AS item, i.truth, i.calibration,"
        " a.answers_json, a.comment FROM survey_answers a"
        " JOIN raters ra ON ra.id = a.rater_id JOIN survey_items i ON i.id = a.item_id"
        " WHERE ra.survey_id = ? ORDER BY ra.id, i.id",
        (survey.id,),
    ):
        values = stored_values(ws, r)
        row = [r["rater"], r["item"], *(values.get(q, "") for q in template.names), r["comment"] or ""]
        rows.append(row + ([r["truth"], int(r["simulated"]), r["calibration"]] if with_truth else []))
    return header, rows


def export_answers(ws: Workspace, survey: Survey, with_truth: bool = False) -> str:
    """All answers as CSV text (see :func:`answer_rows`)."""
    return csv_text(*answer_rows(ws, survey, with_truth))


def export_answers_csv(
    ws: Workspace, survey: Survey, path: str | Path, with_truth: bool = False, overwrite: bool = False
) -> Path:
    """Write the answers CSV; an existing file is replaced only with ``overwrite``."""
    path = Path(path)
    if not overwrite:
        refuse_overwrite([path] if path.exists() else [], "the answers CSV")
    return write_csv(path, *answer_rows(ws, survey, with_truth))


def _problem_message(path: Path, problems: list[str]) -> str:
    shown = "\n  ".join(problems[:50]) + (f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else "")
    return f"{path.name}: {len(problems)} problem(s), nothing imported:\n  {shown}"


def import_answers_csv(ws: Workspace, survey: Survey, path: str | Path, rater: str | None = None) -> dict:
    """Import answers collected elsewhere: every row is checked first, then one transaction.

    Columns: rater, item (the item code), one per question of the survey's template (by default
    image_quality, mask_quality, real_fake), comment (optional). A rater pack's sheet comes back
    this way; ``rater`` names whoever filled rows whose rater cell is empty. Rows with no answer
    and no comment are skipped (items the rater left out). Unknown raters are added. Any problem (unknown item, invalid
    answer, the same rater+item twice, an answer already stored, a submitted rater) stops
    the import with every problem listed, and nothing is stored. The result has a ``note``
    when the file was not UTF-8.
    """
    path = Path(path)
    columns, lines, note = read_csv(path)
    template = template_of(ws, survey)
    fields = csv_fields(template)
    missing = [f for f in fields[:-1] if f not in columns]
    if missing:
        raise BadInputError(f"{path.name}: missing column(s) {', '.join(missing)}; expected {', '.join(fields)}")
    codes = {r["code"]: r["id"] for r in ws.query("SELECT id, code FROM survey_items WHERE survey_id = ?", (survey.id,))}
    existing = {r.name: r for r in raters(ws, survey)}
    stored = {
        (r[0], r[1])
        for r in ws.query(
            "SELECT ra.name, a.item_id FROM survey_answers a JOIN raters ra ON ra.id = a.rater_id WHERE ra.survey_id = ?",
            (survey.id,),
        )
    }
    problems, rows, seen, skipped = [], [], set(), 0
    for row in lines:
        where = f"{path.name} line {row['_line']}"
        given = {q: (row.get(q) or "").strip() or None for q in template.names}
        comment = (row.get("comment") or "").strip()
        if not any(given.values()) and not comment:
            skipped += 1
            continue
        who, code = (row.get("rater") or "").strip() or (rater or ""), (row.get("item") or "").strip().upper()
        if not who:
            problems.append(f"{where}: empty rater (fill in the rater column or pass --rater NAME)")
            continue
        if code not in codes:
            problems.append(f"{where}: unknown item {row.get('item')!r} (not in survey {survey.name!r})")
            continue
        key = (who, codes[code])
        if key in seen:
            problems.append(f"{where}: duplicate answer of rater {who!r} for item {code}")
        elif key in stored:
            problems.append(f"{where}: rater {who!r} already has an answer for item {code} in the workspace")
        elif who in existing and existing[who].submitted_at:
            problems.append(f"{where}: rater {who!r} has submitted; answers are final")
        seen.add(key)
        values = {}
        for q, v in given.items():
            try:
                values[q] = template.check(q, v)
            except BadInputError as e:
                problems.append(f"{where}: {e}")
        rows.append((who, codes[code], values, comment))
    if problems:
        raise BadInputError(_problem_message(path, problems))
    with ws.transaction() as c:
        ids = {name: r.id for name, r in existing.items()}
        for who, *_ in rows:
            if who not in ids:
                ids[who] = inserted_id(
                    c.execute("INSERT INTO raters (survey_id, name, seed) VALUES (?,?,?)", (survey.id, who, new_order_seed()))
                )
        c.executemany(
            "INSERT INTO survey_answers (rater_id, item_id, answers_json, comment, answered_at) VALUES (?,?,?,?,?)",
            [(ids[r], item, json.dumps(v), cm, now()) for r, item, v, cm in rows],
        )
    names = {r[0] for r in rows}
    return {
        "answers": len(rows),
        "raters": sorted(names),
        "new_raters": sorted(names - set(existing)),
        "skipped": skipped,
        "note": note,
    }


# -- rater pack -------------------------------------------------------------------------
PACK_SHEET = "answers.csv"
PACK_README = """Blinded image review
====================

The folder images/ holds one picture per item, CODE.png, and its segmentation mask,
CODE_mask.png (white = polyp). Some items are real endoscopy images, others synthetic.

Please answer in {sheet}, one row per item, in the order of the rows:
  rater          your name (the same on every row{prefilled})
  item           the item code: leave it as it is
{questions}
  comment        optional, free text

Look at each image and its mask together before answering. Leave a row empty if you
cannot judge an item. Do not rename the files or change the item codes.

Save the sheet as CSV (any spreadsheet program will do; "CSV UTF-8" is best) and send
{sheet} back. It is imported with:
  diffgen survey import-answers --workspace WS --survey NAME [--rater NAME] {sheet}
"""


def _questions_text(template: Template) -> str:
    """One line per question of the README: its column, its answers, its title."""
    return "\n".join(
        f"  {q.name:<14} {' or '.join(', '.join(a.label.lower() for a in q.answers).rsplit(', ', 1))}: {q.title}"
        for q in template.questions
    )


def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _pack_folder(ws: Workspace, out: Path) -> Path:
    """The pack folder, refused inside the workspace (which holds the truth), inside an
    imported dataset (never written into) or when it is not empty."""
    target = out.expanduser().resolve()
    if _within(target, ws.root.resolve()):
        raise BadInputError(
            f"{out} is inside the workspace {ws.root}, which holds the survey's truth; "
            "write the rater pack to a folder outside it"
        )
    for (source,) in ws.query("SELECT DISTINCT source_dir FROM imports"):
        if _within(target, Path(source).resolve()):
            raise BadInputError(
                f"{out} is inside the imported dataset folder {source}, which is never written into; choose another folder"
            )
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise BadInputError(f"{out} already exists and is not an empty folder; choose a new folder (nothing was written)")
    return target


def export_rater_pack(ws: Workspace, survey: Survey, out: str | Path, rater: str | None = None) -> dict:
    """Write OUT with only the blinded copies, an answer sheet and README.txt, for a rater on
    another machine. Rows come in a fresh random order; ``rater`` prefills the rater column.

    The folder is built under a temporary name beside OUT and renamed into place, so it is
    complete or absent.
    """
    target = _pack_folder(ws, Path(out))
    template = template_of(ws, survey)
    its = [
        (
            r["code"],
            ws.stored(r["image_path"], "survey_items", r["id"], "image_path"),
            ws.stored(r["mask_path"], "survey_items", r["id"], "mask_path"),
        )
        for r in ws.query("SELECT id, code, image_path, mask_path FROM survey_items WHERE survey_id = ?", (survey.id,))
    ]
    secrets.SystemRandom().shuffle(its)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        os.chmod(tmp, 0o755)
        for code, image, mask in its:
            for path, name in ((image, f"{code}.png"), (mask, f"{code}_mask.png")):
                atomic_write_bytes(tmp / "images" / name, path.read_bytes())
        fields = csv_fields(template)
        blank = {q: "" for q in fields}
        write_csv(tmp / PACK_SHEET, fields, [blank | {"rater": rater or "", "item": code} for code, *_ in its])
        prefilled = "; already filled in" if rater else ""
        readme = PACK_README.format(sheet=PACK_SHEET, prefilled=prefilled, questions=_questions_text(template))
        atomic_write_text(tmp / "README.txt", readme)
        if target.exists():
            target.rmdir()
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"folder": target, "items": len(its), "sheet": target / PACK_SHEET}
