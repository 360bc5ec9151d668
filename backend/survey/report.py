"""Survey results: Table 7, real-vs-synthetic detection, between-rater agreement, the report.

``compute_results`` turns the stored answers into numbers; ``results_markdown`` and the two
figure functions present them; ``write_report`` writes Markdown + CSV + PNG into a folder
and records it. The GUI shows the same Markdown and figures, so both faces agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import numpy as np

from backend.io.files import atomic_write_bytes, atomic_write_text, refuse_overwrite
from backend.metrics.agreement import BinaryStats, KappaResult, binary_stats, cohen_kappa_result, fleiss_kappa_result
from backend.reports import markdown_table
from backend.reports.csvio import write_csv
from backend.reports.figures import new_figure, png_bytes
from backend.survey import Rater, Survey, answer_rows, raters
from backend.survey.model import (
    distinct_per_kind,
    sets_per_kind,
    stored_values,
    template_of,
)
from backend.survey.reading import SPEED_FLOOR_S, RaterTiming, alphas, intra_rater, order_rows, timing, timing_rows
from backend.survey.template import DEFAULT, Template
from backend.words import counted
from backend.workspace.store import Workspace

ALL_RATERS = "All raters (pooled)"


@dataclass
class Table7Row:
    """One row of the paper's Table 7 (of any template's questions): counts per answer for
    one data type, question by question in the template's order."""

    kind: str
    label: str
    counts: dict[str, dict[str, int]]  # question -> answer value -> count

    def cells(self) -> list[int]:
        return [n for per_answer in self.counts.values() for n in per_answer.values()]


def table_header(template: Template) -> list[str]:
    """'Data type', then a column per answer: 'Image Good', ...; the truth question's answers
    by their labels alone ('Real', 'Synthetic')."""
    return ["Data type"] + [a.label if q.truth else f"{q.heading} {a.label}" for q in template.questions for a in q.answers]


TABLE7_HEADER = table_header(DEFAULT)


@dataclass
class SurveyResults:
    survey: Survey
    labels: dict[str, str]  # kind -> display label, table order
    template: Template
    raters: list[Rater]
    items_per_kind: dict[str, int]
    tables: dict[str, list[Table7Row]]  # rater display name (or ALL_RATERS) -> rows
    detection: list[tuple[str, str, BinaryStats]] = field(default_factory=list)  # rater, comparison
    pairwise: list[tuple[str, str, str, KappaResult]] = field(default_factory=list)  # a, b, question
    fleiss: list[tuple[str, int, KappaResult]] = field(default_factory=list)  # question, raters
    n_boot: int = 2000  # bootstrap resamples of the items behind every kappa interval
    seed: int = 0  # of the bootstrap's generator (stated in the report)
    timing: list[RaterTiming] = field(default_factory=list)
    floor_s: float = SPEED_FLOOR_S
    intra: list[tuple[str, str, int, KappaResult]] = field(default_factory=list)  # rater, question, gap
    alphas: list[tuple[str, str, int, float]] = field(default_factory=list)  # question, level, raters, alpha
    sets: dict[str, dict[str, int]] = field(default_factory=dict)  # kind -> sample set -> items (model.sets_per_kind)

    @property
    def any_simulated(self) -> bool:
        return any(r.simulated for r in self.raters)


def _answers(ws: Workspace, survey: Survey) -> list[dict]:
    """rater_id, item_id, truth and each answered question's value, of the counted items."""
    return [
        {"rater_id": r["rater_id"], "item_id": r["item_id"], "truth": r["truth"], **stored_values(ws, r)}
        for r in ws.query(
            "SELECT a.rater_id, a.item_id, a.answers_json, i.truth"
            " FROM survey_answers a JOIN survey_items i ON i.id = a.item_id"
            " WHERE i.survey_id = ? AND i.repeat_of IS NULL AND i.calibration = 0"  # repeats: intra-rater only
            " ORDER BY a.rater_id, a.item_id",
            (survey.id,),
        )
    ]


def table7(answers: list[dict], labels: dict[str, str], template: Template = DEFAULT) -> list[Table7Row]:
    """Counts of each answer per data type; each question counts wherever it was answered."""
    rows = []
    for kind, label in labels.items():
        mine = [a for a in answers if a["truth"] == kind]
        counts = {q.name: {v: sum(a.get(q.name) == v for a in mine) for v in q.values} for q in template.questions}
        rows.append(Table7Row(kind, label, counts))
    return rows


def _detection(answers: list[dict], labels: dict[str, str], truth: str, n_boot: int, seed: int) -> list[tuple[str, BinaryStats]]:
    """Synthetic (positive) vs real (the ``truth`` question's calls): all synthetic kinds
    combined, then each kind alone."""
    called = [{**a, "real_fake": a[truth]} for a in answers if a.get(truth) is not None]
    groups = [("All synthetic vs Real", [k for k in labels if k != "real"])]
    if len(labels) > 2:
        groups += [(f"{labels[k]} vs Real", [k]) for k in labels if k != "real"]
    out = []
    for name, kinds in groups:
        sel = [a for a in called if a["truth"] == "real" or a["truth"] in kinds]
        if sel:
            out.append(
                (name, binary_stats([a["truth"] != "real" for a in sel], [a["real_fake"] == "fake" for a in sel], n_boot, seed))
            )
    return out


def compute_results(
    ws: Workspace, survey: Survey, n_boot: int = 2000, seed: int = 0, floor_s: float = SPEED_FLOOR_S
) -> SurveyResults:
    """Every number of the report from the stored answers (seeded bootstrap: reproducible).
    Second showings of repeated items count only in the intra-rater agreement."""
    labels, template = dict(survey.labels), template_of(ws, survey)
    per_kind = distinct_per_kind(ws, survey)
    for kind in per_kind:
        labels.setdefault(kind, kind)
    answers = _answers(ws, survey)
    by_rater = {r.id: [a for a in answers if a["rater_id"] == r.id] for r in raters(ws, survey)}
    active = [r for r in raters(ws, survey) if by_rater[r.id]]
    res = SurveyResults(survey, labels, template, active, per_kind, {}, n_boot=n_boot, seed=seed, floor_s=floor_s)
    res.sets = sets_per_kind(ws, survey)
    truth = template.truth_question
    res.timing, res.intra, res.alphas = timing(ws, survey, floor_s), intra_rater(ws, survey, n_boot, seed), alphas(ws, survey)
    for r in active:
        res.tables[r.display_name] = table7(by_rater[r.id], labels, template)
        if truth and "real" in labels and len(labels) > 1:
            found = _detection(by_rater[r.id], labels, truth.name, n_boot, seed)
            res.detection += [(r.display_name, name, st) for name, st in found]
    if len(active) > 1:
        res.tables[ALL_RATERS] = table7(answers, labels, template)
    for a, b in combinations(active, 2):
        for q in template.questions:
            va = {x["item_id"]: x[q.name] for x in by_rater[a.id] if x.get(q.name) is not None}
            vb = {x["item_id"]: x[q.name] for x in by_rater[b.id] if x.get(q.name) is not None}
            common = sorted(va.keys() & vb.keys())
            if not common:
                continue
            for w in (None,) if q.scale == "nominal" else (None, "linear", "quadratic"):
                res.pairwise.append(
                    (
                        a.display_name,
                        b.display_name,
                        q.name,
                        cohen_kappa_result([va[i] for i in common], [vb[i] for i in common], q.values, w, n_boot, seed),
                    )
                )
    if len(active) >= 3:
        for q in template.questions:
            per = [{x["item_id"]: x[q.name] for x in by_rater[r.id] if x.get(q.name) is not None} for r in active]
            common = sorted(set.intersection(*(set(p) for p in per)))
            if common:
                mat = np.array([[p[i] for p in per] for i in common], dtype=object)
                res.fleiss.append((q.name, len(active), fleiss_kappa_result(mat, q.values, n_boot, seed)))
    return res


def _title(res: SurveyResults, question: str) -> str:
    return res.template.question(question).title.rstrip("?")


# -- presentation -----------------------------------------------------------------------
def _f(x: float | None, d: int = 3) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.{d}f}"


def _ci(ci: tuple[float, float]) -> str:
    return f"[{_f(ci[0])}, {_f(ci[1])}]"


def _weights_name(w: str | None) -> str:
    return "unweighted" if w is None else f"{w} weighted"


def _drawn_from(sets: dict[str, int], label: str) -> str:
    """ " (4 from Diff, 6 from Full-Diff)" when a label's items came from other or several sets
    (the demo's "10 Styled-Diff" held 5 Styled-Diff and 5 Full-Styled-Diff samples)."""
    if not sets or list(sets) == [label]:
        return ""
    return " (" + ", ".join(f"{n} from {name}" for name, n in sets.items()) + ")"


def results_markdown(res: SurveyResults, figures: dict[str, str] | None = None, tables: bool = True) -> str:
    """The whole report as Markdown (figures: name -> relative file to embed).

    ``tables=False`` leaves out the Table 7 section for views that draw it themselves.
    """
    s = res.survey
    lines = [f"# Expert survey: {s.name}", ""]
    if res.any_simulated:
        lines += [
            "> **Simulated raters.** Answers of raters marked *(simulated)* were generated by "
            "`simulate_raters` for demonstration; they are not expert judgements.",
            "",
        ]
    kinds = ", ".join(
        f"{res.items_per_kind.get(k, 0)} {lab}{_drawn_from(res.sets.get(k, {}), lab)}" for k, lab in res.labels.items()
    )
    base, size = s.params.get("base", s.params.get("size")), s.params.get("size")
    lines += [
        f"{sum(res.items_per_kind.values())} image+mask pairs ({kinds}), shown blinded in a "
        f"per-rater shuffled order under random codes; every item processed the same way "
        f"(squared to {base} px{'' if base == size else f', then {size} px'}, "
        "one PNG encoding, no metadata).",
        "Raters with answers: "
        + (", ".join(r.display_name + ("" if r.submitted_at else " (not yet submitted)") for r in res.raters) or "none")
        + ".",
        "",
    ]
    lines += ["## Table 7: expert review results", ""] if tables else []
    for name, t7 in res.tables.items() if tables else ():
        lines += [f"**{name}**", ""]
        lines += markdown_table(table_header(res.template), [[r.label, *r.cells()] for r in t7]) + [""]
    if res.detection:
        lines += [
            "## Real vs synthetic",
            "",
            "Positive class = synthetic. Sensitivity = synthetic items called synthetic; specificity = "
            "real items called real. Cohen's kappa compares the rater's calls with the truth.",
            "",
        ]
        hdr = [
            "Rater",
            "Comparison",
            "TP",
            "FN",
            "FP",
            "TN",
            "Accuracy [95% CI]",
            "Sensitivity [95% CI]",
            "Specificity [95% CI]",
            "Kappa (SE)",
            "Kappa 95% CI",
            "Reading",
        ]
        rows = [
            [
                r,
                c,
                b.tp,
                b.fn,
                b.fp,
                b.tn,
                f"{_f(b.accuracy)} {_ci(b.accuracy_ci)}",
                f"{_f(b.sensitivity)} {_ci(b.sensitivity_ci)}",
                f"{_f(b.specificity)} {_ci(b.specificity_ci)}",
                f"{_f(b.kappa.kappa)} ({_f(b.kappa.se)})",
                _ci(b.kappa.ci_bootstrap),
                b.kappa.reading,
            ]
            for r, c, b in res.detection
        ]
        lines += markdown_table(hdr, rows) + [""]
    lines += ["## Agreement between raters", ""]
    if res.pairwise:
        hdr = ["Rater A", "Rater B", "Question", "Kappa", "n", "95% CI", "Reading"]
        rows = [
            [
                a,
                b,
                f"{_title(res, q)} ({_weights_name(k.weights)})",
                _f(k.kappa),
                k.n,
                _ci(k.ci_bootstrap),
                k.reading,
            ]
            for a, b, q, k in res.pairwise
        ]
        lines += ["Cohen's kappa per pair of raters over the items both answered.", ""]
        lines += markdown_table(hdr, rows) + [""]
    else:
        lines += ["Fewer than two raters have answered: no between-rater agreement yet.", ""]
    if res.fleiss:
        hdr = ["Question", "Raters", "Items", "Fleiss' kappa", "SE under H0", "p (kappa = 0)", "95% CI", "Reading"]
        rows = [
            [_title(res, q), m, k.n, _f(k.kappa), _f(k.se), _f(k.p_value, 4), _ci(k.ci_bootstrap), k.reading]
            for q, m, k in res.fleiss
        ]
        lines += ["Fleiss' kappa over the items every rater answered.", ""] + markdown_table(hdr, rows) + [""]
    for name, rel in (figures or {}).items():
        lines += [f"![{name}]({rel})", ""]
    lines += _reading_markdown(res)
    lines += ["## Limitations", "", _real_items_note(s), ""]
    lines += [
        "## Methods",
        "",
        "- Questions: "
        + "; ".join(
            f"{q.title} ({q.scale}: {' < '.join(q.values) if q.scale == 'ordinal' else ', '.join(q.values)})"
            for q in res.template.questions
        )
        + ".",
        "- Cohen's kappa: unweighted for nominal questions; for ordinal ones also linear and quadratic "
        "weights, as scikit-learn's `cohen_kappa_score`.",
        f"- 95% CIs of kappa: percentile bootstrap (2.5/97.5 percentiles of {res.n_boot} resamples of the "
        f"items with replacement, numpy generator seeded with {res.seed}); made of kappa values, they stay "
        "within [-1, 1]. SE: the large-sample SE of Fleiss, Cohen & Everitt (1969), not used for an "
        "interval (kappa ± 1.96 SE can pass 1).",
        "- Fleiss' kappa (1971) as statsmodels' `fleiss_kappa`; the SE under chance agreement "
        "(Fleiss, Nee & Landis 1979) gives the test of kappa = 0, the bootstrap gives the interval.",
        "- Proportions: Wilson score intervals.",
        "- Readings on the Landis & Koch (1977) scale: <0 poor, 0-0.20 slight, 0.21-0.40 fair, "
        "0.41-0.60 moderate, 0.61-0.80 substantial, 0.81-1 almost perfect.",
        "",
    ]
    return "\n".join(lines)


def _reading_markdown(res: SurveyResults) -> list[str]:
    """Krippendorff's alpha, intra-rater agreement, order and time per item."""
    lines = []
    if res.alphas:
        hdr = ["Question", "Level", "Raters", "Krippendorff's alpha"]
        rows = [[_title(res, q), level, m, _f(a)] for q, level, m, a in res.alphas]
        lines += ["Krippendorff's alpha over every answer given (missing answers allowed).", ""]
        lines += markdown_table(hdr, rows) + [""]
    lines += ["## Agreement of each rater with themselves", ""]
    if res.intra:
        hdr = ["Rater", "Question", "Pairs", "Min. gap (items)", "Cohen's kappa", "95% CI", "Reading"]
        rows = [
            [r, f"{_title(res, q)} ({_weights_name(k.weights)})", k.n, gap, _f(k.kappa), _ci(k.ci_bootstrap), k.reading]
            for r, q, gap, k in res.intra
        ]
        lines += [
            f"{res.survey.params.get('repeats', 0)} items were shown twice, the first time in the first half of "
            "each rater's order and again in the second half; these second showings count here only.",
            "",
        ]
        lines += markdown_table(hdr, rows) + [""]
    else:
        lines += ["No item was shown twice (`--repeat-share` 0): no intra-rater agreement.", ""]
    lines += [
        "## How the rating was done",
        "",
        "Each rater saw the items in an order of their own, drawn from a seed made by `secrets` and "
        "recorded (order.csv lists every position). Time per item: seconds from the item's first "
        "showing to the first answer (timing.csv: every item's times and changed answers).",
        "",
    ]
    if res.timing:
        hdr = ["Rater", "Items timed", "Median s per item", "Answers changed", f"Faster than {res.floor_s:g} s"]
        rows = [[t.rater, t.timed, _f(t.median_s, 1), t.changed, "YES: check" if t.too_fast else "no"] for t in res.timing]
        lines += markdown_table(hdr, rows) + [""]
    if res.survey.params.get("calibration"):
        lines += [
            f"{res.survey.params['calibration']} calibration items opened every rater's order, their truth "
            "shown after the rater's call; they are left out of every number of this report and marked "
            "in answers.csv and order.csv.",
            "",
        ]
    return lines


def _real_items_note(s: Survey) -> str:
    """Blinding cannot hide a real item from someone who holds its source image."""
    chosen = s.params.get("real_images")
    source = (
        f"Real items were drawn from an explicit list of {counted(len(chosen), 'image')} (`--real-images`)."
        if chosen
        else "Real items were drawn from all usable images of the workspace."
    )
    return (
        "Real items are resized copies of images of the source dataset, so anyone holding that "
        "dataset (e.g. a public one) can recognise them, whatever the processing; this holds for any "
        f"survey of this design. {source} To limit it, draw real items from images the raters have "
        "not seen and that are not public, with `diffgen survey create --real-images ID,ID,...`."
    )


def confusion_figure(res: SurveyResults) -> bytes | None:
    """One 2x2 truth-by-call matrix per rater (all synthetic kinds combined)."""
    combined = [(r, b) for r, c, b in res.detection if c.startswith("All synthetic")]
    if not combined:
        return None
    cols = min(4, len(combined))
    rows = -(-len(combined) // cols)
    fig = new_figure((3.2 * cols, 3.0 * rows))
    for n, (rater, b) in enumerate(combined):
        ax = fig.add_subplot(rows, cols, n + 1)
        m = np.array([[b.tn, b.fp], [b.fn, b.tp]])
        ax.imshow(m, cmap="Blues", vmin=0, vmax=max(1, m.max()))
        for (i, j), v in np.ndenumerate(m):
            ax.text(j, i, str(v), ha="center", va="center", fontsize=14, color="white" if v > m.max() / 2 else "black")
        ax.set_xticks([0, 1], ["called\nreal", "called\nsynthetic"])  # two lines: side by side they overlap
        ax.set_yticks([0, 1], ["real", "synthetic"])
        ax.set_title(f"{rater}\nκ = {_f(b.kappa.kappa, 2)}, acc = {_f(b.accuracy, 2)}", fontsize=9)
    fig.suptitle("Real vs synthetic: truth (rows) by call (columns)", fontsize=10)
    fig.tight_layout()
    return png_bytes(fig, dpi=110, tight=True)


def _ramp(n: int) -> list[str]:
    """``n`` blues from light to dark for a template's own answers, in scale order (no green or
    red: whether the first point is the best or the worst is the template's to say)."""
    ends = np.array([[0xC6, 0xDB, 0xEF], [0x08, 0x30, 0x6B]], dtype=float)
    return ["#" + "".join(f"{int(c):02x}" for c in ends[0] + (ends[1] - ends[0]) * t) for t in np.linspace(0, 1, n)]


def ratings_figure(res: SurveyResults) -> bytes | None:
    """Stacked bars per data type for each question (all raters pooled)."""
    if not res.tables:
        return None
    rows = res.tables.get(ALL_RATERS) or next(iter(res.tables.values()))
    colours = {"good": "#3a9a5b", "moderate": "#e0a526", "poor": "#c8423b", "real": "#3b6fb6", "fake": "#8c8c8c"}
    questions = res.template.questions
    fig = new_figure((11 * max(1, len(questions)) / 3, 3.8))
    x = np.arange(len(rows))
    for n, q in enumerate(questions):
        ax = fig.add_subplot(1, len(questions), n + 1)
        bottom = np.zeros(len(rows))
        scale = _ramp(len(q.answers))
        for i, a in enumerate(q.answers):
            vals = np.array([r.counts[q.name][a.value] for r in rows], dtype=float)
            ax.bar(x, vals, bottom=bottom, color=colours.get(a.value, scale[i]), label=a.label)
            bottom += vals
        ax.set_xticks(x, [r.label for r in rows])
        ax.set_title(_title(res, q.name), fontsize=10)
        ax.set_ylabel("answers")
        ax.set_ylim(0, max(1.0, bottom.max()) * 1.05)
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=min(3, len(q.answers)), frameon=False)
    pooled = " (all raters pooled)" if ALL_RATERS in res.tables else ""
    fig.suptitle(f"Answers per data type{pooled}", fontsize=10)
    fig.tight_layout()
    return png_bytes(fig, dpi=110, tight=True)


FIGURES = ("confusion.png", "ratings_by_kind.png")  # written when there are answers to draw
REPORT_FILES = (
    "report.md",
    "table7.csv",
    "detection.csv",
    "agreement.csv",
    "answers.csv",
    "order.csv",
    "timing.csv",
    *FIGURES,
)


def write_report(
    ws: Workspace, survey: Survey, out_dir: str | Path | None = None, n_boot: int = 2000, seed: int = 0, overwrite: bool = False
) -> dict[str, Path]:
    """Write report.md, table7.csv, detection.csv, agreement.csv, answers.csv and the PNGs
    (see :func:`report_dir` for where)."""
    out = report_dir(ws, survey, out_dir, overwrite)
    return write_results(ws, compute_results(ws, survey, n_boot, seed), out)


def report_dir(ws: Workspace, survey: Survey, out_dir: str | Path | None = None, overwrite: bool = False) -> Path:
    """Where the report goes: the survey's own folder in the workspace, rewritten each time, or
    ``out_dir``, whose files of the report's names are replaced only with ``overwrite``."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "_", survey.name)
    out = Path(out_dir) if out_dir else ws.root / "reports" / f"survey-{slug}"
    if out_dir and not overwrite:
        refuse_overwrite([out / n for n in REPORT_FILES if (out / n).exists()], f"the survey report into {out}")
    return out


def drawn_figures(res: SurveyResults) -> dict[str, bytes]:
    """The report's figures as PNG by name; one with nothing to draw (no answers) is left out."""
    drawn = {"confusion": confusion_figure(res), "ratings_by_kind": ratings_figure(res)}
    return {name: png for name, png in drawn.items() if png is not None}


def write_results(ws: Workspace, res: SurveyResults, out: Path) -> dict[str, Path]:
    """The report of ``res`` written into ``out`` and recorded; its files by name."""
    survey = res.survey
    files: dict[str, Path] = {}
    figures = {}
    for name, data in drawn_figures(res).items():
        files[f"{name}.png"] = atomic_write_bytes(out / f"{name}.png", data)
        figures[name] = f"{name}.png"
    t7 = [[rater, r.label, *r.cells()] for rater, rows in res.tables.items() for r in rows]
    det = [
        [
            r,
            c,
            b.tp,
            b.fn,
            b.fp,
            b.tn,
            b.accuracy,
            *b.accuracy_ci,
            b.sensitivity,
            *b.sensitivity_ci,
            b.specificity,
            *b.specificity_ci,
            b.kappa.kappa,
            b.kappa.se,
            *b.kappa.ci_bootstrap,
            b.kappa.reading,
        ]
        for r, c, b in res.detection
    ]
    agr = [
        [a, b, q, _weights_name(k.weights), "cohen", k.n, k.kappa, *k.ci_bootstrap, k.reading] for a, b, q, k in res.pairwise
    ] + [[f"{m} raters", "", q, "unweighted", "fleiss", k.n, k.kappa, *k.ci_bootstrap, k.reading] for q, m, k in res.fleiss]
    files["report.md"] = atomic_write_text(out / "report.md", results_markdown(res, figures))
    tables = {
        "table7.csv": (["rater"] + table_header(res.template), t7),
        "detection.csv": (
            [
                "rater",
                "comparison",
                "tp",
                "fn",
                "fp",
                "tn",
                "accuracy",
                "accuracy_lo",
                "accuracy_hi",
                "sensitivity",
                "sensitivity_lo",
                "sensitivity_hi",
                "specificity",
                "specificity_lo",
                "specificity_hi",
                "kappa",
                "kappa_se",
                "kappa_boot_lo",
                "kappa_boot_hi",
                "reading",
            ],
            det,
        ),
        "agreement.csv": (
            [
                "rater_a",
                "rater_b",
                "question",
                "weights",
                "statistic",
                "n",
                "kappa",
                "boot_lo",
                "boot_hi",
                "reading",
            ],
            agr,
        ),
        "answers.csv": answer_rows(ws, survey, with_truth=True),
        "order.csv": (["rater", "order_seed", "position", "item", "second_showing", "calibration"], order_rows(ws, survey)),
        "timing.csv": (
            ["rater", "item", "shown_at", "first_answered_at", "answered_at", "changes", "seconds_to_answer"],
            timing_rows(ws, survey),
        ),
    }
    for name, (header, rows) in tables.items():
        files[name] = write_csv(out / name, header, rows)
    ws.add_result(
        "survey_report", survey.name, {"dir": ws.rel(out), "files": sorted(files), "raters": [r.display_name for r in res.raters]}
    )
    return files
