"""Fast models for serving: an ensemble over max_latency_ms gives way to a distilled model.

The search measures latency through ``TrainingSpec.latency``; these tests give it functions
that report fixed costs, so the members fit the limit and the ensemble (their sum) does not,
on any machine.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from _searchkit import run_search
from sklearn.pipeline import Pipeline

from loopml.config import Constraints
from loopml.modeling import cv_folds
from loopml.modeling._ensemble import WeightedEnsemble

ROLES = {"a": "numeric", "b": "numeric", "c": "categorical"}


def ten_ms(pipeline: Any, row: pd.DataFrame, task: str, classes: tuple[Any, ...]) -> float:
    return 10.0


def one_ms(pipeline: Any, row: pd.DataFrame, task: str, classes: tuple[Any, ...]) -> float:
    return 1.0


def _features(n: int = 400) -> tuple[pd.DataFrame, np.random.Generator]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.normal(size=n),
            "c": rng.choice(["x", "y", "z"], n),
        }
    )
    return X, rng


def _binary(latency: Any, limit: float):
    X, rng = _features()
    signal = X["a"] + np.sin(3 * X["b"]) + (X["c"] == "x") + rng.normal(scale=0.5, size=len(X))
    y = pd.Series(np.where(signal > 0.3, "yes", "no"))
    return (
        X,
        y,
        run_search(
            X,
            y,
            task="binary",
            metric="roc_auc",
            roles=ROLES,
            folds=cv_folds(y, strategy="stratified", n_folds=3, seed=0),
            budget_seconds=60,
            classes=["no", "yes"],
            positive_class="yes",
            families=("linear", "lightgbm"),
            tune=False,
            constraints=Constraints(max_latency_ms=limit),
            n_jobs=1,
            latency=latency,
            clock=lambda: 0.0,  # the budget never binds: the same trials on any machine
        ),
    )


def _by_source(result: Any) -> dict[str, Any]:
    return {t.source: t for t in result.leaderboard.trials}


def test_slow_ensemble_is_excluded_and_a_distilled_model_offered() -> None:
    X, _, result = _binary(ten_ms, limit=15)
    rows = _by_source(result)
    ensemble, distilled = rows["ensemble"], rows["distilled"]
    assert ensemble.status == "excluded"
    assert ensemble.latency_ms == 20.0  # two members at 10 ms each
    assert "single-row latency 20.00 ms" in ensemble.error
    assert "max_latency_ms 15" in ensemble.error
    assert ensemble.fold_scores  # its score stays on the leaderboard, next to its latency
    singles = [t for t in result.leaderboard.trials if t.source == "portfolio"]
    best_single = max(singles, key=lambda t: t.mean)
    assert distilled.status == "ok"
    assert distilled.family == best_single.family
    assert distilled.latency_ms == 10.0
    assert len(distilled.fold_scores) == 3
    # the served model is one pipeline, the best that fits: distilled or the best single
    assert isinstance(result.pipeline, Pipeline)
    assert not isinstance(result.pipeline, WeightedEnsemble)
    expected = distilled if distilled.mean > best_single.mean else best_single
    assert result.leaderboard.best is expected
    assert set(result.pipeline.predict(X.iloc[:20])) <= {"no", "yes"}


def test_ensemble_within_the_limit_is_kept_with_its_latency() -> None:
    _, _, result = _binary(one_ms, limit=15)
    rows = _by_source(result)
    assert rows["ensemble"].status == "ok"
    assert rows["ensemble"].latency_ms == 2.0
    assert "distilled" not in rows
    assert isinstance(result.pipeline, WeightedEnsemble)


def test_distilled_regression_learns_the_ensemble_predictions() -> None:
    X, rng = _features()
    y = pd.Series(2 * X["a"] + np.sin(3 * X["b"]) + rng.normal(scale=0.3, size=len(X)))
    result = run_search(
        X,
        y,
        task="regression",
        metric="rmse",
        roles=ROLES,
        folds=cv_folds(y, strategy="random", n_folds=3, seed=0),
        budget_seconds=60,
        families=("linear", "lightgbm"),
        tune=False,
        constraints=Constraints(max_latency_ms=15),
        n_jobs=1,
        latency=ten_ms,
        clock=lambda: 0.0,
    )
    rows = _by_source(result)
    assert rows["ensemble"].status == "excluded"
    assert rows["distilled"].status == "ok"
    best = result.leaderboard.best
    assert best.source in ("distilled", "portfolio")
    assert np.isfinite(result.pipeline.predict(X.iloc[:10])).all()
    # the leaderboard's JSON carries each latency
    listed = {t["source"]: t["latency_ms"] for t in result.leaderboard.to_dict()["trials"]}
    assert listed["ensemble"] == 20.0
    assert listed["distilled"] == 10.0
