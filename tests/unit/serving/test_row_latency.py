"""A candidate's single-row latency through the serving row path (serving.row_latency_ms),
and the search timing its candidates with it for problem.constraints.max_latency_ms."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pandas as pd
import pytest

from loopml.config import Constraints
from loopml.errors import TrainingError
from loopml.modeling import (
    FoldJob,
    ProcessExecutor,
    TrainingData,
    TrainingSpec,
    cv_folds,
    make_pipeline,
    train_model,
)
from loopml.modeling._ensemble import WeightedEnsemble
from loopml.modeling._pipeline import frame_latency_ms
from loopml.serving import row_latency_ms

ROLES = {"a": "numeric", "plan": "categorical", "when": "datetime", "flag": "boolean"}


def _rows(n: int = 200) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(1)
    X = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "plan": rng.choice(["gold", "silver", None], n),
            "when": pd.date_range("2024-01-01", periods=n, freq="D").astype(str),
            "flag": rng.choice(["yes", "no"], n),
        }
    )
    X.loc[3, "a"] = np.nan
    y = pd.Series(np.where(X["a"].fillna(0) + (X["plan"] == "gold") > 0.5, "yes", "no"))
    return X, y


@pytest.mark.parametrize("family", ["linear", "lightgbm"])
def test_row_latency_is_a_finite_time_for_a_fitted_pipeline(family: str) -> None:
    X, y = _rows()
    pipeline = make_pipeline(ROLES, family, "binary", None, 0, 1).fit(X, y)
    for row in (X.iloc[:1], X.iloc[3:4]):  # the second has a missing number
        served = row_latency_ms(pipeline, row, "binary", ("no", "yes"))
        frame = frame_latency_ms(pipeline, row, "binary", ("no", "yes"))
        assert math.isfinite(served) and served > 0
        assert math.isfinite(frame) and frame > 0


def test_row_latency_of_a_regressor_and_an_ensemble() -> None:
    X, _ = _rows()
    target = X["a"].fillna(0) * 2.0
    members = [make_pipeline(ROLES, f, "regression", None, 0, 1) for f in ("linear", "lightgbm")]
    ensemble = WeightedEnsemble(estimators=members, weights=[0.5, 0.5], task="regression")
    ensemble.fit(X, target)
    assert row_latency_ms(ensemble, X.iloc[:1], "regression") > 0
    assert row_latency_ms(members[0].fit(X, target), X.iloc[:1], "regression") > 0


def test_a_value_the_service_would_refuse_is_timed_as_missing() -> None:
    X, y = _rows()
    pipeline = make_pipeline(ROLES, "linear", "binary", None, 0, 1).fit(X, y)
    row = X.iloc[:1].astype(object)
    row.loc[row.index[0], "a"] = "not a number"
    assert row_latency_ms(pipeline, row, "binary", ("no", "yes")) > 0


def test_the_latency_function_travels_with_jobs_and_specs() -> None:
    spec = TrainingSpec(task="binary", metric="roc_auc", budget_seconds=5, latency=row_latency_ms)
    job = FoldJob(family="linear", params={}, fold=0, task="binary", metric="roc_auc",
                  roles=ROLES, latency=row_latency_ms)  # fmt: skip
    assert pickle.loads(pickle.dumps(spec)).latency is row_latency_ms
    assert pickle.loads(pickle.dumps(job)).latency is row_latency_ms


def test_a_worker_process_times_the_serving_row_path() -> None:
    X, y = _rows()
    job = FoldJob(family="linear", params={}, fold=1, task="binary", metric="roc_auc",
                  roles=ROLES, classes=("no", "yes"), positive_class="yes",
                  limits=Constraints(max_latency_ms=1e6), latency=row_latency_ms)  # fmt: skip
    executor = ProcessExecutor(1)
    executor.start(X, y, cv_folds(y, strategy="stratified", n_folds=2, seed=0))
    try:
        outcome = executor.submit(job).result()
    finally:
        executor.close()
    assert outcome.error == ""
    assert outcome.broken == ""
    assert outcome.latency_ms is not None and math.isfinite(outcome.latency_ms)


def _search(limit: float):
    X, y = _rows()
    spec = TrainingSpec(
        task="binary",
        metric="roc_auc",
        budget_seconds=60,
        classes=("no", "yes"),
        positive_class="yes",
        cv_folds=2,
        families=("linear", "lightgbm"),
        tune=False,
        constraints=Constraints(max_latency_ms=limit),
        n_jobs=1,
        latency=row_latency_ms,
    )
    # the budget never binds: the same trials on any machine
    return train_model(TrainingData(X=X, y=y, roles=ROLES), spec, clock=lambda: 0.0)


def test_a_generous_limit_excludes_nothing_and_records_each_latency() -> None:
    board = _search(1e6).leaderboard
    assert {t.status for t in board.trials} == {"ok"}
    assert all(t.latency_ms is not None and t.latency_ms > 0 for t in board.trials)


def test_an_impossible_limit_is_a_training_error_naming_it() -> None:
    with pytest.raises(TrainingError, match=r"max_latency_ms 1e-09"):
        _search(1e-9)
