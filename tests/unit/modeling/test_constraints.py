"""Problem constraints in the search: interpretable families, latency and model size."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _searchkit import run_search

from loopml.config import Constraints
from loopml.errors import TrainingError
from loopml.modeling import cv_folds


def _data() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    y = pd.Series(np.where(X["a"] + rng.normal(scale=0.5, size=300) > 0, "yes", "no"))
    return X, y


def _search(limits: Constraints, families: tuple[str, ...]):
    X, y = _data()
    folds = cv_folds(y, strategy="stratified", n_folds=3, seed=0)
    return run_search(
        X,
        y,
        task="binary",
        metric="roc_auc",
        roles={"a": "numeric", "b": "numeric"},
        folds=folds,
        budget_seconds=30,
        classes=["no", "yes"],
        positive_class="yes",
        families=families,
        tune=False,
        ensemble=False,
        constraints=limits,
        n_jobs=1,
        clock=lambda: 0.0,  # the budget never binds: every family runs on any machine
    )


def test_interpretable_keeps_only_readable_families() -> None:
    result = _search(Constraints(interpretable=True), ("linear", "random_forest", "lightgbm"))
    assert {t.family for t in result.leaderboard.trials} == {"linear"}


def test_interpretable_without_a_readable_family_is_an_error() -> None:
    with pytest.raises(TrainingError, match=r"constraints\.interpretable allows only"):
        _search(Constraints(interpretable=True), ("random_forest",))


def test_too_large_models_are_excluded_and_named() -> None:
    result = _search(Constraints(max_model_mb=0.05), ("linear", "random_forest"))
    by_family = {t.family: t for t in result.leaderboard.trials}
    assert by_family["linear"].status == "ok"
    assert by_family["random_forest"].status == "excluded"
    assert "max_model_mb" in by_family["random_forest"].error
    assert result.leaderboard.best.family == "linear"


def test_every_candidate_too_slow_is_a_training_error() -> None:
    with pytest.raises(TrainingError, match="max_latency_ms"):
        _search(Constraints(max_latency_ms=1e-6), ("linear",))
