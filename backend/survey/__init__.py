"""Blinded expert surveys (paper section 3.5, Table 7): items, raters, answers, CSV in/out.

A survey draws real images (with their current mask) and generated samples of chosen
kinds, and stores each as a *blinded copy*: the same processing, size and PNG encoding for
every item, no metadata, a random code as file name. Nothing a rater can see (pixels'
processing, format, dimensions, name, file order or times) tells a real item from a
synthetic one; the truth stays in the database. Each rater sees the items in their own
order. Every answer is committed the moment it is given, so a crash never loses one and
reopening resumes at the first unanswered item. Raters on another machine get a rater pack
(blinded copies + answer sheet) whose filled-in sheet is imported back.

Modules: ``model`` (records, lookups), ``create`` (drawing, blinded copies), ``sessions``
(raters, answers, the rating session), ``sheets`` (CSV, rater pack), ``simulate``,
``template`` (the questions a survey asks, from its questions.toml).
"""

from backend.survey.create import (
    MAX_SIZE,
    SurveyResult,
    create_survey,
    encode_blinded_png,
    normalise_pair,
    parse_ids,
    parse_set,
    run_survey_create,
)
from backend.survey.model import (
    CSV_FIELDS,
    KIND_LABELS,
    QUALITY,
    QUESTIONS,
    REAL_FAKE,
    Answer,
    BlindItem,
    Rater,
    Survey,
    SurveyConfig,
    SurveyParams,
    answers_of,
    check_name,
    csv_fields,
    get_rater,
    get_survey,
    items,
    raters,
    summary,
    surveys,
    template_of,
)
from backend.survey.sessions import RaterSession, add_rater, rater_order, record_answer, record_comment, submit
from backend.survey.sheets import answer_rows, export_answers, export_answers_csv, export_rater_pack, import_answers_csv
from backend.survey.simulate import simulate_raters

__all__ = [
    "MAX_SIZE",
    "encode_blinded_png",
    "normalise_pair",
    "parse_ids",
    "parse_set",
    "create_survey",
    "run_survey_create",
    "SurveyResult",
    "CSV_FIELDS",
    "KIND_LABELS",
    "QUALITY",
    "QUESTIONS",
    "REAL_FAKE",
    "Answer",
    "BlindItem",
    "Rater",
    "Survey",
    "SurveyConfig",
    "SurveyParams",
    "answers_of",
    "check_name",
    "csv_fields",
    "get_rater",
    "get_survey",
    "items",
    "raters",
    "summary",
    "surveys",
    "template_of",
    "RaterSession",
    "add_rater",
    "rater_order",
    "record_answer",
    "record_comment",
    "submit",
    "answer_rows",
    "export_answers",
    "export_answers_csv",
    "export_rater_pack",
    "import_answers_csv",
    "simulate_raters",
]
