"""Decision-threshold tuning for F1 and for a cost matrix, in the search and in the model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _searchkit import run_search
from sklearn.model_selection import FixedThresholdClassifier

from loopml.config import Costs
from loopml.modeling import cv_folds, decide, expected_cost, tune_threshold


def test_expected_cost_counts_each_error_at_its_price() -> None:
    y = ["yes", "yes", "no", "no", "no"]
    pred = ["yes", "no", "yes", "yes", "no"]  # one false negative, two false positives
    assert expected_cost(y, pred, "yes", false_positive=1.0, false_negative=10.0) == 12.0 / 5


def test_cost_threshold_moves_towards_the_cheap_error() -> None:
    rng = np.random.default_rng(0)
    y = np.where(rng.random(4000) < 0.3, "yes", "no")
    p = np.clip(np.where(y == "yes", 0.6, 0.4) + rng.normal(scale=0.2, size=4000), 0, 1)
    expensive_misses = tune_threshold(
        y, p, "yes", objective="cost", false_positive=1.0, false_negative=20.0
    )
    expensive_alarms = tune_threshold(
        y, p, "yes", objective="cost", false_positive=20.0, false_negative=1.0
    )
    assert expensive_misses.threshold < 0.5 < expensive_alarms.threshold
    flagged = np.where(p >= expensive_misses.threshold, "yes", "no")
    assert expensive_misses.value == pytest.approx(expected_cost(y, flagged, "yes", 1.0, 20.0))


def test_f1_threshold_beats_the_default_on_a_rare_class() -> None:
    rng = np.random.default_rng(1)
    y = np.where(rng.random(4000) < 0.1, "yes", "no")
    p = np.clip(np.where(y == "yes", 0.35, 0.1) + rng.normal(scale=0.1, size=4000), 0, 1)
    choice = tune_threshold(y, p, "yes", objective="f1")
    default = np.where(p >= 0.5, "yes", "no")
    tp = np.sum((default == "yes") & (y == "yes"))
    f1_default = 2 * tp / (np.sum(default == "yes") + np.sum(y == "yes"))
    assert choice.threshold < 0.5 and choice.value > f1_default


def test_decide_uses_the_models_threshold() -> None:
    proba = np.array([[0.7, 0.3], [0.4, 0.6]])
    plain = object()
    assert decide(plain, proba, ["no", "yes"]).tolist() == ["no", "yes"]
    low = FixedThresholdClassifier(None, threshold=0.25, pos_label="yes")
    assert decide(low, proba, ["no", "yes"]).tolist() == ["yes", "yes"]


def test_search_with_costs_returns_a_thresholded_model() -> None:
    rng = np.random.default_rng(2)
    X = pd.DataFrame({"a": rng.normal(size=600)})
    y = pd.Series(np.where(X["a"] + rng.normal(size=600) > 1.0, "yes", "no"))
    folds = cv_folds(y, strategy="stratified", n_folds=3, seed=0)
    result = run_search(
        X,
        y,
        task="binary",
        metric="roc_auc",
        roles={"a": "numeric"},
        folds=folds,
        budget_seconds=30,
        classes=["no", "yes"],
        positive_class="yes",
        families=("linear",),
        tune=False,
        ensemble=False,
        threshold="cost",
        costs=Costs(false_positive=1.0, false_negative=10.0),
        n_jobs=1,
    )
    assert result.threshold is not None and result.threshold.threshold < 0.5
    assert isinstance(result.pipeline, FixedThresholdClassifier)
    assert result.pipeline.threshold == result.threshold.threshold
    flagged = (result.pipeline.predict(X) == "yes").mean()
    assert flagged > (y == "yes").mean()  # misses are expensive: flag more than the base rate
