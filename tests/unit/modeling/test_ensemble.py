"""Greedy ensemble selection on out-of-fold predictions, and the fitted weighted ensemble."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.tree import DecisionTreeClassifier

from loopml.modeling._ensemble import WeightedEnsemble, select_ensemble


def _noisy_views(seed: int = 0) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Two predictors with independent noise, and a poor third: averaging the two helps."""
    rng = np.random.default_rng(seed)
    n = 2000
    signal = rng.normal(size=n)
    y = np.where(signal + rng.normal(scale=0.5, size=n) > 0, "yes", "no")

    def proba(noise: float) -> np.ndarray:
        p = 1 / (1 + np.exp(-(signal + rng.normal(scale=noise, size=n))))
        return np.column_stack([1 - p, p])

    return y, {0: proba(1.0), 1: proba(1.0), 2: proba(4.0)}


def test_two_independent_views_are_averaged() -> None:
    y, oof = _noisy_views()
    choice = select_ensemble(
        oof, y, metric="roc_auc", task="binary", classes=["no", "yes"], positive_class="yes"
    )
    assert choice is not None and choice.improves
    assert set(choice.weights) == {0, 1}
    assert sum(choice.weights.values()) == pytest.approx(1.0)
    assert choice.score > choice.best_single_score


def test_rows_never_validated_are_ignored() -> None:
    y, oof = _noisy_views()
    for pred in oof.values():
        pred[:500] = np.nan  # e.g. the first block of a time-ordered split
    choice = select_ensemble(
        oof, y, metric="log_loss", task="binary", classes=["no", "yes"], positive_class="yes"
    )
    assert choice is not None and np.isfinite(choice.score)


def test_one_trial_is_no_ensemble() -> None:
    y, oof = _noisy_views()
    assert (
        select_ensemble(
            {0: oof[0]},
            y,
            metric="roc_auc",
            task="binary",
            classes=["no", "yes"],
            positive_class="yes",
        )
        is None
    )


def test_regression_selection_minimises_rmse() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=1000)
    oof = {0: y + rng.normal(scale=1, size=1000), 1: y + rng.normal(scale=1, size=1000)}
    choice = select_ensemble(oof, y, metric="rmse", task="regression")
    assert choice is not None and choice.score < choice.best_single_score
    assert choice.weights == {0: 0.5, 1: 0.5}


def test_weighted_ensemble_averages_member_probabilities() -> None:
    X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0] * 10, "b": [1.0, 0.0, 1.0, 0.0] * 10})
    y = np.array(["no", "no", "yes", "yes"] * 10)
    members = [LogisticRegression(), DecisionTreeClassifier(max_depth=1, random_state=0)]
    ens = WeightedEnsemble(members, [0.75, 0.25], "binary").fit(X, y)
    expected = 0.75 * members[0].fit(X, y).predict_proba(X) + 0.25 * members[1].fit(
        X, y
    ).predict_proba(X)
    np.testing.assert_allclose(ens.predict_proba(X), expected)
    assert ens.classes_.tolist() == ["no", "yes"]
    assert set(ens.predict(X)) <= {"no", "yes"}


def test_weighted_ensemble_regression_and_bad_weights() -> None:
    X = pd.DataFrame({"a": np.arange(20.0)})
    y = 2 * X["a"].to_numpy()
    ens = WeightedEnsemble([Ridge(alpha=0.0), Ridge(alpha=0.0)], [1, 1], "regression").fit(X, y)
    np.testing.assert_allclose(ens.predict(X), y, atol=1e-8)
    with pytest.raises(ValueError, match="one weight per estimator"):
        WeightedEnsemble([Ridge()], [1, 2], "regression").fit(X, y)


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_weighted_ensemble_says_its_kind_to_scikit_learn(task: str) -> None:
    # scikit-learn's wrappers and scorers ask is_classifier: a classifier ensemble taken for a
    # regressor gets unstratified folds in cross_val_score and a regression scorer
    from sklearn.base import is_classifier, is_regressor
    from sklearn.model_selection import cross_val_score

    ens = WeightedEnsemble([LogisticRegression(), LogisticRegression(C=0.1)], [1, 1], task)
    assert is_classifier(ens) == (task != "regression")
    assert is_regressor(ens) == (task == "regression")
    if task != "regression":
        X = pd.DataFrame({"a": np.arange(40.0) % 7, "b": np.arange(40.0) % 3})
        y = np.where(X["a"] > 3, "yes", "no")
        assert cross_val_score(ens, X, y, cv=4, scoring="roc_auc").min() > 0.5
