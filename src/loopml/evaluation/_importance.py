"""What drives the predictions: permutation importance and per-row contributions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance
from sklearn.pipeline import Pipeline

from loopml.data import Problem
from loopml.evaluation._common import DiagnosisSettings, Predictions, sample_rows, scores_of
from loopml.evaluation._contributions import contributions
from loopml.metrics import greater_is_better, score

#: Share of the budget left that permutation importance may use, and its fewest rows.
PERMUTATION_SHARE = 0.4
MIN_PERMUTATION_ROWS = 100


@dataclass(frozen=True)
class FeatureImportance:
    feature: str
    mean: float  # how much the metric gets worse when the column is shuffled
    std: float


@dataclass(frozen=True)
class PermutationImportance:
    """Permutation importance on (a sample of) the holdout, in units of the primary metric."""

    metric: str
    n_rows: int
    n_repeats: int
    features: tuple[FeatureImportance, ...]  # most important first

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "n_rows": self.n_rows,
            "n_repeats": self.n_repeats,
            "features": [f.__dict__ for f in self.features],
        }


@dataclass(frozen=True)
class RowExplanation:
    """One holdout row's prediction and what each column contributed to it."""

    row: int  # position in the holdout
    actual: Any
    prediction: Any
    score: float  # the explained output: probability, log-odds or the prediction
    explained: str | None  # the class explained, for classification
    base: float
    contributions: dict[str, float]  # largest magnitude first


@dataclass(frozen=True)
class Explanations:
    """Per-prediction contributions for a few holdout rows, and their mean size per column."""

    method: str
    output: str
    additive: bool
    rows: tuple[RowExplanation, ...]
    mean_abs: dict[str, float]  # largest first
    n_rows: int  # rows behind mean_abs

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "output": self.output,
            "additive": self.additive,
            "rows": [r.__dict__ for r in self.rows],
            "mean_abs": self.mean_abs,
            "n_rows": self.n_rows,
        }


def permutation(
    pipeline: Pipeline,
    problem: Problem,
    X: pd.DataFrame,
    y: np.ndarray,
    settings: DiagnosisSettings,
    budget_seconds: float,
    clock: Callable[[], float],
) -> PermutationImportance | None:
    """Permutation importance on ``settings.max_rows`` rows with ``settings.n_repeats``
    shuffles per column; fewer shuffles, then fewer rows, if the budget is short."""
    if X.shape[1] == 0 or len(X) < 2:
        return None
    seed, n_repeats = settings.seed, settings.n_repeats
    rows = sample_rows(len(X), settings.max_rows, seed, 2)
    sign = 1.0 if greater_is_better(problem.metric) else -1.0

    def scorer(model: Any, X_: pd.DataFrame, y_: Any) -> float:
        p, pr = scores_of(model, X_, problem)
        return sign * score(
            problem.metric, problem.task, y_, p, pr, problem.classes, problem.positive_class
        )

    before = clock()
    scorer(pipeline, X.iloc[rows], y[rows])  # one pass, to estimate the cost of all of them
    per_pass = max(clock() - before, 1e-6)
    passes = budget_seconds / per_pass / X.shape[1]  # affordable passes per column
    if passes < n_repeats:
        n_repeats = max(1, int(passes))
        if passes < 1:  # even one shuffle per column is too slow: score fewer rows
            keep = max(MIN_PERMUTATION_ROWS, int(len(rows) * passes))
            rows = rows[sample_rows(len(rows), keep, seed, 6)]
    X_s, y_s = X.iloc[rows].reset_index(drop=True), y[rows]
    result = permutation_importance(
        pipeline, X_s, y_s, scoring=scorer, n_repeats=n_repeats, random_state=seed, n_jobs=1
    )
    features = sorted(
        (
            FeatureImportance(str(c), float(m), float(s))
            for c, m, s in zip(
                X.columns, result.importances_mean, result.importances_std, strict=True
            )
        ),
        key=lambda f: (-np.nan_to_num(f.mean, nan=-np.inf), f.feature),
    )
    return PermutationImportance(problem.metric, len(rows), n_repeats, tuple(features))


def _explained_positions(scores: np.ndarray, k: int) -> list[int]:
    """Up to ``k`` rows spread over the range of ``scores``: lowest, quartiles, highest."""
    order = np.argsort(scores, kind="stable")
    picks = np.unique(np.linspace(0, len(order) - 1, min(k, len(order))).round().astype(int))
    return [int(order[i]) for i in picks][::-1]  # highest first


def explanations(
    pipeline: Pipeline,
    problem: Problem,
    X: pd.DataFrame,
    holdout: Predictions,
    X_train: pd.DataFrame,
    settings: DiagnosisSettings,
) -> Explanations | None:
    """Contributions for ``settings.n_explained`` holdout rows (``X``, predicted as in
    ``holdout``) spread over the range of predictions, and the mean absolute contribution per
    column over a sample of the holdout."""
    if len(X) == 0 or X.shape[1] == 0:
        return None
    y, pred, proba = holdout.y, holdout.pred, holdout.proba
    seed, n_explained = settings.seed, settings.n_explained
    classes = list(problem.classes)
    if problem.task == "regression":
        ranking = np.asarray(pred, dtype=float)
    elif problem.task == "binary" and proba is not None:
        ranking = proba[:, classes.index(problem.positive_class)]
    else:
        ranking = np.max(proba, axis=1) if proba is not None else np.zeros(len(X))
    background = X_train.iloc[sample_rows(len(X_train), 200, seed, 3)]
    positions = _explained_positions(ranking, n_explained)
    frame = contributions(
        pipeline, X.iloc[positions], positive_class=problem.positive_class, background=background
    )
    if frame is None:
        return None
    additive = bool(frame.attrs["additive"])
    sample = sample_rows(len(X), 500 if additive else 100, seed, 4)
    wide = contributions(
        pipeline, X.iloc[sample], positive_class=problem.positive_class, background=background
    )
    mean_abs = (
        wide.abs().mean().sort_values(ascending=False, kind="stable") if wide is not None else None
    )
    rows = []
    base, explained = frame.attrs["base"], frame.attrs["explained"]
    for i, pos in enumerate(positions):
        values = frame.iloc[i]
        ordered = values.reindex(values.abs().sort_values(ascending=False, kind="stable").index)
        rows.append(
            RowExplanation(
                row=pos,
                actual=_plain(y[pos]),
                prediction=_plain(pred[pos]),
                score=float(base[i] + values.sum()) if additive else float(ranking[pos]),
                explained=None if explained is None else explained[i],
                base=float(base[i]),
                contributions={str(k): float(v) for k, v in ordered.items()},
            )
        )
    return Explanations(
        method=str(frame.attrs["method"]),
        output=str(frame.attrs["output"]),
        additive=additive,
        rows=tuple(rows),
        mean_abs={} if mean_abs is None else {str(k): float(v) for k, v in mean_abs.items()},
        n_rows=len(sample),
    )


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
