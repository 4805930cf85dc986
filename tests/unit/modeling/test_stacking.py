"""A second stacking layer over the bags (loopml.modeling._stacking)."""

from __future__ import annotations

import dataclasses
import pickle
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import FixedThresholdClassifier

from loopml.modeling import Search, TrainingData, TrainingSpec, cv_folds, default_registry
from loopml.modeling._pipeline import make_pipeline
from loopml.modeling._stacking import (
    STACK_MARGIN,
    StackedEnsemble,
    beats,
    level2_features,
    nested_oof,
)
from loopml.modeling._threshold import tune_threshold

ROLES = {"a": "numeric", "b": "numeric"}


class OneColumn(ClassifierMixin, BaseEstimator):
    """A logistic regression that reads only one column of what it is given."""

    def __init__(self, column: int = 0) -> None:
        self.column = column

    def fit(self, X: Any, y: Any) -> OneColumn:
        self.inner_ = LogisticRegression().fit(np.asarray(X)[:, [self.column]], y)
        self.classes_ = self.inner_.classes_
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.inner_.predict_proba(np.asarray(X)[:, [self.column]])

    def predict(self, X: Any) -> np.ndarray:
        return self.inner_.predict(np.asarray(X)[:, [self.column]])


def _one_column(column: int) -> Any:
    def build(task: str, params: dict[str, Any], seed: int, n_jobs: int) -> OneColumn:
        return OneColumn(column)

    return build


#: "only_a" sees column a, "only_b" column b (the linear family's scaled inputs, in order).
REGISTRY = default_registry().with_families(
    dataclasses.replace(default_registry()["linear"], name="only_a", build=_one_column(0)),
    dataclasses.replace(default_registry()["linear"], name="only_b", build=_one_column(1)),
)


def _data(additive: bool, n: int = 600, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """The log-odds are 2a + 2b (``additive``: each model sees half of it, and averaging
    their probabilities is not adding their log-odds), or 3a alone (b is noise)."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    logit = 2 * X["a"] + 2 * X["b"] if additive else 3 * X["a"]
    y = rng.random(n) < 1 / (1 + np.exp(-logit))
    return X, pd.Series(np.where(y, "yes", "no"), dtype=object)


def _search(data: tuple[pd.DataFrame, pd.Series], **kwargs: Any) -> tuple[Search, Any]:
    X, y = data
    spec = TrainingSpec(
        task="binary",
        metric="log_loss",
        budget_seconds=600.0,
        classes=("no", "yes"),
        positive_class="yes",
        families=("only_a", "only_b"),
        tune=False,
        seed=0,
        n_jobs=1,
        bagging=True,
        **kwargs,
    )
    folds = cv_folds(y, strategy="stratified", n_folds=4, seed=0)
    search = Search(
        TrainingData(X=X, y=y, roles=ROLES), spec, folds, candidates=REGISTRY, clock=lambda: 0.0
    )
    return search, search.run()


def test_the_stack_is_chosen_where_it_helps() -> None:
    _, result = _search(_data(additive=True))
    board = result.leaderboard
    stack = board.best
    assert (stack.family, stack.source, stack.status) == ("stack-l2", "stack", "ok")
    bag = next(t for t in board.trials if t.family == "bag")
    assert stack.mean < bag.mean * (1 - STACK_MARGIN)  # log loss: lower is better
    assert sum(s < b for s, b in zip(stack.fold_scores, bag.fold_scores, strict=True)) >= 3
    model = result.pipeline
    assert isinstance(model, StackedEnsemble)
    assert [len(b.estimators_) for b in model.estimators_] == [4, 4]  # each a bag of 4 folds
    X, y = _data(additive=True, seed=1)  # rows no model saw
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    # on unseen rows it beats averaging the same bags, as out of fold
    from loopml.metrics import score

    averaged = np.mean([b.predict_proba(X) for b in model.estimators_], axis=0)
    stacked_loss = score("log_loss", "binary", y, None, proba, ("no", "yes"), "yes")
    averaged_loss = score("log_loss", "binary", y, None, averaged, ("no", "yes"), "yes")
    assert stacked_loss < averaged_loss
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict_proba(X), proba)
    assert again.predict(X).tolist() == model.predict(X).tolist()


def test_the_stack_is_rejected_where_it_does_not_help() -> None:
    _, result = _search(_data(additive=False))
    board = result.leaderboard
    stack = next(t for t in board.trials if t.family == "stack-l2")
    assert stack.status == "excluded"
    assert "not better than bag by 0.1% on the mean and on most folds" in stack.error
    assert board.best.family != "stack-l2"
    assert not isinstance(result.pipeline, StackedEnsemble)


def test_the_threshold_is_tuned_on_the_stacks_out_of_fold_predictions() -> None:
    search, result = _search(_data(additive=True), threshold="f1")
    stack = result.leaderboard.best
    assert stack.family == "stack-l2"
    members = list(stack.params["members"])
    oof = nested_oof(search, level2_features([search.oof_store[n] for n in members], "binary"))
    y = search.data.y.to_numpy()
    assert result.threshold == tune_threshold(y, oof[:, 1], "yes", objective="f1")
    model = result.pipeline
    assert isinstance(model, FixedThresholdClassifier)
    assert isinstance(model.estimator_, StackedEnsemble)
    assert result.threshold is not None and model.threshold == result.threshold.threshold
    X, _ = _data(additive=True, seed=1)
    proba = model.predict_proba(X)[:, 1]
    assert model.predict(X).tolist() == np.where(proba >= model.threshold, "yes", "no").tolist()


@pytest.mark.parametrize(
    ("stacked", "level1", "bigger", "expected"),
    [
        ([0.91, 0.92, 0.93], [0.90, 0.90, 0.90], True, True),
        ([0.9005, 0.9005, 0.9005], [0.90, 0.90, 0.90], True, False),  # within the margin
        ([0.99, 0.89, 0.89], [0.90, 0.90, 0.90], True, False),  # one fold carries the mean
        ([0.40, 0.41, 0.30], [0.45, 0.45, 0.45], False, True),  # a loss: lower is better
        ([0.91, 0.92], [0.90, 0.90, 0.90], True, False),  # not the same folds
    ],
)
def test_a_stack_must_win_by_the_margin_on_most_folds(
    stacked: list[float], level1: list[float], bigger: bool, expected: bool
) -> None:
    search = type("S", (), {"bigger": bigger})()
    assert beats(search, stacked, level1) is expected  # type: ignore[arg-type]


def test_level2_features_are_log_odds_or_predictions() -> None:
    p = np.array([[0.25, 0.75], [0.5, 0.5]])
    np.testing.assert_allclose(level2_features([p, p], "binary"), np.log([[3, 3], [1, 1]]))
    assert level2_features([p], "multiclass").shape == (2, 2)
    np.testing.assert_allclose(level2_features([np.array([1.0, 2.0])], "regression"), [[1], [2]])


@pytest.mark.parametrize("task", ["binary", "regression"])
def test_a_stack_fits_from_scratch_like_a_clone_would(task: str) -> None:
    X, y = _data(additive=True, n=200)
    if task == "regression":
        y = pd.Series(2 * X["a"] + X["b"], dtype=float)
    members = [make_pipeline(ROLES, "linear", task, None, 0, 1) for _ in range(2)]
    stack = StackedEnsemble(members, task=task, classes=["no", "yes"], n_folds=3)
    stack.fit(X, y)
    assert len(stack.estimators_) == 2 and len(stack.estimators_[0].estimators_) == 3
    if task == "regression":
        assert (stack.final_estimator_.coef_ >= 0).all()  # non-negative least squares
        assert stack.predict(X).shape == (len(X),)
    else:
        outputs = [bag.predict_proba(X) for bag in stack.estimators_]
        np.testing.assert_allclose(stack.combine(outputs), stack.predict_proba(X))
