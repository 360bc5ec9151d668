"""Agreement statistics for the expert survey: Cohen's and Fleiss' kappa, CIs, 2x2 tables.

Everything here is plain numpy so the survey report can state exactly how each number was
computed. Conventions follow the references the tests check against:

* Cohen's kappa (unweighted, linear, quadratic) as in scikit-learn's ``cohen_kappa_score``:
  disagreement weights ``|i-j|`` or ``(i-j)^2`` over the ordered label list.
* Its large-sample standard error as in Fleiss, Cohen & Everitt (1969), the formula SAS and
  statsmodels' ``cohens_kappa`` use. No interval is built from it: kappa +- 1.96 SE leaves
  kappa's range [-1, 1] near perfect agreement (a report showed [0.104, 1.096], issue 32).
* Fleiss' kappa (1971) as in statsmodels' ``fleiss_kappa``.
* The 95% CIs of kappa are percentile bootstrap intervals that resample *items* (the unit
  that was rated), seeded, so that a report is reproducible; made of kappa values, they stay
  inside [-1, 1].
* Proportions (accuracy, sensitivity, specificity) get Wilson score intervals, which behave
  at 0/n and n/n where the Wald interval collapses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np


def _normal():
    """scipy's standard normal, imported on first use (scipy.stats adds a second to the app's start)."""
    from scipy import stats

    return stats.norm


WEIGHTINGS = (None, "linear", "quadratic")

# Landis & Koch (1977), "The measurement of observer agreement for categorical data".
_LANDIS_KOCH = (
    (0.0, "poor (less than chance)"),
    (0.20, "slight"),
    (0.40, "fair"),
    (0.60, "moderate"),
    (0.80, "substantial"),
    (1.0, "almost perfect"),
)


def landis_koch(kappa: float) -> str:
    """Plain-words reading of a kappa value on the Landis & Koch scale."""
    if kappa is None or not np.isfinite(kappa):
        return "undefined"
    if kappa < 0:
        return _LANDIS_KOCH[0][1]
    for upper, words in _LANDIS_KOCH[1:]:
        if kappa <= upper + 1e-12:
            return words
    return _LANDIS_KOCH[-1][1]


def _codes(values: Sequence, index: dict) -> np.ndarray:
    out = np.empty(len(values), dtype=np.int64)
    for n, v in enumerate(values):
        if v not in index:
            raise ValueError(f"rating {v!r} is not one of {list(index)}")
        out[n] = index[v]
    return out


def _table(ca: np.ndarray, cb: np.ndarray, k: int) -> np.ndarray:
    return np.bincount(ca * k + cb, minlength=k * k).reshape(k, k)


def confusion(a: Sequence, b: Sequence, labels: Sequence | None = None) -> tuple[np.ndarray, list]:
    """Counts table ``C[i, j]`` = items rater a put in label i and rater b in label j."""
    a, b = list(a), list(b)
    if len(a) != len(b):
        raise ValueError(f"the two ratings have different lengths ({len(a)} and {len(b)})")
    labels = list(labels) if labels is not None else sorted(set(a) | set(b))
    index = {lab: i for i, lab in enumerate(labels)}
    return _table(_codes(a, index), _codes(b, index), len(labels)), labels


def disagreement_weights(k: int, weights: str | None) -> np.ndarray:
    """``k x k`` disagreement weights: 0 on the diagonal, 1 off it (unweighted), |i-j| or (i-j)^2."""
    if weights not in WEIGHTINGS:
        raise ValueError(f"weights must be one of {WEIGHTINGS}, not {weights!r}")
    i, j = np.indices((k, k))
    if weights is None:
        return (i != j).astype(float)
    return np.abs(i - j).astype(float) if weights == "linear" else ((i - j) ** 2).astype(float)


def kappa_from_table(table: np.ndarray, weights: str | None = None) -> float | np.ndarray:
    """Cohen's kappa of a square counts table (NaN when chance agreement is already perfect).

    A stack of tables (``B x k x k``) gives ``B`` kappas at once, which the bootstrap uses.
    """
    kappa = _kappa_values(table, weights)
    return float(kappa) if kappa.ndim == 0 else kappa


def _kappa_values(table: np.ndarray, weights: str | None) -> np.ndarray:
    """``kappa_from_table`` as an array (0-d for one table), the form the bootstrap needs."""
    table = np.asarray(table, dtype=float)
    n = table.sum(axis=(-2, -1), keepdims=True)
    w = disagreement_weights(table.shape[-1], weights)
    expected = table.sum(-1)[..., :, None] * table.sum(-2)[..., None, :] / np.where(n > 0, n, 1)
    denom = (w * expected).sum(axis=(-2, -1))
    observed = (w * table).sum(axis=(-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denom > 0, 1.0 - observed / np.where(denom > 0, denom, 1), np.nan)


def kappa_se(table: np.ndarray, weights: str | None = None) -> float:
    """Large-sample standard error of (weighted) kappa, Fleiss, Cohen & Everitt (1969).

    Uses agreement weights ``w = 1 - d / max(d)``; kappa is invariant to that rescaling.
    """
    table = np.asarray(table, dtype=float)
    n = table.sum()
    p = table / n
    row, col = p.sum(1), p.sum(0)
    d = disagreement_weights(table.shape[0], weights)
    w = 1.0 - d / d.max() if d.max() > 0 else np.ones_like(d)
    pe = (w * np.outer(row, col)).sum()
    if pe >= 1.0:
        return float("nan")
    kappa = float(_kappa_values(table, weights))
    w_row = w @ col  # mean agreement weight of row category i
    w_col = row @ w  # mean agreement weight of column category j
    term = (p * (w - (w_row[:, None] + w_col[None, :]) * (1 - kappa)) ** 2).sum()
    var = (term - (kappa - pe * (1 - kappa)) ** 2) / (n * (1 - pe) ** 2)
    return float(np.sqrt(max(var, 0.0)))


def cohen_kappa(a: Sequence, b: Sequence, labels: Sequence | None = None, weights: str | None = None) -> float:
    """Cohen's kappa between two raters' labels over the same items.

    ``labels`` gives the category order, which matters for the weighted forms (ordinal
    scales such as good < moderate < poor).
    """
    table, _ = confusion(a, b, labels)
    return float(_kappa_values(table, weights))


def bootstrap_ci(
    statistic: Callable[[np.ndarray], np.ndarray], n_items: int, n_boot: int = 2000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap CI resampling items with replacement.

    ``statistic`` maps a ``B x n`` matrix of item indices to ``B`` values (vectorised, so
    2000 resamples cost milliseconds). Resamples where the statistic is undefined (e.g.
    every item in one category) are dropped, the usual convention for kappa.
    """
    if n_items == 0 or n_boot <= 0:
        return float("nan"), float("nan")
    idx = np.random.default_rng(seed).integers(0, n_items, (n_boot, n_items))
    values = np.asarray(statistic(idx), dtype=float)
    values = values[np.isfinite(values)]
    if len(values) < max(20, n_boot // 10):
        return float("nan"), float("nan")
    lo, hi = np.quantile(values, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def _tables(ca: np.ndarray, cb: np.ndarray, k: int) -> np.ndarray:
    """``B x k x k`` counts tables of ``B`` resampled code pairs (rows of ``ca``/``cb``)."""
    b = ca.shape[0]
    flat = (np.arange(b)[:, None] * k * k + ca * k + cb).ravel()
    return np.bincount(flat, minlength=b * k * k).reshape(b, k, k)


@dataclass(frozen=True)
class KappaResult:
    """A kappa with its large-sample SE, bootstrap 95% interval and a plain reading.

    For Fleiss' kappa ``se`` is the SE under the null of chance agreement, which gives the
    two-sided ``p_value``.
    """

    kappa: float
    se: float
    ci_bootstrap: tuple[float, float]
    n: int
    weights: str | None
    reading: str
    p_value: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def cohen_kappa_result(
    a: Sequence | np.ndarray,
    b: Sequence | np.ndarray,
    labels: Sequence,
    weights: str | None = None,
    n_boot: int = 2000,
    seed: int = 0,
) -> KappaResult:
    """Cohen's kappa with its FCE standard error and percentile bootstrap CI over items."""
    labels = list(labels)
    index = {lab: i for i, lab in enumerate(labels)}
    ca, cb = _codes(list(a), index), _codes(list(b), index)
    if len(ca) != len(cb):
        raise ValueError(f"the two ratings have different lengths ({len(ca)} and {len(cb)})")
    table = _table(ca, cb, len(labels))
    k = float(_kappa_values(table, weights)) if len(ca) else float("nan")
    se = kappa_se(table, weights) if len(ca) else float("nan")
    boot = bootstrap_ci(lambda idx: _kappa_values(_tables(ca[idx], cb[idx], len(labels)), weights), len(ca), n_boot, seed)
    return KappaResult(k, se, boot, int(table.sum()), weights, landis_koch(k))


def fleiss_kappa(counts: np.ndarray) -> float | np.ndarray:
    """Fleiss' kappa from an items x categories table of how many raters chose each category.

    Every item must have the same number of raters. A stack (``B x items x categories``)
    gives ``B`` values at once.
    """
    kappa = _fleiss_values(counts)
    return float(kappa) if kappa.ndim == 0 else kappa


def _fleiss_values(counts: np.ndarray) -> np.ndarray:
    """``fleiss_kappa`` as an array (0-d for one table), the form the bootstrap needs."""
    counts = np.asarray(counts, dtype=float)
    per_item = counts.sum(-1)
    m = per_item.flat[0]
    if not np.allclose(per_item, m):
        raise ValueError("Fleiss' kappa needs the same number of raters on every item")
    n_items = counts.shape[-2]
    p_cat = counts.sum(-2) / (n_items * m)
    p_bar = (((counts**2).sum(-1) - m) / (m * (m - 1))).mean(-1)
    p_e = (p_cat**2).sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(p_e < 1.0, (p_bar - p_e) / (1 - p_e), np.nan)


def category_counts(ratings: np.ndarray, categories: Sequence) -> np.ndarray:
    """items x raters labels -> items x categories counts (the input of Fleiss' kappa)."""
    ratings = np.asarray(ratings, dtype=object)
    return np.stack([(ratings == c).sum(1) for c in categories], axis=1)


def fleiss_kappa_result(ratings: np.ndarray, categories: Sequence, n_boot: int = 2000, seed: int = 0) -> KappaResult:
    """Fleiss' kappa of an items x raters label matrix with a bootstrap CI over items.

    The SE is Fleiss, Nee & Landis (1979)'s under the null of chance agreement: it tests
    kappa = 0 (``p_value``) but is not an interval's width, so the interval is the bootstrap.
    """
    counts = category_counts(ratings, categories)
    k = float(_fleiss_values(counts))
    n, m = counts.shape[0], int(counts[0].sum())
    p = counts.sum(0) / (n * m)
    q = 1 - p
    s = (p * q).sum()
    se = float(np.sqrt(2 / (n * m * (m - 1))) * np.sqrt(s**2 - (p * q * (q - p)).sum()) / s) if s > 0 else float("nan")
    p_value = float(2 * _normal().sf(abs(k / se))) if se > 0 and np.isfinite(k) else float("nan")
    boot = bootstrap_ci(lambda idx: _fleiss_values(counts[idx]), n, n_boot, seed)
    return KappaResult(k, se, boot, n, None, landis_koch(k), p_value)


def wilson_ci(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion (NaN for n = 0)."""
    if n == 0:
        return float("nan"), float("nan")
    z = _normal().ppf(1 - (1 - level) / 2)
    phat = successes / n
    centre = (phat + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(centre - half), float(centre + half)


@dataclass(frozen=True)
class BinaryStats:
    """Detection of the positive class (here: synthetic) against the truth.

    ``tp``: positive called positive, ``fn``: positive called negative, ``fp``: negative
    called positive, ``tn``: negative called negative.
    """

    tp: int
    fn: int
    fp: int
    tn: int
    accuracy: float
    accuracy_ci: tuple[float, float]
    sensitivity: float
    sensitivity_ci: tuple[float, float]
    specificity: float
    specificity_ci: tuple[float, float]
    kappa: KappaResult

    def as_dict(self) -> dict:
        d = asdict(self)
        d["kappa"] = self.kappa.as_dict()
        return d


def _ratio(a: int, b: int) -> float:
    return a / b if b else float("nan")


def binary_stats(truth: Sequence[bool], called: Sequence[bool], n_boot: int = 2000, seed: int = 0) -> BinaryStats:
    """Confusion counts, accuracy, sensitivity, specificity (Wilson CIs) and Cohen's kappa.

    ``truth``/``called`` are booleans: True = positive class.
    """
    t, c = np.asarray(truth, dtype=bool), np.asarray(called, dtype=bool)
    tp, fn = int((t & c).sum()), int((t & ~c).sum())
    fp, tn = int((~t & c).sum()), int((~t & ~c).sum())
    n = tp + fn + fp + tn
    kappa = cohen_kappa_result(t, c, labels=[True, False], n_boot=n_boot, seed=seed)
    return BinaryStats(
        tp,
        fn,
        fp,
        tn,
        _ratio(tp + tn, n),
        wilson_ci(tp + tn, n),
        _ratio(tp, tp + fn),
        wilson_ci(tp, tp + fn),
        _ratio(tn, tn + fp),
        wilson_ci(tn, tn + fp),
        kappa,
    )


def krippendorff_alpha(ratings: np.ndarray, categories: Sequence, level: str = "nominal") -> float:
    """Krippendorff's alpha of a raters x units matrix of labels (None: not rated).

    ``level`` 'nominal' (any difference counts 1) or 'ordinal' (``categories`` in rank order;
    the squared distance of Krippendorff's ordinal metric, from the marginal counts between
    two ranks). Units with fewer than two ratings are not pairable and are left out; alpha
    is NaN when all pairable values are the same. Follows Krippendorff (2011), "Computing
    Krippendorff's alpha-reliability", through the coincidence matrix.
    """
    if level not in ("nominal", "ordinal"):
        raise ValueError(f"level must be 'nominal' or 'ordinal', not {level!r}")
    index = {c: i for i, c in enumerate(categories)}
    k = len(index)
    coincidence = np.zeros((k, k))
    for unit in np.asarray(ratings, dtype=object).T:
        codes = _codes([v for v in unit if v is not None], index)
        m = len(codes)
        if m < 2:
            continue
        counts = np.bincount(codes, minlength=k).astype(float)
        coincidence += (np.outer(counts, counts) - np.diag(counts)) / (m - 1)
    n_c = coincidence.sum(1)
    n = n_c.sum()
    if level == "nominal":
        delta = 1.0 - np.eye(k)
    else:
        cum = np.concatenate([[0.0], np.cumsum(n_c)])
        i, j = np.indices((k, k))
        lo, hi = np.minimum(i, j), np.maximum(i, j)
        delta = (cum[hi + 1] - cum[lo] - (n_c[i] + n_c[j]) / 2) ** 2
    observed = (coincidence * delta).sum()
    expected = (np.outer(n_c, n_c) * delta).sum() / (n - 1) if n > 1 else 0.0
    return float(1.0 - observed / expected) if expected > 0 else float("nan")
