"""The survey report's statistics as a journal reviewer reads them (issue 32 items 4, 5, 7)."""

from __future__ import annotations

import math
import re

from backend import survey as sv
from backend.survey.report import compute_results, results_markdown

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
