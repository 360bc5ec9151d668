"""Agreement statistics against independent references: scikit-learn, statsmodels, textbooks."""

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score, confusion_matrix
from statsmodels.stats.inter_rater import cohens_kappa as sm_cohens_kappa
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa
from statsmodels.stats.proportion import proportion_confint

from backend.metrics.agreement import (
    binary_stats,
    category_counts,
    cohen_kappa,
    cohen_kappa_result,
    confusion,
    fleiss_kappa,
    fleiss_kappa_result,
    kappa_from_table,
    kappa_se,
    landis_koch,
    wilson_ci,
)


def _random_pair(rng, k, n):
    a = rng.integers(0, k, n)
    # correlated second rater so kappa spans negative to high values
    b = np.where(rng.random(n) < rng.random(), a, rng.integers(0, k, n))
    return a, b


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_cohen_kappa_equals_sklearn_on_random_cases(weights):
    rng = np.random.default_rng(1)
    checked = 0
    for _ in range(300):
        k, n = int(rng.integers(2, 6)), int(rng.integers(4, 80))
        a, b = _random_pair(rng, k, n)
        labels = list(range(k))
        ref = cohen_kappa_score(a, b, labels=labels, weights=weights)
        if not np.isfinite(ref):
            continue
        assert cohen_kappa(a, b, labels, weights) == pytest.approx(ref, abs=1e-12)
        checked += 1
    assert checked > 250


def test_cohen_kappa_with_string_labels_keeps_the_given_order():
    rng = np.random.default_rng(2)
    cats = ["good", "moderate", "poor"]
    a, b = _random_pair(rng, 3, 50)
    sa, sb = [cats[i] for i in a], [cats[i] for i in b]
    for w in (None, "linear", "quadratic"):
        assert cohen_kappa(sa, sb, cats, w) == pytest.approx(cohen_kappa_score(a, b, weights=w), abs=1e-12)


def test_textbook_two_by_two_example():
    # Wikipedia "Cohen's kappa": 50 proposals, Yes/Yes 20, Yes/No 5, No/Yes 10, No/No 15.
    # p_o = 35/50 = 0.7; p_e = 0.5*0.6 + 0.5*0.4 = 0.5; kappa = (0.7-0.5)/(1-0.5) = 0.4.
    assert kappa_from_table(np.array([[20, 5], [10, 15]])) == pytest.approx(0.4, abs=1e-12)
    a = ["yes"] * 25 + ["no"] * 25
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert cohen_kappa(a, b, ["yes", "no"]) == pytest.approx(0.4, abs=1e-12)


def test_paper_formula_on_table7_counts():
    # Paper Table 7: real 4 real/6 fake, synthetic (Diff + Styled) 6 real/14 fake.
    # TP=14 (synthetic called fake), FN=6, FP=6 (real called fake), TN=4.
    # p_o = 18/30; p_e = ((14+6)(14+6) + (4+6)(4+6)) / 30^2 = 500/900.
    tp, fn, fp, tn = 14, 6, 6, 4
    truth = [True] * (tp + fn) + [False] * (fp + tn)
    called = [True] * tp + [False] * fn + [True] * fp + [False] * tn
    st = binary_stats(truth, called, n_boot=200)
    expected = (18 / 30 - 500 / 900) / (1 - 500 / 900)
    assert st.kappa.kappa == pytest.approx(expected, abs=1e-12)
    assert (st.tp, st.fn, st.fp, st.tn) == (tp, fn, fp, tn)
    assert st.accuracy == pytest.approx(0.6) and st.sensitivity == pytest.approx(0.7)
    assert st.specificity == pytest.approx(0.4)


@pytest.mark.parametrize("wt", [None, "linear", "quadratic"])
def test_analytic_se_equals_statsmodels(wt):
    rng = np.random.default_rng(3)
    for _ in range(50):
        k = int(rng.integers(2, 5))
        a, b = _random_pair(rng, k, int(rng.integers(10, 60)))
        table, _ = confusion(a, b, list(range(k)))
        if kappa_from_table(table, wt) != kappa_from_table(table, wt):  # degenerate
            continue
        ref = sm_cohens_kappa(table, wt=wt) if wt else sm_cohens_kappa(table)
        assert kappa_from_table(table, wt) == pytest.approx(ref.kappa, abs=1e-10)
        assert kappa_se(table, wt) == pytest.approx(np.sqrt(max(ref.var_kappa, 0)), rel=1e-8, abs=1e-7)


def test_kappa_result_intervals():
    rng = np.random.default_rng(4)
    a, b = _random_pair(rng, 3, 60)
    r = cohen_kappa_result(a, b, [0, 1, 2], "linear", n_boot=500, seed=7)
    assert r.ci_bootstrap[0] < r.kappa < r.ci_bootstrap[1]
    assert r.ci_bootstrap == cohen_kappa_result(a, b, [0, 1, 2], "linear", n_boot=500, seed=7).ci_bootstrap
    assert r.reading == landis_koch(r.kappa)


def test_fleiss_kappa_equals_statsmodels():
    rng = np.random.default_rng(5)
    for _ in range(100):
        n_items, n_raters, k = int(rng.integers(5, 40)), int(rng.integers(3, 7)), int(rng.integers(2, 5))
        truth = rng.integers(0, k, n_items)
        ratings = np.where(
            rng.random((n_items, n_raters)) < rng.random(), truth[:, None], rng.integers(0, k, (n_items, n_raters))
        )
        counts = category_counts(ratings, list(range(k)))
        ref = sm_fleiss_kappa(counts)
        if np.isfinite(ref):
            assert fleiss_kappa(counts) == pytest.approx(ref, abs=1e-12)


def test_fleiss_textbook_example():
    # Wikipedia "Fleiss' kappa" worked example: 10 subjects, 14 raters, 5 categories -> 0.210.
    table = np.array(
        [
            [0, 0, 0, 0, 14],
            [0, 2, 6, 4, 2],
            [0, 0, 3, 5, 6],
            [0, 3, 9, 2, 0],
            [2, 2, 8, 1, 1],
            [7, 7, 0, 0, 0],
            [3, 2, 6, 3, 0],
            [2, 5, 3, 2, 2],
            [6, 5, 2, 1, 0],
            [0, 2, 2, 3, 7],
        ]
    )
    assert fleiss_kappa(table) == pytest.approx(0.20993, abs=1e-5)


def test_fleiss_result_has_p_value_and_bootstrap():
    rng = np.random.default_rng(6)
    truth = rng.integers(0, 3, 40)
    ratings = np.where(rng.random((40, 4)) < 0.7, truth[:, None], rng.integers(0, 3, (40, 4)))
    r = fleiss_kappa_result(ratings, [0, 1, 2], n_boot=300)
    assert r.kappa == pytest.approx(sm_fleiss_kappa(category_counts(ratings, [0, 1, 2])))
    assert 0 <= r.p_value < 0.001 and r.ci_bootstrap[0] < r.kappa < r.ci_bootstrap[1]


def test_landis_koch_scale():
    assert [landis_koch(k) for k in (-0.1, 0.0, 0.2, 0.21, 0.4, 0.428, 0.6, 0.61, 0.8, 0.95)] == [
        "poor (less than chance)",
        "slight",
        "slight",
        "fair",
        "fair",
        "moderate",
        "moderate",
        "substantial",
        "substantial",
        "almost perfect",
    ]
    assert landis_koch(float("nan")) == "undefined"


def test_wilson_interval_equals_statsmodels():
    for x, n in ((0, 10), (3, 10), (10, 10), (14, 20), (1, 3)):
        assert wilson_ci(x, n) == pytest.approx(proportion_confint(x, n, method="wilson"), abs=1e-12)


def test_binary_counts_equal_sklearn_confusion_matrix():
    rng = np.random.default_rng(8)
    t, c = rng.random(45) < 0.6, rng.random(45) < 0.5
    st = binary_stats(t, c, n_boot=100)
    tn, fp, fn, tp = confusion_matrix(t, c, labels=[False, True]).ravel()
    assert (st.tp, st.fn, st.fp, st.tn) == (tp, fn, fp, tn)
    assert st.kappa.kappa == pytest.approx(cohen_kappa_score(t, c))


def test_bad_ratings_are_reported():
    with pytest.raises(ValueError, match="lengths"):
        cohen_kappa([1, 2], [1], [1, 2])
    with pytest.raises(ValueError, match="not one of"):
        cohen_kappa([1, 7], [1, 2], [1, 2])
