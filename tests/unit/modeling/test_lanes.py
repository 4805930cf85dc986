"""Trials side by side (``loopml.modeling._lanes``): with two workers, each runs whole trials,
so both are busy with different trials; no trial is lost or counted twice; a trial cap keeps
the waves of folds, whose trials do not depend on timing."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import pytest
from _searchkit import run_search, signal_frame

from loopml.config import FeaturesConfig
from loopml.modeling import cv_folds
from loopml.modeling._executor import FoldJob, FuturesExecutor
from loopml.modeling._lanes import run_lanes

ROLES = {"x1": "numeric", "x2": "numeric", "color": "categorical", "signup": "datetime"}


def _data(n: int = 150) -> tuple[pd.DataFrame, pd.Series]:
    X, signal = signal_frame(n, x1_gaps=0)
    return X, pd.Series(np.where(signal > 0.5, "yes", "no"), dtype=object)


class GatedPool(Executor):
    """Two threads that hold the first two jobs until both have been submitted, and record
    every job (family, absolute_time, fold) in submission order."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(2)
        self.gate = threading.Barrier(2, timeout=60)
        self.lock = threading.Lock()
        self.jobs: list[tuple[str, Any, int]] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        job: FoldJob = args[0]
        with self.lock:
            self.jobs.append((job.family.name, job.params.get("absolute_time"), job.fold))
            gated = len(self.jobs) <= 2

        def run() -> Any:
            if gated:  # a lone first job would wait here until the 60 s timeout and fail
                self.gate.wait()
            return fn(*args, **kwargs)

        return self.pool.submit(run)

    def shutdown(self, wait: bool = True, **kwargs: Any) -> None:
        self.pool.shutdown(wait=wait)


def _ticking(step: float = 1.0) -> Callable[[], float]:
    """A clock that moves ``step`` seconds at every reading: the budget ends after a fixed
    number of readings, however fast the machine is."""
    counter = itertools.count()
    return lambda: next(counter) * step


def _search(pool: GatedPool, **settings: Any) -> Any:
    X, y = _data()
    options: dict[str, Any] = {
        "task": "binary",
        "metric": "roc_auc",
        "classes": ("no", "yes"),
        "positive_class": "yes",
        "families": ("lightgbm", "linear"),
        "budget_seconds": 400.0,
        "seed": 0,
        "n_jobs": 2,
        "clock": _ticking(),
        "executor": FuturesExecutor(pool, workers=2),
    }
    options.update(settings)
    folds = cv_folds(y, strategy="stratified", n_folds=3, seed=0)
    return run_search(X, y, roles=ROLES, folds=folds, **options)


def test_two_workers_run_two_trials_at_once_and_every_trial_is_recorded_once() -> None:
    pool = GatedPool()
    try:
        result = _search(pool, features=FeaturesConfig())  # year and elapsed time: probed
    finally:
        pool.shutdown()
    trials = result.leaderboard.trials
    # the first two jobs were the first fold of two trials: LightGBM's defaults with and
    # without year and elapsed time (the probe), each in its own lane
    assert pool.jobs[:2] == [("lightgbm", None, 0), ("lightgbm", False, 0)]
    assert [t.number for t in trials] == list(range(len(trials)))
    portfolio = [t for t in trials if t.source == "portfolio"]
    assert sorted(t.family for t in portfolio) == ["lightgbm", "lightgbm", "linear"]
    # linear may start before or after the probe is settled: its absolute_time varies
    probe = {t.params.get("absolute_time") for t in portfolio if t.family == "lightgbm"}
    assert probe == {None, False}
    tuned = [t for t in trials if t.source == "optuna"]
    assert tuned, "the budget left time to tune"
    assert all(t.status in ("ok", "pruned", "timeout", "not_started") for t in trials)
    assert result.leaderboard.stopped_by == "budget"
    # every fold the pool fitted belongs to a trial on the leaderboard, none twice
    fitted = sum(len(t.fold_scores) for t in trials if t.source in ("portfolio", "optuna"))
    assert fitted <= len(pool.jobs)
    X, _ = _data()
    assert result.pipeline.predict_proba(X).shape == (len(X), 2)


def test_a_trial_cap_keeps_waves_of_folds_so_the_trials_do_not_depend_on_timing() -> None:
    pool = GatedPool()
    try:
        result = _search(pool, max_trials=4)
    finally:
        pool.shutdown()
    # one trial's first two folds side by side, then its third
    assert pool.jobs[:3] == [("lightgbm", None, 0), ("lightgbm", None, 1), ("lightgbm", None, 2)]
    assert len(result.leaderboard.trials) == 4
    assert result.leaderboard.stopped_by == "max_trials"


def test_a_task_that_raises_stops_the_lanes_and_the_error_reaches_the_caller() -> None:
    handed: list[int] = []
    queue = list(range(100))

    def next_task() -> Callable[[], None] | None:
        if not queue:
            return None
        n = queue.pop(0)
        handed.append(n)

        def task() -> None:
            if n == 3:
                raise ValueError("candidate 3 broke the lane")

        return task

    with pytest.raises(ValueError, match="candidate 3 broke the lane"):
        run_lanes(2, next_task, threading.RLock())
    # after the error no lane took more than the one task it may have been running
    assert len(handed) <= 3 + 2
