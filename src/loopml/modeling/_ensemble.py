"""Greedy ensemble selection (Caruana et al., 2004) on out-of-fold predictions.

Members are added one at a time, with replacement, each time the one that improves the
pooled out-of-fold score of the averaged prediction most; the weights are how often each was
picked. The result is used only when it beats the best single model on the same rows.

The candidates are the best trial of each model family first, then the best trials overall:
a long tuning phase fills the top ranks with near-copies of one family, and averaging
near-copies gains little, while the best of other families err differently.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import _num_samples, check_is_fitted, column_or_1d

from loopml.metrics import greater_is_better, score
from loopml.types import TaskKind

#: Candidates greedy selection chooses among, and how many picks (with replacement) it makes.
MAX_MEMBERS = 10
ROUNDS = 25


@dataclass(frozen=True)
class EnsembleChoice:
    """The selected members (trial number -> weight) and the pooled out-of-fold scores."""

    weights: dict[int, float]
    score: float
    best_single_score: float
    best_single: int

    @property
    def improves(self) -> bool:
        return len(self.weights) > 1 and self.score != self.best_single_score


def _pooled(
    metric: str,
    task: TaskKind,
    y: np.ndarray,
    oof: np.ndarray,
    classes: Sequence[Any],
    positive_class: Any,
) -> float:
    if task == "regression":
        return score(metric, task, y, oof, None, classes, positive_class)
    pred = np.asarray(list(classes))[np.argmax(oof, axis=1)]
    return score(metric, task, y, pred, oof, classes, positive_class)


def select_ensemble(
    oof: Mapping[int, np.ndarray],
    y: np.ndarray,
    *,
    metric: str,
    task: TaskKind,
    classes: Sequence[Any] = (),
    positive_class: Any = None,
    families: Mapping[int, str] | None = None,
) -> EnsembleChoice | None:
    """Pick weights over the trials in ``oof`` (trial number -> out-of-fold predictions,
    NaN where a row was never validated). None when fewer than two trials are given.

    With ``families`` (trial number -> family), the ``MAX_MEMBERS`` candidates are each
    family's best trial first, then the best of the rest."""
    if len(oof) < 2:
        return None
    covered = np.all(np.isfinite(np.stack([_as_2d(p) for p in oof.values()])), axis=(0, 2))
    if covered.sum() < 2:
        return None
    y_cov = np.asarray(y)[covered]
    preds = {n: _as_2d(p)[covered] for n, p in oof.items()}
    sign = 1.0 if greater_is_better(metric) else -1.0
    singles = {
        n: _pooled(metric, task, y_cov, _unwrap(p, task), classes, positive_class)
        for n, p in preds.items()
    }
    ranked = _candidates(sorted(singles, key=lambda n: -sign * singles[n]), families, MAX_MEMBERS)
    best_single = ranked[0]
    picks: list[int] = []
    total = np.zeros_like(preds[best_single])
    current = -np.inf
    for _ in range(ROUNDS):
        step_best, step_score = None, -np.inf
        for n in ranked:
            trial = (total + preds[n]) / (len(picks) + 1)
            value = sign * _pooled(
                metric, task, y_cov, _unwrap(trial, task), classes, positive_class
            )
            if value > step_score:
                step_best, step_score = n, value
        if step_best is None or (picks and step_score <= current):
            break
        picks.append(step_best)
        total += preds[step_best]
        current = step_score
    counts = Counter(picks)
    weights = {n: c / len(picks) for n, c in counts.items()}
    return EnsembleChoice(
        weights=weights,
        score=sign * current,
        best_single_score=singles[best_single],
        best_single=best_single,
    )


def _candidates(ranked: list[int], families: Mapping[int, str] | None, limit: int) -> list[int]:
    """The first ``limit`` of ``ranked`` (best first), each family's best ahead of the rest.

    >>> _candidates([4, 2, 7, 1], {4: "mlp", 2: "mlp", 7: "mlp", 1: "linear"}, 3)
    [4, 1, 2]
    """
    if families is None:
        return ranked[:limit]
    leaders = list({families.get(n, str(n)): n for n in reversed(ranked)}.values())
    leaders = sorted(leaders, key=ranked.index)[:limit]
    return leaders + [n for n in ranked if n not in leaders][: limit - len(leaders)]


def _as_2d(pred: np.ndarray) -> np.ndarray:
    pred = np.asarray(pred, dtype=float)
    return pred.reshape(-1, 1) if pred.ndim == 1 else pred


def _unwrap(pred: np.ndarray, task: TaskKind) -> np.ndarray:
    return pred[:, 0] if task == "regression" else pred


def task_tags(tags: Any, task: str) -> Any:
    """``tags`` saying a classifier or a regressor by ``task``, so that scikit-learn's
    wrappers (a decision threshold's ``predict``) take the model as one."""
    from sklearn.utils import ClassifierTags, RegressorTags

    if task == "regression":
        tags.estimator_type, tags.regressor_tags = "regressor", RegressorTags()
    else:
        tags.estimator_type, tags.classifier_tags = "classifier", ClassifierTags()
    return tags


class WeightedEnsemble(BaseEstimator):
    """A weighted average of fitted pipelines' predictions (probabilities for classifiers).

    Parameters
    ----------
    estimators
        The member pipelines.
    weights
        One non-negative weight per member.
    task
        binary, multiclass or regression.
    """

    def __init__(
        self,
        estimators: Sequence[Any] = (),
        weights: Sequence[float] = (),
        task: str = "binary",
    ):
        self.estimators = estimators
        self.weights = weights
        self.task = task

    def __sklearn_tags__(self) -> Any:
        return task_tags(super().__sklearn_tags__(), self.task)

    def fit(self, X: Any, y: Any) -> WeightedEnsemble:
        if len(self.estimators) != len(self.weights) or not self.estimators:
            raise ValueError("WeightedEnsemble needs one weight per estimator, and at least one")
        if len(getattr(y, "shape", ())) == 2:  # one column: it, with scikit-learn's warning
            y = column_or_1d(y, warn=True)
        self.estimators_ = [clone(e).fit(X, y) for e in self.estimators]
        self.weights_ = np.asarray(self.weights, dtype=float) / float(np.sum(self.weights))
        if self.task != "regression":
            self.classes_ = np.unique(np.concatenate([e.classes_ for e in self.estimators_]))
        return self

    @available_if(lambda self: self.task != "regression")
    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimators_")
        out = np.zeros((_num_samples(X), len(self.classes_)))
        index = {c: i for i, c in enumerate(self.classes_.tolist())}
        for weight, member in zip(self.weights_, self.estimators_, strict=True):
            proba = member.predict_proba(X)
            for j, c in enumerate(member.classes_.tolist()):
                out[:, index[c]] += weight * proba[:, j]
        return out

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimators_")
        if self.task == "regression":
            return np.sum(
                [
                    w * np.asarray(m.predict(X), dtype=float)
                    for w, m in zip(self.weights_, self.estimators_, strict=True)
                ],
                axis=0,
            )
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def score(self, X: Any, y: Any) -> float:
        """Accuracy for a classifier, R² for a regressor (scikit-learn's default scores)."""
        from sklearn.metrics import accuracy_score, r2_score

        scorer = r2_score if self.task == "regression" else accuracy_score
        return float(scorer(y, self.predict(X)))
