"""The measures compared between groups, each computable on any subset of the holdout's rows
(for Fairlearn's ``MetricFrame``) and on many bootstrap resamples at once.

A resample is a row of Poisson(1) weights (the Poisson bootstrap: each row counted 0, 1, 2...
times); measures that are means of per-row values (rates, accuracy, errors, log loss) and
ROC AUC are computed for all resamples in a few matrix operations. Any other metric is
computed resample by resample on the rows repeated by their weights.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from loopml.data import Problem
from loopml.metrics import clip_proba, score

RATES = ("selection_rate", "true_positive_rate", "false_positive_rate")


class Measure(Protocol):
    def __call__(self, truth: np.ndarray, rows: np.ndarray) -> float: ...

    def boot(self, weights: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """The measure on ``rows`` under each row of ``weights`` ([resamples, len(rows)])."""
        ...


@dataclass(frozen=True)
class MeanMeasure:
    """The mean of per-row ``values`` over the rows ``among`` selects (its root: RMSE)."""

    values: np.ndarray
    among: np.ndarray | None = None
    root: bool = False

    def __call__(self, truth: np.ndarray, rows: np.ndarray) -> float:
        return float(self.boot(np.ones((1, len(rows))), rows.astype(int))[0])

    def boot(self, weights: np.ndarray, rows: np.ndarray) -> np.ndarray:
        values = self.values[rows]
        if self.among is not None:
            keep = self.among[rows]
            values, weights = values[keep], weights[:, keep]
        total = weights.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(total > 0, weights @ values / total, np.nan)
        return np.sqrt(mean) if self.root else mean


@dataclass(frozen=True)
class AucMeasure:
    """ROC AUC of ``scores`` for the rows where ``positive`` (ties count a half)."""

    scores: np.ndarray
    positive: np.ndarray

    def __call__(self, truth: np.ndarray, rows: np.ndarray) -> float:
        return float(self.boot(np.ones((1, len(rows))), rows.astype(int))[0])

    def boot(self, weights: np.ndarray, rows: np.ndarray) -> np.ndarray:
        order = np.argsort(self.scores[rows], kind="mergesort")
        s, pos, w = self.scores[rows][order], self.positive[rows][order], weights[:, order]
        if not len(s):
            return np.full(len(weights), np.nan)
        starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])  # blocks of equal scores
        wp = np.add.reduceat(w * pos, starts, axis=1)
        wn = np.add.reduceat(w * ~pos, starts, axis=1)
        below = np.cumsum(wn, axis=1) - wn
        pairs = wp.sum(axis=1) * wn.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(pairs > 0, (wp * (below + 0.5 * wn)).sum(axis=1) / pairs, np.nan)


@dataclass(frozen=True)
class MetricMeasure:
    """Any metric: computed resample by resample on the rows repeated by their weights."""

    compute: Callable[[np.ndarray, np.ndarray], float]
    truth: np.ndarray

    def __call__(self, truth: np.ndarray, rows: np.ndarray) -> float:
        return self.compute(truth, rows.astype(int))

    def boot(self, weights: np.ndarray, rows: np.ndarray) -> np.ndarray:
        out = np.full(len(weights), np.nan)
        for b, w in enumerate(weights):
            picked = np.repeat(rows, w.astype(int))
            if len(picked):
                out[b] = self.compute(self.truth[picked], picked)
        return out


def measures(
    problem: Problem,
    extra: Sequence[str],
    truth: np.ndarray,
    pred: np.ndarray,
    proba: np.ndarray | None,
) -> dict[str, Measure]:
    """The measures of a task (module docstring of :mod:`loopml.evaluation._fairness`)."""
    names = [n for n in dict.fromkeys([problem.metric, *extra]) if n not in RATES]
    task = problem.task
    if task == "binary":
        names += RATES
    names += [{"multiclass": "accuracy", "regression": "mae"}.get(task, "")]
    out: dict[str, Measure] = {}
    for name in dict.fromkeys(n for n in names if n):
        out[name] = _measure(name, problem, truth, pred, proba)
    return out


def _measure(
    name: str, problem: Problem, truth: np.ndarray, pred: np.ndarray, proba: np.ndarray | None
) -> Measure:
    positive = problem.positive_class
    if name in RATES:
        selected = (pred == positive).astype(float)
        among = {"true_positive_rate": truth == positive, "false_positive_rate": truth != positive}
        return MeanMeasure(selected, among.get(name))
    if problem.task == "regression":
        error = pred.astype(float) - truth.astype(float)
        if name in ("mae", "rmse"):
            return MeanMeasure(np.abs(error) if name == "mae" else error**2, root=name == "rmse")
        if name == "mape":
            floor = np.maximum(np.abs(truth.astype(float)), np.finfo(np.float64).eps)
            return MeanMeasure(np.abs(error) / floor)
    elif name == "accuracy":
        return MeanMeasure((pred == truth).astype(float))
    elif proba is not None and name in ("roc_auc", "log_loss"):
        found = _per_row(name, problem, truth, proba)
        if found is not None:
            return found
    return MetricMeasure(_metric(name, problem, pred, proba), truth)


def _per_row(name: str, problem: Problem, truth: np.ndarray, proba: np.ndarray) -> Measure | None:
    classes = list(problem.classes)
    if name == "roc_auc":
        if problem.task != "binary":
            return None
        column = classes.index(problem.positive_class)
        return AucMeasure(proba[:, column], truth == problem.positive_class)
    index = {c: i for i, c in enumerate(classes)}
    columns = np.array([index.get(t, -1) for t in truth])
    if (columns < 0).any():
        return None
    clipped = clip_proba(proba)
    return MeanMeasure(-np.log(clipped[np.arange(len(truth)), columns]))


def _metric(
    name: str, problem: Problem, pred: np.ndarray, proba: np.ndarray | None
) -> Callable[[np.ndarray, np.ndarray], float]:
    task, classes, positive = problem.task, list(problem.classes), problem.positive_class

    def compute(truth: np.ndarray, rows: np.ndarray) -> float:
        p: Any = proba[rows] if proba is not None else None
        return score(name, task, truth, pred[rows], p, classes, positive)

    return compute
