"""A second stacking layer over the bags, kept only when it pays out of fold.

The level-2 model learns from the level-1 models' out-of-fold predictions: a logistic
regression on their log-odds (binary) or log-probabilities (multiclass), a linear regression
with non-negative coefficients on their predictions (regression). It is scored by nested
cross-validation on those predictions: for each of the search's folds it is fitted on the
other folds' rows and predicts this fold's. It replaces the level-1 model only when its mean
beats that model's by ``STACK_MARGIN`` (relative) and it wins on most folds, because a stack
that wins by noise on the rows it was chosen on loses on rows it has not seen. Its level-1
models are at most ``STACK_MEMBERS`` bags (:mod:`loopml.modeling._bagging`), so it needs no
refit either: each bag predicts with its fold models.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.utils import _safe_indexing
from sklearn.utils.validation import check_is_fitted

from loopml.modeling._bagging import (
    Bag,
    BaggedEnsemble,
    at_least_as_good,
    bag_splits,
    build_bag,
    prefitted_threshold,
)
from loopml.modeling._ensemble import task_tags
from loopml.modeling._leaderboard import TrialResult
from loopml.modeling._pipeline import predict_scores, quietly
from loopml.modeling._threshold import ThresholdChoice, with_threshold
from loopml.types import TaskKind

if TYPE_CHECKING:
    from loopml.modeling._search import Search

#: Level-1 models of a stack, at most: the bag's members first, then the best other trials.
STACK_MEMBERS = 6

#: How much better (relative) the stack's mean out-of-fold score must be than level 1's.
STACK_MARGIN = 0.001

#: Probabilities are clipped to this distance from 0 and 1 before taking logarithms.
_EPS = 1e-6


def level2_features(outputs: Sequence[np.ndarray], task: str) -> np.ndarray:
    """The level-2 model's inputs from each level-1 model's output (probabilities in one
    class order for classifiers, predictions for regressors)."""
    columns = []
    for output in outputs:
        values = np.asarray(output, dtype=float)
        if task == "regression":
            columns.append(values.reshape(len(values), -1)[:, :1])
            continue
        p = np.clip(values, _EPS, 1.0 - _EPS)
        if task == "binary":
            columns.append(np.log(p[:, 1:2] / p[:, 0:1]))
        else:
            columns.append(np.log(p))
    return np.hstack(columns)


def level2_model(task: str) -> Any:
    """The unfitted level-2 model."""
    if task == "regression":
        return LinearRegression(positive=True)
    return LogisticRegression(C=1.0, max_iter=1000)


def level2_scores(model: Any, features: np.ndarray, classes: Sequence[Any]) -> np.ndarray:
    """A fitted level-2 model's output: probabilities aligned to ``classes``, or one column
    of predictions (regression: ``classes`` empty)."""
    if not len(classes):
        return np.asarray(model.predict(features), dtype=float).reshape(-1, 1)
    raw = model.predict_proba(features)
    out = np.zeros((len(features), len(classes)))
    where = {c: i for i, c in enumerate(list(classes))}
    for j, c in enumerate(model.classes_.tolist()):
        out[:, where[c]] = raw[:, j]
    return out


class StackedEnsemble(BaseEstimator):
    """Level-1 bags and a level-2 model trained on their out-of-fold predictions.

    Parameters
    ----------
    estimators
        The level-1 member pipelines (unfitted: ``fit`` bags each on ``n_folds`` folds).
    final_estimator
        The level-2 model (see :func:`level2_model`).
    task
        binary, multiclass or regression.
    classes
        The class order of the level-2 model's inputs (classification).
    n_folds, seed
        The folds ``fit`` bags the members on and takes their out-of-fold predictions from.

    After fitting: ``estimators_`` (one fitted :class:`BaggedEnsemble` per member),
    ``final_estimator_`` and, for classifiers, ``classes_``.
    """

    def __init__(
        self,
        estimators: Sequence[Any] = (),
        final_estimator: Any = None,
        task: str = "binary",
        classes: Sequence[Any] = (),
        n_folds: int = 5,
        seed: int = 0,
    ):
        self.estimators = estimators
        self.final_estimator = final_estimator
        self.task = task
        self.classes = classes
        self.n_folds = n_folds
        self.seed = seed

    def __sklearn_tags__(self) -> Any:
        return task_tags(super().__sklearn_tags__(), self.task)

    def fit(self, X: Any, y: Any) -> StackedEnsemble:
        if not self.estimators:
            raise ValueError("StackedEnsemble needs at least one estimator")
        classes = list(self.classes) if self.task != "regression" else []
        splits = bag_splits(y, self.task, self.n_folds, self.seed)
        bags, outputs = [], []
        for member in self.estimators:
            models, oof = [], np.zeros((len(y), max(len(classes), 1)))
            for train, valid in splits:
                model = clone(member).fit(_safe_indexing(X, train), _safe_indexing(y, train))
                pred, proba = predict_scores(
                    model, _safe_indexing(X, valid), cast(TaskKind, self.task), classes
                )
                oof[valid] = proba if proba is not None else pred.reshape(-1, 1)
                models.append(model)
            bags.append(
                BaggedEnsemble.from_folds([member], [1.0], [models], task=self.task, seed=self.seed)
            )
            outputs.append(oof)
        final = clone(self.final_estimator or level2_model(self.task))
        final.fit(level2_features(outputs, self.task), np.asarray(y))
        self._install(bags, final)
        return self

    @classmethod
    def from_parts(
        cls,
        bags: Sequence[BaggedEnsemble],
        final: Any,
        *,
        task: str,
        classes: Sequence[Any],
        seed: int = 0,
    ) -> StackedEnsemble:
        """A fitted stack of fitted ``bags`` and a level-2 model ``final`` fitted on their
        out-of-fold predictions."""
        stack = cls(
            estimators=[member for bag in bags for member in bag.estimators],
            final_estimator=clone(final),
            task=task,
            classes=list(classes),
            n_folds=bags[0].n_folds,
            seed=seed,
        )
        stack._install(list(bags), final)
        return stack

    def _install(self, bags: list[BaggedEnsemble], final: Any) -> None:
        self.estimators_ = bags
        self.final_estimator_ = final
        if self.task != "regression":
            self.classes_ = np.asarray(final.classes_)

    def combine(self, outputs: Sequence[np.ndarray]) -> np.ndarray:
        """The stack's output from its bags' outputs (``outputs[i]`` in the class order of
        ``estimators_[i].classes_``): probabilities in ``classes_`` order, or predictions."""
        check_is_fitted(self, "final_estimator_")
        if self.task == "regression":
            features = level2_features(outputs, self.task)
            return level2_scores(self.final_estimator_, features, [])[:, 0]
        order = list(self.classes)
        aligned = []
        for bag, output in zip(self.estimators_, outputs, strict=True):
            moved = np.zeros((len(output), len(order)))
            for j, c in enumerate(bag.classes_.tolist()):
                moved[:, order.index(c)] = np.asarray(output)[:, j]
            aligned.append(moved)
        return level2_scores(
            self.final_estimator_, level2_features(aligned, self.task), self.classes_.tolist()
        )

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "final_estimator_")
        if self.task == "regression":
            raise AttributeError("a regression stack has no predict_proba")
        return self.combine([bag.predict_proba(X) for bag in self.estimators_])

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "final_estimator_")
        if self.task == "regression":
            return self.combine([bag.predict(X) for bag in self.estimators_])
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


# ---------------------------------------------------------------------------- the search's


@dataclass(frozen=True)
class Stack:
    """A stack the search chose: its leaderboard row, out-of-fold predictions and model."""

    row: TrialResult
    oof: np.ndarray
    model: StackedEnsemble


def stack_members(search: Search, bag: Bag) -> list[int]:
    """The level-1 trials: the bag's members by weight, then the best other kept trials."""
    kept = [n for n in search.fold_models if n in search.oof_store]
    sign = -1.0 if search.bigger else 1.0
    others = sorted(
        (n for n in kept if n not in bag.members), key=lambda n: sign * search.trials[n].mean
    )
    return (list(bag.members) + others)[:STACK_MEMBERS]


def nested_oof(search: Search, features: np.ndarray) -> np.ndarray:
    """The level-2 model's out-of-fold predictions: fitted on the other folds' rows."""
    spec, y = search.spec, search.data.y.to_numpy()
    classes = list(spec.classes) if spec.task != "regression" else []
    out = np.full((len(y), spec.width), np.nan)
    for train, valid in search.folds:
        model = level2_model(spec.task).fit(features[train], y[train])
        out[valid] = level2_scores(model, features[valid], classes)
    return out


def beats(search: Search, stacked: Sequence[float], level1: Sequence[float]) -> bool:
    """Whether per-fold scores ``stacked`` beat ``level1`` by the margin and on most folds."""
    if len(stacked) != len(level1) or not len(stacked):
        return False
    a, b = np.asarray(stacked), np.asarray(level1)
    sign = 1.0 if search.bigger else -1.0
    margin = STACK_MARGIN * abs(float(b.mean()))
    wins = int(np.sum(sign * (a - b) > 0))
    return bool(sign * (a.mean() - b.mean()) > margin and wins * 2 > len(a))


def try_stacking(search: Search, bag: Bag, level1: TrialResult) -> Stack | None:
    """A ``stack-l2`` leaderboard row over the bag's trials; the stack when it beats
    ``level1`` (the model the search would keep without it), else ``None``."""
    members = stack_members(search, bag)
    if len(members) < 2:
        return None
    spec, y = search.spec, search.data.y.to_numpy()
    features = level2_features([search.oof_store[n] for n in members], spec.task)
    with quietly(search.jobs):  # a level-2 fit's convergence warnings are not the user's
        oof = nested_oof(search, features)
    scores = tuple(v for v in search._fold_scores(oof) if not np.isnan(v))
    chosen = beats(search, scores, level1.fold_scores)
    row = search.combined_row(
        "stack-l2",
        {"members": {n: 1.0 / len(members) for n in members}, "level2": _name(spec.task)},
        scores,
        source="stack",
        error=""
        if chosen
        else f"not better than {level1.family} by {STACK_MARGIN:.1%} on the mean and on most folds",
    )
    search.report(f"second layer over {len(members)} bags: {row.mean:.4f}")
    if not chosen:
        return None
    with quietly(search.jobs):
        final = level2_model(spec.task).fit(features, y)
    bags = [build_bag(search, {n: 1.0}) for n in members]
    classes = list(spec.classes) if spec.task != "regression" else []
    model = StackedEnsemble.from_parts(bags, final, task=spec.task, classes=classes, seed=spec.seed)
    return Stack(row, oof, model)


def _name(task: str) -> str:
    return "linear_regression (non-negative)" if task == "regression" else "logistic_regression"


def settle_bagging(
    search: Search, bag: Bag | None, level1: TrialResult
) -> tuple[Any, ThresholdChoice | None] | None:
    """The fitted final model and its decision threshold when ``bag`` scores at least as
    well as ``level1`` (what the search would otherwise refit): the bag, or a second layer
    over bags when that beats it. ``None``: the search refits ``level1`` as before."""
    if bag is None or not at_least_as_good(search, bag, level1):
        return None
    stack = try_stacking(search, bag, bag.row)
    model: Any = stack.model if stack is not None else build_bag(search, bag.members)
    choice = search.threshold_on(stack.oof if stack is not None else bag.oof)
    if choice is not None:
        wrapper = with_threshold(model, choice.threshold, search.spec.positive_class)
        model = prefitted_threshold(wrapper, model)
    search.report("done")
    return model, choice
