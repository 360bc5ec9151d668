"""Blinded expert surveys (paper section 3.5, Table 7): items, raters, answers, CSV in/out.

A survey draws real images (with their current mask) and generated samples of chosen
kinds, and stores each as a *normalised copy*: same size, same PNG encoding, no metadata,
a random file name. Nothing a rater can see (file size, format, dimensions, name) tells a
real item from a synthetic one; the truth stays in the database. Each rater sees the items
in their own order, seeded per rater so it is reproducible. Every answer is committed the
moment it is given, so a crash never loses one and reopening resumes at the first
unanswered item.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from backend.errors import BadInputError, Cancelled, WorkspaceError
from backend.workspace.files import atomic_write_text
from backend.workspace.store import Workspace, now

QUALITY = ("good", "moderate", "poor")
REAL_FAKE = ("real", "fake")
QUESTIONS = {"image_quality": QUALITY, "mask_quality": QUALITY, "real_fake": REAL_FAKE}
# Names the paper's Table 7 uses for each kind of item.
KIND_LABELS = {"real": "Real", "inpainted": "Diff", "styled": "Styled-Diff"}
MAX_SIZE = 512
CSV_FIELDS = ("rater", "item", "image_quality", "mask_quality", "real_fake", "comment")
_CODE_ALPHABET = "ACDEFHJKLMNPRTUVWXY3479"  # no look-alikes (0/O, 1/I, 5/S, ...)


@dataclass(frozen=True)
class SurveyConfig:
    """What to draw: ``counts`` maps a kind ('real' or a sample kind) to a number of items."""
    name: str
    counts: dict[str, int]
    only_kept: bool = False
    seed: int = 0
    size: int | None = None  # side of the normalised square copies; default: smallest item side


@dataclass(frozen=True)
class Survey:
    id: int
    name: str
    seed: int
    params: dict
    created_at: str

    @property
    def labels(self) -> dict[str, str]:
        """kind -> the name shown in tables (Real, Diff, Styled-Diff, ...), in survey order."""
        return self.params.get("labels", {})


@dataclass(frozen=True)
class Rater:
    id: int
    survey_id: int
    name: str
    seed: int
    submitted_at: str | None
    simulated: bool

    @property
    def display_name(self) -> str:
        return f"{self.name} (simulated)" if self.simulated else self.name


@dataclass(frozen=True)
class BlindItem:
    """What a rater may know of an item: an opaque id and the two normalised files."""
    item_id: int
    image_path: Path
    mask_path: Path


@dataclass
class Answer:
    image_quality: str | None = None
    mask_quality: str | None = None
    real_fake: str | None = None
    comment: str = ""

    @property
    def complete(self) -> bool:
        return None not in (self.image_quality, self.mask_quality, self.real_fake)


# -- creation ---------------------------------------------------------------------------
def parse_set(spec: str) -> tuple[str, int]:
    """'inpainted:10' -> ('inpainted', 10), with a message that says what was expected."""
    kind, sep, count = spec.partition(":")
    if not sep or not kind.strip() or not count.strip().isdigit():
        raise BadInputError(f"--set expects KIND:COUNT such as inpainted:10, got {spec!r}")
    return kind.strip(), int(count)


def _candidates(ws: Workspace, kind: str, only_kept: bool) -> list[dict]:
    """Everything of one kind that could be shown: {'image_id'|'sample_id', 'image', 'mask', 'set'}."""
    if kind == "real":
        rows = ws.query("SELECT i.id, i.stored_path, i.source_path, m.path AS mask FROM images i"
                        " JOIN mask_versions m ON m.id = i.current_mask_id"
                        " WHERE i.flagged = 0 ORDER BY i.id")
        return [{"image_id": r["id"], "sample_id": None, "set": "Real", "mask": r["mask"]} for r in rows]
    keep = " AND r.decision = 'keep'" if only_kept else ""
    rows = ws.query("SELECT s.id, s.set_name, s.mask_path FROM samples s"
                    " LEFT JOIN reviews r ON r.sample_id = s.id"
                    f" WHERE s.kind = ?{keep} ORDER BY s.id", (kind,))
    return [{"image_id": None, "sample_id": r["id"], "set": r["set_name"], "mask": r["mask_path"]}
            for r in rows]


def _read_pair(ws: Workspace, c: dict) -> tuple[np.ndarray, np.ndarray]:
    if c["sample_id"] is not None:
        return ws.read_sample(c["sample_id"])
    return ws.read_image(c["image_id"]), ws.read_mask(ws.image(c["image_id"]).current_mask_id)


def normalise_pair(image: np.ndarray, mask: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Same treatment for every item: square ``size`` RGB image and a 0/255 mask.

    Images are resized (not cropped, so the lesion stays in view) the way the training
    pipeline squares them; masks with nearest-neighbour so they stay binary.
    """
    img = cv2.resize(np.ascontiguousarray(image[..., :3]), (size, size), interpolation=cv2.INTER_AREA)
    m = cv2.resize(((mask > 0) * 255).astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST)
    return img.astype(np.uint8), m


def _codes(rng: np.random.Generator, n: int) -> list[str]:
    codes: set[str] = set()
    out = []
    while len(out) < n:
        code = "".join(rng.choice(list(_CODE_ALPHABET), 6))
        if code not in codes:
            codes.add(code)
            out.append(code)
    return out


def _kind_label(kind: str, drawn: list[dict]) -> str:
    """The set name when the drawn items share one (Diff, Styled-Diff, GAN), else a default."""
    sets = {c["set"] for c in drawn}
    return sets.pop() if len(sets) == 1 else KIND_LABELS.get(kind, kind)


def create_survey(ws: Workspace, config: SurveyConfig,
                  progress: Callable[[int, int, str], None] | None = None,
                  cancel: Callable[[], bool] | None = None) -> Survey:
    """Draw the items, write their normalised copies and store the survey (all or nothing)."""
    name = config.name.strip()
    if not name:
        raise BadInputError("a survey needs a name")
    if ws.query("SELECT 1 FROM surveys WHERE name = ?", (name,)):
        raise BadInputError(f"a survey named {name!r} already exists in this workspace")
    counts = {k: int(v) for k, v in config.counts.items() if int(v) > 0}
    if not counts:
        raise BadInputError("a survey needs at least one item (e.g. --real 10 --set inpainted:10)")
    rng = np.random.default_rng(config.seed)
    drawn: list[tuple[str, dict]] = []
    labels: dict[str, str] = {}
    for kind, n in counts.items():
        pool = _candidates(ws, kind, config.only_kept)
        if len(pool) < n:
            what = "real images with a mask (unflagged)" if kind == "real" else (
                f"'{kind}' samples" + (" marked keep in review" if config.only_kept else ""))
            kinds = ", ".join(f"{r[0]} ({r[1]})" for r in ws.query(
                "SELECT kind, COUNT(*) FROM samples GROUP BY kind")) or "none"
            raise BadInputError(f"the survey needs {n} {what} but the workspace has {len(pool)}. "
                                f"Sample kinds present: {kinds}.")
        chosen = [pool[i] for i in sorted(rng.choice(len(pool), n, replace=False))]
        labels[kind] = _kind_label(kind, chosen)
        drawn += [(kind, c) for c in chosen]
    pairs = [_read_pair(ws, c) for _, c in drawn]
    size = config.size or min(MAX_SIZE, min(min(img.shape[:2]) for img, _ in pairs))
    order = rng.permutation(len(drawn))  # item ids follow this order, so they carry no kind
    codes = _codes(rng, len(drawn))
    folder = f"surveys/{re.sub(r'[^A-Za-z0-9_-]+', '_', name)}-{codes[0].lower()}"
    params = {"counts": counts, "only_kept": config.only_kept, "size": size, "labels": labels,
              "folder": folder}
    rows = []
    try:  # files first, then the rows that make them visible, in one transaction
        for done, (idx, code) in enumerate(zip(order, codes)):
            if cancel and cancel():
                raise Cancelled("survey creation cancelled; nothing was stored")
            kind, cand = drawn[idx]
            img, mask = normalise_pair(*pairs[idx], size)
            rows.append((kind, cand["image_id"], cand["sample_id"], ws.write_png(f"{folder}/{code}.png", img),
                         ws.write_png(f"{folder}/{code}_mask.png", mask), code))
            if progress:
                progress(done + 1, len(drawn), "writing normalised copies")
        with ws.transaction() as c:
            sid = c.execute("INSERT INTO surveys (name, seed, params_json, created_at) VALUES (?,?,?,?)",
                            (name, config.seed, json.dumps(params), now())).lastrowid
            c.executemany("INSERT INTO survey_items (survey_id, truth, image_id, sample_id, image_path,"
                          " mask_path, code) VALUES (?,?,?,?,?,?,?)", [(sid, *r) for r in rows])
    except BaseException:
        shutil.rmtree(ws.path(folder), ignore_errors=True)
        raise
    return get_survey(ws, name)


def run_survey_create(ws: Workspace, params: dict, progress=None, cancel=None) -> dict:
    """Job form of :func:`create_survey` (params: name, counts, only_kept, seed, size)."""
    s = create_survey(ws, SurveyConfig(**params), progress, cancel)
    return {"survey_id": s.id, "name": s.name, "items": sum(s.params["counts"].values())}


# -- lookups ----------------------------------------------------------------------------
def _survey(row) -> Survey:
    return Survey(row["id"], row["name"], row["seed"], json.loads(row["params_json"]), row["created_at"])


def _rater(row) -> Rater:
    return Rater(row["id"], row["survey_id"], row["name"], row["seed"], row["submitted_at"],
                 bool(row["simulated"]))


def get_survey(ws: Workspace, name: str) -> Survey:
    rows = ws.query("SELECT * FROM surveys WHERE name = ?", (name,))
    if not rows:
        known = ", ".join(r[0] for r in ws.query("SELECT name FROM surveys ORDER BY id")) or "none"
        raise WorkspaceError(f"no survey named {name!r} (surveys in this workspace: {known})")
    return _survey(rows[0])


def surveys(ws: Workspace) -> list[Survey]:
    return [_survey(r) for r in ws.query("SELECT * FROM surveys ORDER BY id")]


def raters(ws: Workspace, survey: Survey) -> list[Rater]:
    return [_rater(r) for r in ws.query("SELECT * FROM raters WHERE survey_id = ? ORDER BY id", (survey.id,))]


def get_rater(ws: Workspace, survey: Survey, name: str) -> Rater:
    rows = ws.query("SELECT * FROM raters WHERE survey_id = ? AND name = ?", (survey.id, name))
    if not rows:
        known = ", ".join(r.name for r in raters(ws, survey)) or "none"
        raise WorkspaceError(f"survey {survey.name!r} has no rater {name!r} (raters: {known}); "
                             "add one with 'diffgen survey add-rater'")
    return _rater(rows[0])


def items(ws: Workspace, survey: Survey) -> list[dict]:
    """Every item with its truth (for reports and exports, never for rater mode)."""
    return [dict(r) for r in ws.query("SELECT * FROM survey_items WHERE survey_id = ? ORDER BY id",
                                      (survey.id,))]


def summary(ws: Workspace, survey: Survey) -> dict:
    """Counts for listings: items per kind and, per rater, answered/complete/submitted."""
    per_kind = {r[0]: r[1] for r in ws.query(
        "SELECT truth, COUNT(*) FROM survey_items WHERE survey_id = ? GROUP BY truth", (survey.id,))}
    n = sum(per_kind.values())
    out = []
    for r in raters(ws, survey):
        done = ws.query("SELECT COUNT(*) FROM survey_answers WHERE rater_id = ? AND image_quality IS NOT NULL"
                        " AND mask_quality IS NOT NULL AND real_fake IS NOT NULL", (r.id,))[0][0]
        out.append({"rater": r.display_name, "complete": done, "items": n, "submitted": r.submitted_at})
    return {"name": survey.name, "items": n, "per_kind": per_kind, "raters": out}


def add_rater(ws: Workspace, survey: Survey, name: str, seed: int | None = None,
              simulated: bool = False) -> Rater:
    """Register a rater; their item order is seeded by ``seed`` (default: from the name)."""
    name = name.strip()
    if not name:
        raise BadInputError("a rater needs a name")
    if ws.query("SELECT 1 FROM raters WHERE survey_id = ? AND name = ?", (survey.id, name)):
        raise BadInputError(f"survey {survey.name!r} already has a rater named {name!r}")
    seed = zlib.crc32(name.encode()) if seed is None else int(seed)
    with ws.transaction() as c:
        c.execute("INSERT INTO raters (survey_id, name, seed, simulated) VALUES (?,?,?,?)",
                  (survey.id, name, seed, int(simulated)))
    return get_rater(ws, survey, name)


def rater_order(ws: Workspace, survey: Survey, rater: Rater) -> list[int]:
    """The item ids in the order this rater sees them (same every time)."""
    ids = [r[0] for r in ws.query("SELECT id FROM survey_items WHERE survey_id = ? ORDER BY id", (survey.id,))]
    perm = np.random.default_rng([survey.seed, rater.seed]).permutation(len(ids))
    return [ids[i] for i in perm]


# -- answers ----------------------------------------------------------------------------
def answers_of(ws: Workspace, rater: Rater) -> dict[int, Answer]:
    return {r["item_id"]: Answer(r["image_quality"], r["mask_quality"], r["real_fake"], r["comment"])
            for r in ws.query("SELECT * FROM survey_answers WHERE rater_id = ?", (rater.id,))}


def _check_value(question: str, value: str | None) -> str | None:
    if question not in QUESTIONS:
        raise BadInputError(f"unknown question {question!r}; questions: {', '.join(QUESTIONS)}")
    if value is None:
        return None
    v = str(value).strip().lower()
    if question == "real_fake" and v == "synthetic":
        v = "fake"
    if v not in QUESTIONS[question]:
        raise BadInputError(f"{value!r} is not a valid answer to {question} "
                            f"(one of {', '.join(QUESTIONS[question])})")
    return v


def _ensure_open(ws: Workspace, rater_id: int) -> None:
    row = ws.query("SELECT name, submitted_at FROM raters WHERE id = ?", (rater_id,))
    if not row:
        raise WorkspaceError(f"no rater with id {rater_id}")
    if row[0]["submitted_at"]:
        raise WorkspaceError(f"rater {row[0]['name']!r} has submitted; answers can no longer change")


def record_answer(ws: Workspace, rater: Rater, item_id: int, question: str, value: str | None) -> None:
    """Store one answer (or clear it with None) and commit before returning."""
    value = _check_value(question, value)
    _set_column(ws, rater, item_id, question, value)


def record_comment(ws: Workspace, rater: Rater, item_id: int, comment: str) -> None:
    _set_column(ws, rater, item_id, "comment", comment.strip())


def _set_column(ws: Workspace, rater: Rater, item_id: int, column: str, value) -> None:
    # ``column`` is one of a fixed set of names checked by the callers.
    with ws.transaction() as c:
        _ensure_open(ws, rater.id)
        c.execute(f"INSERT INTO survey_answers (rater_id, item_id, {column}, answered_at) VALUES (?,?,?,?)"
                  f" ON CONFLICT(rater_id, item_id) DO UPDATE SET {column} = excluded.{column},"
                  " answered_at = excluded.answered_at", (rater.id, item_id, value, now()))


def submit(ws: Workspace, rater: Rater) -> None:
    """Make a rater's answers final; refused while any item is incomplete."""
    survey = _survey(ws.query("SELECT * FROM surveys WHERE id = ?", (rater.survey_id,))[0])
    answers = answers_of(ws, rater)
    missing = [i for i in rater_order(ws, survey, rater) if not answers.get(i, Answer()).complete]
    if missing:
        raise BadInputError(f"{len(missing)} items still need an answer to all three questions")
    with ws.transaction() as c:
        c.execute("UPDATE raters SET submitted_at = ? WHERE id = ?", (now(), rater.id))


@dataclass
class RaterSession:
    """One rater working through a survey: blinded items in their order, position, answers.

    The GUI's rater window is a face on this; it never sees an item's truth or source.
    """
    ws: Workspace
    survey: Survey
    rater: Rater
    items: list[BlindItem] = field(default_factory=list)
    answers: dict[int, Answer] = field(default_factory=dict)
    index: int = 0

    @classmethod
    def open(cls, ws: Workspace, survey_name: str, rater_name: str) -> "RaterSession":
        survey = get_survey(ws, survey_name)
        rater = get_rater(ws, survey, rater_name)
        paths = {r["id"]: (r["image_path"], r["mask_path"]) for r in ws.query(
            "SELECT id, image_path, mask_path FROM survey_items WHERE survey_id = ?", (survey.id,))}
        blind = [BlindItem(i, ws.path(paths[i][0]), ws.path(paths[i][1]))
                 for i in rater_order(ws, survey, rater)]
        s = cls(ws, survey, rater, blind, answers_of(ws, rater))
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

    def answer(self) -> Answer:
        return self.answers.get(self.current.item_id, Answer())

    def resume_index(self) -> int:
        """Position of the first item not fully answered (``total`` when all are)."""
        for pos, it in enumerate(self.items):
            if not self.answers.get(it.item_id, Answer()).complete:
                return pos
        return self.total

    @property
    def complete_count(self) -> int:
        return sum(self.answers.get(it.item_id, Answer()).complete for it in self.items)

    def progress_text(self) -> str:
        return f"{min(self.index + 1, self.total)} / {self.total}"

    def give(self, question: str, value: str) -> None:
        """Record an answer for the current item (committed before returning)."""
        item = self.current.item_id
        record_answer(self.ws, self.rater, item, question, value)
        ans = self.answers.setdefault(item, Answer())
        setattr(ans, question, _check_value(question, value))

    def comment(self, text: str) -> None:
        item = self.current.item_id
        record_comment(self.ws, self.rater, item, text)
        self.answers.setdefault(item, Answer()).comment = text.strip()

    def next(self) -> bool:
        """Move on if the current item is complete; False (and stay) otherwise."""
        if not self.answer().complete:
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


# -- CSV in and out ---------------------------------------------------------------------
def export_answers(ws: Workspace, survey: Survey, with_truth: bool = False) -> str:
    """All answers as CSV text (item = the blinded code); ``with_truth`` adds the kind."""
    buf = io.StringIO()
    fields = list(CSV_FIELDS) + (["truth", "simulated"] if with_truth else [])
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    for r in ws.query("SELECT ra.name AS rater, ra.simulated, i.code AS item, i.truth, a.image_quality,"
                      " a.mask_quality, a.real_fake, a.comment FROM survey_answers a"
                      " JOIN raters ra ON ra.id = a.rater_id JOIN survey_items i ON i.id = a.item_id"
                      " WHERE ra.survey_id = ? ORDER BY ra.id, i.id", (survey.id,)):
        row = {k: r[k] if r[k] is not None else "" for k in CSV_FIELDS}
        if with_truth:
            row.update(truth=r["truth"], simulated=int(r["simulated"]))
        w.writerow(row)
    return buf.getvalue()


def export_answers_csv(ws: Workspace, survey: Survey, path: str | Path, with_truth: bool = False) -> Path:
    return atomic_write_text(path, export_answers(ws, survey, with_truth))


def import_answers_csv(ws: Workspace, survey: Survey, path: str | Path) -> dict:
    """Import answers collected elsewhere: every row is checked first, then one transaction.

    Columns: rater, item (the item code), image_quality, mask_quality, real_fake, comment
    (optional). Unknown raters are added. Any problem (unknown item, invalid answer, the same
    rater+item twice, an answer already stored, a submitted rater) stops the import with
    every problem listed, and nothing is stored.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise BadInputError(f"cannot read {path}: {e}") from e
    reader = csv.DictReader(io.StringIO(text))
    missing = [f for f in CSV_FIELDS[:-1] if f not in (reader.fieldnames or [])]
    if missing:
        raise BadInputError(f"{path.name}: missing column(s) {', '.join(missing)}; "
                            f"expected {', '.join(CSV_FIELDS)}")
    codes = {r["code"]: r["id"] for r in ws.query("SELECT id, code FROM survey_items WHERE survey_id = ?",
                                                  (survey.id,))}
    existing = {r.name: r for r in raters(ws, survey)}
    stored = {(r[0], r[1]) for r in ws.query(
        "SELECT ra.name, a.item_id FROM survey_answers a JOIN raters ra ON ra.id = a.rater_id"
        " WHERE ra.survey_id = ?", (survey.id,))}
    problems, rows, seen = [], [], set()
    for line, row in enumerate(reader, start=2):
        where = f"{path.name} line {line}"
        rater, code = (row.get("rater") or "").strip(), (row.get("item") or "").strip().upper()
        if not rater:
            problems.append(f"{where}: empty rater")
            continue
        if code not in codes:
            problems.append(f"{where}: unknown item {row.get('item')!r} (not in survey {survey.name!r})")
            continue
        key = (rater, codes[code])
        if key in seen:
            problems.append(f"{where}: duplicate answer of rater {rater!r} for item {code}")
        elif key in stored:
            problems.append(f"{where}: rater {rater!r} already has an answer for item {code} in the workspace")
        elif rater in existing and existing[rater].submitted_at:
            problems.append(f"{where}: rater {rater!r} has submitted; answers are final")
        seen.add(key)
        values = {}
        for q in QUESTIONS:
            try:
                values[q] = _check_value(q, row.get(q) or None)
            except BadInputError as e:
                problems.append(f"{where}: {e}")
        rows.append((rater, codes[code], values, (row.get("comment") or "").strip()))
    if problems:
        shown = "\n  ".join(problems[:50]) + (f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else "")
        raise BadInputError(f"{path.name}: {len(problems)} problem(s), nothing imported:\n  {shown}")
    with ws.transaction() as c:
        ids = {name: r.id for name, r in existing.items()}
        for rater, *_ in rows:
            if rater not in ids:
                ids[rater] = c.execute("INSERT INTO raters (survey_id, name, seed) VALUES (?,?,?)",
                                       (survey.id, rater, zlib.crc32(rater.encode()))).lastrowid
        c.executemany("INSERT INTO survey_answers (rater_id, item_id, image_quality, mask_quality, real_fake,"
                      " comment, answered_at) VALUES (?,?,?,?,?,?,?)",
                      [(ids[r], item, v["image_quality"], v["mask_quality"], v["real_fake"], cm, now())
                       for r, item, v, cm in rows])
    return {"answers": len(rows), "raters": sorted({r[0] for r in rows}),
            "new_raters": sorted({r[0] for r in rows} - set(existing))}


# -- simulated raters -------------------------------------------------------------------
def simulate_raters(ws: Workspace, survey: Survey, n_raters: int = 3, seed: int = 0,
                    accuracy: float = 0.7, consistency: float = 0.8,
                    quality_probs: tuple[float, float, float] = (0.6, 0.3, 0.1)) -> list[Rater]:
    """Fill complete, submitted answers for raters named ``simulated-N`` (flagged simulated).

    For demos and tests only; reports label them. Each item has one latent image and mask
    quality (drawn from ``quality_probs``) shared by all simulated raters, who report it
    with probability ``consistency`` and a neighbouring grade otherwise, so inter-rater
    agreement is meaningful. Real/fake calls are right with probability ``accuracy``.
    """
    rng = np.random.default_rng(seed)
    its = items(ws, survey)
    latent = {q: rng.choice(3, len(its), p=np.asarray(quality_probs) / sum(quality_probs))
              for q in ("image_quality", "mask_quality")}
    taken = {r.name for r in raters(ws, survey)}
    made = []
    number = 1
    for _ in range(n_raters):
        while f"simulated-{number}" in taken:
            number += 1
        name = f"simulated-{number}"
        taken.add(name)
        rows = []
        for n, it in enumerate(its):
            grades = {}
            for q, lat in latent.items():
                g = lat[n] if rng.random() < consistency else int(np.clip(lat[n] + rng.choice([-1, 1]), 0, 2))
                grades[q] = QUALITY[g]
            is_real = it["truth"] == "real"
            says_real = is_real if rng.random() < accuracy else not is_real
            rows.append((it["id"], grades["image_quality"], grades["mask_quality"],
                         "real" if says_real else "fake"))
        with ws.transaction() as c:
            rid = c.execute("INSERT INTO raters (survey_id, name, seed, simulated, submitted_at)"
                            " VALUES (?,?,?,1,?)", (survey.id, name, int(rng.integers(2**31)), now())).lastrowid
            c.executemany("INSERT INTO survey_answers (rater_id, item_id, image_quality, mask_quality,"
                          " real_fake, comment, answered_at) VALUES (?,?,?,?,?,'',?)",
                          [(rid, *r, now()) for r in rows])
        made.append(get_rater(ws, survey, name))
    return made
