"""Diagnostics a reviewer asks for before trusting a model, all on the untouched holdout.

:func:`diagnose` adds to :func:`loopml.evaluation.evaluate`: bootstrap intervals of every
metric, calibration and Brier score, lift and gains, a learning curve, permutation importance,
per-prediction contributions, over- and under-fitting checks against cross-validation and a
dummy baseline, and leakage warnings. Every finding is also a plainly worded :class:`Note`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline

from loopml.data import Problem
from loopml.evaluation._bootstrap import (
    SLOW_RESAMPLES,
    Interval,
    Resampling,
    bootstrap_scores,
    has_fast_path,
    percentile_interval,
)
from loopml.evaluation._common import (
    DiagnosisSettings,
    Predictions,
    TrainAndHoldout,
    jsonable,
    used_columns,
)
from loopml.evaluation._fit import FitCheck, fit_check
from loopml.evaluation._importance import (
    PERMUTATION_SHARE,
    Explanations,
    PermutationImportance,
    explanations,
    permutation,
)
from loopml.evaluation._learning import CurveSettings, LearningCurve, learning_curve
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
    rows: TrainAndHoldout,
    problem: Problem,
    *,
    cv_scores: Sequence[float],
    settings: DiagnosisSettings,
    fit_seconds: tuple[int, float] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> Diagnostics:
    """Diagnose a fitted pipeline on its holdout.

    Parameters
    ----------
    pipeline
        The pipeline fitted on ``rows.X_train``/``rows.y_train``.
    rows
        The training rows (for the train score, the dummy baseline, the learning curve and
        the contributions' background) and the holdout: rows neither the search nor the fit
        has seen.
    problem
        The resolved problem (task, metric, classes, positive class).
    cv_scores
        Cross-validation scores of the chosen configuration (one per fold).
    settings
        The seed, the number of resamples, the wall-clock budget and the sample sizes.
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

    X_hold, X_train = rows.X_hold, rows.X_train
    budget = settings.budget_seconds
    y = np.asarray(rows.y_hold)
    pred, proba = predict_scores(pipeline, X_hold, problem.task, list(problem.classes))
    holdout = Predictions(y, pred, proba)
    t = start

    intervals = _intervals(problem, holdout, settings)
    t = lap("intervals", t)

    cal, lift = _probability_checks(problem, holdout)
    t = lap("calibration", t)

    fit = fit_check(pipeline, problem, rows, holdout, cv_scores, settings)
    t = lap("fit_check", t)

    # columns the model never reads (ids, dropped, personal data) are not explained
    used = used_columns(pipeline, X_hold)
    permutation_budget = PERMUTATION_SHARE * max(0.0, budget - (t - start))
    perm = permutation(pipeline, problem, X_hold[used], y, settings, permutation_budget, clock)
    t = lap("permutation", t)

    expl = explanations(pipeline, problem, X_hold[used], holdout, X_train[used], settings)
    t = lap("contributions", t)

    duplicates = duplicate_share(X_hold, X_train)
    t = lap("duplicates", t)

    curve = learning_curve(
        pipeline,
        rows,
        problem,
        settings=CurveSettings(
            fractions=tuple(settings.fractions),
            seed=settings.seed,
            budget_seconds=max(LEARNING_SHARE * budget, budget - (t - start)),
            full_train_score=fit.train,
            reference=fit_seconds,
        ),
        clock=clock,
    )
    lap("learning_curve", t)

    found = Diagnostics(
        **_described(problem, len(y), len(X_train), settings.seed),
        intervals=intervals,
        fit=fit,
        learning_curve=curve,
        calibration=cal,
        lift=lift,
        permutation=perm,
        explanations=expl,
        duplicate_share=duplicates,
        seconds=seconds,
    )
    return replace(found, notes=notes(problem, found))


def _described(problem: Problem, n_holdout: int, n_train: int, seed: int) -> dict[str, Any]:
    """What the diagnostics are of: the problem, the row counts and the seed."""
    return {
        "task": problem.task,
        "metric": problem.metric,
        "greater_is_better": greater_is_better(problem.metric),
        "n_holdout": n_holdout,
        "n_train": n_train,
        "seed": seed,
        "target": problem.target,
        "classes": tuple(problem.classes),
        "positive_class": problem.positive_class,
    }


# --------------------------------------------------------------------------- the parts


def _intervals(
    problem: Problem, holdout: Predictions, settings: DiagnosisSettings
) -> dict[str, Interval]:
    """Every metric with its interval; the same resamples for every metric."""
    classes, positive = list(problem.classes), problem.positive_class
    y, pred, proba = holdout.y, holdout.pred, holdout.proba
    n_bootstrap = settings.n_bootstrap
    values = all_metrics(problem.task, y, pred, proba, classes, positive)
    out: dict[str, Interval] = {}
    for name, value in values.items():
        n = n_bootstrap
        if name != problem.metric and not has_fast_path(name, problem.task):
            n = min(n_bootstrap, SLOW_RESAMPLES)
        resampling = Resampling(n, seed=settings.seed)
        scores = bootstrap_scores(
            name, problem.task, y, pred, proba, classes, positive, resampling=resampling
        )
        out[name] = percentile_interval(name, value, scores, settings.level)
    return out


def _probability_checks(
    problem: Problem, holdout: Predictions
) -> tuple[Calibration | None, Lift | None]:
    """Calibration of the probabilities, and (binary tasks) the lift table."""
    y, proba = holdout.y, holdout.proba
    if problem.task == "regression" or proba is None or not len(y):
        return None, None
    classes, positive = list(problem.classes), problem.positive_class
    cal = calibration(y, proba, classes, positive if problem.task == "binary" else None)
    lift = None
    if problem.task == "binary":
        lift = lift_table(y == positive, proba[:, classes.index(positive)], positive)
    return cal, lift
