"""Performance of a window: realised on late labels, or estimated before them (CBPE).

Realised: the metric on the window's labelled rows, as the holdout metrics are computed
(:func:`loopml.evaluation.bootstrap_interval`), with a seeded percentile bootstrap interval.

Estimated: NannyML's confidence-based performance estimation. The model's probabilities are
calibrated on the reference holdout (isotonic regression of each class's probability against
its label, one class against the rest), then the metric's expected value over the window is
computed from the calibrated probabilities, as if each row's label were drawn from them. It
holds while the inputs drift but the relation between inputs and labels does not (covariate
shift); it cannot see concept drift.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from loopml.data import Problem, prepare_target
from loopml.evaluation import Resampling, bootstrap_interval
from loopml.monitoring._contract import Performance
from loopml.monitoring._reference import Reference

#: Below this many labelled rows a window's metric is not reported (value None).
MIN_LABELLED_ROWS = 30
#: Bootstrap resamples of a realised metric's interval.
RESAMPLES = 500
#: The two-sided normal quantile of the 95% intervals.
_Z = 1.959963984540054


def _label_text(value: Any) -> Any:
    """A logged JSON label as text the class matching reads (1.0 is the label "1")."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def to_classes(values: pd.Series, problem: Problem, *, labels: bool = True) -> pd.Series:
    """Logged labels (``labels``) or predictions mapped onto ``problem.classes``; anything
    else becomes None. An anomaly model's labels are its label column's values (``yes``),
    mapped to True for a known anomaly; its predictions are the flags.

    Only the distinct values are mapped (a window repeats a few labels many times).
    """
    codes, distinct = pd.factorize(values, use_na_sentinel=True)
    text = pd.Series([_label_text(v) for v in distinct], dtype=object)
    if problem.task == "anomaly" and len(text):
        truth = problem.anomaly_truth(text)
        known_flags = text.map({"True": True, "False": False})
        mapped = truth.astype(object).where(truth.notna(), None) if labels else known_flags
    else:
        mapped = prepare_target(text, problem.task, problem) if len(text) else text
    known = set(problem.classes)
    lookup = np.array([v if v in known else None for v in mapped] + [None], dtype=object)
    return pd.Series(lookup[codes], index=values.index, dtype=object)  # code -1: the None


def _proba_matrix(
    probabilities: pd.DataFrame | None, classes: tuple[Any, ...]
) -> np.ndarray | None:
    if probabilities is None:
        return None
    keys = [str(c) for c in classes]
    if not all(k in probabilities.columns for k in keys):
        return None
    return probabilities[keys].to_numpy(dtype=float)


@dataclass(frozen=True)
class Labelled:
    """The rows a realised metric reads: labels and predictions in the problem's classes (or
    numbers for regression), probabilities in the classes' order; ``keep`` marks which of
    the given rows they are."""

    truth: np.ndarray
    said: np.ndarray
    proba: np.ndarray | None
    keep: np.ndarray

    @property
    def rows(self) -> int:
        return len(self.truth)


def labelled_rows(
    problem: Problem,
    y_true: pd.Series,
    y_pred: pd.Series,
    probabilities: pd.DataFrame | None,
) -> Labelled:
    """The rows of ``y_true``/``y_pred`` a metric can read: those with a label and a
    prediction in the problem's classes (numbers for regression), and, when probabilities
    were logged, all of them."""
    y_true = y_true.reset_index(drop=True)
    y_pred = y_pred.reset_index(drop=True)
    proba = _proba_matrix(probabilities, problem.classes)
    if problem.task == "regression":
        truth = pd.to_numeric(y_true, errors="coerce").to_numpy(float)
        said = pd.to_numeric(y_pred, errors="coerce").to_numpy(float)
        keep = ~np.isnan(truth) & ~np.isnan(said)
        return Labelled(truth[keep], said[keep], None if proba is None else proba[keep], keep)
    truth_s, said_s = to_classes(y_true, problem), to_classes(y_pred, problem, labels=False)
    keep = (truth_s.notna() & said_s.notna()).to_numpy()
    if proba is not None:  # not in place: pandas may hand out a read-only array
        keep = keep & ~np.isnan(proba).any(axis=1)
    return Labelled(
        truth_s[keep].to_numpy(object),
        said_s[keep].to_numpy(object),
        None if proba is None else proba[keep],
        keep,
    )


def can_score(problem: Problem, metric: str, rows: Labelled) -> bool:
    """Enough rows for ``metric``, and the probabilities it needs."""
    needs_proba = metric in ("roc_auc", "pr_auc", "log_loss")
    if needs_proba and rows.proba is None and problem.is_classification:
        return False
    return rows.rows >= MIN_LABELLED_ROWS


def realised_performance(
    problem: Problem,
    y_true: pd.Series,
    y_pred: pd.Series,
    probabilities: pd.DataFrame | None,
    metric: str,
    *,
    seed: int = 0,
) -> Performance:
    """``metric`` on the labelled rows, with a 95% bootstrap interval (``method="labels"``).

    Rows without a label (or whose label or prediction is not one of the problem's classes,
    or not a number for regression) are left out; with fewer than
    :data:`MIN_LABELLED_ROWS` rows left the value is None.
    """
    return performance_of(
        problem, labelled_rows(problem, y_true, y_pred, probabilities), metric, seed=seed
    )


def performance_of(problem: Problem, rows: Labelled, metric: str, *, seed: int = 0) -> Performance:
    """``metric`` on ``rows`` with its 95% bootstrap interval (see :func:`realised_performance`)."""
    if not can_score(problem, metric, rows):
        return Performance(metric, None, None, None, rows.rows, "labels")
    interval = bootstrap_interval(
        metric,
        problem.task,
        rows.truth,
        rows.said,
        rows.proba,
        list(problem.classes) or None,
        problem.positive_class,
        resampling=Resampling(RESAMPLES, seed=seed),
    )
    return Performance(
        metric,
        _finite(interval.value),
        _finite(interval.low),
        _finite(interval.high),
        rows.rows,
        "labels",
    )


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


# --------------------------------------------------------------------------------------------
# CBPE

#: The calibration reads the holdout in bins of about this many rows ...
BIN_ROWS = 100
#: ... and at most this many bins (isotonic regression over the bins' mean probability).
CALIBRATION_BINS = 50
#: Bootstrap resamples of the holdout behind the calibration's share of the CBPE interval.
CALIBRATION_RESAMPLES = 50
#: Window rows (a seeded sample) that the calibration bootstrap reads.
CALIBRATION_SAMPLE = 20_000


def calibration_curve(
    p: np.ndarray, hit: np.ndarray, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Knots of the calibration map of one class: isotonic regression over equal-count bins.

    The holdout's rows, sorted by ``p``, form bins of about :data:`BIN_ROWS` rows; each bin's
    mean probability and share of hits is one point, and isotonic regression (weighted by the
    bins' rows) makes the points monotone. Bins, rather than isotonic regression over the
    rows, keep the top and bottom ends from the pooled extremes' upward (downward) bias.
    ``weights`` (bootstrap counts of the rows) reweight the same bins.
    """
    from sklearn.isotonic import IsotonicRegression

    n = len(p)
    bins = int(np.clip(n // BIN_ROWS, 1, CALIBRATION_BINS))
    group = np.empty(n, dtype=np.int64)
    group[np.argsort(p, kind="stable")] = np.arange(n) * bins // n
    w = np.ones(n) if weights is None else weights
    rows = np.bincount(group, w, minlength=bins)
    used = rows > 0
    x = np.bincount(group, w * p, minlength=bins)[used] / rows[used]
    y = np.bincount(group, w * hit, minlength=bins)[used] / rows[used]
    if len(x) < 2:
        return x, y
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True)
    return x, iso.fit(x, y, sample_weight=rows[used]).predict(x)


def apply_curve(x: np.ndarray, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Calibrated ``p``: linear between the knots, the end knots' offset beyond them."""
    if not len(x):
        return p.copy()
    out = np.interp(p, x, y)
    low, high = p < x[0], p > x[-1]
    out[low] = p[low] + (y[0] - x[0])
    out[high] = p[high] + (y[-1] - x[-1])
    return np.clip(out, 0.0, 1.0)


class _Cbpe:
    """What CBPE reads from the reference once: the holdout's probabilities, which rows hit
    each class, and the binary decision threshold the holdout's predictions show."""

    def __init__(self, reference: Reference) -> None:
        assert reference.holdout_probabilities is not None  # checked by the caller
        self.reference = reference
        self.ref_p = reference.holdout_probabilities
        labels = np.asarray(reference.holdout_labels, dtype=object)
        self.hits = [(labels == cls).astype(float) for cls in reference.classes]
        self.binary = reference.task == "binary"
        self.pos = reference.classes.index(reference.positive_class) if self.binary else 0
        self.threshold = _threshold(reference, self.pos) if self.binary else 0.5

    def calibrate(self, proba: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """``proba`` calibrated one class against the rest, rows summing to one."""
        if self.binary:
            x, y = calibration_curve(self.ref_p[:, self.pos], self.hits[self.pos], weights)
            out = np.empty_like(proba)
            out[:, self.pos] = apply_curve(x, y, proba[:, self.pos])
            out[:, 1 - self.pos] = 1.0 - out[:, self.pos]
            return out
        out = np.column_stack(
            [
                apply_curve(*calibration_curve(self.ref_p[:, j], hit, weights), proba[:, j])
                for j, hit in enumerate(self.hits)
            ]
        )
        total = out.sum(axis=1, keepdims=True)
        return np.where(total > 0, out / np.where(total > 0, total, 1.0), 1.0 / out.shape[1])

    def estimate(self, metric: str, proba: np.ndarray, cal: np.ndarray) -> tuple[float, float]:
        """The metric's expected value over the rows and its sampling standard error."""
        m = len(proba)
        if metric == "roc_auc":
            return expected_auc(proba[:, self.pos], cal[:, self.pos])
        if metric == "accuracy":
            if self.binary:
                said_pos = proba[:, self.pos] >= self.threshold
                right = np.where(said_pos, cal[:, self.pos], 1.0 - cal[:, self.pos])
            else:
                right = cal[np.arange(m), np.argmax(proba, axis=1)]
            return float(right.mean()), float(np.sqrt(np.sum(right * (1 - right))) / m)
        loss = -np.log(np.clip(proba, 1e-15, 1.0))
        mean = np.sum(cal * loss, axis=1)
        spread = np.sum(cal * loss**2, axis=1) - mean**2
        return float(mean.mean()), float(np.sqrt(np.maximum(spread, 0).sum()) / m)

    def calibration_spread(self, metric: str, proba: np.ndarray, seed: int) -> float:
        """The estimate's standard deviation over bootstrap resamples of the holdout."""
        rng = np.random.default_rng(seed)
        if len(proba) > CALIBRATION_SAMPLE:
            proba = proba[rng.choice(len(proba), CALIBRATION_SAMPLE, replace=False)]
        n = len(self.ref_p)
        values = []
        for _ in range(CALIBRATION_RESAMPLES):
            weights = np.bincount(rng.integers(0, n, n), minlength=n).astype(float)
            values.append(self.estimate(metric, proba, self.calibrate(proba, weights))[0])
        finite = np.asarray(values)[np.isfinite(values)]
        return float(finite.std(ddof=1)) if len(finite) > 1 else 0.0


def _threshold(reference: Reference, pos: int) -> float:
    """The probability threshold of the positive class that the holdout's predictions show."""
    p = reference.holdout_probabilities
    said = reference.holdout_predictions
    if p is None or len(said) != len(p):
        return 0.5
    is_pos = np.array([v == reference.positive_class for v in said])
    if not is_pos.any() or is_pos.all():
        return 0.5
    low, high = p[~is_pos, pos].max(), p[is_pos, pos].min()
    return float((low + high) / 2) if high > low else 0.5


def expected_auc(score: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """Expected ROC AUC of ``score`` when row i is positive with probability ``p[i]``, and
    its Hanley–McNeil standard error at the expected class counts."""
    values, group = np.unique(score, return_inverse=True)
    pos = np.bincount(group, weights=p, minlength=len(values))
    neg = np.bincount(group, weights=1.0 - p, minlength=len(values))
    n1, n0 = pos.sum(), neg.sum()
    if n1 <= 0 or n0 <= 0:
        return float("nan"), float("nan")
    below = np.cumsum(neg) - neg
    auc = float(np.sum(pos * (below + 0.5 * neg)) / (n1 * n0))
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    var = (auc * (1 - auc) + (n1 - 1) * (q1 - auc**2) + (n0 - 1) * (q2 - auc**2)) / (n1 * n0)
    return auc, float(np.sqrt(max(var, 0.0)))


def estimated_performance(
    reference: Reference, probabilities: pd.DataFrame, metric: str, *, seed: int = 0
) -> Performance | None:
    """The metric CBPE expects on a window from its probabilities (``method="cbpe"``).

    Supported: ``accuracy`` (binary with the model's threshold as the holdout shows it,
    multiclass by the most probable class), ``roc_auc`` (binary: the expected AUC of the
    model's scores) and ``log_loss``. Other metrics, regression, and a reference without
    holdout probabilities give None. The 95% interval combines the sampling spread of the
    metric when the labels are drawn from the calibrated probabilities with the
    calibration's own spread (a seeded bootstrap of the holdout).
    """
    if reference.task == "regression" or reference.holdout_probabilities is None:
        return None
    if metric not in ("accuracy", "roc_auc", "log_loss") or len(reference.holdout_labels) < 2:
        return None
    if metric == "roc_auc" and reference.task != "binary":
        return None
    proba = _proba_matrix(probabilities, reference.classes)
    if proba is None:
        return None
    proba = proba[~np.isnan(proba).any(axis=1)]
    m = len(proba)
    if m < MIN_LABELLED_ROWS:
        return Performance(metric, None, None, None, m, "cbpe")
    cbpe = _Cbpe(reference)
    value, se = cbpe.estimate(metric, proba, cbpe.calibrate(proba))
    if not math.isfinite(value):
        return Performance(metric, None, None, None, m, "cbpe")
    se = math.hypot(se if math.isfinite(se) else 0.0, cbpe.calibration_spread(metric, proba, seed))
    low, high = value - _Z * se, value + _Z * se
    if metric != "log_loss":  # accuracy and AUC live in [0, 1]
        low, high = max(low, 0.0), min(high, 1.0)
    return Performance(metric, value, low, high, m, "cbpe")
