"""Over-fitting (train vs cross-validation) and under-fitting (vs a dummy baseline)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.pipeline import Pipeline

from loopml.data import Problem
from loopml.evaluation._bootstrap import (
    Interval,
    Resampling,
    bootstrap_scores,
    percentile_interval,
)
from loopml.evaluation._common import (
    DiagnosisSettings,
    Predictions,
    TrainAndHoldout,
    sample_rows,
    scores_of,
)
from loopml.metrics import greater_is_better, score

#: Metrics bounded above by 1 (a perfect model scores 1).
UNIT_METRICS = ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc")
#: Train better than CV by more than this (absolute for scores in [0, 1], relative for losses).
OVERFIT_GAP = {"absolute": 0.05, "relative": 0.25}


@dataclass(frozen=True)
class FitCheck:
    """Over-fitting (train vs cross-validation) and under-fitting (vs a dummy baseline).

    ``gap`` and ``improvement`` are oriented so that positive means "better": how much better
    the model scores on its own training rows than in cross-validation, and how much better
    it scores on the holdout than the dummy (a paired bootstrap interval on the same
    resamples).
    """

    metric: str
    train: float
    cv_mean: float
    cv_std: float
    holdout: float
    gap: float
    is_overfit: bool
    dummy: float
    dummy_strategy: str
    improvement: Interval
    is_underfit: bool

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "improvement"}
        out["improvement"] = self.improvement.to_dict()
        return out


def fit_check(
    pipeline: Pipeline,
    problem: Problem,
    rows: TrainAndHoldout,
    holdout: Predictions,
    cv_scores: Sequence[float],
    settings: DiagnosisSettings,
) -> FitCheck:
    """Train score vs the CV scores, and the holdout score vs a dummy baseline.

    The dummy is fitted on the training rows and scored on the holdout; the improvement
    over it is a paired bootstrap interval (the same resamples, the same ``settings.seed``).
    """
    task, metric = problem.task, problem.metric
    classes, positive = list(problem.classes), problem.positive_class
    y, pred, proba = holdout.y, holdout.pred, holdout.proba
    seed = settings.seed
    sign = 1.0 if greater_is_better(metric) else -1.0
    sample = sample_rows(len(rows.X_train), settings.max_rows, seed, 1)
    X_tr, y_tr = rows.X_train.iloc[sample], np.asarray(rows.y_train)[sample]
    tr_pred, tr_proba = scores_of(pipeline, X_tr, problem)
    train = score(metric, task, y_tr, tr_pred, tr_proba, classes, positive)
    cv = np.asarray(list(cv_scores), dtype=float)
    cv_mean = float(np.mean(cv)) if len(cv) else math.nan
    cv_std = float(np.std(cv)) if len(cv) > 1 else 0.0
    holdout_value = score(metric, task, y, pred, proba, classes, positive)
    gap = sign * (train - cv_mean)
    threshold = overfit_threshold(metric, cv_mean, cv_std)
    is_overfit = gap > threshold

    strategy, d_pred, d_proba = _dummy_scores(rows, problem)
    dummy_value = score(metric, task, y, d_pred, d_proba, classes, positive)
    resampling = Resampling(settings.n_bootstrap, seed=seed)
    model_scores = bootstrap_scores(
        metric, task, y, pred, proba, classes, positive, resampling=resampling
    )
    dummy_scores = bootstrap_scores(
        metric, task, y, d_pred, d_proba, classes, positive, resampling=resampling
    )
    improvement = percentile_interval(
        metric,
        sign * (holdout_value - dummy_value),
        sign * (model_scores - dummy_scores),
        settings.level,
    )
    is_underfit = not (improvement.low > 0)  # NaN (undefined) also counts as not clearly better
    return FitCheck(
        metric=metric,
        train=float(train),
        cv_mean=cv_mean,
        cv_std=cv_std,
        holdout=float(holdout_value),
        gap=float(gap),
        is_overfit=bool(is_overfit),
        dummy=float(dummy_value),
        dummy_strategy=strategy,
        improvement=improvement,
        is_underfit=bool(is_underfit),
    )


def _dummy_scores(rows: TrainAndHoldout, problem: Problem) -> tuple[str, np.ndarray, Any]:
    """What the dummy baseline does, and its predictions and probabilities on the holdout."""
    if problem.task == "regression":
        dummy: Any = DummyRegressor(strategy="mean")
        strategy = "always predicts the training mean"
    else:
        dummy = DummyClassifier(strategy="prior")
        strategy = "always predicts the training class frequencies"
    dummy.fit(rows.X_train, np.asarray(rows.y_train))
    d_pred, d_proba = scores_of(dummy, rows.X_hold, problem)
    return strategy, d_pred, d_proba


def overfit_threshold(metric: str, cv_mean: float, cv_std: float) -> float:
    """How much better than CV the train score may be before it counts as over-fitting."""
    if metric in UNIT_METRICS or metric == "r2":
        return max(OVERFIT_GAP["absolute"], 3 * cv_std)
    return max(OVERFIT_GAP["relative"] * abs(cv_mean), 3 * cv_std)
