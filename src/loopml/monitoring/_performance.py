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


def to_classes(values: pd.Series, problem: Problem) -> pd.Series:
    """Logged labels mapped onto ``problem.classes``; anything else becomes None."""
    text = pd.Series([_label_text(v) for v in values], index=values.index, dtype=object)
    mapped = prepare_target(text, problem.task, problem)
    known = set(problem.classes)
    return mapped.map(lambda v: v if v in known else None).astype(object)


def _proba_matrix(
    probabilities: pd.DataFrame | None, classes: tuple[Any, ...]
) -> np.ndarray | None:
    if probabilities is None:
        return None
    keys = [str(c) for c in classes]
    if not all(k in probabilities.columns for k in keys):
        return None
    return probabilities[keys].to_numpy(dtype=float)


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
    y_true = y_true.reset_index(drop=True)
    y_pred = y_pred.reset_index(drop=True)
    proba = _proba_matrix(probabilities, problem.classes)
    if problem.task == "regression":
        truth = pd.to_numeric(y_true, errors="coerce").to_numpy(float)
        said = pd.to_numeric(y_pred, errors="coerce").to_numpy(float)
        keep = ~np.isnan(truth) & ~np.isnan(said)
        truth_values: np.ndarray = truth[keep]
        said_values: np.ndarray = said[keep]
    else:
        truth_s, said_s = to_classes(y_true, problem), to_classes(y_pred, problem)
        keep = (truth_s.notna() & said_s.notna()).to_numpy()
        if proba is not None:  # not in place: pandas may hand out a read-only array
            keep = keep & ~np.isnan(proba).any(axis=1)
        truth_values = truth_s[keep].to_numpy(object)
        said_values = said_s[keep].to_numpy(object)
    rows = int(keep.sum())
    needs_proba = metric in ("roc_auc", "pr_auc", "log_loss")
    if rows < MIN_LABELLED_ROWS or (needs_proba and proba is None and problem.is_classification):
        return Performance(metric, None, None, None, rows, "labels")
    interval = bootstrap_interval(
        metric,
        problem.task,
        truth_values,
        said_values,
        None if proba is None else proba[keep],
        list(problem.classes) or None,
        problem.positive_class,
        resampling=Resampling(RESAMPLES, seed=seed),
    )
    return Performance(
        metric,
        _finite(interval.value),
        _finite(interval.low),
        _finite(interval.high),
        rows,
        "labels",
    )


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


# --------------------------------------------------------------------------------------------
# CBPE


def calibrate(reference: Reference, proba: np.ndarray) -> np.ndarray:
    """``proba`` calibrated on the reference holdout (isotonic, one class against the rest)."""
    from sklearn.isotonic import IsotonicRegression

    ref_p = reference.holdout_probabilities
    labels = reference.holdout_labels
    assert ref_p is not None  # checked by the caller
    out = np.empty_like(proba)
    for j, cls in enumerate(reference.classes):
        hit = np.array([v == cls for v in labels], dtype=float)
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        iso.fit(ref_p[:, j], hit)
        out[:, j] = iso.predict(proba[:, j])
    if len(reference.classes) == 2:  # one calibration, so the two columns add up to one
        pos = reference.classes.index(reference.positive_class)
        out[:, 1 - pos] = 1.0 - out[:, pos]
    total = out.sum(axis=1, keepdims=True)
    return np.where(total > 0, out / np.where(total > 0, total, 1.0), 1.0 / out.shape[1])


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


def _expected_accuracy(reference: Reference, proba: np.ndarray, cal: np.ndarray) -> np.ndarray:
    """Each row's probability that its prediction is right."""
    if reference.task == "binary":
        pos = reference.classes.index(reference.positive_class)
        said_pos = proba[:, pos] >= _threshold(reference, pos)
        return np.where(said_pos, cal[:, pos], 1.0 - cal[:, pos])
    return cal[np.arange(len(cal)), np.argmax(proba, axis=1)]


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
    reference: Reference, probabilities: pd.DataFrame, metric: str
) -> Performance | None:
    """The metric CBPE expects on a window from its probabilities (``method="cbpe"``).

    Supported: ``accuracy`` (binary with the model's threshold as the holdout shows it,
    multiclass by the most probable class), ``roc_auc`` (binary: the expected AUC of the
    model's scores) and ``log_loss``. Other metrics, regression, and a reference without
    holdout probabilities give None. The 95% interval is the sampling spread of the metric
    when the labels are drawn from the calibrated probabilities (not the calibration's own
    uncertainty).
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
    cal = calibrate(reference, proba)
    if metric == "roc_auc":
        pos = reference.classes.index(reference.positive_class)
        value, se = expected_auc(proba[:, pos], cal[:, pos])
    elif metric == "accuracy":
        right = _expected_accuracy(reference, proba, cal)
        value, se = float(right.mean()), float(np.sqrt(np.sum(right * (1 - right))) / m)
    else:
        loss = -np.log(np.clip(proba, 1e-15, 1.0))
        mean = np.sum(cal * loss, axis=1)
        spread = np.sum(cal * loss**2, axis=1) - mean**2
        value, se = float(mean.mean()), float(np.sqrt(np.maximum(spread, 0).sum()) / m)
    if not math.isfinite(value):
        return Performance(metric, None, None, None, m, "cbpe")
    return Performance(metric, value, value - _Z * se, value + _Z * se, m, "cbpe")
