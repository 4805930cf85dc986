"""Metric computation shared by the search (stage 5) and evaluation (stage 6).

Metrics are named as in ``loopml.yaml``. Classification metrics take the class order of the
probability matrix and, for binary tasks, the positive class.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from loopml.config import ALL_METRICS
from loopml.types import TaskKind

#: Probabilities are clipped here so a class seen in training never gets exactly 0.
PROBA_EPS = 1e-15


def greater_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` is a better model.

    Examples
    --------
    >>> greater_is_better("roc_auc"), greater_is_better("rmse")
    (True, False)
    """
    return ALL_METRICS[metric]


def default_metric(task: TaskKind) -> str:
    """The metric a task is judged by when ``problem.metric`` is not set.

    Examples
    --------
    >>> [default_metric(t) for t in ("binary", "multiclass", "regression")]
    ['roc_auc', 'log_loss', 'rmse']
    """
    return {
        "binary": "roc_auc",
        "multiclass": "log_loss",
        "regression": "rmse",
        "clustering": "silhouette",
        "anomaly": "pr_auc",  # with a label column; without one, anomaly_rate
    }[task]


def score(
    metric: str,
    task: TaskKind,
    y_true: Any,
    y_pred: Any,
    proba: np.ndarray | None = None,
    classes: Sequence[Any] | None = None,
    positive_class: Any = None,
) -> float:
    """One metric value. ``proba`` columns follow ``classes``.

    Examples
    --------
    >>> score("rmse", "regression", [1.0, 2.0, 3.0], [1.0, 2.0, 5.0])
    1.1547005383792515
    >>> proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8]])
    >>> score("roc_auc", "binary", ["no", "yes", "yes"], None, proba, ["no", "yes"], "yes")
    1.0
    >>> score("accuracy", "binary", ["no", "yes", "yes"], ["no", "yes", "no"])
    0.6666666666666666
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if task == "regression":
        return _regression_score(metric, y_true, y_pred)
    if metric in _LABEL_METRICS:
        return _label_score(metric, task, y_true, y_pred, positive_class)
    if proba is None or classes is None:
        raise ValueError(f"metric {metric!r} needs class probabilities")
    return _probability_score(metric, task, y_true, proba, classes, positive_class)


def _regression_score(metric: str, y_true: np.ndarray, y_pred: np.ndarray) -> float:
    from sklearn import metrics as skm  # loaded on first use: the data stages do not need it

    if metric == "mae":
        return float(skm.mean_absolute_error(y_true, y_pred))
    if metric == "rmse":
        return float(np.sqrt(skm.mean_squared_error(y_true, y_pred)))
    if metric == "r2":
        return float(skm.r2_score(y_true, y_pred))
    if metric == "mape":
        return float(skm.mean_absolute_percentage_error(y_true, y_pred))
    raise ValueError(f"metric {metric!r} does not apply to regression")


#: Classification metrics computed from predicted labels alone.
_LABEL_METRICS = ("accuracy", "balanced_accuracy", "precision", "recall", "f1")


def _label_score(
    metric: str, task: TaskKind, y_true: np.ndarray, y_pred: np.ndarray, positive_class: Any
) -> float:
    from sklearn import metrics as skm

    if metric == "accuracy":
        return float(skm.accuracy_score(y_true, y_pred))
    if metric == "balanced_accuracy":
        return float(skm.balanced_accuracy_score(y_true, y_pred))
    binary = task == "binary"
    average = "binary" if binary else "macro"
    pos = {"pos_label": positive_class} if binary else {}
    compute = {"precision": skm.precision_score, "recall": skm.recall_score, "f1": skm.f1_score}
    return float(compute[metric](y_true, y_pred, average=average, zero_division=0, **pos))


def _probability_score(
    metric: str,
    task: TaskKind,
    y_true: np.ndarray,
    proba: np.ndarray,
    classes: Sequence[Any],
    positive_class: Any,
) -> float:
    from sklearn import metrics as skm

    order = sorted(range(len(classes)), key=lambda i: (str(type(classes[i])), classes[i]))
    classes = [list(classes)[i] for i in order]  # scikit-learn expects sorted labels
    proba = clip_proba(np.asarray(proba)[:, order])
    present = set(np.unique(y_true).tolist())
    if metric == "log_loss":
        return float(skm.log_loss(y_true, proba, labels=classes))
    if len(present) < 2:
        return float("nan")  # ranking metrics are undefined on one class
    if task == "binary":
        p = proba[:, classes.index(positive_class)]
        y_bin = (y_true == positive_class).astype(int)
        if metric == "roc_auc":
            return float(skm.roc_auc_score(y_bin, p))
        if metric == "pr_auc":
            return float(skm.average_precision_score(y_bin, p))
    else:
        cols = [i for i, c in enumerate(classes) if c in present]
        sub = proba[:, cols]
        sub = sub / sub.sum(axis=1, keepdims=True)
        labels = [classes[i] for i in cols]
        if metric == "roc_auc":
            if len(labels) == 2:
                return float(skm.roc_auc_score(y_true == labels[1], sub[:, 1]))
            return float(skm.roc_auc_score(y_true, sub, multi_class="ovr", labels=labels))
        if metric == "pr_auc":
            onehot = np.stack([(y_true == c).astype(int) for c in labels], axis=1)
            return float(skm.average_precision_score(onehot, sub, average="macro"))
    raise ValueError(f"metric {metric!r} does not apply to {task}")


def clip_proba(proba: np.ndarray) -> np.ndarray:
    """Clip probabilities away from 0 and renormalise rows.

    Examples
    --------
    >>> proba = clip_proba(np.array([[1.0, 0.0], [0.25, 0.75]]))
    >>> bool((proba > 0).all()), proba[1].tolist()
    (True, [0.25, 0.75])
    """
    proba = np.clip(np.asarray(proba, dtype=float), PROBA_EPS, 1.0)
    normalised: np.ndarray = proba / proba.sum(axis=1, keepdims=True)
    return normalised


def all_metrics(
    task: TaskKind,
    y_true: Any,
    y_pred: Any,
    proba: np.ndarray | None = None,
    classes: Sequence[Any] | None = None,
    positive_class: Any = None,
) -> dict[str, float]:
    """Every metric that applies to ``task``.

    Examples
    --------
    >>> all_metrics("regression", [1.0, 2.0, 3.0], [1.0, 2.0, 5.0])  # doctest: +NUMBER
    {'mae': 0.667, 'rmse': 1.155, 'r2': -1.0, 'mape': 0.222}
    """
    from loopml.config import CLASSIFICATION_METRICS, REGRESSION_METRICS

    names = REGRESSION_METRICS if task == "regression" else CLASSIFICATION_METRICS
    return {
        name: score(name, task, y_true, y_pred, proba, classes, positive_class) for name in names
    }
