"""The learning curve: holdout scores of clones refitted on growing shares of the training rows."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import train_test_split

from loopml.data import Problem
from loopml.evaluation._common import TrainAndHoldout
from loopml.metrics import score
from loopml.modeling import predict_scores

log = logging.getLogger(__name__)

#: A point needs at least this many training rows (and two per class) to be worth a fit.
MIN_ROWS = 20
#: Rows scored for the train score of each point.
TRAIN_SCORE_ROWS = 5000
#: Fit time is assumed to grow this much faster than the number of rows when estimating.
GROWTH_MARGIN = 1.25


@dataclass(frozen=True)
class LearningPoint:
    """One point: a share of the training rows, and the scores of the model fitted on it."""

    fraction: float
    rows: int
    train: float  # on the rows it was fitted on (a sample of at most TRAIN_SCORE_ROWS)
    holdout: float
    seconds: float | None  # fit time; None for the full share, which reuses the fitted model


@dataclass(frozen=True)
class LearningCurve:
    """Scores against training-set size, with the points skipped and why.

    ``absent`` is one sentence saying why there is no curve (no point was refitted on a
    share of the rows), or None when there is one.
    """

    metric: str
    points: tuple[LearningPoint, ...]
    skipped: tuple[tuple[float, str], ...]  # (fraction, reason)
    budget_seconds: float
    absent: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "points": [p.__dict__ for p in self.points],
            "skipped": [{"fraction": f, "reason": r} for f, r in self.skipped],
            "budget_seconds": self.budget_seconds,
            "absent": self.absent,
        }


def _subset(y: np.ndarray, size: int, seed: int, classification: bool) -> np.ndarray:
    """Sorted positions of ``size`` training rows, stratified by class when possible."""
    positions = np.arange(len(y))
    if classification:
        try:
            chosen, _ = train_test_split(positions, train_size=size, stratify=y, random_state=seed)
            return np.sort(chosen)
        except ValueError:  # a class too small to stratify: fall back to a plain sample
            pass
    return np.sort(np.random.default_rng([seed, size]).choice(len(y), size=size, replace=False))


@dataclass(frozen=True)
class CurveSettings:
    """The points of a learning curve, its budget, and what is known before it starts.

    Parameters
    ----------
    fractions
        Shares of the training rows, in (0, 1].
    seed
        Seed of the row samples.
    budget_seconds
        Wall-clock budget for the fits.
    full_train_score
        The train score of the pipeline if already known (saves scoring it again).
    reference
        ``(rows, seconds)`` of one fit of the same configuration on more rows, such as a
        cross-validation fold: estimates the first refit, which has no previous one.
    """

    fractions: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0)
    seed: int = 0
    budget_seconds: float = 30.0
    full_train_score: float | None = None
    reference: tuple[int, float] | None = None


def learning_curve(
    pipeline: Any,
    rows: TrainAndHoldout,
    problem: Problem,
    *,
    settings: CurveSettings = CurveSettings(),  # frozen: one shared default is safe
    clock: Callable[[], float] = time.perf_counter,
) -> LearningCurve:
    """Refit clones of ``pipeline`` on growing shares of the training rows, within a budget.

    Points run from the smallest share up. Before each fit its time is estimated from the
    previous fit and ``settings.reference`` (interpolated by the number of rows, with a
    margin); a point whose estimate would overrun the budget is skipped with the reason, and
    so are the larger ones. The share 1.0 is the fitted ``pipeline`` itself and costs no fit.
    When no share could be refitted, ``absent`` says why in one sentence.

    Parameters
    ----------
    pipeline
        The fitted pipeline; clones of it are refitted.
    rows
        The training rows ``pipeline`` was fitted on, and the holdout every point is scored on.
    problem
        Task, primary metric, classes.
    settings
        The shares of the training rows, the seed, the budget, and what is already known.
    clock
        Seconds of a monotonic clock.

    Returns
    -------
    LearningCurve
    """
    start = clock()
    seed, budget_seconds = settings.seed, settings.budget_seconds
    y_all = np.asarray(rows.y_train)
    n = len(y_all)
    min_rows = max(MIN_ROWS, 2 * len(problem.classes))
    points: list[LearningPoint] = []
    skipped: list[tuple[float, str]] = []
    last: tuple[int, float] | None = None  # (rows, seconds) of the last fit
    out_of_budget = False
    for fraction in sorted({float(f) for f in settings.fractions if 0 < f <= 1}):
        size = n if fraction >= 1.0 else round(fraction * n)
        if fraction >= 1.0:
            train = settings.full_train_score
            if train is None:
                train = _score(pipeline, rows.X_train, y_all, problem, seed)
            holdout = _score(pipeline, rows.X_hold, rows.y_hold, problem)
            points.append(LearningPoint(1.0, n, train, holdout, None))
            continue
        if size < min_rows or size >= n:
            skipped.append((fraction, f"{size} rows are too few to fit on"))
            continue
        elapsed = clock() - start
        estimate = _estimate(size, last, settings.reference)
        left = max(budget_seconds - elapsed, 0.0)
        if out_of_budget or estimate >= left or left <= 0:
            out_of_budget = True
            skipped.append((fraction, _over_budget(size, estimate, left, budget_seconds)))
            continue
        fitted = _fit_point(pipeline, rows, problem, (fraction, size, seed), clock)
        if isinstance(fitted, str):
            skipped.append((fraction, fitted))
            continue
        point, took = fitted
        last = (size, took)
        points.append(point)
    absent = None if any(p.fraction < 1.0 for p in points) else _absent(skipped, n, min_rows)
    return LearningCurve(problem.metric, tuple(points), tuple(skipped), budget_seconds, absent)


def _fit_point(
    pipeline: Any,
    rows: TrainAndHoldout,
    problem: Problem,
    share: tuple[float, int, int],
    clock: Callable[[], float],
) -> tuple[LearningPoint, float] | str:
    """One point: a clone fitted on ``share`` = (fraction, rows, seed) of the training rows,
    and the seconds the fit took; the reason instead when the fit fails."""
    fraction, size, seed = share
    y_all = np.asarray(rows.y_train)
    positions = _subset(y_all, size, seed, problem.task != "regression")
    X_part, y_part = rows.X_train.iloc[positions], y_all[positions]
    fitted_at = clock()
    try:
        model = clone(pipeline).fit(X_part, y_part)
        took = clock() - fitted_at
        scores = (
            _score(model, X_part, y_part, problem, seed),
            _score(model, rows.X_hold, rows.y_hold, problem),
        )
    except Exception as exc:  # e.g. k-NN cannot fit, or predict from, so few rows
        log.info("learning curve: fitting on %d rows failed: %s", size, exc)
        return f"fitting on {size} rows failed: {exc}"
    return LearningPoint(fraction, size, *scores, round(took, 3)), took


def _estimate(
    size: int, last: tuple[int, float] | None, reference: tuple[int, float] | None
) -> float:
    """Seconds a fit on ``size`` rows may take: on the line through the last fit and the
    reference fit (fixed costs included), or scaled from the one known; with a margin."""
    known = sorted(p for p in (last, reference) if p is not None and p[0] > 0)
    if not known:
        return 0.0
    if len(known) == 2 and known[0][0] < known[1][0]:
        (r0, t0), (r1, t1) = known
        seconds = t0 + (t1 - t0) * (size - r0) / (r1 - r0)
        seconds = max(seconds, min(t0, t1))  # fixed costs: never below a fit seen
    else:
        rows, took = known[-1]
        seconds = took * size / rows
    return max(seconds, 0.0) * GROWTH_MARGIN


def _over_budget(size: int, estimate: float, left: float, budget: float) -> str:
    if left <= 0:
        return f"no time was left of the {budget:.1f} s the learning curve was given"
    return (
        f"a refit on {size} rows would take about {estimate:.1f} s, more than the {left:.1f} s "
        f"left of the {budget:.1f} s the learning curve was given"
    )


def _absent(skipped: list[tuple[float, str]], n: int, min_rows: int) -> str:
    """Why no share of the rows was refitted, in one sentence."""
    if not skipped:
        return "No learning curve: only the full training set was asked for."
    too_few = [why for _, why in skipped if why.endswith("too few to fit on")]
    other = [why for _, why in skipped if not why.endswith("too few to fit on")]
    if not other:
        return (
            f"No learning curve: the {n} training rows are too few to refit on a share of "
            f"them (a point needs at least {min_rows} rows)."
        )
    why = other[0]
    if why.startswith("fitting on"):
        return f"No learning curve: {why}."
    hint = " A larger training.budget_seconds gives the diagnostics more time."
    return f"No learning curve: {why}.{hint}" + (
        f" ({len(too_few)} smaller share(s) had too few rows.)" if too_few else ""
    )


def _score(model: Any, X: pd.DataFrame, y: Any, problem: Problem, seed: int | None = None) -> float:
    y = np.asarray(y)
    if seed is not None and len(y) > TRAIN_SCORE_ROWS:
        keep = np.sort(
            np.random.default_rng([seed, 5]).choice(len(y), TRAIN_SCORE_ROWS, replace=False)
        )
        X, y = X.iloc[keep], y[keep]
    if len(y) == 0:
        return math.nan
    pred, proba = predict_scores(model, X, problem.task, list(problem.classes))
    return float(
        score(problem.metric, problem.task, y, pred, proba, problem.classes, problem.positive_class)
    )
