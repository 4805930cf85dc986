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
    return ALL_METRICS[metric]


def default_metric(task: TaskKind) -> str:
    return {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}[task]


def score(
    metric: str,
    task: TaskKind,
    y_true: Any,
    y_pred: Any,
    proba: np.ndarray | None = None,
    classes: Sequence[Any] | None = None,
    positive_class: Any = None,
) -> float:
    """One metric value. ``proba`` columns follow ``classes``."""
    from sklearn import metrics as skm  # loaded on first use: the data stages do not need it

    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if task == "regression":
        if metric == "mae":
            return float(skm.mean_absolute_error(y_true, y_pred))
        if metric == "rmse":
            return float(np.sqrt(skm.mean_squared_error(y_true, y_pred)))
        if metric == "r2":
            return float(skm.r2_score(y_true, y_pred))
        if metric == "mape":
            return float(skm.mean_absolute_percentage_error(y_true, y_pred))
        raise ValueError(f"metric {metric!r} does not apply to regression")
    binary = task == "binary"
    average = "binary" if binary else "macro"
    pos = {"pos_label": positive_class} if binary else {}
    if metric == "accuracy":
        return float(skm.accuracy_score(y_true, y_pred))
    if metric == "balanced_accuracy":
        return float(skm.balanced_accuracy_score(y_true, y_pred))
    if metric == "precision":
        return float(skm.precision_score(y_true, y_pred, average=average, zero_division=0, **pos))
    if metric == "recall":
        return float(skm.recall_score(y_true, y_pred, average=average, zero_division=0, **pos))
    if metric == "f1":
        return float(skm.f1_score(y_true, y_pred, average=average, zero_division=0, **pos))
    if proba is None or classes is None:
        raise ValueError(f"metric {metric!r} needs class probabilities")
    labels = list(classes)
    order = sorted(range(len(labels)), key=lambda i: (str(type(labels[i])), labels[i]))
    classes = [labels[i] for i in order]  # scikit-learn expects sorted labels
    proba = clip_proba(np.asarray(proba)[:, order])
    present = set(np.unique(y_true).tolist())
    if metric == "log_loss":
        return float(skm.log_loss(y_true, proba, labels=classes))
    if len(present) < 2:
        return float("nan")  # ranking metrics are undefined on one class
    if binary:
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
    """Clip probabilities away from 0 and renormalise rows."""
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
    """Every metric that applies to ``task``."""
    from loopml.config import CLASSIFICATION_METRICS, REGRESSION_METRICS

    names = REGRESSION_METRICS if task == "regression" else CLASSIFICATION_METRICS
    return {
        name: score(name, task, y_true, y_pred, proba, classes, positive_class) for name in names
    }
