"""Drift statistics of one window against the reference (issue 11).

Numeric columns: the two-sample Kolmogorov–Smirnov statistic of the window's values against
the reference's quantile sketch (read as a piecewise-linear CDF), its p-value from scipy's
``kstwo`` at the effective sample size ``n*m/(n+m)``, as ``scipy.stats.ks_2samp`` computes
it; the effect is the PSI on the reference's deciles or the Wasserstein distance in reference
standard deviations. Categorical and boolean columns: the chi-square test of homogeneity of
the window's and the reference's counts (a 2 × k table: it accounts for the reference being a
sample too); labels the reference does not know share one cell with the reference's rare
labels, and cells expected below :data:`MIN_EXPECTED` rows are pooled so the test stays
valid; the effect is the PSI or the Jensen–Shannon distance over the same cells.
Benjamini–Hochberg adjusts the p-values across the window's tested features; a feature drifts
when its adjusted p-value is below ``alpha`` and its effect is at least ``min_effect``.

Each numeric column of a window is sorted once; each categorical column is counted once
(``value_counts`` on the raw values, then only the distinct values are normalised).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy import stats

from loopml.data import to_datetime
from loopml.monitoring._columns import boolean_counts, label_counts, missing_of, numbers_of
from loopml.monitoring._contract import FeatureDrift, QualityDrift
from loopml.monitoring._performance import estimated_performance as estimated_performance
from loopml.monitoring._performance import realised_performance as realised_performance
from loopml.monitoring._reference import ColumnStats, Reference, prediction_counts

# realised_performance and estimated_performance live in _performance.py (this module's size)

#: Cells of a chi-square table expected below this many rows are pooled.
MIN_EXPECTED = 5.0
#: Shares are floored here in PSI, so an empty cell adds a finite term.
PSI_FLOOR = 1e-4
#: Data quality: a rate drifts when it is at least this much above the reference's ...
MIN_QUALITY_DIFFERENCE = 0.01


@dataclass(frozen=True)
class _Test:
    name: str
    test: str
    statistic: float
    p_value: float
    effect: float
    effect_measure: str
    rows: int


# --------------------------------------------------------------------------------------------
# numeric: KS against the sketch, PSI, Wasserstein


def _ref_cdf(q: np.ndarray, x: np.ndarray, side: str) -> np.ndarray:
    """The sketch's CDF at ``x`` (``side="right"``) or its left limit (``"left"``)."""
    k = np.searchsorted(q, x, side=side)  # type: ignore[call-overload]
    last = len(q) - 1
    lo = np.clip(k - 1, 0, last)
    hi = np.clip(k, 0, last)
    width = q[hi] - q[lo]
    frac = np.where(width > 0, (x - q[lo]) / np.where(width > 0, width, 1.0), 0.0)
    out = (lo + np.clip(frac, 0.0, 1.0)) / last
    return np.where(k == 0, 0.0, np.where(k > last, 1.0, out))


def ks_statistic(q: np.ndarray, x: np.ndarray) -> float:
    """sup |F_window − F_reference| for sorted ``x`` and the sketch ``q``, ties included."""
    m = len(x)
    knots = np.unique(q)
    continuous = len(knots) == len(q)  # no atoms: the sketch's CDF is np.interp on it
    if continuous and not np.any(x[1:] == x[:-1]):
        ref = np.interp(x, q, np.linspace(0.0, 1.0, len(q)))
        steps = np.arange(m + 1, dtype=float) / m  # F_window is i/m before x[i], (i+1)/m at it
        gaps = [np.array([np.max(steps[1:] - ref), np.max(ref - steps[:-1])])]
    else:
        ends = np.append(np.flatnonzero(np.diff(x)), m - 1)  # last position of each value
        starts = np.append(0, ends[:-1] + 1)
        u = x[ends]
        gaps = [
            (ends + 1) / m - _ref_cdf(q, u, "right"),
            starts / m - _ref_cdf(q, u, "left"),
        ]
    gaps += [
        np.searchsorted(x, knots, side="right") / m - _ref_cdf(q, knots, "right"),
        np.searchsorted(x, knots, side="left") / m - _ref_cdf(q, knots, "left"),
    ]
    return float(max(np.abs(g).max() for g in gaps))


def ks_p_value(statistic: float, n: int, m: int) -> float:
    """The asymptotic p-value of ``scipy.stats.ks_2samp`` for sample sizes ``n`` and ``m``."""
    effective = max(round(n * m / (n + m)), 1)
    return float(np.clip(stats.kstwo.sf(statistic, effective), 0.0, 1.0))


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index of two share vectors (floored at :data:`PSI_FLOOR`)."""
    e = np.maximum(expected, PSI_FLOOR)
    a = np.maximum(actual, PSI_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def _numeric_effect(ref: ColumnStats, x: np.ndarray, measure: str) -> float:
    q = ref.quantiles
    if measure == "wasserstein":
        grid = np.linspace(0.0, len(x) - 1, len(q))
        window_q = np.interp(grid, np.arange(len(x)), x)
        scale = ref.std if ref.std else 1.0
        return float(np.mean(np.abs(window_q - q)) / scale)
    last = len(q) - 1
    edges = np.unique(q[[round(last * i / 10) for i in range(1, 10)]])
    ref_cdf = np.concatenate([[0.0], _ref_cdf(q, edges, "right"), [1.0]])
    win_cdf = np.concatenate([[0.0], np.searchsorted(x, edges, side="right") / len(x), [1.0]])
    return psi(np.diff(ref_cdf), np.diff(win_cdf))


def _numeric_test(ref: ColumnStats, x: np.ndarray, measure: str) -> _Test:
    d = ks_statistic(ref.quantiles, x)
    p = ks_p_value(d, ref.count, len(x))
    return _Test(ref.name, "ks", d, p, _numeric_effect(ref, x, measure), measure, len(x))


# --------------------------------------------------------------------------------------------
# labels: chi-square of homogeneity, PSI, Jensen-Shannon


def pooled_table(ref_counts: np.ndarray, win_counts: np.ndarray) -> np.ndarray:
    """A 2 × k table with cells expected below :data:`MIN_EXPECTED` rows pooled into one."""
    table = np.vstack([ref_counts, win_counts]).astype(float)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return table
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0) / table.sum()
    small = expected.min(axis=0) < MIN_EXPECTED
    if not small.any():
        return table
    big = table[:, ~small]
    pool = table[:, small].sum(axis=1, keepdims=True)
    pooled_expected = pool.sum() * table.sum(axis=1) / table.sum()
    if pooled_expected.min() < MIN_EXPECTED and big.shape[1] > 0:
        smallest = int(np.argmin(big.sum(axis=0)))  # still too small: join the smallest cell
        big = big.copy()
        big[:, smallest] += pool[:, 0]
        return big
    return np.hstack([big, pool])


def chi2_homogeneity(table: np.ndarray) -> tuple[float, float]:
    """Statistic and p-value of the chi-square test of homogeneity of a 2 × k table."""
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 0.0, 1.0
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0) / table.sum()
    statistic = float(np.sum((table - expected) ** 2 / expected))
    return statistic, float(stats.chi2.sf(statistic, table.shape[1] - 1))


def _label_test(ref: ColumnStats, counts: pd.Series, measure: str) -> _Test:
    known = counts.reindex(list(ref.labels), fill_value=0).to_numpy(dtype=float)
    unseen = float(counts.sum()) - float(known.sum())
    table = pooled_table(np.append(ref.counts, ref.other), np.append(known, unseen))
    statistic, p = chi2_homogeneity(table)
    shares = table / np.maximum(table.sum(axis=1, keepdims=True), 1.0)
    if measure == "jensen_shannon":
        from scipy.spatial.distance import jensenshannon

        effect = float(jensenshannon(shares[0], shares[1], base=2)) if table.size else 0.0
    else:
        effect = psi(shares[0], shares[1])
    return _Test(ref.name, "chi2", statistic, p, effect, measure, int(counts.sum()))


# --------------------------------------------------------------------------------------------
# the public statistics


def benjamini_hochberg(p_values: Sequence[float]) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (step-up, monotone, at most 1).

    Examples
    --------
    >>> benjamini_hochberg([0.01, 0.04, 0.03, 0.2]).round(4).tolist()
    [0.04, 0.0533, 0.0533, 0.2]
    """
    p = np.asarray(p_values, dtype=float)
    n = len(p)
    if not n:
        return p
    order = np.argsort(p)
    scaled = p[order] * n / np.arange(1, n + 1)
    adjusted = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(n)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def _decide(tests: list[_Test], alpha: float, min_effect: float) -> list[FeatureDrift]:
    adjusted = benjamini_hochberg([t.p_value for t in tests])
    return [
        FeatureDrift(
            name=t.name,
            test=t.test,
            statistic=t.statistic,
            p_value=t.p_value,
            adjusted_p_value=float(a),
            effect=t.effect,
            effect_measure=t.effect_measure,
            drifted=bool(a < alpha and t.effect >= min_effect),
            rows=t.rows,
        )
        for t, a in zip(tests, adjusted, strict=True)
    ]


def _column_test(
    ref: ColumnStats, values: pd.Series, numeric: str, categorical: str
) -> _Test | None:
    if ref.kind == "numeric":
        x, _, _ = numbers_of(values)
        return _numeric_test(ref, x, numeric) if len(x) and len(ref.quantiles) else None
    if ref.kind != "labels":
        return None
    if ref.role == "boolean":
        counts, _, _ = boolean_counts(values)
    else:
        counts, _ = label_counts(values)
    return _label_test(ref, counts, categorical) if counts.sum() and ref.count else None


def feature_drift(
    reference: Reference,
    window: pd.DataFrame,
    *,
    alpha: float,
    min_effect: float,
    numeric_effect: str = "psi",
    categorical_effect: str = "psi",
) -> list[FeatureDrift]:
    """Each feature's test of ``window`` against ``reference``, with BH-adjusted p-values.

    Parameters
    ----------
    reference
        The model's reference statistics.
    window
        The window's raw feature values as logged (JSON values; any dtype).
    alpha, min_effect
        A feature drifts when its adjusted p-value is below ``alpha`` and its effect is at
        least ``min_effect``.
    numeric_effect, categorical_effect
        ``"psi"`` or ``"wasserstein"``; ``"psi"`` or ``"jensen_shannon"``.

    Returns
    -------
    list of FeatureDrift
        In schema order; datetime and text columns, columns absent from the window and
        columns without a value in it are left out.
    """
    tests = []
    for ref in reference.features:
        if ref.name in window.columns:
            test = _column_test(ref, window[ref.name], numeric_effect, categorical_effect)
            if test is not None:
                tests.append(test)
    return _decide(tests, alpha, min_effect)


def prediction_drift(
    reference: Reference,
    predictions: pd.Series,
    probabilities: pd.DataFrame | None = None,
    *,
    alpha: float,
    min_effect: float,
) -> FeatureDrift | None:
    """Drift of the model's output (named ``"prediction"``), or None without a reference.

    Regression: KS on the predicted values. Binary: KS on the positive class's probability
    when the window has it, else chi-square on the predicted labels. Multiclass: chi-square on
    the predicted labels.
    """
    test: _Test | None = None
    prob_ref = reference.positive_probability
    if reference.task == "binary" and probabilities is not None and prob_ref is not None:
        column = str(reference.positive_class)
        if column in probabilities.columns:
            x, _, _ = numbers_of(probabilities[column])
            if len(x):
                test = _numeric_test(prob_ref, x, "psi")
    ref = reference.prediction
    if test is None and ref is not None:
        if ref.kind == "numeric":
            test = _column_test(ref, predictions, "psi", "psi")
        else:
            counts = prediction_counts(predictions)
            test = _label_test(ref, counts, "psi") if counts.sum() and ref.count else None
    if test is None:
        return None
    return _decide([replace(test, name="prediction")], alpha, min_effect)[0]


def _rate_drifted(k: int, m: int, k_ref: float, n_ref: float, alpha: float) -> bool:
    """One-sided two-proportion z-test that the window's rate ``k/m`` is above ``k_ref/n_ref``,
    and a difference of at least :data:`MIN_QUALITY_DIFFERENCE`."""
    if m == 0 or k / m - (k_ref / n_ref if n_ref else 0.0) < MIN_QUALITY_DIFFERENCE:
        return False
    if n_ref == 0:
        return True
    pooled = (k + k_ref) / (m + n_ref)
    se = np.sqrt(pooled * (1 - pooled) * (1 / m + 1 / n_ref))
    z = (k / m - k_ref / n_ref) / se if se > 0 else np.inf
    return bool(stats.norm.sf(z) < alpha)


def _quality(ref: ColumnStats, values: pd.Series, alpha: float) -> QualityDrift:
    m = len(values)
    unseen = out_of_range = invalid = 0
    if ref.kind == "numeric" or (ref.role == "boolean" and ref.kind == "labels"):
        x, missing, invalid = numbers_of(values)
        if ref.role == "boolean":
            _, missing, invalid = boolean_counts(values)
        elif ref.minimum is not None and ref.maximum is not None:
            out_of_range = int(
                np.searchsorted(x, ref.minimum) + len(x) - np.searchsorted(x, ref.maximum, "right")
            )
    elif ref.kind == "labels":
        counts, missing = label_counts(values)
        unseen = int(counts.sum() - counts.reindex(list(ref.labels), fill_value=0).sum())
    else:  # datetime and text: missing, and datetime values that do not read as a time
        blank = missing_of(values)
        missing = int(blank.sum())
        if ref.role == "datetime":
            invalid = int((to_datetime(values).isna().to_numpy() & ~blank).sum())
    rows = max(ref.rows, 1)
    drifted = (
        _rate_drifted(missing, m, ref.missing, ref.rows, alpha)
        or _rate_drifted(invalid, m, ref.invalid, ref.rows, alpha)
        or _rate_drifted(unseen, m, ref.other, ref.count, alpha)
        or _rate_drifted(out_of_range, m, 0, ref.count, alpha)
    )
    return QualityDrift(
        name=ref.name,
        missing_rate=missing / m if m else 0.0,
        reference_missing_rate=ref.missing / rows,
        unseen_rate=unseen / m if m else 0.0,
        out_of_range_rate=out_of_range / m if m else 0.0,
        invalid_rate=invalid / m if m else 0.0,
        drifted=drifted,
    )


def data_quality(
    reference: Reference, window: pd.DataFrame, *, alpha: float = 0.01
) -> list[QualityDrift]:
    """Missing, unseen-category, out-of-range and invalid rates of each feature in ``window``.

    A rate drifts when it is at least :data:`MIN_QUALITY_DIFFERENCE` (one percentage point)
    above the reference's and a one-sided two-proportion z-test at ``alpha`` says it is
    higher. The reference's rates: its missing and invalid shares; for unseen categories
    the share of its labels beyond the ones it counts (0 unless it had more than 1,000);
    for out-of-range values 0 (its own minimum and maximum bound it). No multiple-testing
    correction: the one-point floor keeps large windows from alarming on noise.
    """
    return [
        _quality(ref, window[ref.name], alpha)
        for ref in reference.features
        if ref.name in window.columns and len(window)
    ]
