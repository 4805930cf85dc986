"""A quick baseline for ``loopml init``: how well a plain model does, so the drafted success
gate comes from the data instead of a fixed number that may be out of reach.

The baseline is scikit-learn's histogram gradient boosting with its defaults, cross-validated
on a sample of at most :data:`MAX_ROWS` rows; it takes a second or two. The gate is drafted
a margin below it (:func:`draft_gate`): a model that cannot match a default boosted tree on
the same data should not be deployed, and the margin leaves room for the noise of a holdout.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from loopml.data._problem import Problem, prepare_target
from loopml.data._schema import (
    ColumnSchema,
    normalize_category,
    to_boolean,
    to_datetime,
    to_numeric,
)
from loopml.errors import DataError
from loopml.metrics import score

MAX_ROWS = 5000
#: Categories kept per column (histogram gradient boosting bins them, at most 255).
MAX_CATEGORIES = 250
MODEL = "histogram gradient boosting"


@dataclass(frozen=True)
class Baseline:
    """A cross-validated score of a default model."""

    metric: str
    mean: float
    std: float
    folds: int
    rows: int
    total_rows: int
    seconds: float

    def describe(self) -> str:
        sample = (
            f"{self.rows:,} rows"
            if self.rows == self.total_rows
            else f"{self.rows:,} of {self.total_rows:,} rows"
        )
        return (
            f"baseline {self.metric} {self.mean:.3f} ± {self.std:.3f} "
            f"({self.folds}-fold {MODEL} on {sample}, {self.seconds:.1f} s)"
        )


def gate_metric(problem: Problem) -> str:
    """The metric the drafted gate uses: the primary one, but R² for regression, whose
    scale everyone reads (0 is the mean's score, 1 perfect) unlike an RMSE."""
    return "r2" if problem.task == "regression" else problem.metric


def measure_baseline(
    frame: pd.DataFrame,
    problem: Problem,
    features: Sequence[ColumnSchema],
    *,
    seed: int = 0,
) -> Baseline:
    """Cross-validate a default histogram gradient boosting model on ``features``.

    Parameters
    ----------
    frame
        The data, target included.
    problem
        The resolved problem: task, target, classes, positive class.
    features
        The columns to use, with their inferred roles (text columns are skipped).
    seed
        For the sample, the folds and the model.

    Raises
    ------
    DataError
        When there is nothing to measure: no usable feature, or a class too rare for folds.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.model_selection import KFold, StratifiedKFold
    from threadpoolctl import threadpool_limits

    started = time.perf_counter()
    metric = gate_metric(problem)
    rows = frame.loc[frame[problem.target].notna()]
    total = len(rows)
    if total > MAX_ROWS:
        rows = rows.sample(MAX_ROWS, random_state=seed)
    y = prepare_target(rows[problem.target], problem.task, problem).reset_index(drop=True)
    X, categorical = _matrix(rows.reset_index(drop=True), features)
    if X.shape[1] == 0:
        raise DataError("no feature column the baseline can use")
    n_folds = 5 if len(y) <= 2000 else 3
    if problem.task == "regression":
        splitter: KFold | StratifiedKFold = KFold(n_folds, shuffle=True, random_state=seed)
        model = HistGradientBoostingRegressor(
            categorical_features=categorical, early_stopping=False, random_state=seed
        )
    else:
        smallest = int(y.value_counts().min())
        if smallest < 2:
            raise DataError("a class has a single row, too few for cross-validation")
        n_folds = min(n_folds, smallest)
        splitter = StratifiedKFold(n_folds, shuffle=True, random_state=seed)
        model = HistGradientBoostingClassifier(
            categorical_features=categorical, early_stopping=False, random_state=seed
        )
    scores = []
    # one thread: on a few thousand rows more threads mostly wait for each other
    with threadpool_limits(limits=1):
        for train, test in splitter.split(X, y):
            model.fit(X[train], y.iloc[train])
            pred = model.predict(X[test])
            proba = model.predict_proba(X[test]) if problem.task != "regression" else None
            classes = list(model.classes_) if proba is not None else None
            scores.append(
                score(
                    metric, problem.task, y.iloc[test], pred, proba, classes, problem.positive_class
                )
            )
    values = np.asarray(scores, dtype=float)
    return Baseline(
        metric=metric,
        mean=float(np.nanmean(values)),
        std=float(np.nanstd(values)),
        folds=n_folds,
        rows=len(y),
        total_rows=total,
        seconds=time.perf_counter() - started,
    )


def draft_gate(baseline: Baseline, prior_log_loss: float | None = None) -> tuple[str, str]:
    """The success gate a margin below ``baseline``, and why, for the draft's comment.

    The margin is the larger of a fixed step (0.02 ROC AUC, 0.03 R², 5% of the log loss) and
    two standard deviations of the fold scores, so a small or noisy data set gets more room.
    A gate never asks less than an uninformed model reaches (ROC AUC 0.5, R² 0, the log loss
    of predicting the class frequencies).
    """
    metric, mean, std = baseline.metric, baseline.mean, baseline.std
    if metric == "log_loss":
        margin = max(0.05 * mean, 2 * std)
        gate = math.ceil(round((mean + margin) * 1000, 6)) / 1000
        if prior_log_loss is not None and gate >= prior_log_loss:
            gate = math.floor(prior_log_loss * 1000) / 1000
            return (
                f"log_loss <= {gate:.3f}",
                "the baseline is close to guessing the class frequencies; the gate asks to "
                "beat that",
            )
        return f"log_loss <= {gate:.3f}", f"gate set {margin:.3f} above it{_why(margin, std)}"
    step, floor = {"roc_auc": (0.02, 0.5), "r2": (0.03, 0.0)}.get(metric, (0.02, 0.0))
    margin = max(step, 2 * std)
    gate = math.floor(round((mean - margin) * 100, 6)) / 100  # 0.57, not 0.5699999
    if gate <= floor:
        return (
            f"{metric} >= {floor:g}",
            "the baseline finds little signal; the gate only asks to beat an uninformed model",
        )
    return f"{metric} >= {gate:.2f}", f"gate set {margin:.2f} below it{_why(margin, std)}"


def _why(margin: float, std: float) -> str:
    if margin <= 2 * std:
        return " (twice the folds' spread: a holdout score varies that much)"
    return ""


def prior_log_loss(target: pd.Series) -> float:
    """The log loss of always predicting the class frequencies."""
    shares = target.dropna().value_counts(normalize=True).to_numpy()
    return float(-(shares * np.log(shares)).sum())


def _matrix(frame: pd.DataFrame, features: Sequence[ColumnSchema]) -> tuple[np.ndarray, list[bool]]:
    """Numbers for each usable feature; categories as codes, flagged in the mask."""
    columns: list[np.ndarray] = []
    categorical: list[bool] = []
    for col in features:
        values = frame[col.name]
        if col.role == "numeric":
            columns.append(to_numeric(values).to_numpy(dtype=float))
        elif col.role == "boolean":
            columns.append(to_boolean(values).to_numpy(dtype=float))
        elif col.role == "datetime":
            stamps = to_datetime(values)
            days = (stamps - pd.Timestamp("1970-01-01")).dt.total_seconds() / 86400
            columns.append(days.to_numpy(dtype=float))
        elif col.role == "categorical":
            labels = normalize_category(values)
            kept = labels.value_counts().index[:MAX_CATEGORIES]
            codes = pd.Categorical(labels, categories=kept).codes.astype(float)
            codes[codes < 0] = np.nan
            columns.append(codes)
            categorical.append(True)
            continue
        else:
            continue
        categorical.append(False)
    if not columns:
        return np.empty((len(frame), 0)), []
    return np.column_stack(columns), categorical
