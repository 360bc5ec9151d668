"""Survey records and lookups: surveys, raters, items, answers as the database holds them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from backend.config.fields import REQUIRED, param
from backend.errors import WorkspaceError
from backend.jobs.params import JobParams
from backend.survey.template import DEFAULT, TEMPLATE_FILE, Template, read_template
from backend.workspace.integrity import damaged, stored_json
from backend.workspace.names import check_name as check_workspace_name
from backend.workspace.store import Workspace

# the default template's (the paper's) questions and their answers
QUALITY = ("good", "moderate", "poor")
REAL_FAKE = ("real", "fake")
QUESTIONS = {q.name: q.values for q in DEFAULT.questions}
# Names the paper's Table 7 uses for each kind of item.
KIND_LABELS = {"real": "Real", "inpainted": "Diff", "styled": "Styled-Diff"}


def csv_fields(template: Template = DEFAULT) -> tuple[str, ...]:
    """The answer CSV's columns: rater, item, one per question, comment."""
    return ("rater", "item", *template.names, "comment")


CSV_FIELDS = csv_fields()


def check_name(name: str) -> str:
    """A survey name that is safe as one folder name (the workspace's one rule for names)."""
    return check_workspace_name(name.strip(), "survey name")


@dataclass(frozen=True)
class SurveyConfig(JobParams):
    """What to draw: ``counts`` maps a kind ('real' or a sample kind) to a number of items.

    ``seed`` makes the draw (which images and samples) reproducible; by default a random
    one is drawn and recorded. Item codes, the repeated items and order never depend on it. ``real_images``
    limits real items to these image ids (e.g. images kept out of training).
    """

    name: str = param(REQUIRED, label="Name", help="letters, digits, '.', '_', '-' (becomes a folder name)")
    counts: dict[str, int] = param(
        REQUIRED, label="Items", help='items per kind: \'real\' or a sample kind, e.g. {"real": 10, "inpainted": 10}', flag=()
    )
    only_kept: bool = param(False, label="Only kept", help="only samples marked keep in review")
    seed: int | None = param(
        label="Seed",
        help="seed of the draw (which images and samples; default random, recorded); item codes and order are always random",
    )
    size: int | None = param(
        None, 16, 4096, unit="px", label="Size", help="side of the blinded copies (default: smallest item side)"
    )  # side of the square copies
    real_images: tuple[int, ...] | None = param(
        label="Real images",
        help="draw real items only from these image ids (real items are recognisable by anyone holding the source dataset)",
    )
    only_passed: bool = param(
        False, label="Only passed", help="leave out samples that failed a quality gate (samples not scored yet stay in the draw)"
    )
    # share of the items shown a second time (intra-rater agreement); each first showing in
    # the first half of a rater's order, its repeat in the second half
    repeat_share: float = param(
        0.0,
        0.0,
        0.5,
        label="Repeat share",
        help="share of the items shown a second time, apart, for each rater's agreement with themselves",
    )
    # items shown first, their truth told after the rater's call, left out of every statistic
    calibration: int = param(
        0,
        0,
        50,
        label="Calibration",
        help="extra items shown first, with their truth told after the rater's call; left out of every statistic",
    )
    # a questions template (TOML, see backend.survey.template); None: the paper's questions
    questions: str | None = param(
        label="Questions",
        help="a questions template (TOML: docs/survey-questions.toml); default: the paper's Good/Moderate/Poor and real/fake",
    )
    LEGACY_KEYS: ClassVar[frozenset[str]] = frozenset({"device"})  # forms that sent one with every job


SurveyParams = SurveyConfig  # the survey job's parameters are the survey's config


@dataclass(frozen=True)
class SurveyResultsParams(JobParams):
    """The "survey-results" job: the results of ``survey`` computed for the Survey tab
    (:func:`backend.survey.report_jobs.run_survey_results`), with a seeded bootstrap."""

    survey: str = param(REQUIRED, label="Survey", help="the survey's name")
    n_boot: int = param(2000, 0, None, label="Bootstrap", help="bootstrap resamples behind every kappa interval")
    seed: int = param(0, label="Seed", help="seed of the bootstrap (stated in the report)")


@dataclass(frozen=True)
class SurveyReportParams(SurveyResultsParams):
    """The "survey-report" job: those results written as a report
    (:func:`backend.survey.report_jobs.run_survey_report`); ``out`` None: the survey's own folder in
    the workspace, rewritten each time; a folder the user names is overwritten only with ``overwrite``."""

    out: str | None = param(label="Folder", help="the report's folder (default: reports/survey-NAME in the workspace)")
    overwrite: bool = param(False, label="Overwrite", help="replace report files of the same names in a named folder")


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
    """What a rater may know of an item: an opaque id and the two normalised files; of a
    calibration item also its truth ('real' or the kind's label), told after the answer."""

    item_id: int
    image_path: Path
    mask_path: Path
    calibration_truth: str | None = None


@dataclass
class Answer:
    """A rater's answers to one item: question name -> answer value (answered ones only)."""

    values: dict[str, str] = field(default_factory=dict)
    comment: str = ""


def _survey(ws: Workspace, row) -> Survey:
    params = stored_json(ws.root, row["params_json"], "surveys", row["id"], "params_json")
    return Survey(row["id"], row["name"], row["seed"], params, row["created_at"])


def _rater(row) -> Rater:
    return Rater(row["id"], row["survey_id"], row["name"], row["seed"], row["submitted_at"], bool(row["simulated"]))


def get_survey(ws: Workspace, name: str) -> Survey:
    rows = ws.query("SELECT * FROM surveys WHERE name = ?", (name,))
    if not rows:
        known = ", ".join(r[0] for r in ws.query("SELECT name FROM surveys ORDER BY id")) or "none"
        raise WorkspaceError(f"no survey named {name!r} (surveys in this workspace: {known})")
    return _survey(ws, rows[0])


def survey_by_id(ws: Workspace, survey_id: int) -> Survey:
    return _survey(ws, ws.query("SELECT * FROM surveys WHERE id = ?", (survey_id,))[0])


def surveys(ws: Workspace) -> list[Survey]:
    return [_survey(ws, r) for r in ws.query("SELECT * FROM surveys ORDER BY id")]


def raters(ws: Workspace, survey: Survey) -> list[Rater]:
    return [_rater(r) for r in ws.query("SELECT * FROM raters WHERE survey_id = ? ORDER BY id", (survey.id,))]


def get_rater(ws: Workspace, survey: Survey, name: str) -> Rater:
    rows = ws.query("SELECT * FROM raters WHERE survey_id = ? AND name = ?", (survey.id, name))
    if not rows:
        known = ", ".join(r.name for r in raters(ws, survey)) or "none"
        raise WorkspaceError(
            f"survey {survey.name!r} has no rater {name!r} (raters: {known}); add one with 'diffgen survey add-rater'"
        )
    return _rater(rows[0])


def items(ws: Workspace, survey: Survey) -> list[dict]:
    """Every item with its truth (for reports and exports, never for rater mode)."""
    return [dict(r) for r in ws.query("SELECT * FROM survey_items WHERE survey_id = ? ORDER BY id", (survey.id,))]


def distinct_per_kind(ws: Workspace, survey: Survey) -> dict[str, int]:
    """Items per kind, a repeated item counted once (its second showing is no new item),
    calibration items not at all."""
    rows = ws.query(
        "SELECT truth, COUNT(*) FROM survey_items WHERE survey_id = ? AND repeat_of IS NULL AND calibration = 0 GROUP BY truth",
        (survey.id,),
    )
    return {r[0]: r[1] for r in rows}


def sets_per_kind(ws: Workspace, survey: Survey) -> dict[str, dict[str, int]]:
    """Per kind, the sample sets its items came from and how many each (counted as
    :func:`distinct_per_kind`): a label such as "Diff" can cover several sets (Diff and
    Full-Diff are both inpainted), which the report must say."""
    rows = ws.query(
        "SELECT i.truth, s.set_name, COUNT(*) FROM survey_items i JOIN samples s ON s.id = i.sample_id"
        " WHERE i.survey_id = ? AND i.repeat_of IS NULL AND i.calibration = 0 GROUP BY i.truth, s.set_name"
        " ORDER BY i.truth, s.set_name",
        (survey.id,),
    )
    out: dict[str, dict[str, int]] = {}
    for truth, set_name, n in rows:
        out.setdefault(truth, {})[set_name] = n
    return out


def summary(ws: Workspace, survey: Survey) -> dict:
    """Counts for listings: items per kind and, per rater, answered/complete/submitted, the
    time of their last answer and the hint of their web link (None without one)."""
    per_kind = distinct_per_kind(ws, survey)
    n = ws.query("SELECT COUNT(*) FROM survey_items WHERE survey_id = ?", (survey.id,))[0][0]  # repeats too
    rows = ws.query(
        "SELECT ra.id, ra.name, ra.simulated, ra.submitted_at, l.hint, MAX(a.answered_at)"
        " FROM raters ra LEFT JOIN survey_answers a ON a.rater_id = ra.id"
        " LEFT JOIN rater_links l ON l.rater_id = ra.id WHERE ra.survey_id = ? GROUP BY ra.id ORDER BY ra.id",
        (survey.id,),
    )
    template = template_of(ws, survey)
    complete: dict[int, int] = {}
    for a in ws.query(
        "SELECT a.rater_id, a.item_id, a.answers_json FROM survey_answers a JOIN raters ra ON ra.id = a.rater_id"
        " WHERE ra.survey_id = ?",
        (survey.id,),
    ):
        complete[a[0]] = complete.get(a[0], 0) + template.complete(stored_values(ws, a))
    out = [
        {
            "id": r[0],
            "rater": f"{r[1]} (simulated)" if r[2] else r[1],
            "complete": complete.get(r[0], 0),
            "items": n,
            "submitted": r[3],
            "link": r[4],
            "last_answer": r[5],
        }
        for r in rows
    ]
    return {"name": survey.name, "items": n, "per_kind": per_kind, "raters": out}


def stored_values(ws: Workspace, row) -> dict[str, str]:
    """The answers of one survey_answers row (``rater_id``, ``item_id``, ``answers_json``), the
    unanswered left out; a damaged column is a message naming the row."""
    raw = stored_json(ws.root, row["answers_json"], "survey_answers", (row["rater_id"], row["item_id"]), "answers_json")
    if not isinstance(raw, dict) or not all(isinstance(v, str | None) for v in raw.values()):
        where = (row["rater_id"], row["item_id"])
        raise damaged(ws.root, f"survey_answers row {where}, answers_json is not an object of answers")
    return {str(k): v for k, v in raw.items() if v is not None}


def answers_of(ws: Workspace, rater: Rater) -> dict[int, Answer]:
    return {
        r["item_id"]: Answer(stored_values(ws, r), r["comment"])
        for r in ws.query("SELECT * FROM survey_answers WHERE rater_id = ?", (rater.id,))
    }


def template_of(ws: Workspace, survey: Survey) -> Template:
    """The questions of ``survey``: its folder's questions.toml (checked: the folder is a file
    anyone with the workspace can edit), or the paper's for a survey made before templates."""
    folder = survey.params.get("folder")
    if not isinstance(folder, str):
        return DEFAULT
    path = ws.stored(f"{folder}/{TEMPLATE_FILE}", "surveys", survey.id, "params_json")
    if not path.exists():
        return DEFAULT
    return read_template(path)
