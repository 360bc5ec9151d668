"""The survey report as jobs: what the Survey tab's Compute results and Write report, and
``diffgen survey report``, run through the job queue (:mod:`backend.jobs.runner`). The report's
content (statistics, Markdown, figures, CSVs) is :mod:`backend.survey.report`'s."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from backend.jobs.context import JobContext
from backend.jobs.params import JobResult, plain
from backend.survey import get_survey
from backend.survey.model import SurveyReportParams, SurveyResultsParams
from backend.survey.report import compute_results, drawn_figures, report_dir, results_markdown, write_results
from backend.words import counted
from backend.workspace.store import Workspace


@dataclass(frozen=True, kw_only=True)
class ShownResults(JobResult):
    """What the Survey tab shows of a survey's results: the Table 7 rows of each rater (as
    :class:`Table7Row` fields), the Markdown without its tables and the figures (PNG as base64:
    computing results writes no file; Write report does)."""

    raters: int
    tables: dict[str, list[dict]]
    markdown: str
    figures: dict[str, str]


def run_survey_results(ws: Workspace, params: SurveyResultsParams, ctx: JobContext) -> ShownResults:
    """The Survey tab's Compute results: every number of the report, nothing written."""
    survey = get_survey(ws, params.survey)
    ctx.report(0, 1, "computing the results")
    res = compute_results(ws, survey, params.n_boot, params.seed)
    figures = {name: base64.b64encode(png).decode("ascii") for name, png in drawn_figures(res).items()}
    ctx.report(1, 1, "computed")
    return ShownResults(
        summary=f"results of survey {survey.name!r}: {counted(len(res.raters), 'rater')} with answers",
        raters=len(res.raters),
        tables={name: [plain(row) for row in rows] for name, rows in res.tables.items()},
        markdown=results_markdown(res, tables=False),
        figures=figures,
    )


@dataclass(frozen=True, kw_only=True)
class WrittenReport(JobResult):
    folder: str
    files: tuple[str, ...]  # in the order written


def run_survey_report(ws: Workspace, params: SurveyReportParams, ctx: JobContext) -> WrittenReport:
    """Job form of :func:`write_report` (``diffgen survey report`` and the Survey tab's Write report)."""
    survey = get_survey(ws, params.survey)
    out = report_dir(ws, survey, params.out, params.overwrite)
    ctx.report(0, 2, "computing the results")
    res = compute_results(ws, survey, params.n_boot, params.seed)
    ctx.check_cancel("before writing the report")
    ctx.report(1, 2, "writing the report")
    files = write_results(ws, res, out)
    ctx.report(2, 2, "written")
    return WrittenReport(
        summary=f"survey {survey.name!r}: {counted(len(files), 'report file')} in {out}", folder=str(out), files=tuple(files)
    )
