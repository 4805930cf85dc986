"""Diagnostics a reviewer asks for before trusting a model, all on the untouched holdout.

:func:`diagnose` adds to :func:`loopml.evaluation.evaluate`: bootstrap intervals of every
metric, calibration and Brier score, lift and gains, a learning curve, permutation importance,
per-prediction contributions, over- and under-fitting checks against cross-validation and a
dummy baseline, and leakage warnings. Every finding is also a plainly worded :class:`Note`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from loopml.data import Problem
from loopml.evaluation._bootstrap import (
    SLOW_RESAMPLES,
    Interval,
    bootstrap_scores,
    has_fast_path,
    percentile_interval,
)
from loopml.evaluation._common import jsonable, used_columns
from loopml.evaluation._fit import FitCheck, fit_check
from loopml.evaluation._importance import (
    PERMUTATION_SHARE,
    Explanations,
    PermutationImportance,
    explanations,
    permutation,
)
from loopml.evaluation._learning import LearningCurve, learning_curve
from loopml.evaluation._notes import Note, duplicate_share, notes
from loopml.evaluation._probability import Calibration, Lift, calibration, lift_table
from loopml.metrics import all_metrics, greater_is_better
from loopml.modeling import predict_scores
from loopml.types import TaskKind

#: The learning curve's least share of the diagnosis budget, however long the rest took.
LEARNING_SHARE = 0.25


@dataclass(frozen=True)
class Diagnostics:
    """Everything :func:`diagnose` found; ``to_dict()`` is plain JSON (no NaN)."""

    task: TaskKind
    metric: str
    greater_is_better: bool
    n_holdout: int
    n_train: int
    seed: int
    target: str
    classes: tuple[Any, ...]
    positive_class: Any
    intervals: dict[str, Interval]
    fit: FitCheck
    learning_curve: LearningCurve
    calibration: Calibration | None = None
    lift: Lift | None = None
    permutation: PermutationImportance | None = None
    explanations: Explanations | None = None
    duplicate_share: float = 0.0  # holdout rows whose features also occur in training
    notes: tuple[Note, ...] = ()
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def interval(self) -> Interval:
        """The primary metric's interval."""
        return self.intervals[self.metric]

    @property
    def warnings(self) -> tuple[Note, ...]:
        return tuple(n for n in self.notes if n.severity == "warning")

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "task": self.task,
                "metric": self.metric,
                "greater_is_better": self.greater_is_better,
                "n_holdout": self.n_holdout,
                "n_train": self.n_train,
                "seed": self.seed,
                "target": self.target,
                "classes": list(self.classes),
                "positive_class": self.positive_class,
                "intervals": {k: v.to_dict() for k, v in self.intervals.items()},
                "fit": self.fit.to_dict(),
                "learning_curve": self.learning_curve.to_dict(),
                "calibration": self.calibration.to_dict() if self.calibration else None,
                "lift": self.lift.to_dict() if self.lift else None,
                "permutation": self.permutation.to_dict() if self.permutation else None,
                "explanations": self.explanations.to_dict() if self.explanations else None,
                "duplicate_share": self.duplicate_share,
                "notes": [n.to_dict() for n in self.notes],
                "seconds": self.seconds,
            }
        )


def diagnose(
    pipeline: Pipeline,
    X_hold: pd.DataFrame,
    y_hold: pd.Series,
    problem: Problem,
    *,
    X_train: pd.DataFrame,
    y_train: pd.Series,
    cv_scores: Sequence[float],
    seed: int,
    n_bootstrap: int = 1000,
    budget_seconds: float = 30.0,
    level: float = 0.95,
    n_explained: int = 5,
    max_rows: int = 2000,
    n_repeats: int = 5,
    fractions: Sequence[float] = (0.1, 0.25, 0.5, 1.0),
    fit_seconds: tuple[int, float] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> Diagnostics:
    """Diagnose a fitted pipeline on its holdout.

    Parameters
    ----------
    pipeline
        The pipeline fitted on ``X_train``/``y_train``.
    X_hold, y_hold
        The holdout: rows neither the search nor the fit has seen.
    problem
        The resolved problem (task, metric, classes, positive class).
    X_train, y_train
        The training rows: for the train score, the dummy baseline, the learning curve and
        the contributions' background.
    cv_scores
        Cross-validation scores of the chosen configuration (one per fold).
    seed
        Seeds every resampling and sample, so the same inputs give the same diagnostics.
    n_bootstrap
        Bootstrap resamples of the holdout for the intervals.
    budget_seconds
        Wall-clock bound: the learning curve gets what the other parts leave, but at least
        :data:`LEARNING_SHARE` of it (so the whole may overrun by that share), and skips the
        points it estimates would not fit, saying so.
    level
        Coverage of the intervals.
    n_explained
        Holdout rows whose contributions are listed (spread over the range of predictions).
    max_rows
        Rows sampled for permutation importance and the train score.
    n_repeats
        Shuffles per column for permutation importance.
    fractions
        Training-set fractions of the learning curve; 1.0 reuses the fitted pipeline.
    fit_seconds
        ``(rows, seconds)`` of one fit of this configuration, e.g. a cross-validation fold:
        lets the learning curve estimate its first refit.
    clock
        Seconds of a monotonic clock (tests pass a fake one).

    Returns
    -------
    Diagnostics
    """
    start = clock()
    seconds: dict[str, float] = {}

    def lap(name: str, since: float) -> float:
        now = clock()
        seconds[name] = round(now - since, 3)
        return now

    task, metric = problem.task, problem.metric
    classes = list(problem.classes)
    positive = problem.positive_class
    better = greater_is_better(metric)
    y = np.asarray(y_hold)
    pred, proba = predict_scores(pipeline, X_hold, task, classes)
    t = start

    intervals = _intervals(problem, y, pred, proba, n_bootstrap, seed, level)
    t = lap("intervals", t)

    cal = lift = None
    if task != "regression" and proba is not None and len(y):
        cal = calibration(y, proba, classes, positive if task == "binary" else None)
        if task == "binary":
            lift = lift_table(y == positive, proba[:, classes.index(positive)], positive)
    t = lap("calibration", t)

    fit = fit_check(
        pipeline, problem, X_hold, y, pred, proba, X_train, y_train, cv_scores, seed,
        n_bootstrap, level, max_rows,
    )  # fmt: skip
    t = lap("fit_check", t)

    # columns the model never reads (ids, dropped, personal data) are not explained
    used = used_columns(pipeline, X_hold)
    perm = permutation(
        pipeline,
        problem,
        X_hold[used],
        y,
        seed,
        max_rows,
        n_repeats,
        PERMUTATION_SHARE * max(0.0, budget_seconds - (t - start)),
        clock,
    )
    t = lap("permutation", t)

    expl = explanations(
        pipeline, problem, X_hold[used], y, pred, proba, X_train[used], seed, n_explained
    )
    t = lap("contributions", t)

    duplicates = duplicate_share(X_hold, X_train)
    t = lap("duplicates", t)

    curve = learning_curve(
        pipeline,
        X_train,
        y_train,
        X_hold,
        y_hold,
        problem,
        fractions=fractions,
        seed=seed,
        budget_seconds=max(LEARNING_SHARE * budget_seconds, budget_seconds - (t - start)),
        full_train_score=fit.train,
        reference=fit_seconds,
        clock=clock,
    )
    lap("learning_curve", t)

    found = notes(problem, intervals, fit, cal, perm, expl, curve, duplicates, len(y))
    return Diagnostics(
        task=task,
        metric=metric,
        greater_is_better=better,
        n_holdout=len(y),
        n_train=len(X_train),
        seed=seed,
        target=problem.target,
        classes=tuple(problem.classes),
        positive_class=problem.positive_class,
        intervals=intervals,
        fit=fit,
        learning_curve=curve,
        calibration=cal,
        lift=lift,
        permutation=perm,
        explanations=expl,
        duplicate_share=duplicates,
        notes=found,
        seconds=seconds,
    )


# --------------------------------------------------------------------------- the parts


def _intervals(
    problem: Problem,
    y: np.ndarray,
    pred: np.ndarray,
    proba: np.ndarray | None,
    n_bootstrap: int,
    seed: int,
    level: float,
) -> dict[str, Interval]:
    """Every metric with its interval; the same resamples for every metric."""
    classes, positive = list(problem.classes), problem.positive_class
    values = all_metrics(problem.task, y, pred, proba, classes, positive)
    out: dict[str, Interval] = {}
    for name, value in values.items():
        n = n_bootstrap
        if name != problem.metric and not has_fast_path(name, problem.task):
            n = min(n_bootstrap, SLOW_RESAMPLES)
        scores = bootstrap_scores(
            name, problem.task, y, pred, proba, classes, positive, n_resamples=n, seed=seed
        )
        out[name] = percentile_interval(name, value, scores, level)
    return out
